"""The content check of CNMF-E results: a MATLAB v7.3 MAT-file with a struct holding ``A`` and ``C`` (the
``Sources2D`` object saved as a struct), or CIAtah's ``cnmfeAnalysisOutput`` (``extractedImages`` and
``extractedSignals``), or a ``Sources2D`` object itself (accepted, so that opening it says what to do).

The MAT header text is checked first (a few bytes); only then is the file opened with h5py, and only the
names and classes of the top-level variables and their fields are looked at (no dataset is read).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["sniff_cnmfe", "cnmfe_struct", "NAMES"]

#: The struct names CNMF-E's own saving functions and demos use, tried first: ``save_results`` saves
#: ``neuron_results``, the demos ``results = neuron.obj2struct()``; ``neuron`` is the usual variable.
NAMES = ("neuron_results", "results", "neuron")
_CIATAH = "cnmfeAnalysisOutput"


def _layout_of(group) -> str | None:
    import h5py

    def has(name):
        return name in group and isinstance(group.get(name, getlink=True), h5py.HardLink)

    if has("A") and has("C"):
        return "cnmfe"
    if has("extractedImages") and has("extractedSignals"):
        return "ciatah"
    return None


def cnmfe_struct(h5) -> tuple[str, str] | str:
    """``(variable, "cnmfe" | "ciatah" | "object")`` of the CNMF-E results in an open v7.3 file, else why not."""
    import h5py

    from .._matlab.v73 import matlab_class, struct_groups

    structs = struct_groups(h5)
    for name in (*NAMES, _CIATAH):
        if name in structs and _layout_of(h5[name]) is not None:
            return name, _layout_of(h5[name])
    found = [name for name in structs if _layout_of(h5[name]) is not None]
    if found:
        return found[0], _layout_of(h5[found[0]])
    for name in h5:
        if (not name.startswith("#") and isinstance(h5.get(name, getlink=True), h5py.HardLink)
                and matlab_class(h5[name]) == "Sources2D"):
            return name, "object"
    return "no struct with CNMF-E's A and C (or CIAtah's extractedImages and extractedSignals)"


def sniff_cnmfe(path: Path, head: bytes) -> bool | str:
    """A MATLAB v7.3 MAT-file holding CNMF-E results (see the module documentation)."""
    if head[:10] != b"MATLAB 7.3":
        return "not a MATLAB v7.3 MAT-file (CNMF-E results are read from -v7.3 files)"
    import h5py

    try:
        with h5py.File(path, "r") as f:
            verdict = cnmfe_struct(f)
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError, KeyError, RuntimeError... on damage
        return f"a MAT v7.3 file whose variables could not be listed ({type(exc).__name__}: {exc})"
    return True if isinstance(verdict, tuple) else verdict
