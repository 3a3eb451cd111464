"""Video containers: their magic, opening one through PyAV, and what its video stream declares.

:func:`container_kind` tells AVI, Matroska/WebM and MP4/QuickTime apart from a file's first bytes
(what the sniffs use). :func:`open_video` is the opener of a
:class:`~ophysio.extractors._handles.CachedFile`: it opens the container and its first video stream
into an :class:`OpenVideo`, which also holds the lock that keeps one container to one decoding thread
and where the decoder stands. :func:`read_info` collects the stream's facts once, as plain values
that pickle (:class:`VideoInfo`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ...errors import CorruptFileError, FormatError
from . import require_av

__all__ = ["container_kind", "OpenVideo", "open_video", "VideoInfo", "read_info", "OPHYSIO_TAG",
           "RELIABLE_COUNT_FORMATS", "REAL_TIME_FORMATS"]

#: MP4/QuickTime ``ftyp`` brands that are still images or raw photos, not movies.
_IMAGE_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"crx ", b"jp2 ",
                 b"jpx ", b"jpm ", b"mjp2"}
#: Top-level QuickTime atoms that can open a .mov without an ``ftyp`` (old QuickTime files).
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}

#: Codecs whose frames decode on their own (or, for FFV1, are mostly read a few at a time from a keyframe):
#: decoded with slice threads only (see :func:`open_video`).
_INTRA_CODECS = frozenset({"ffv1", "mjpeg", "rawvideo", "png", "huffyuv", "ffvhuff", "utvideo", "ljpeg", "prores",
                           "dnxhd", "jpeg2000", "v210", "r210", "qtrle", "tiff", "magicyuv"})

#: Containers whose header states the number of frames reliably (AVI's stream header, MP4's sample table).
RELIABLE_COUNT_FORMATS = ("avi", "mov")
#: Containers whose packets carry real presentation times (AVI's are frame counters).
REAL_TIME_FORMATS = ("matroska", "mov")

#: Key of the container comment where ophysio's writer keeps its facts as JSON (``{"ophysio": {...}}``).
OPHYSIO_TAG = "comment"


def container_kind(head: bytes) -> str | None:
    """``"avi"``, ``"matroska"`` or ``"mov"`` (MP4 and QuickTime) from a file's first bytes, else None."""
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"  # EBML header: Matroska or WebM (the DocType follows)
    if len(head) >= 8:
        atom = head[4:8]
        if atom == b"ftyp":
            return None if head[8:12] in _IMAGE_BRANDS else "mov"
        if atom in _QUICKTIME_ATOMS:
            return "mov"
    return None


class OpenVideo:
    """An open container, its video stream, the lock that serialises its use, and the decoder's place.

    ``frames`` is the live decoding generator (None after a seek is needed) and ``next_index`` the
    presentation index of the frame it gives next; a read that continues where the previous one stopped
    decodes on without seeking.
    """

    __slots__ = ("container", "stream", "lock", "frames", "next_index", "path")

    def __init__(self, container: Any, stream: Any, path: str):
        self.container = container
        self.stream = stream
        self.path = path
        self.lock = threading.Lock()
        self.frames = None
        self.next_index: int | None = None

    def forget_position(self) -> None:
        """The decoder's place is unknown (after a demux pass, an error): the next read seeks."""
        self.frames = None
        self.next_index = None

    def close(self) -> None:
        self.frames = None
        self.container.close()


def open_video(path: str) -> OpenVideo:
    """Open ``path`` and its first video stream (the opener of the video files' CachedFile handles).

    Raises
    ------
    FileNotFoundError
        The file does not exist (CachedFile turns it into a FileSetError).
    CorruptFileError
        FFmpeg cannot read the container (damaged, cut short before its header ends).
    FormatError
        The container holds no video stream.
    """
    av = require_av()
    try:
        container = av.open(path, mode="r")
    except FileNotFoundError:
        raise
    except av.error.FFmpegError as exc:
        raise CorruptFileError(f"{path}: FFmpeg cannot read the container ({exc.strerror or exc}); the file is "
                               "damaged, cut short, or not a video") from None
    try:
        if not container.streams:
            raise CorruptFileError(f"{path}: FFmpeg finds no stream in the container; the file is damaged or not a "
                                   "video")
        if not container.streams.video:
            kinds = ", ".join(s.type for s in container.streams)
            raise FormatError(f"{path} holds no video stream (streams: {kinds}); it is not a video, or its header is "
                              "damaged")
        stream = container.streams.video[0]
        # Frame threads decode several frames at once, which pays on inter-frame codecs (H.264) but makes every
        # seek decode frames ahead that the read throws away; intra-frame codecs get slice threads only.
        stream.thread_type = "SLICE" if stream.codec_context.name in _INTRA_CODECS else "AUTO"
    except BaseException:
        container.close()
        raise
    return OpenVideo(container, stream, path)


