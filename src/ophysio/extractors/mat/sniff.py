"""The cheap content check of MATLAB MAT-files (the v5/v7.3 header text).

A v7.3 file that holds a segmentation pipeline's results (EXTRACT's ``output`` struct, CNMF-E's results) is
left to those segmentation formats: their footprints are 3-D arrays that would otherwise pass for a movie.
Telling them apart opens the HDF5 file and looks at the names of the top-level structs' fields only (the
verdict is kept in the detection memo).
"""

from __future__ import annotations

from pathlib import Path

from .._head import memo_of

__all__ = ["sniff_mat", "SEGMENTATION_MEMO"]

#: Key of the detection memo holding which segmentation a v7.3 file holds ("" when none).
SEGMENTATION_MEMO = "mat_segmentation"


def _segmentation_in(path: Path, head: bytes) -> str:
    """``"extract"`` or ``"cnmfe"`` when a v7.3 file holds that segmentation's struct, else ""."""
    memo = memo_of(head)
    if SEGMENTATION_MEMO in memo:
        return memo[SEGMENTATION_MEMO]
    verdict = ""
    try:
        import h5py

        from ..cnmfe.sniff import cnmfe_struct
        from ..extract.sniff import extract_struct

        with h5py.File(path, "r") as f:
            if isinstance(extract_struct(f), tuple):
                verdict = "extract"
            elif isinstance(cnmfe_struct(f), tuple):
                verdict = "cnmfe"
    except Exception:  # noqa: BLE001 - a damaged file is the mat reader's to report
        verdict = ""
    memo[SEGMENTATION_MEMO] = verdict
    return verdict


def sniff_mat(path: Path, head: bytes) -> bool | str:
    """MATLAB v5/v7 (text header) or v7.3 (text header over HDF5) MAT-file, not a segmentation's results."""
    if head[:10] in (b"MATLAB 5.0", b"MATLAB 7.3"):
        if len(head) >= 128 and head[126:128] not in (b"IM", b"MI"):
            return "'MATLAB' header text without the IM/MI endian indicator at byte 126"
        if head[:10] == b"MATLAB 7.3" and Path(path).is_file():
            which = _segmentation_in(Path(path), head)
            if which:
                return f"a MAT v7.3 file of {which} results (a segmentation), read with open_segmentation as {which}"
        return True
    return "no 'MATLAB 5.0/7.3 MAT-file' header text"
