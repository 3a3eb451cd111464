"""The content check of EXTRACT output: a MATLAB v7.3 MAT-file with a struct holding ``spatial_weights`` and
``temporal_weights`` (EXTRACT's ``output``), or ``filters`` and ``traces`` (CIAtah's ``extractAnalysisOutput``).

The MAT header text is checked first (a few bytes); only then is the file opened with h5py, and only the
names of the top-level structs' fields are looked at (no dataset is read, no link followed).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["sniff_extract", "extract_struct", "NEW_FIELDS", "LEGACY_FIELDS"]

#: Fields of EXTRACT's ``output`` struct that make it one.
NEW_FIELDS = ("spatial_weights", "temporal_weights")
#: Fields of CIAtah's ``extractAnalysisOutput`` struct that make it one.
LEGACY_FIELDS = ("filters", "traces")
_DEFAULTS = ("output", "extractAnalysisOutput")


def _layout_of(group) -> str | None:
    import h5py

    def has(name):
        return name in group and isinstance(group.get(name, getlink=True), h5py.HardLink)

    if all(has(name) for name in NEW_FIELDS):
        return "new"
    if all(has(name) for name in LEGACY_FIELDS):
        return "legacy"
    return None


def extract_struct(h5, output_struct_name: str | None = None) -> tuple[str, str] | str:
    """``(struct name, "new" | "legacy")`` of the EXTRACT struct in an open v7.3 file, else why not.

    ``output_struct_name`` names the struct; by default ``output``, then ``extractAnalysisOutput``, then the
    one other top-level struct that has EXTRACT's fields."""
    from .._matlab.v73 import struct_groups

    structs = struct_groups(h5)
    if output_struct_name is not None:
        if output_struct_name not in structs:
            return (f"no struct named {output_struct_name!r} (output_struct_name) at the top of the file; its "
                    f"structs: {structs}")
        layout = _layout_of(h5[output_struct_name])
        if layout is None:
            return (f"the struct {output_struct_name!r} has neither EXTRACT's spatial_weights and temporal_weights "
                    "nor filters and traces")
        return output_struct_name, layout
    for name in _DEFAULTS:
        if name in structs and _layout_of(h5[name]) is not None:
            return name, _layout_of(h5[name])
    found = [(name, _layout_of(h5[name])) for name in structs if _layout_of(h5[name]) is not None]
    if len(found) == 1:
        return found[0]
    if found:
        return f"several structs look like EXTRACT output ({[n for n, _ in found]}); pass output_struct_name="
    return ("no struct with EXTRACT's spatial_weights and temporal_weights (output) or filters and traces "
            "(extractAnalysisOutput)")


def sniff_extract(path: Path, head: bytes) -> bool | str:
    """A MATLAB v7.3 MAT-file holding EXTRACT output (see the module documentation)."""
    if head[:10] != b"MATLAB 7.3":
        return "not a MATLAB v7.3 MAT-file (EXTRACT output is saved with -v7.3)"
    import h5py

    try:
        with h5py.File(path, "r") as f:
            verdict = extract_struct(f)
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError, KeyError, RuntimeError... on damage
        return f"a MAT v7.3 file whose variables could not be listed ({type(exc).__name__}: {exc})"
    return True if isinstance(verdict, tuple) else verdict
