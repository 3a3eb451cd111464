"""The JSON footer every Inscopix ``.isxd`` data set ends with, and the timing it records.

An ``.isxd`` file (isxcore's ``MosaicMovieFile``, ``CellSetFile``...) is its data, then the metadata as
UTF-8 JSON, then one NUL byte, then the JSON's length in bytes as a little-endian unsigned 64-bit
integer: the last 8 bytes locate the footer, which starts ``length + 1 + 8`` bytes before the end of the
file. The JSON's ``type`` says what the file holds (:data:`DATA_SET_TYPES`: 0 a movie, 1 a cell set, 4 an
image...). A movie's footer has ``dataType`` (0 uint16, 1 float32, 2 uint8), ``spacingInfo`` (pixels,
pixel size and top-left corner in micrometres, as num/den ratios), ``timingInfo`` (start in seconds since
the Unix epoch and the UTC offset of the recording's clock, the sample period as a ratio, ``numTimes``, and
the time indices of ``dropped``, ``cropped`` and ``blank`` samples), ``fileVersion``,
``hasFrameHeaderFooter`` and ``extraProperties`` (the acquisition software's session settings).

Dropped, cropped and blank samples are not stored: the file holds the other ``numTimes - dropped -
cropped - blank`` frames in time order (isxcore's ``TimingInfo::timeIdxToRecordedIdx``). A cropped range
is written ``"first"`` or ``"first - last"`` (inclusive); a blank or dropped index inside a cropped range,
or a dropped index that is also blank, counts once.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

import numpy as np

from ...errors import CorruptFileError, FormatError, MetadataError
from .._json import loads_json

__all__ = ["DATA_SET_TYPES", "MOVIE", "IMAGE", "CELL_SET", "Footer", "read_footer", "Timing", "parse_timing",
           "ratio"]

#: ``type`` of an .isxd data set (isxcore's ``DataSet::Type``)
DATA_SET_TYPES = {0: "movie", 1: "cell set", 2: "behavioral movie", 3: "GPIO set", 4: "image", 5: "event set",
                  6: "metrics", 7: "IMU set", 8: "vessel set", 9: "nVision movie"}
MOVIE, CELL_SET, IMAGE = 0, 1, 4

#: Largest JSON footer read (real ones are tens of KiB; a cell set of many cells a few MiB).
MAX_FOOTER_BYTES = 256 << 20

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class Footer:
    """The parsed JSON footer of an .isxd file and where it starts (the end of the data)."""

    header: dict
    offset: int
    size: int

    @property
    def type(self) -> int | None:
        value = self.header.get("type")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def type_name(self) -> str:
        kind = self.type
        return DATA_SET_TYPES.get(kind, f"data set of unknown type {self.header.get('type')!r}")


def read_footer(fd: int, path: str) -> Footer:
    """The JSON footer of the open .isxd file ``fd`` (``path`` names it in errors).

    Raises
    ------
    CorruptFileError
        The file is too short for a footer, its last 8 bytes give a length that does not fit the file, the
        byte before them is not the NUL that ends the JSON, or the JSON does not parse (a truncated or
        damaged file).
    """
    size = os.fstat(fd).st_size
    if size < 11:
        raise CorruptFileError(f"{path} is {size} bytes: too short for an Inscopix .isxd file (its JSON footer "
                               "and the 8 bytes giving the footer's length)")
    tail = os.pread(fd, 9, size - 9)
    length = struct.unpack("<Q", tail[1:])[0]
    if length < 2 or length > size - 9 or length > MAX_FOOTER_BYTES:
        raise CorruptFileError(
            f"{path}: the last 8 bytes give a JSON footer of {length} bytes, which does not fit a file of {size} "
            "bytes; the file is truncated or not an Inscopix .isxd file")
    if tail[0] != 0:
        raise CorruptFileError(f"{path}: no NUL byte between the JSON footer and its length; the file is damaged")
    offset = size - 9 - length
    text = os.pread(fd, length, offset)
    if len(text) != length:
        raise CorruptFileError(f"{path} ended while its JSON footer was read (truncated while open?)")
    if text[:1] != b"{":
        raise CorruptFileError(
            f"{path}: the JSON footer the last 8 bytes point to (byte {offset}) does not start with '{{'; the file "
            "is truncated, damaged or not an Inscopix .isxd file")
    try:
        header = loads_json(text, f"{path}: the JSON footer at byte {offset}", "UTF-8 JSON")
    except MetadataError as exc:
        raise CorruptFileError(str(exc)) from None
    if not isinstance(header, dict):
        raise CorruptFileError(f"{path}: the JSON footer is a {type(header).__name__}, not an object")
    return Footer(header, offset, length)


def ratio(value: Any, where: str) -> Fraction:
    """An isxcore ratio ``{"num": n, "den": d}`` as an exact fraction."""
    if not isinstance(value, dict):
        raise MetadataError(f"{where} is {value!r}, not a {{num, den}} ratio")
    num, den = value.get("num"), value.get("den")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (num, den)) or den == 0:
        raise MetadataError(f"{where} is {value!r}, not a ratio of two integers with a non-zero denominator")
    return Fraction(num, den)


def _indices(value: Any, where: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                              for v in value):
        raise MetadataError(f"{where} must be a list of sample indices, not {str(value)[:80]}")
    return value


def _ranges(value: Any, where: str) -> list[tuple[int, int]]:
    """Cropped index ranges: ``"first"``, ``"first - last"`` (inclusive) or plain integers."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MetadataError(f"{where} must be a list of index ranges, not {str(value)[:80]}")
    out = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool) and item >= 0:
            out.append((item, item))
            continue
        match = _RANGE.match(item) if isinstance(item, str) else None
        if match is None:
            raise MetadataError(f"{where} holds {item!r}, not an index range such as '10' or '10 - 19'")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise MetadataError(f"{where} holds the range {item!r}, whose end comes before its start")
        out.append((first, last))
    return out


