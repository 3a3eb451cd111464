"""The cheap content check of ScanImage 3.x-5.1 TIFF files (the first ImageDescription's header)."""

from __future__ import annotations

from pathlib import Path

from .._tiff.head import tiff_first_page_text, tiff_kind

__all__ = ["sniff_scanimage_legacy"]


def sniff_scanimage_legacy(path: Path, head: bytes) -> bool | str:
    """ScanImage 3.x (state.*), 4.x (scanimage.SI4.*) and 5.0/5.1 (scanimage.SI.*) descriptions."""
    if tiff_kind(head) is None:
        return "not a TIFF file"
    description = tiff_first_page_text(path, head).get("ImageDescription", b"")
    if description.lstrip().startswith(b"state.") or b"scanimage.SI" in description[:4096]:
        return True
    return "TIFF whose first description holds no state.* or scanimage.SI* header"
