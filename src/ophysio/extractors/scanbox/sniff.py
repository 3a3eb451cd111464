"""The cheap content check of Scanbox recordings: the ``info`` struct of the ``.mat`` beside the movie.

A ``.sbx`` movie has no header (raw frames), so what identifies a recording is its info file: a MATLAB
v5/v7 MAT-file whose variable ``info`` is a struct with Scanbox's fields. The check reads that struct's
field names from the MAT-file's header (no values) and looks for the ``.sbx`` beside it, so that a
``.mat`` of a recording opens as Scanbox rather than as a generic MATLAB movie.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import OphysioError
from .._matlab.v5 import read_v5_struct_fields

__all__ = ["sniff_scanbox", "SCANBOX_FIELDS"]

#: Fields every Scanbox version writes in ``info`` (at least two of them must be there).
SCANBOX_FIELDS = frozenset({"resfreq", "recordsPerBuffer", "scanmode", "sz", "scanbox_version", "otparam",
                            "volscan", "postTriggerSamples", "bytesPerBuffer"})


def _companion(path: Path, suffix: str) -> Path | None:
    stem = path.with_suffix("")
    for candidate in (stem.with_name(stem.name + suffix), stem.with_name(stem.name + suffix.upper())):
        if candidate.is_file():
            return candidate
    return None


def _info_verdict(mat: Path) -> bool | str:
    try:
        with open(mat, "rb") as fh:
            if not fh.read(10).startswith(b"MATLAB 5.0"):
                return f"{mat.name} is not a MATLAB v5/v7 MAT-file"
        fields = read_v5_struct_fields(str(mat), "info")
    except OphysioError as exc:
        return f"{mat.name} could not be read as a Scanbox info file ({exc})"
    if fields is None:
        return f"{mat.name} holds no struct named 'info'"
    if len(SCANBOX_FIELDS.intersection(fields)) < 2:
        return f"the 'info' struct of {mat.name} does not have Scanbox's fields (sz, resfreq, scanmode...)"
    return True


def sniff_scanbox(path: Path, head: bytes) -> bool | str:
    """A ``.sbx`` movie with its Scanbox ``.mat`` info beside it, or that ``.mat`` with the ``.sbx`` beside it."""
    name = path.name.lower()
    if name.endswith(".sbx"):
        mat = _companion(path, ".mat")
        if mat is None:
            return "a .sbx file without its Scanbox .mat info file beside it"
        return _info_verdict(mat)
    if name.endswith(".mat"):
        if head[:10] != b"MATLAB 5.0":
            return "not a MATLAB v5/v7 MAT-file"
        if _companion(path, ".sbx") is None:
            return "no .sbx movie beside it"
        return _info_verdict(path)
    return "neither a Scanbox .sbx movie nor its .mat info file"
