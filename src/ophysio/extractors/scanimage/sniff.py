"""The cheap content check of ScanImage 2016+ TIFF files (reads the TIFF header and the first IFD's text)."""

from __future__ import annotations

import struct
from pathlib import Path

from .._tiff.head import tiff_first_page_text, tiff_kind

__all__ = ["SCANIMAGE_MAGIC", "sniff_scanimage"]

SCANIMAGE_MAGIC = 117637889  # 0x07030301, at offset 8 (classic TIFF) or 16 (BigTIFF)


def sniff_scanimage(path: Path, head: bytes) -> bool | str:
    """ScanImage 2016 and later: the ScanImage header magic after the TIFF header, or SI.* frame data."""
    kind = tiff_kind(head)
    if kind is None:
        return "not a TIFF file"
    order, big = kind
    at = 16 if big else 8
    if len(head) >= at + 4 and struct.unpack(order + "I", head[at : at + 4])[0] == SCANIMAGE_MAGIC:
        return True
    text = tiff_first_page_text(path, head)
    software = text.get("Software", b"")
    if software.lstrip().startswith(b"SI.") or b"\nSI.VERSION_MAJOR" in software:
        return True
    return "TIFF without the ScanImage 2016+ header magic or SI.* frame data"
