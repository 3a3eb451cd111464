"""What the HCImage reader needs of an OLE2 compound document (Microsoft's Compound File Binary format).

A compound document is a small file system in one file: a 512-byte header, then sectors of 512 bytes
(version 3) or 4096 bytes (version 4). Sector ``s`` starts at byte ``(s + 1) * sector_size``. The FAT
gives each sector's successor, so a stream is a chain of sectors from its directory entry's start sector;
streams shorter than 4096 bytes live instead in the mini stream (64-byte mini sectors chained by the mini
FAT, the mini stream itself being the root entry's chain). The directory is 128-byte entries: a UTF-16
name, a type (1 storage, 2 stream, 5 root), the start sector and the size.

:func:`stream_extents` turns a stream's chain into ``(file offset, length)`` runs once, so that its bytes
are read later with positional reads of the file itself (no parser kept open); the chain is checked as it
is walked (sectors inside the file, no loop, as many as the size needs).
"""

from __future__ import annotations

import struct
from pathlib import Path

from ...errors import CorruptFileError
from .._head import read_at

__all__ = ["OLE_MAGIC", "first_directory_names", "stream_extents"]

OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_END_OF_CHAIN = 0xFFFFFFFE
_LAST_REGULAR = 0xFFFFFFFA


def first_directory_names(path: Path, head: bytes, max_sectors: int = 4) -> list[str] | None:
    """The names in the first ``max_sectors`` sectors of the directory (root entry first), or None when the
    header is not a compound document's. A few small reads (the FAT entries are read from the sectors the
    header lists): enough to recognise a file whose top-level names come first."""
    if head[:8] != OLE_MAGIC or len(head) < 512:
        return None
    shift = struct.unpack_from("<H", head, 30)[0]
    if shift not in (9, 12):
        return None
    size = 1 << shift
    per = size // 4
    difat = struct.unpack_from("<109I", head, 76)
    names: list[str] = []
    current, seen = struct.unpack_from("<I", head, 48)[0], set()
    while current < _LAST_REGULAR and current not in seen and len(seen) < max_sectors:
        seen.add(current)
        sector = read_at(path, head, (current + 1) * size, size)
        for k in range(len(sector) // 128):
            entry = sector[k * 128 : (k + 1) * 128]
            length = struct.unpack_from("<H", entry, 64)[0]
            if entry[66] != 0 and 2 <= length <= 64:
                names.append(entry[: length - 2].decode("utf-16-le", errors="replace"))
        fat_sector = difat[current // per] if current // per < 109 else _LAST_REGULAR
        if fat_sector >= _LAST_REGULAR:
            break
        following = read_at(path, head, (fat_sector + 1) * size + (current % per) * 4, 4)
        current = struct.unpack("<I", following)[0] if len(following) == 4 else _END_OF_CHAIN
    return names


def _chain(table, start: int, count: int, limit: int, what: str, path: str) -> list[int]:
    """``count`` sector numbers of the chain from ``start`` through ``table``, each below ``limit``."""
    chain, seen, sector = [], set(), start
    while len(chain) < count:
        if sector >= limit or sector >= len(table) or sector in seen:
            problem = "loops back" if sector in seen else f"points to sector {sector}, outside the file"
            raise CorruptFileError(f"{path}: the sector chain of {what} {problem}; the compound document is "
                                   "damaged or truncated")
        seen.add(sector)
        chain.append(sector)
        sector = table[sector]
    return chain


def _runs(starts: list[int], unit: int, size: int) -> list[tuple[int, int]]:
    """Merge ``unit``-byte pieces at ``starts`` into (offset, length) runs covering ``size`` bytes."""
    runs: list[list[int]] = []
    left = size
    for start in starts:
        take = min(unit, left)
        if runs and runs[-1][0] + runs[-1][1] == start:
            runs[-1][1] += take
        else:
            runs.append([start, take])
        left -= take
    return [(offset, length) for offset, length in runs]


def stream_extents(ole, entry, file_size: int, path: str, what: str) -> list[tuple[int, int]]:
    """``(file offset, length)`` runs holding the bytes of the stream ``entry`` of the olefile ``ole``."""
    size = int(entry.size)
    if size == 0:
        return []
    sector = ole.sectorsize
    limit = max(0, -(-file_size // sector) - 1)  # sectors after the header (the last may be partial)
    if size >= ole.minisectorcutoff:
        count = -(-size // sector)
        chain = _chain(ole.fat, entry.isectStart, count, limit, what, path)
        extents = _runs([(s + 1) * sector for s in chain], sector, size)
    else:
        mini = ole.minisectorsize
        if ole.minifat is None or len(ole.minifat) == 0:
            ole.loadminifat()
        root = ole.root
        root_chain = _chain(ole.fat, root.isectStart, -(-int(root.size) // sector), limit, "the mini stream", path)
        count = -(-size // mini)
        chain = _chain(ole.minifat, entry.isectStart, count, int(root.size) // mini, what, path)
        starts = [(root_chain[(m * mini) // sector] + 1) * sector + (m * mini) % sector for m in chain]
        extents = _runs(starts, mini, size)
    end = max(offset + length for offset, length in extents)
    if end > file_size:
        raise CorruptFileError(f"{path}: {what} reaches byte {end}, past the end of the file ({file_size} bytes); "
                               "the file is truncated")
    return extents