@dataclass(frozen=True)
class Timing:
    """The ``timingInfo`` of a movie: when each of its ``num_times`` samples was taken, and which are stored.

    Attributes
    ----------
    num_times : int
        Samples in the recording's time grid, stored or not.
    period : Fraction
        Seconds between samples.
    start : Fraction
        Seconds since the Unix epoch (UTC) of sample 0.
    utc_offset : int
        Seconds east of UTC of the recording's clock.
    dropped, blank : tuple of int
        Time indices of dropped and blank samples (not stored).
    cropped : tuple of (int, int)
        Inclusive time index ranges cut out of the movie (not stored).
    """

    num_times: int
    period: Fraction
    start: Fraction
    utc_offset: int
    dropped: tuple[int, ...]
    cropped: tuple[tuple[int, int], ...]
    blank: tuple[int, ...]

    def stored_mask(self) -> np.ndarray:
        """Whether each time index has a frame in the file (False: dropped, cropped or blank)."""
        mask = np.ones(self.num_times, dtype=bool)
        for first, last in self.cropped:
            mask[first : last + 1] = False
        for index in (*self.dropped, *self.blank):
            if index < self.num_times:
                mask[index] = False
        return mask

    def start_datetime(self) -> datetime | None:
        """Sample 0's time, aware, in the zone of the recording's clock."""
        whole = self.start.numerator // self.start.denominator
        micro = round((self.start - whole) * 1_000_000)
        try:
            utc = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=whole, microseconds=micro)
            return utc.astimezone(timezone(timedelta(seconds=self.utc_offset)))
        except (ValueError, OverflowError):
            return None


def parse_timing(header: dict, path: str) -> Timing:
    """The ``timingInfo`` of a movie's footer.

    Raises
    ------
    MetadataError
        A field is missing or of the wrong kind, the period is not positive, or a dropped, cropped or blank
        index lies outside the ``numTimes`` samples.
    """
    info = header.get("timingInfo")
    where = f"{path}: timingInfo"
    if not isinstance(info, dict):
        raise MetadataError(f"{where} is missing from the JSON footer (or not an object)")
    num_times = info.get("numTimes")
    if not isinstance(num_times, int) or isinstance(num_times, bool) or num_times < 0:
        raise MetadataError(f"{where}.numTimes is {num_times!r}, not a number of samples")
    period = ratio(info.get("period"), f"{where}.period")
    if period <= 0:
        raise MetadataError(f"{where}.period is {period} s; a sample period must be positive")
    start_info = info.get("start")
    if not isinstance(start_info, dict):
        raise MetadataError(f"{where}.start is missing (or not an object)")
    start = ratio(start_info.get("secsSinceEpoch"), f"{where}.start.secsSinceEpoch")
    utc_offset = start_info.get("utcOffset", 0)
    if not isinstance(utc_offset, int) or isinstance(utc_offset, bool) or abs(utc_offset) > 50400:
        raise MetadataError(f"{where}.start.utcOffset is {utc_offset!r}, not seconds east of UTC")
    dropped = _indices(info.get("dropped"), f"{where}.dropped")
    blank = _indices(info.get("blank"), f"{where}.blank")
    cropped = _ranges(info.get("cropped"), f"{where}.cropped")
    outside = [i for i in (*dropped, *blank) if i >= num_times] + [r[1] for r in cropped if r[1] >= num_times]
    if outside:
        raise MetadataError(f"{where} marks sample {outside[0]} dropped, cropped or blank, but the movie has "
                            f"numTimes={num_times} samples")
    return Timing(num_times, period, start, utc_offset, tuple(sorted(set(dropped))), tuple(sorted(cropped)),
                  tuple(sorted(set(blank))))


def check_movie(footer: Footer, path: str) -> None:
    """Raise a clear error unless the footer is a movie's (or a one-frame image's)."""
    kind = footer.type
    if kind in (MOVIE, IMAGE):
        return
    if kind == CELL_SET:
        raise FormatError(
            f"{path} is an Inscopix cell set (segmentation output: cell images and traces), not a movie; "
            "InscopixImagingExtractor reads .isxd movies: open a cell set with open_segmentation(path) "
            "(InscopixSegmentationExtractor; on the command line, convert --segmentation PATH)")
    raise FormatError(f"{path} is an Inscopix {footer.type_name}, not a movie; InscopixImagingExtractor reads "
                      ".isxd movies")