@dataclass(frozen=True)
class VideoInfo:
    """What a video stream and its container declare, as plain values.

    Attributes
    ----------
    container_format : str
        FFmpeg's demuxer names (``"avi"``, ``"matroska,webm"``, ``"mov,mp4,m4a,3gp,3g2,mj2"``).
    kind : str
        ``"avi"``, ``"matroska"``, ``"mov"`` or the first demuxer name for others.
    codec : str
        The codec (``"ffv1"``, ``"h264"``, ``"mjpeg"``, ``"rawvideo"``...).
    pixel_format : str
        The decoder's pixel format (``"gray"``, ``"gray16le"``, ``"bgra"``, ``"yuv420p"``...).
    width, height : int
        The coded frame size.
    time_base : tuple of int
        ``(numerator, denominator)`` of the stream's time base (pts units, in seconds).
    average_rate : float or None
        The stream's average frame rate, else its base rate.
    declared_frames : int
        The number of frames the header states (0 when it states none).
    start_time : int or None
        The stream's first presentation time, in time_base units.
    color_range : int
        The stream's colour range (0 unspecified, 1 limited "tv", 2 full "pc").
    container_metadata, stream_metadata : dict
        The container's and the stream's tags, as FFmpeg gives them.
    ophysio : dict
        What ophysio's writer recorded in the container comment (empty for other files).
    """

    container_format: str
    kind: str
    codec: str
    pixel_format: str
    width: int
    height: int
    time_base: tuple[int, int]
    average_rate: float | None
    declared_frames: int
    start_time: int | None
    color_range: int
    container_metadata: dict = field(default_factory=dict)
    stream_metadata: dict = field(default_factory=dict)
    ophysio: dict = field(default_factory=dict)

    @property
    def seconds_per_tick(self) -> Fraction:
        return Fraction(*self.time_base)

    @property
    def image_shape(self) -> tuple[int, int]:
        """(rows, columns) of the frames as read: the coded size, or the size ophysio's writer recorded
        when it padded odd sizes to even for a codec that needs them."""
        shape = self.ophysio.get("image_shape")
        if isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) for v in shape):
            rows, columns = shape
            if 0 < rows <= self.height and 0 < columns <= self.width:
                return rows, columns
        return self.height, self.width

    def as_dict(self) -> dict:
        """The facts as JSON-friendly values (what the extractors' get_metadata gives)."""
        return {
            "container_format": self.container_format, "codec": self.codec, "pixel_format": self.pixel_format,
            "width": self.width, "height": self.height, "time_base": f"{self.time_base[0]}/{self.time_base[1]}",
            "average_rate": self.average_rate, "declared_frames": self.declared_frames,
            "start_time": self.start_time, "color_range": self.color_range,
            "container_metadata": dict(self.container_metadata), "stream_metadata": dict(self.stream_metadata),
            "ophysio": json.loads(json.dumps(self.ophysio)),
        }


def _ophysio_tag(metadata: dict, path: str) -> dict:
    """The writer's facts from the container comment (``{"ophysio": {...}}``), or {} for other comments."""
    text = next((value for key, value in metadata.items() if key.lower() == OPHYSIO_TAG), None)
    if not isinstance(text, str) or not text.startswith('{"ophysio"'):
        return {}
    from .._json import loads_json

    value = loads_json(text, f"{path}: the ophysio facts in the container comment")
    inner = value.get("ophysio") if isinstance(value, dict) else None
    return inner if isinstance(inner, dict) else {}


def _rate(stream: Any) -> float | None:
    for name in ("average_rate", "base_rate", "guessed_rate"):
        try:
            rate = getattr(stream, name)
        except Exception:  # noqa: BLE001 - a stream that cannot say
            rate = None
        if rate is not None and rate > 0:
            return float(rate)
    return None


def read_info(video: OpenVideo) -> VideoInfo:
    """The facts of an open video's stream and container."""
    container, stream = video.container, video.stream
    names = container.format.name
    kind = next((k for k in ("avi", "matroska", "mov") if k in names.split(",")), names.split(",")[0])
    context = stream.codec_context
    pixel_format = stream.format.name if stream.format is not None else (context.pix_fmt or "")
    if not pixel_format:
        raise FormatError(f"{video.path}: the video stream ({context.name}) states no pixel format; FFmpeg cannot "
                          "decode it")
    time_base = stream.time_base or Fraction(1, 1)
    declared = int(stream.frames or 0) if kind in RELIABLE_COUNT_FORMATS else 0
    container_metadata = {str(k): str(v) for k, v in container.metadata.items()}
    return VideoInfo(
        container_format=names, kind=kind, codec=context.name, pixel_format=pixel_format,
        width=int(stream.width or context.width), height=int(stream.height or context.height),
        time_base=(time_base.numerator, time_base.denominator), average_rate=_rate(stream),
        declared_frames=max(declared, 0), start_time=stream.start_time,
        color_range=int(getattr(context, "color_range", 0) or 0),
        container_metadata=container_metadata,
        stream_metadata={str(k): str(v) for k, v in stream.metadata.items()},
        ophysio=_ophysio_tag(container_metadata, video.path),
    )
