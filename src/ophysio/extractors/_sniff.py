"""Cheap content checks used by the format registry.

Each check reads at most a few KiB (the file's first bytes, passed in as ``head``, and for TIFF files
the first IFD's text tags) and imports nothing heavy. A check returns ``True`` when the content is the
format's, or a short string saying why it is not.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

__all__ = [
    "HEAD_BYTES",
    "read_head",
    "tiff_first_page_text",
    "sniff_scanimage",
    "sniff_scanimage_legacy",
    "sniff_ome_tiff",
    "sniff_tiff",
    "sniff_hdf5",
    "sniff_mat",
    "sniff_suite2p",
    "sniff_npy",
]

HEAD_BYTES = 4096
SCANIMAGE_MAGIC = 117637889  # 0x07030301, at offset 8 (classic TIFF) or 16 (BigTIFF)
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_TEXT_TAGS = {270: "ImageDescription", 305: "Software", 315: "Artist"}
_MAX_TAG_TEXT = 256 * 1024


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of a regular file, or b"" for a directory."""
    if path.is_dir():
        return b""
    with open(path, "rb") as fh:
        return fh.read(size)


def _tiff_kind(head: bytes) -> tuple[str, bool] | None:
    """(byte order prefix, is BigTIFF) for a TIFF header, else None."""
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return ("<" if head[:2] == b"II" else ">"), False
    if head[:4] in (b"II+\x00", b"MM\x00+"):
        return ("<" if head[:2] == b"II" else ">"), True
    return None


def tiff_first_page_text(path: Path, head: bytes) -> dict[str, bytes]:
    """The ImageDescription, Software and Artist tags of a TIFF's first IFD (up to 256 KiB each).

    Returns an empty dict for a file that is not a TIFF or whose first IFD cannot be read.
    """
    kind = _tiff_kind(head)
    if kind is None:
        return {}
    order, big = kind
    result: dict[str, bytes] = {}
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if big:
                (offset,) = struct.unpack(order + "Q", head[8:16])
                count_fmt, count_size, entry_size, value_size = "Q", 8, 20, 8
            else:
                (offset,) = struct.unpack(order + "I", head[4:8])
                count_fmt, count_size, entry_size, value_size = "H", 2, 12, 4
            if not 0 < offset < size:
                return {}
            fh.seek(offset)
            (count,) = struct.unpack(order + count_fmt, fh.read(count_size))
            if count > 4096:
                return {}
            entries = fh.read(count * entry_size)
            for i in range(count):
                entry = entries[i * entry_size : (i + 1) * entry_size]
                if len(entry) < entry_size:
                    break
                tag, dtype = struct.unpack(order + "HH", entry[:4])
                if tag not in _TEXT_TAGS or dtype not in (1, 2, 7):
                    continue
                (n,) = struct.unpack(order + count_fmt.replace("H", "I"), entry[4 : 4 + value_size])
                if n <= value_size:
                    text = entry[4 + value_size : 4 + value_size + n]
                else:
                    (pos,) = struct.unpack(order + count_fmt.replace("H", "I"), entry[4 + value_size :])
                    if pos >= size:
                        continue
                    fh.seek(pos)
                    text = fh.read(min(n, _MAX_TAG_TEXT))
                result[_TEXT_TAGS[tag]] = text
    except (OSError, struct.error):
        return {}
    return result


def sniff_scanimage(path: Path, head: bytes) -> bool | str:
    """ScanImage 2016 and later: the ScanImage header magic after the TIFF header, or SI.* frame data."""
    kind = _tiff_kind(head)
    if kind is None:
        return "not a TIFF file"
    order, big = kind
    at = 16 if big else 8
    if len(head) >= at + 4 and struct.unpack(order + "I", head[at : at + 4])[0] == SCANIMAGE_MAGIC:
        return True
    text = tiff_first_page_text(path, head)
    software = text.get("Software", b"")
    if software.lstrip().startswith(b"SI.") or b"\nSI.VERSION_MAJOR" in software:
        return True
    return "TIFF without the ScanImage 2016+ header magic or SI.* frame data"


