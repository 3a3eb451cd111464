"""The first IFD's text tags, for the TIFF formats' content checks (sniffs).

Reads the TIFF header from the head detection already read and the first IFD through the same handle
(:class:`~ophysio.extractors._head.FileHead`), parses it once and keeps the result in the head's memo,
so that every TIFF sniff (ScanImage, legacy ScanImage, OME-TIFF, TIFF...) shares one parse. Imports
nothing heavy.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ...errors import OphysioError
from .._head import FileHead, memo_of, read_at
from .header import MAX_TAGS, TAG_ARTIST, TAG_IMAGE_DESCRIPTION, TAG_SOFTWARE, parse_header, tiff_kind

__all__ = ["tiff_kind", "tiff_first_page_text"]

_TEXT_TAGS = {TAG_IMAGE_DESCRIPTION: "ImageDescription", TAG_SOFTWARE: "Software", TAG_ARTIST: "Artist"}
_MAX_TAG_TEXT = 256 * 1024


def tiff_first_page_text(path: Path, head: bytes) -> dict[str, bytes]:
    """The ImageDescription, Software and Artist tags of a TIFF's first IFD (up to 256 KiB each).

    Returns an empty dict for a file that is not a TIFF or whose first IFD cannot be read. With a
    :class:`~ophysio.extractors._head.FileHead` the answer is worked out once per detection.
    """
    memo = memo_of(head)
    if "tiff_first_page_text" not in memo:
        try:
            memo["tiff_first_page_text"] = _first_page_text(path, head)
        except (OSError, struct.error, OphysioError):
            memo["tiff_first_page_text"] = {}
    return memo["tiff_first_page_text"]


def _first_page_text(path: Path, head: bytes) -> dict[str, bytes]:
    if tiff_kind(head) is None:
        return {}
    size = head.file_size() if isinstance(head, FileHead) else path.stat().st_size
    header = parse_header(bytes(head[:16]), size, str(path))
    order, osize, esize, csize = header.byteorder, header.offset_size, header.entry_size, header.count_size
    (count,) = struct.unpack(header.count_format, read_at(path, head, header.first_ifd, csize))
    if count > MAX_TAGS:
        return {}
    entries = read_at(path, head, header.first_ifd + csize, count * esize)
    result: dict[str, bytes] = {}
    for i in range(min(count, len(entries) // esize)):
        entry = entries[i * esize : (i + 1) * esize]
        tag, dtype = struct.unpack(order + "HH", entry[:4])
        if tag not in _TEXT_TAGS or dtype not in (1, 2, 7) or _TEXT_TAGS[tag] in result:
            continue
        (n,) = struct.unpack(header.offset_format, entry[4 : 4 + osize])
        if n <= osize:
            text = entry[4 + osize : 4 + osize + n]
        else:
            (pos,) = struct.unpack(header.offset_format, entry[4 + osize :])
            if pos >= size:
                continue
            text = read_at(path, head, pos, min(n, _MAX_TAG_TEXT))
        result[_TEXT_TAGS[tag]] = text
    return result
