"""The content check of NWB files: HDF5 with an ``nwb_version`` root attribute and ``acquisition`` or
``processing``, or a Zarr folder whose root attributes say NWB (hdmf-zarr's NWB-Zarr).

The HDF5 signature is checked first (a few bytes); only then is the file opened with h5py, and only the
root's attributes and link names are read. The verdict goes into the detection memo, so that the generic
``hdf5`` format, tried later, leaves an NWB file to this one whatever its name.
"""

from __future__ import annotations

import json
from pathlib import Path

from .._head import memo_of
from ..hdf5.sniff import NWB_MEMO, has_hdf5_signature

__all__ = ["sniff_nwb", "sniff_nwb_segmentation", "NWB_MEMO", "nwb_zarr_attributes"]


def _text(value) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, str) else None


def nwb_zarr_attributes(folder: Path) -> dict | None:
    """The root attributes of a Zarr v2 folder when they say NWB (``nwb_version``, or ``neurodata_type`` NWBFile)."""
    attrs_path = folder / ".zattrs"
    if not (folder / ".zgroup").is_file() or not attrs_path.is_file() or attrs_path.stat().st_size > 1 << 20:
        return None
    try:
        attrs = json.loads(attrs_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(attrs, dict):
        return None
    if "nwb_version" in attrs or attrs.get("neurodata_type") == "NWBFile":
        return attrs
    return None


def _hdf5_verdict(path: Path) -> bool | str:
    import h5py

    with h5py.File(path, "r") as f:
        version = _text(f.attrs.get("nwb_version")) if "nwb_version" in f.attrs else None
        if version is None:
            return "HDF5 without an nwb_version attribute at its root (not NWB)"
        if "acquisition" not in f and "processing" not in f:
            return f"HDF5 with nwb_version {version!r} but no acquisition or processing group"
        return True


def sniff_nwb(path: Path, head: bytes) -> bool | str:
    """An NWB file (see the module documentation)."""
    memo = memo_of(head)
    if path.is_dir():
        if nwb_zarr_attributes(path) is not None:
            return True
        return "a folder without NWB-Zarr root attributes (.zgroup, .zattrs with nwb_version)"
    if head[:10] == b"MATLAB 7.3":
        return "a MATLAB v7.3 MAT-file, not NWB"
    if not has_hdf5_signature(path, head):
        return "no HDF5 signature (NWB files are HDF5, or NWB-Zarr folders)"
    try:
        verdict = _hdf5_verdict(path)
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError, KeyError, RuntimeError... on damage
        verdict = True if path.name.lower().endswith(".nwb") else \
            f"HDF5 whose root could not be read ({type(exc).__name__}: {exc})"
    memo[NWB_MEMO] = verdict is True
    return verdict


def sniff_nwb_segmentation(path: Path, head: bytes) -> bool | str:
    """An NWB file (as :func:`sniff_nwb`) holding a PlaneSegmentation in ``/processing``."""
    verdict = sniff_nwb(path, head)
    if verdict is not True:
        return verdict
    from .planes import find_plane_segmentations

    try:
        if path.is_dir():
            from .._zarr.nodes import ZarrTree
            from .._zarr.store import open_store
            from .tree import ZarrNode

            tree = ZarrTree(open_store(str(path), None, None))
            found = find_plane_segmentations(ZarrNode(tree, tree.root))
        else:
            import h5py

            from .tree import H5Node

            with h5py.File(path, "r") as f:
                found = find_plane_segmentations(H5Node(f["/"], ""))
    except Exception as exc:  # noqa: BLE001 - a damaged file: declined with the reason
        return f"NWB whose processing modules could not be listed ({type(exc).__name__}: {exc})"
    return True if found else "NWB without a PlaneSegmentation in /processing (no segmentation)"
