"""The content check of Zarr stores: a folder with ``zarr.json`` (v3) or ``.zgroup`` / ``.zarray`` (v2) at its
root; an NWB-Zarr store (root attributes with ``nwb_version``) is left to the ``nwb`` format."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["sniff_zarr"]


def sniff_zarr(path: Path, head: bytes) -> bool | str:
    """A Zarr store (see the module documentation)."""
    if not path.is_dir():
        return "not a folder (a Zarr store is a folder)"
    v3 = path / "zarr.json"
    if v3.is_file():
        try:
            meta = json.loads(v3.read_text(encoding="utf-8")) if v3.stat().st_size < 1 << 24 else {}
        except (OSError, ValueError, RecursionError):
            return "zarr.json is not valid JSON"
        if not isinstance(meta, dict) or meta.get("zarr_format") != 3:
            return "zarr.json does not say zarr_format 3"
        return True
    if (path / ".zarray").is_file():
        return True
    if (path / ".zgroup").is_file():
        attrs = path / ".zattrs"
        if attrs.is_file() and attrs.stat().st_size < 1 << 20:
            try:
                values = json.loads(attrs.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):
                values = {}
            if isinstance(values, dict) and ("nwb_version" in values or values.get("neurodata_type") == "NWBFile"):
                return "an NWB-Zarr store (read as nwb)"
        return True
    return "a folder without zarr.json, .zgroup or .zarray"
