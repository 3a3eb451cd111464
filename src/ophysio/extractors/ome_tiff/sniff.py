"""The cheap content check of OME-TIFF files (OME-XML in the first ImageDescription, or the name)."""

from __future__ import annotations

from pathlib import Path

from .._tiff.head import tiff_first_page_text, tiff_kind

__all__ = ["sniff_ome_tiff"]


def sniff_ome_tiff(path: Path, head: bytes) -> bool | str:
    """A TIFF whose first ImageDescription is OME-XML, or a TIFF named ``*.ome.tif(f)``.

    The name is enough because some writers (Micro-Manager) put a second ImageDescription after the
    OME-XML one, which the quick first-page check may report instead.
    """
    if tiff_kind(head) is None:
        return "not a TIFF file"
    description = tiff_first_page_text(path, head).get("ImageDescription", b"")
    if b"<OME" in description[:8192]:
        return True
    if path.name.lower().endswith((".ome.tif", ".ome.tiff", ".ome.tf2", ".ome.tf8", ".ome.btf")):
        return True
    return "TIFF without OME-XML in its first ImageDescription"
