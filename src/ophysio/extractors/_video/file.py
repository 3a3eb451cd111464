"""One video file, read frame-accurately: :class:`VideoFile`.

An extractor holds a :class:`VideoFile` per movie file. It opens the container through a
:class:`~ophysio.extractors._handles.CachedFile` (so open containers count against the process-wide
limit and are closed by ``close()``), reads the stream's facts once, and indexes the file's frames
(:mod:`.index`) when a read or the timestamps first need it, or at once when the header does not state
the number of frames (Matroska). The index is kept with the object and pickled with it.

A read of frames ``start:stop`` seeks to the keyframe at or before ``start`` and decodes forward,
keeping the frames whose presentation times are those of ``start:stop``; a read that continues the
previous one (a chunked read, sorted scattered frames between two keyframes) decodes on without seeking.
Every frame decoded on the way is kept in the process's bounded frame cache (:mod:`.cache`), so another
frame of the same group of pictures reads without decoding again. A frame that cannot be decoded, or a
file that ends before the frames its header or index promised, is a
:class:`~ophysio.errors.CorruptFileError` naming the file and the frame, never fewer frames.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any

import numpy as np

from ...errors import CorruptFileError, FileSetError
from .._handles import CachedFile
from .cache import FRAMES
from .container import REAL_TIME_FORMATS, OpenVideo, VideoInfo, open_video, read_info
from .index import VideoIndex, build_index
from .pixels import LUMA, channel_names, frame_reader, pixel_family

__all__ = ["VideoFile"]

#: What :meth:`VideoFile._decode_run` says when the first wanted frame never came out after a seek
#: (a frame before its keyframe in display order): seek to the keyframe before and try again.
_MISSED = object()


class VideoFile:
    """A video file: its stream's facts, its frame index, and frame-accurate reads.

    Parameters
    ----------
    path : str or os.PathLike
        The movie (AVI, Matroska, MP4/MOV, or anything else FFmpeg demuxes).

    Attributes
    ----------
    info : VideoInfo
        What the stream and container declare.
    num_frames : int
        Frames in the file: the header's count where it states one reliably (AVI, MP4), else the index's.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FileSetError(f"{self.path} does not exist (or is not a file)")
        self._file = CachedFile(self.path, opener=open_video)
        self._index: VideoIndex | None = None
        stat = os.stat(self.path)
        # the file's key in the frame cache: another extractor of the same unchanged file shares its frames
        self._owner = (os.path.realpath(self.path), stat.st_size, stat.st_mtime_ns)
        self._setup()
        with self._file.open() as video, video.lock:
            self.info: VideoInfo = read_info(video)
            if not self.info.declared_frames:
                self._index = build_index(video)
                self._check_duration(self._index)
        pixel_family(self.info.pixel_format, self.path)  # a format ophysio cannot read is refused now
        self.num_frames = self.info.declared_frames or self._index.num_frames

    def _setup(self) -> None:
        self._lock = threading.Lock()
        self._readers: dict[str, tuple[np.dtype, Any]] = {}

    # ------------------------------------------------------------------ facts
    @property
    def image_shape(self) -> tuple[int, int]:
        """(rows, columns) of the frames as read."""
        return self.info.image_shape

    def channel_names(self) -> tuple[str, ...]:
        """``("R", "G", "B")`` for an RGB stream, ``("luma",)`` otherwise (see :mod:`.pixels`)."""
        return channel_names(self.info.pixel_format)

    def dtype(self, component: str = LUMA) -> np.dtype:
        """The dtype ``component`` (a channel, or ``"luma"``) reads as."""
        return self._reader(component)[0]

    def _reader(self, component: str):
        reader = self._readers.get(component)
        if reader is None:
            reader = frame_reader(self.info.pixel_format, component, self.path)
            self._readers[component] = reader
        return reader

    def index(self) -> VideoIndex:
        """The frame index, built on first use (one demux pass over the file, no decoding)."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    with self._file.open() as video, video.lock:
                        index = build_index(video)
                    declared = self.info.declared_frames
                    if index.num_frames > declared:
                        warnings.warn(f"{self.path}: its header declares {declared} frames but the file holds "
                                      f"{index.num_frames}; the {index.num_frames - declared} frames after the "
                                      "declared ones are not read", UserWarning, stacklevel=4)
                    self._index = index
        return self._index

    def _check_duration(self, index: VideoIndex) -> None:
        """A Matroska file whose frames end well before the duration its header states was cut short.

        FFmpeg's Matroska muxer reserves the stream's ``DURATION`` tag at the start and fills it in at the end,
        so a file cut short keeps it while losing frames: with no frame count in the header, that is how the
        loss shows.
        """
        stated = _duration_seconds(self.info.stream_metadata)
        if stated is None or index.num_frames < 2:
            return
        numerator, denominator = self.info.time_base
        times = index.pts.astype(np.float64) * numerator / denominator
        step = float(np.median(np.diff(times)))
        # the tag is the stream's end time: the last frame's time plus its duration (about one step)
        if step > 0 and stated - times[-1] > 1.5 * step + 1e-3:  # a missing last frame alone is not told apart
            missing = int(round((stated - times[-1]) / step)) - 1
            raise CorruptFileError(f"{self.path}: its frames end at {times[-1]:.3f} s but the file states a duration "
                                   f"of {stated:.3f} s (about {missing} frames after frame {index.num_frames - 1} are "
                                   "missing): it was cut short or is damaged")

    def has_real_times(self) -> bool:
        """Whether the container keeps a presentation time per frame (Matroska, MP4/MOV; AVI counts frames)."""
        return self.info.kind in REAL_TIME_FORMATS

    def times(self) -> np.ndarray:
        """Presentation time of every frame in seconds (pts x time base), in display order."""
        index = self.index()
        numerator, denominator = self.info.time_base
        return (index.pts[: self.num_frames].astype(np.float64) * numerator) / denominator

    # ------------------------------------------------------------------ reading
    def read(self, start: int, stop: int, out: np.ndarray, component: str = LUMA) -> None:
        """Decode frames ``start:stop`` into ``out`` (frames, rows, columns) as ``component``.

        Frames decoded lately are taken from the process's frame cache (:mod:`.cache`); the others are
        decoded, from the first missing one to the last, and kept there.
        """
        if stop <= start:
            return
        missing = []
        for number in range(start, stop):
            cached = FRAMES.get((self._owner, component, number))
            if cached is None:
                missing.append(number)
            else:
                out[number - start] = cached
        if not missing:
            return
        start, stop, out = missing[0], missing[-1] + 1, out[missing[0] - start : missing[-1] + 1 - start]
        index = self.index()
        if stop > index.num_frames:
            first = max(start, index.num_frames)
            raise CorruptFileError(
                f"{self.path}: frame {first} cannot be read: the header declares {self.info.declared_frames} "
                f"frames but the file holds only {index.num_frames} (frames {index.num_frames} to "
                f"{self.info.declared_frames - 1} are missing: the file was cut short or is damaged)")
        _, reader = self._reader(component)
        keep = FRAMES.keeps(out[0].nbytes)

        def fill(number: int, frame: Any, target: np.ndarray | None) -> None:
            if target is None:  # a frame decoded on the way to the wanted ones
                if not keep:
                    return
                target = np.empty(out.shape[1:], dtype=out.dtype)
                reader(frame, target)
                FRAMES.put((self._owner, component, number), target)
                return
            reader(frame, target)
            if keep:
                FRAMES.put((self._owner, component, number), target.copy())

        import av

        with self._file.open() as video, video.lock:
            try:
                self._decode(video, index, start, stop, out, fill)
            except av.error.FFmpegError as exc:
                expected = video.next_index if video.next_index is not None else start
                video.forget_position()
                raise CorruptFileError(f"{self.path}: frame {expected} could not be decoded "
                                       f"({exc.strerror or exc}); the file is damaged or cut short") from None
            except BaseException:
                video.forget_position()
                raise

    def _decode(self, video: OpenVideo, index: VideoIndex, start: int, stop: int, out: np.ndarray, fill) -> None:
        position = video.next_index
        if (video.frames is not None and position is not None and position <= start
                and (position == start or not index.has_keyframe_between(position, start))):
            if self._decode_run(video, index, start, stop, out, fill, seeking=False) is not _MISSED:
                return
        keyframe: int | None = index.keyframe_at_or_before(start)
        while keyframe is not None:
            video.container.seek(int(index.pts[keyframe]), backward=True, any_frame=False, stream=video.stream)
            video.frames = video.container.decode(video.stream)
            video.next_index = None
            if self._decode_run(video, index, start, stop, out, fill, seeking=True) is not _MISSED:
                return
            keyframe = index.keyframe_before(keyframe)
        raise CorruptFileError(f"{self.path}: frame {start} does not come out of the decoder from any keyframe "
                               "before it; the file is damaged")

    def _decode_run(self, video: OpenVideo, index: VideoIndex, start: int, stop: int, out: np.ndarray, fill,
                    seeking: bool):
        expected = start
        last: int | None = None
        for frame in video.frames:
            time = frame.pts if frame.pts is not None else frame.dts
            number = index.frame_of(int(time)) if time is not None else None
            if number is None:
                if last is None:
                    video.forget_position()
                    raise CorruptFileError(f"{self.path}: the decoder gave a frame at time {time}, which no packet "
                                           f"of the file has (reading frame {expected}); the file is damaged")
                number = last + 1
            last = number
            video.next_index = number + 1
            if number < expected:
                fill(number, frame, None)
                continue
            if number > expected:
                video.forget_position()
                if seeking and expected == start:
                    return _MISSED
                raise CorruptFileError(f"{self.path}: frame {expected} could not be decoded (the decoder went on "
                                       f"to frame {number}); the file is damaged")
            if getattr(frame, "is_corrupt", False):
                video.forget_position()
                raise CorruptFileError(f"{self.path}: frame {expected} decodes as corrupt; the file is damaged")
            fill(number, frame, out[number - start])
            expected += 1
            if expected == stop:
                return None
        video.forget_position()
        raise CorruptFileError(f"{self.path}: the file ends before frame {expected} ({self.num_frames} frames were "
                               "expected): it was cut short or is damaged")

    # ------------------------------------------------------------------ resources
    def close(self) -> None:
        """Close the container; it reopens on the next read (its decoded frames stay in the bounded cache)."""
        self._file.close()

    def __getstate__(self) -> dict:
        return {"path": self.path, "_file": self._file, "_index": self._index, "info": self.info,
                "num_frames": self.num_frames, "_owner": self._owner}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._setup()

    def __repr__(self) -> str:
        return f"VideoFile({self.path!r}, {self.num_frames} frames, {self.info.codec} {self.info.pixel_format})"


def _duration_seconds(tags: dict) -> float | None:
    """The ``DURATION`` tag (``HH:MM:SS.nnnnnnnnn``) in seconds, or None."""
    text = next((v for k, v in tags.items() if k.upper() == "DURATION"), None)
    if not isinstance(text, str):
        return None
    parts = text.strip().split(":")
    try:
        hours, minutes, seconds = (float(p) for p in parts) if len(parts) == 3 else (None, None, None)
    except ValueError:
        return None
    if hours is None:
        return None
    return hours * 3600 + minutes * 60 + seconds
