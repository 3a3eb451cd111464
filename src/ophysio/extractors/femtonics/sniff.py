"""The content check of Femtonics MESc files: HDF5 with ``MSession_<n>`` groups holding ``MUnit_<n>`` groups.

The HDF5 signature is checked first (a few bytes); only an HDF5 file is then opened with h5py, and only
the link names of the root and of its ``MSession_<n>`` groups are listed (no attribute is read, no
external link is followed). The verdict is kept in the detection memo, so that the generic ``hdf5``
format, tried later, leaves a MESc file to this one whatever its name.
"""

from __future__ import annotations

import re
from pathlib import Path

from .._head import memo_of
from ..hdf5.sniff import MESC_MEMO, has_hdf5_signature

__all__ = ["sniff_femtonics", "mesc_layout", "SESSION", "UNIT"]

SESSION = re.compile(r"MSession_(\d+)")
UNIT = re.compile(r"MUnit_(\d+)")


def _hard_groups(group, pattern: re.Pattern) -> list[str]:
    """Names of ``group``'s hard-linked subgroups that match ``pattern`` (links are not followed)."""
    import h5py

    names = []
    for name in group:
        if not isinstance(name, str) or not pattern.fullmatch(name):
            continue
        if isinstance(group.get(name, getlink=True), h5py.HardLink) and group.get(name, getclass=True) is h5py.Group:
            names.append(name)
    return names


def mesc_layout(path: Path) -> bool | str:
    """True when ``path`` (an HDF5 file) has an ``MSession_<n>`` group holding an ``MUnit_<n>`` group, else why not."""
    import h5py

    with h5py.File(path, "r") as f:
        sessions = _hard_groups(f, SESSION)
        if not sessions:
            return "HDF5 without MSession_<n> groups (not a Femtonics MESc file)"
        for session in sessions:
            if _hard_groups(f[session], UNIT):
                return True
        return f"HDF5 with {', '.join(sessions[:3])} but no MUnit_<n> group in them"


def sniff_femtonics(path: Path, head: bytes) -> bool | str:
    """A Femtonics MESc file (see the module documentation).

    An HDF5 file whose structure h5py cannot read (a truncated file, say) is claimed only when its name
    ends in ``.mesc``, so that the Femtonics reader, not the generic HDF5 one, reports the damage.
    """
    memo = memo_of(head)
    if head[:10] == b"MATLAB 7.3":
        return "a MATLAB v7.3 MAT-file, not a MESc file"
    if not has_hdf5_signature(path, head):
        return "no HDF5 signature (MESc files are HDF5)"
    try:
        verdict = mesc_layout(path)
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError, KeyError, RuntimeError... on damage
        verdict = True if path.name.lower().endswith(".mesc") else \
            f"HDF5 whose groups could not be listed ({type(exc).__name__}: {exc})"
    memo[MESC_MEMO] = verdict is True
    return verdict