def sniff_scanimage_legacy(path: Path, head: bytes) -> bool | str:
    """ScanImage 3.x (state.*), 4.x (scanimage.SI4.*) and 5.0/5.1 (scanimage.SI.*) descriptions."""
    if _tiff_kind(head) is None:
        return "not a TIFF file"
    description = tiff_first_page_text(path, head).get("ImageDescription", b"")
    if description.lstrip().startswith(b"state.") or b"scanimage.SI" in description[:4096]:
        return True
    return "TIFF whose first description holds no state.* or scanimage.SI* header"


def sniff_ome_tiff(path: Path, head: bytes) -> bool | str:
    """A TIFF whose first ImageDescription is OME-XML, or a TIFF named ``*.ome.tif(f)``.

    The name is enough because some writers (Micro-Manager) put a second ImageDescription after the
    OME-XML one, which the quick first-page check may report instead.
    """
    if _tiff_kind(head) is None:
        return "not a TIFF file"
    description = tiff_first_page_text(path, head).get("ImageDescription", b"")
    if b"<OME" in description[:8192]:
        return True
    if path.name.lower().endswith((".ome.tif", ".ome.tiff", ".ome.tf2", ".ome.tf8", ".ome.btf")):
        return True
    return "TIFF without OME-XML in its first ImageDescription"


def sniff_tiff(path: Path, head: bytes) -> bool | str:
    """Any classic or Big TIFF, except OME-TIFF (whatever its name; pass format="tiff" to force)."""
    if _tiff_kind(head) is None:
        return "not a TIFF file (no II*/MM* header)"
    if sniff_ome_tiff(path, head) is True:
        return "OME-XML in the first ImageDescription: an ome_tiff file (pass format='tiff' to read its pages plainly)"
    return True


def sniff_mat(path: Path, head: bytes) -> bool | str:
    """MATLAB v5/v7 (text header) or v7.3 (text header over HDF5) MAT-file."""
    if head[:10] in (b"MATLAB 5.0", b"MATLAB 7.3"):
        if len(head) >= 128 and head[126:128] not in (b"IM", b"MI"):
            return "'MATLAB' header text without the IM/MI endian indicator at byte 126"
        return True
    return "no 'MATLAB 5.0/7.3 MAT-file' header text"


def sniff_hdf5(path: Path, head: bytes) -> bool | str:
    """An HDF5 file (signature at offset 0, or after a user block of 512 bytes * 2**k), not a MAT v7.3 file."""
    if head[:10] == b"MATLAB 7.3":
        return "a MATLAB v7.3 MAT-file (HDF5 inside, read as MAT so that MATLAB's axis order is undone)"
    if head[:8] == HDF5_SIGNATURE:
        return True
    if path.is_file():
        size = path.stat().st_size
        offset = 512
        with open(path, "rb") as fh:
            while offset < min(size, 1 << 20):
                fh.seek(offset)
                if fh.read(8) == HDF5_SIGNATURE:
                    return True
                offset *= 2
    return "no HDF5 signature"


def _suite2p_ops(path: Path) -> bool:
    if path.is_file():
        if path.name == "ops.npy":
            with open(path, "rb") as fh:
                return fh.read(6) == b"\x93NUMPY"
        return path.suffix == ".bin" and (path.parent / "ops.npy").is_file()
    if path.is_dir():
        return (
            (path / "ops.npy").is_file()
            or (path / "plane0" / "ops.npy").is_file()
            or (path / "suite2p" / "plane0" / "ops.npy").is_file()
        )
    return False


def sniff_suite2p(path: Path, head: bytes) -> bool | str:
    """A suite2p folder (ops.npy, planeN/ops.npy or suite2p/planeN/ops.npy), its ops.npy or a .bin beside it."""
    return True if _suite2p_ops(path) else "no suite2p ops.npy here"


def sniff_npy(path: Path, head: bytes) -> bool | str:
    """A numpy .npy file."""
    return True if head[:6] == b"\x93NUMPY" else "no .npy magic"
