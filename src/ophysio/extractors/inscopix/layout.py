"""Where an Inscopix movie's frames are, what each frame's header records, and how planes and colours interleave.

Frames are stored one after another from byte 0, in time order, without the dropped, cropped and blank
samples (:mod:`.footer`). When the footer says ``hasFrameHeaderFooter`` (``fileVersion`` 1 and later, the
raw movies the acquisition software writes), each frame's pixels are preceded and followed by 2560
uint16 values of sensor metadata (two rows of the 1280-pixel nVista 3 sensor). The header holds, one
byte per value in its upper 8 of 12 bits (isxcore's ``FRAME_METADATA_MAPPING``): the colour of the frame
at value 1256 (``'G'`` or ``'R'``), the hardware frame count at 1258-1261, the two LED powers at
1262-1263 and 1266-1267, the electronic focus (efocus) at 1270-1271, and at 1272-1279 the time stamp
counter (TSC, microseconds) of the acquisition box, which isxcore trusts from acquisition software
1.1.1 on (``MosaicMovieFile::hasFrameTimestamps``).

A multiplane recording cycles the electronic focus through its planes frame by frame, and a
multiplexed dual-colour recording alternates its LEDs frame by frame: both are stored interleaved in
one movie, as recorded. The cycle is read from the frame headers when the movie has them, else from the
session settings in ``extraProperties`` (``microscope.multiplane``, ``microscope.dualColor``). A movie
that Inscopix software de-interleaved says which plane or colour it kept (``idps.efocus``,
``idps.channel``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import CorruptFileError, FormatError, MetadataError

__all__ = ["DTYPES", "HEADER_VALUES", "MovieLayout", "movie_layout", "read_frame_metadata", "Interleave",
           "plane_cycle", "channel_cycle", "extra_properties"]

#: ``dataType`` of a movie -> stored numpy type (isxcore's DataType: U16, F32, U8), little-endian
DTYPES = {0: np.dtype("<u2"), 1: np.dtype("<f4"), 2: np.dtype("u1")}
#: uint16 values in a frame's header, and in its footer
HEADER_VALUES = 2560
_HEADER_BYTES = HEADER_VALUES * 2
#: first and last (exclusive) header value of the per-frame metadata
_META_FIRST, _META_END = 1256, 1280
#: frames whose headers are read to find a plane or colour cycle
_PROBE_FRAMES = 64
_COLOURS = {ord("G"): "green", ord("R"): "red"}


def extra_properties(header: dict) -> dict:
    """``extraProperties`` of a footer (an empty dict when absent or null)."""
    value = header.get("extraProperties")
    return value if isinstance(value, dict) else {}


def _section(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _version_at_least(text: Any, minimum: tuple[int, ...]) -> bool:
    if not isinstance(text, str):
        return False
    numbers = [int(part) for part in re.findall(r"\d+", text.split("-")[0])[:3]]
    return tuple(numbers) >= minimum if numbers else False


@dataclass(frozen=True)
class MovieLayout:
    """Geometry of the stored frames.

    Attributes
    ----------
    dtype : numpy.dtype
        Type of the pixels.
    rows, columns : int
        ``spacingInfo.numPixels`` y and x.
    num_stored : int
        Frames in the file.
    stride : int
        Bytes from one stored frame to the next (pixels plus header and footer).
    pixel_offset : int
        Bytes before a frame's pixels (its header).
    frame_timestamps : bool
        Whether frame headers carry a trustworthy TSC.
    """

    dtype: np.dtype
    rows: int
    columns: int
    num_stored: int
    stride: int
    pixel_offset: int
    frame_timestamps: bool

    @property
    def frame_bytes(self) -> int:
        return self.rows * self.columns * self.dtype.itemsize

    @property
    def has_headers(self) -> bool:
        return self.pixel_offset > 0


def movie_layout(header: dict, num_stored: int, data_bytes: int, path: str) -> MovieLayout:
    """The layout of a movie's frames, checked against the bytes before the footer.

    Raises
    ------
    MetadataError
        ``dataType`` or ``spacingInfo`` is missing or unknown.
    CorruptFileError
        The bytes before the footer are not exactly the stored frames (a truncated or damaged file, or one
        whose footer contradicts its data).
    """
    data_type = header.get("dataType")
    dtype = DTYPES.get(data_type) if isinstance(data_type, int) and not isinstance(data_type, bool) else None
    if dtype is None:
        raise MetadataError(f"{path}: dataType {data_type!r} is not one an Inscopix movie has (0 uint16, 1 float32, "
                            "2 uint8)")
    pixels = _section(header, "spacingInfo", "numPixels")
    size = [pixels.get(axis) if isinstance(pixels, dict) else None for axis in ("y", "x")]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in size):
        raise MetadataError(f"{path}: spacingInfo.numPixels is {pixels!r}, not a positive number of rows (y) and "
                            "columns (x)")
    rows, columns = size
    version = header.get("fileVersion", 0)
    has_headers = bool(isinstance(version, int) and version > 0 and header.get("hasFrameHeaderFooter"))
    if has_headers and dtype != DTYPES[0]:
        raise MetadataError(f"{path}: hasFrameHeaderFooter with dataType {data_type}; only uint16 movies have "
                            "frame headers")
    frame_bytes = rows * columns * dtype.itemsize
    stride = frame_bytes + (2 * _HEADER_BYTES if has_headers else 0)
    expected = num_stored * stride
    if data_bytes != expected:
        what = f"{num_stored} frames of {rows} x {columns} {dtype.name}" + (
            " with 2 x 5120 bytes of frame header and footer" if has_headers else "")
        raise CorruptFileError(
            f"{path} holds {data_bytes} bytes of frames before its JSON footer, but its footer describes {what} "
            f"({expected} bytes; numTimes less the dropped, cropped and blank samples): the file is truncated or "
            "damaged")
    producer = _section(extra_properties(header), "producer", "version")
    return MovieLayout(dtype, rows, columns, num_stored, stride, _HEADER_BYTES if has_headers else 0,
                       has_headers and _version_at_least(producer, (1, 1, 1)))


def read_frame_metadata(fd: int, layout: MovieLayout, stored: np.ndarray, path: str) -> dict[str, np.ndarray]:
    """What the headers of the stored frames ``stored`` record: ``colour`` (ASCII code), ``frame_count``,
    ``led1_power``, ``led2_power``, ``efocus`` and ``tsc`` (microseconds), one value per frame."""
    count = len(stored)
    width = (_META_END - _META_FIRST) * 2
    offsets = (np.asarray(stored, dtype=np.int64) * layout.stride + _META_FIRST * 2).tolist()
    pieces = [os.pread(fd, width, offset) for offset in offsets]  # about 1 us a frame
    short = next((k for k, piece in enumerate(pieces) if len(piece) != width), None)
    if short is not None:
        raise CorruptFileError(f"{path} ends inside the header of frame {int(stored[short])}: the file was cut short")
    raw = np.frombuffer(b"".join(pieces), dtype="<u2").reshape(count, _META_END - _META_FIRST)
    values = raw.astype(np.uint64)
    byte = values >> np.uint64(4)  # one byte per value, in the upper 8 of the sensor's 12 bits

    def number(first: int, width: int) -> np.ndarray:
        out = np.zeros(count, dtype=np.uint64)
        for k in range(width):
            out |= byte[:, first - _META_FIRST + k] << np.uint64(8 * k)
        return out

    tsc = np.zeros(count, dtype=np.uint64)
    for j in range(4):  # isxcore's stitching of the TSC's four 16-bit parts
        low, high = values[:, 16 + 2 * j], values[:, 17 + 2 * j]
        part = ((high << np.uint64(4)) | (low >> np.uint64(4))) & np.uint64(0xFFFF)
        tsc |= part << np.uint64(16 * j)
    return {"colour": byte[:, 0].astype(np.int64), "frame_count": number(1258, 4).astype(np.int64),
            "led1_power": number(1262, 2).astype(np.int64), "led2_power": number(1266, 2).astype(np.int64),
            "efocus": number(1270, 2).astype(np.int64), "tsc": tsc}


@dataclass(frozen=True)
class Interleave:
    """A cycle of planes or colours through the time indices: sample ``t`` has ``labels[t % len(labels)]``.

    ``source`` says where the cycle was read (``"frame headers"`` or the JSON key).
    """

    labels: tuple
    source: str

    @property
    def period(self) -> int:
        return len(self.labels)


def _cycle(times: np.ndarray, values: np.ndarray) -> tuple | None:
    """The shortest cycle through time indices that gives every frame its value, or None when none does."""
    for period in range(1, len(times) + 1):
        labels: dict[int, Any] = {}
        if all(labels.setdefault(int(t) % period, int(v)) == int(v) for t, v in zip(times, values)):
            if len(labels) < period:
                return None  # a phase of the cycle was never seen (too few frames to tell)
            return tuple(labels[p] for p in range(period))
    return None


def _probe(fd: int, layout: MovieLayout, stored_times: np.ndarray, path: str) -> tuple[np.ndarray, dict] | None:
    if not layout.frame_timestamps or len(stored_times) == 0:
        return None
    count = min(len(stored_times), _PROBE_FRAMES)
    return stored_times[:count], read_frame_metadata(fd, layout, np.arange(count), path)


def plane_cycle(header: dict, layout: MovieLayout, fd: int, stored_times: np.ndarray,
                path: str) -> Interleave | None:
    """The efocus of each plane of a multiplane movie, or None for a movie of one plane.

    One plane: a movie Inscopix software de-interleaved (``idps.efocus``), or one whose frame headers hold
    one efocus. Several: the cycle of efocus values in the frame headers, else the enabled planes of
    ``microscope.multiplane`` (``activePlanes`` of them) when the movie has no frame headers.
    """
    props = extra_properties(header)
    if _section(props, "idps", "efocus") is not None:
        return None
    probe = _probe(fd, layout, stored_times, path)
    if probe is not None:
        times, meta = probe
        labels = _cycle(times, meta["efocus"])
        if labels is None:
            raise FormatError(f"{path}: the efocus values of the frame headers follow no cycle of planes "
                              f"({meta['efocus'][:12].tolist()}...); the frame headers are damaged")
        return Interleave(labels, "frame headers") if len(labels) > 1 else None
    multiplane = _section(props, "microscope", "multiplane")
    if not isinstance(multiplane, dict) or not multiplane.get("enabled"):
        return None
    active = multiplane.get("activePlanes")
    planes = multiplane.get("planes") if isinstance(multiplane.get("planes"), dict) else {}
    enabled = [plane for _, plane in sorted(planes.items(), key=lambda item: _natural(item[0]))
               if isinstance(plane, dict) and plane.get("enabled", True)]
    if not isinstance(active, int) or isinstance(active, bool) or active < 2:
        return None
    focus = [_efocus_number(plane.get("focus")) for plane in enabled[:active]]
    if len(focus) < active:
        focus += [None] * (active - len(focus))
    return Interleave(tuple(focus), "extraProperties.microscope.multiplane")


def _natural(name: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def _efocus_number(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def channel_cycle(header: dict, layout: MovieLayout, fd: int, stored_times: np.ndarray,
                  path: str) -> tuple[list[str], Interleave | None]:
    """The channels a movie holds and, for a multiplexed dual-colour movie, their cycle through the frames.

    A de-interleaved movie names its channel (``idps.channel``); a dual-colour movie in ``single`` mode its
    one colour; a ``multiplexing`` movie alternates green and red, as its frame headers' colour codes (else
    ``muxRatio`` and ``startChannel``) say. Any other movie has one channel, ``channel_0``.
    """
    props = extra_properties(header)
    kept = _section(props, "idps", "channel")
    if isinstance(kept, str) and kept:
        return [kept], None
    dual = _section(props, "microscope", "dualColor")
    if not isinstance(dual, dict) or not dual.get("enabled"):
        return ["channel_0"], None
    mode = dual.get("mode")
    if mode != "multiplexing":
        single = _section(dual, "single", "channel") or dual.get("startChannel")
        return [single if isinstance(single, str) and single else "channel_0"], None
    probe = _probe(fd, layout, stored_times, path)
    if probe is not None:
        times, meta = probe
        unknown = sorted(set(meta["colour"].tolist()) - set(_COLOURS))
        if unknown:
            raise FormatError(f"{path}: a frame header gives the colour code {unknown[0]}, neither 'G' nor 'R'; the "
                              "frame headers are damaged")
        labels = _cycle(times, meta["colour"])
        if labels is None:
            raise FormatError(f"{path}: the colours of the frame headers follow no cycle; the frame headers are "
                              "damaged")
        cycle = Interleave(tuple(_COLOURS[code] for code in labels), "frame headers")
    else:
        ratios = dual.get("muxRatio") if isinstance(dual.get("muxRatio"), dict) else {"led1": 1, "led2": 1}
        green, red = ratios.get("led1", 1), ratios.get("led2", 1)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in (green, red)):
            raise MetadataError(f"{path}: microscope.dualColor.muxRatio is {ratios!r}, not two positive counts")
        first = dual.get("startChannel", "green")
        order = [("green", green), ("red", red)] if first != "red" else [("red", red), ("green", green)]
        cycle = Interleave(tuple(name for name, n in order for _ in range(n)), "extraProperties.microscope.dualColor")
    names = [name for name in ("green", "red") if name in cycle.labels]
    return names, (cycle if len(names) > 1 else None)
