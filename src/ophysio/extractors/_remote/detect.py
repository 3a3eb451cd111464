"""Which format a URL holds, told from its content: an HDF5 file is NWB; a Zarr store is NWB-Zarr when its root
attributes say NWB, else a Zarr movie. Costs one request (the first block, which the reader then reuses) or
the store's root metadata."""

from __future__ import annotations

from ...errors import OphysioError, UnknownFormatError
from .urls import display_url

__all__ = ["remote_format"]

_HDF5 = b"\x89HDF\r\n\x1a\n"


def _zarr_format(url: str) -> str | None:
    from .._zarr.nodes import ZarrTree
    from .._zarr.store import open_store

    try:
        tree = ZarrTree(open_store(url))
    except OphysioError:
        return None
    attrs = tree.root.attrs
    return "nwb" if "nwb_version" in attrs or attrs.get("neurodata_type") == "NWBFile" else "zarr"


def remote_format(url: str) -> str:
    """``"nwb"`` or ``"zarr"`` for the content at ``url`` (UnknownFormatError when it is neither)."""
    from . import open_range_source
    from .blocks import BLOCK_BYTES
    from .urls import resolve_url

    path = resolve_url(url).split("?", 1)[0]  # where the bytes are (a DANDI asset URL ends in /download/)
    if path.rstrip("/").lower().endswith(".zarr") or path.endswith("/"):
        found = _zarr_format(url)
        if found is not None:
            return found
    try:
        head = open_range_source(url).head(BLOCK_BYTES)
    except OphysioError:
        head = b""
    if head[:8] == _HDF5:
        return "nwb"
    found = _zarr_format(url)
    if found is not None:
        return found
    raise UnknownFormatError(f"could not tell the format of {display_url(url)}: it is neither an HDF5 (NWB) file nor a "
                             "Zarr store; pass format=...")
