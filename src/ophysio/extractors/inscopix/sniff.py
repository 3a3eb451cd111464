"""The cheap content checks of Inscopix .isxd files: the JSON footer that the file's last 8 bytes locate, and
(for the segmentation format) the data set ``type`` at its end: 1 for a cell set."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

from .._head import FileHead, read_at

__all__ = ["sniff_isxd", "sniff_isxd_cellset"]

#: bytes of the end of the footer looked at for its ``"type"`` key (nlohmann's sorted keys put it last)
_TAIL = 4096
#: largest footer parsed whole when its ``type`` is not its last key
_PARSED_FOOTER = 4 << 20
#: the data set type as the last key of the footer (``"type": 1`` then the closing brace)
_LAST_TYPE = re.compile(rb'"type"\s*:\s*(\d+)\s*}\s*$')


def sniff_isxd(path: Path, head: bytes) -> bool | str:
    """An .isxd data set: its last 8 bytes give the length of a JSON object that ends with a NUL byte just
    before them and whose end holds a ``"type"`` (movie, cell set...)."""
    size = head.file_size() if isinstance(head, FileHead) else path.stat().st_size
    if size < 11:
        return "too short for an Inscopix .isxd footer"
    tail = read_at(path, head, size - 9, 9)
    length = struct.unpack("<Q", tail[1:])[0]
    if tail[0] != 0 or not 2 <= length <= size - 9:
        return "its last 8 bytes do not give the length of an Inscopix JSON footer"
    start = size - 9 - length
    if read_at(path, head, start, 1) != b"{" or read_at(path, head, size - 10, 1) != b"}":
        return "no Inscopix JSON footer where its last 8 bytes point"
    end = read_at(path, head, max(start, size - 9 - _TAIL), min(length, _TAIL))
    return True if b'"type"' in end else "its JSON footer has no data set type"


def sniff_isxd_cellset(path: Path, head: bytes) -> bool | str:
    """An .isxd cell set: an .isxd footer (as :func:`sniff_isxd`) whose data set ``type``, its last key, is 1."""
    verdict = sniff_isxd(path, head)
    if verdict is not True:
        return verdict
    size = head.file_size() if isinstance(head, FileHead) else path.stat().st_size
    length = struct.unpack("<Q", read_at(path, head, size - 8, 8))[0]
    end = read_at(path, head, max(size - 9 - length, size - 9 - _TAIL), min(length, _TAIL))
    match = _LAST_TYPE.search(end)
    if match is not None:
        kind = int(match.group(1))
    else:  # keys not sorted (not written by isxcore): parse a footer of reasonable size
        if length > _PARSED_FOOTER:
            return "its JSON footer does not end with the data set type"
        try:
            kind = json.loads(read_at(path, head, size - 9 - length, length)).get("type")
        except (ValueError, AttributeError):
            return "its JSON footer does not parse"
    if kind != 1:
        return f"an Inscopix data set of type {kind}, not a cell set (type 1)"
    return True
