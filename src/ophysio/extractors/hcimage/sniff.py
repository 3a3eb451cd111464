"""The cheap content check of Hamamatsu HCImage .cxd files: an OLE2 compound document laid out as SimplePCI's."""

from __future__ import annotations

from pathlib import Path

from .ole import OLE_MAGIC, first_directory_names

__all__ = ["sniff_cxd"]


def sniff_cxd(path: Path, head: bytes) -> bool | str:
    """An OLE2 compound document (magic D0CF11E0A1B11AE1) whose top-level entries, in the first directory sector,
    include ``Field Data`` with ``Compix`` or ``File Info``; or one named ``*.cxd`` whose directory starts
    elsewhere."""
    if head[:8] != OLE_MAGIC:
        return "not an OLE2 compound document (no D0CF11E0A1B11AE1 magic)"
    names = first_directory_names(path, head) or []
    if "Field Data" in names and ("Compix" in names or "File Info" in names):
        return True
    if path.name.lower().endswith(".cxd"):
        return True
    return "an OLE2 compound document without HCImage's 'Field Data' and 'Compix'/'File Info' entries"
