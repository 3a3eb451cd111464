"""The ScanImage 2016+ file header and per-frame descriptions, parsed into Python values.

A ScanImage 2016+ TIFF (TIFF format versions 3 and 4) starts with a (Big)TIFF header followed by
ScanImage's own block: at offset 16 in a BigTIFF (8 in a classic TIFF) four little-endian uint32s,
the magic number 117637889 (0x07030301), the ScanImage TIFF format version, the length of the frame
data text (the ``SI.* = value`` lines, NUL-terminated) and the length of the ROI data (JSON of the
``RoiGroups``, NUL-terminated), then those two blocks. Every page's Software and Artist tags point at
the same two blocks; every page has its own ImageDescription of ``key = value`` lines
(``frameNumbers``, ``frameTimestamps_sec``, ``epoch``...).

Values are written in MATLAB syntax and parsed by :mod:`ophysio.extractors._matlab.values`
(:func:`~ophysio.extractors._matlab.values.parse_matlab_value`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from ...errors import CorruptFileError, FormatError, MetadataError
from .._json import loads_json
from .._matlab.values import parse_key_values, parse_matlab_value
from .sniff import SCANIMAGE_MAGIC

__all__ = [
    "SCANIMAGE_MAGIC",
    "ScanImageHeader",
    "read_scanimage_header",
    "parse_matlab_value",
    "parse_key_values",
    "epoch_to_iso",
]

#: ScanImage TIFF format versions read here (2016 and later).
SUPPORTED_VERSIONS = (3, 4)
_MAX_BLOCK = 64 * 1024**2  # no real header comes near this; larger lengths mean a damaged file

def epoch_to_iso(epoch: Any) -> str | None:
    """``[year month day hour minute seconds]`` (a frame's ``epoch``) as ISO 8601 text, or None."""
    if not isinstance(epoch, list) or len(epoch) != 6:
        return None
    try:
        year, month, day, hour, minute = (int(v) for v in epoch[:5])
        seconds = float(epoch[5])
        whole = int(seconds)
        micro = int(round((seconds - whole) * 1e6))
        if micro == 1_000_000:
            whole, micro = whole + 1, 0
        import datetime

        return datetime.datetime(year, month, day, hour, minute, whole, micro).isoformat()
    except (TypeError, ValueError, OverflowError):
        return None


@dataclass
class ScanImageHeader:
    """The ScanImage block of one file.

    Attributes
    ----------
    version : int
        ScanImage TIFF format version (3 or 4).
    frame_data : dict
        ``SI.*`` key -> parsed value.
    roi_groups : dict
        The parsed ROI JSON's ``RoiGroups`` (``imagingRoiGroup``, ``photostimRoiGroups``...).
    frame_data_span, roi_data_span : tuple of int
        (offset, length) of the two blocks in the file.
    """

    version: int
    frame_data: dict = field(default_factory=dict)
    roi_groups: dict = field(default_factory=dict)
    frame_data_span: tuple[int, int] = (0, 0)
    roi_data_span: tuple[int, int] = (0, 0)


def read_scanimage_block(fd: int, path: str) -> tuple[int, int, int, int, int]:
    """(version, frame data offset, frame data length, ROI data offset, ROI data length); checks only."""
    import os

    size = os.fstat(fd).st_size
    head = os.pread(fd, 32, 0)
    if head[:4] == b"II+\x00":
        at = 16
    elif head[:4] == b"II*\x00":
        at = 8
    elif head[:4] in (b"MM\x00+", b"MM\x00*"):
        raise FormatError(f"{path} is a big-endian TIFF; ScanImage writes little-endian files only")
    else:
        raise FormatError(f"{path} is not a TIFF file (it starts with {head[:4]!r}), so not a ScanImage file")
    if len(head) < at + 16:
        raise CorruptFileError(f"{path}: the file ends inside the ScanImage header ({size} bytes); it is truncated")
    magic, version, size0, size1 = struct.unpack("<4I", head[at : at + 16])
    if magic != SCANIMAGE_MAGIC:
        raise FormatError(
            f"{path} is not a ScanImage 2016+ file: no ScanImage magic number at offset {at} "
            f"(found {magic:#x}, expected {SCANIMAGE_MAGIC:#x}); open ScanImage 3.x-5.1 files with format "
            "'scanimage_legacy' and other TIFFs with format 'tiff'"
        )
    if version not in SUPPORTED_VERSIONS:
        raise FormatError(
            f"{path}: ScanImage TIFF format version {version} is not supported (supported: {SUPPORTED_VERSIONS})"
        )
    start = at + 16
    if size0 > _MAX_BLOCK or size1 > _MAX_BLOCK or start + size0 + size1 > size:
        raise CorruptFileError(
            f"{path}: the ScanImage header claims {size0} bytes of frame data and {size1} bytes of ROI data "
            f"after offset {start}, which do not fit in the file ({size} bytes); the header is damaged or the "
            "file is truncated"
        )
    return version, start, size0, start + size0, size1


def read_scanimage_header(fd: int, path: str) -> ScanImageHeader:
    """Read and parse the ScanImage block of an open file (see the module docstring)."""
    from .._tiff.header import pread_exact

    version, off0, size0, off1, size1 = read_scanimage_block(fd, path)
    text = pread_exact(fd, size0, off0, path, "ScanImage frame data").split(b"\x00", 1)[0]
    frame_data = parse_key_values(text.decode("utf-8", errors="replace").replace("\r\n", "\n"))
    if not any(key.startswith("SI.") for key in frame_data):
        raise MetadataError(f"{path}: the ScanImage frame data block (offset {off0}) holds no SI.* values")
    roi_groups: dict = {}
    if size1 > 1:
        raw = pread_exact(fd, size1, off1, path, "ScanImage ROI data").split(b"\x00", 1)[0].strip()
        if raw:
            parsed = loads_json(raw.decode("utf-8", errors="replace"),
                                f"{path}: the ScanImage ROI data at offset {off1}")
            roi_groups = parsed.get("RoiGroups", parsed) if isinstance(parsed, dict) else {}
    return ScanImageHeader(version, frame_data, roi_groups, (off0, size0), (off1, size1))
