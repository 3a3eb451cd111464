"""The content check of CaImAn segmentation files: HDF5 with an ``estimates`` group holding ``A`` (the sparse
footprints, a group) and ``C`` (the temporal components), beside a ``params`` group.

The HDF5 signature is checked first (a few bytes); only an HDF5 file is then opened with h5py, and only
link names and kinds are looked at (no dataset is read, no external link followed). The verdict is kept in
the detection memo (:data:`~ophysio.extractors.hdf5.sniff.CAIMAN_MEMO`), so that the generic ``hdf5`` sniff,
when it runs after this one, leaves a CaImAn file to this format.
"""

from __future__ import annotations

from pathlib import Path

from .._head import memo_of
from ..hdf5.sniff import CAIMAN_MEMO, has_hdf5_signature

__all__ = ["sniff_caiman", "caiman_layout"]


def _hard(group, name: str, kind) -> bool:
    """Whether ``group`` has a hard link ``name`` to an object of class ``kind``."""
    import h5py

    if name not in group:
        return False
    return isinstance(group.get(name, getlink=True), h5py.HardLink) and group.get(name, getclass=True) is kind


def caiman_layout(path: Path) -> bool | str:
    """True when ``path`` (an HDF5 file) has CaImAn's layout, else why not."""
    import h5py

    with h5py.File(path, "r") as f:
        if not _hard(f, "estimates", h5py.Group):
            return "HDF5 without an 'estimates' group (not a CaImAn file)"
        if not _hard(f, "params", h5py.Group):
            return "HDF5 with 'estimates' but no 'params' group (not a CaImAn file)"
        estimates = f["estimates"]
        if not _hard(estimates, "A", h5py.Group):
            return "HDF5 with 'estimates' but no sparse 'estimates/A' group (not a CaImAn file)"
        if not _hard(estimates, "C", h5py.Dataset):
            return "HDF5 with 'estimates/A' but no 'estimates/C' dataset (not a CaImAn file)"
        return True


def sniff_caiman(path: Path, head: bytes) -> bool | str:
    """A CaImAn segmentation file (see the module documentation). A file whose groups h5py cannot list is
    declined with the reason (opening it with ``format="caiman"`` reports the damage)."""
    memo = memo_of(head)
    if head[:10] == b"MATLAB 7.3":
        return "a MATLAB v7.3 MAT-file, not a CaImAn file"
    if not path.is_file() or not has_hdf5_signature(path, head):
        return "no HDF5 signature (CaImAn files are HDF5)"
    if CAIMAN_MEMO in memo:
        verdict = memo[CAIMAN_MEMO]
        return True if verdict is True else str(verdict)
    try:
        verdict = caiman_layout(path)
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError, KeyError, RuntimeError... on damage
        verdict = f"HDF5 whose groups could not be listed ({type(exc).__name__}: {exc})"
    memo[CAIMAN_MEMO] = verdict
    return verdict
