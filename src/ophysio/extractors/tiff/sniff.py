"""The cheap content check of plain TIFF files (any TIFF header that is not OME-TIFF)."""

from __future__ import annotations

from pathlib import Path

from .._tiff.head import tiff_kind
from ..ome_tiff.sniff import sniff_ome_tiff

__all__ = ["sniff_tiff"]


def sniff_tiff(path: Path, head: bytes) -> bool | str:
    """Any classic or Big TIFF, except OME-TIFF (whatever its name; pass format="tiff" to force)."""
    if tiff_kind(head) is None:
        return "not a TIFF file (no II*/MM* header)"
    if sniff_ome_tiff(path, head) is True:
        return "OME-XML in the first ImageDescription: an ome_tiff file (pass format='tiff' to read its pages plainly)"
    return True
