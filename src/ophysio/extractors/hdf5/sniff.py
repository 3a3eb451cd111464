"""The cheap content check of HDF5 files (the signature, possibly after a user block)."""

from __future__ import annotations

from pathlib import Path

from .._head import memo_of, read_at

__all__ = ["HDF5_SIGNATURE", "has_hdf5_signature", "sniff_hdf5", "MESC_MEMO", "CAIMAN_MEMO", "NWB_MEMO"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Key of the detection memo where the femtonics sniff (which runs first) says whether the file has the
#: MESc layout; a generic HDF5 reader must not take a Femtonics file, whatever its name.
MESC_MEMO = "femtonics_mesc"
#: Key of the detection memo where the caiman sniff keeps its verdict (True for a file with CaImAn's
#: ``estimates``/``params`` layout); a generic HDF5 reader leaves such a file to it.
CAIMAN_MEMO = "caiman_layout"
#: Key of the detection memo where the nwb sniff (which runs first) says whether the file is NWB; the generic
#: HDF5 reader leaves NWB files (whose photon series are (time, x, y), not (time, rows, columns)) to it.
NWB_MEMO = "nwb"


def has_hdf5_signature(path: Path, head: bytes) -> bool:
    """Whether the HDF5 signature is at offset 0 or after a user block of 512 bytes * 2**k."""
    if head[:8] == HDF5_SIGNATURE:
        return True
    if path.is_file():
        size = path.stat().st_size
        offset = 512
        while offset < min(size, 1 << 20):
            if read_at(path, head, offset, 8) == HDF5_SIGNATURE:
                return True
            offset *= 2
    return False


def sniff_hdf5(path: Path, head: bytes) -> bool | str:
    """An HDF5 file (signature at offset 0, or after a user block of 512 bytes * 2**k), not a MAT v7.3 file,
    not a Femtonics MESc file and not an NWB file."""
    if head[:10] == b"MATLAB 7.3":
        return "a MATLAB v7.3 MAT-file (HDF5 inside, read as MAT so that MATLAB's axis order is undone)"
    if not has_hdf5_signature(path, head):
        return "no HDF5 signature"
    if memo_of(head).get(MESC_MEMO) is True:
        return "a Femtonics MESc file (MSession_<n>/MUnit_<n> groups), read as femtonics"
    if memo_of(head).get(CAIMAN_MEMO) is True:
        return "a CaImAn segmentation (estimates/A, estimates/C, params), read with open_segmentation as caiman"
    if memo_of(head).get(NWB_MEMO) is True:
        return "an NWB file (nwb_version at its root), read as nwb"
    return True
