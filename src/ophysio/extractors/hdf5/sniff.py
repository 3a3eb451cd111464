"""The cheap content check of HDF5 files (the signature, possibly after a user block)."""

from __future__ import annotations

from pathlib import Path

from .._head import read_at

__all__ = ["HDF5_SIGNATURE", "sniff_hdf5"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def sniff_hdf5(path: Path, head: bytes) -> bool | str:
    """An HDF5 file (signature at offset 0, or after a user block of 512 bytes * 2**k), not a MAT v7.3 file."""
    if head[:10] == b"MATLAB 7.3":
        return "a MATLAB v7.3 MAT-file (HDF5 inside, read as MAT so that MATLAB's axis order is undone)"
    if head[:8] == HDF5_SIGNATURE:
        return True
    if path.is_file():
        size = path.stat().st_size
        offset = 512
        while offset < min(size, 1 << 20):
            if read_at(path, head, offset, 8) == HDF5_SIGNATURE:
                return True
            offset *= 2
    return "no HDF5 signature"
