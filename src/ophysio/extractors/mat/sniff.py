"""The cheap content check of MATLAB MAT-files (the v5/v7.3 header text)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["sniff_mat"]


def sniff_mat(path: Path, head: bytes) -> bool | str:
    """MATLAB v5/v7 (text header) or v7.3 (text header over HDF5) MAT-file."""
    if head[:10] in (b"MATLAB 5.0", b"MATLAB 7.3"):
        if len(head) >= 128 and head[126:128] not in (b"IM", b"MI"):
            return "'MATLAB' header text without the IM/MI endian indicator at byte 126"
        return True
    return "no 'MATLAB 5.0/7.3 MAT-file' header text"
