"""What the TIFF formats' content checks share: the kind of TIFF header, and the first IFD's text tags.

Both read at most a few KiB (the file's first bytes, passed in as ``head``, and the first IFD's text
tags) and import nothing heavy, so that every TIFF format's sniff can use them.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

__all__ = ["tiff_kind", "tiff_first_page_text"]

_TEXT_TAGS = {270: "ImageDescription", 305: "Software", 315: "Artist"}
_MAX_TAG_TEXT = 256 * 1024


def tiff_kind(head: bytes) -> tuple[str, bool] | None:
    """(byte order prefix, is BigTIFF) for a TIFF header, else None."""
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return ("<" if head[:2] == b"II" else ">"), False
    if head[:4] in (b"II+\x00", b"MM\x00+"):
        return ("<" if head[:2] == b"II" else ">"), True
    return None


def tiff_first_page_text(path: Path, head: bytes) -> dict[str, bytes]:
    """The ImageDescription, Software and Artist tags of a TIFF's first IFD (up to 256 KiB each).

    Returns an empty dict for a file that is not a TIFF or whose first IFD cannot be read.
    """
    kind = tiff_kind(head)
    if kind is None:
        return {}
    order, big = kind
    result: dict[str, bytes] = {}
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if big:
                (offset,) = struct.unpack(order + "Q", head[8:16])
                count_fmt, count_size, entry_size, value_size = "Q", 8, 20, 8
            else:
                (offset,) = struct.unpack(order + "I", head[4:8])
                count_fmt, count_size, entry_size, value_size = "H", 2, 12, 4
            if not 0 < offset < size:
                return {}
            fh.seek(offset)
            (count,) = struct.unpack(order + count_fmt, fh.read(count_size))
            if count > 4096:
                return {}
            entries = fh.read(count * entry_size)
            for i in range(count):
                entry = entries[i * entry_size : (i + 1) * entry_size]
                if len(entry) < entry_size:
                    break
                tag, dtype = struct.unpack(order + "HH", entry[:4])
                if tag not in _TEXT_TAGS or dtype not in (1, 2, 7):
                    continue
                (n,) = struct.unpack(order + count_fmt.replace("H", "I"), entry[4 : 4 + value_size])
                if n <= value_size:
                    text = entry[4 + value_size : 4 + value_size + n]
                else:
                    (pos,) = struct.unpack(order + count_fmt.replace("H", "I"), entry[4 + value_size :])
                    if pos >= size:
                        continue
                    fh.seek(pos)
                    text = fh.read(min(n, _MAX_TAG_TEXT))
                result[_TEXT_TAGS[tag]] = text
    except (OSError, struct.error):
        return {}
    return result
