"""The parts of an OLE2 compound document (Microsoft's Compound File Binary format, [MS-CFB]) a reader needs.

A compound document is a small file system in one file: a 512-byte header, then sectors of 512 bytes
(version 3) or 4096 bytes (version 4). Sector ``s`` starts at byte ``(s + 1) * sector_size``. The FAT
gives each sector's successor (its own sectors are listed by the header's 109 DIFAT slots and, past
them, by a chain of DIFAT sectors), so a stream is a chain of sectors from its directory entry's start
sector; a stream shorter than the header's cutoff (4096 bytes) lives instead in the mini stream (64-byte
mini sectors chained by the mini FAT, the mini stream itself being the root entry's chain). The directory
is a chain of 128-byte entries: a UTF-16 name, a type (1 storage, 2 stream, 5 root), left and right
siblings and a child (each storage's children form a binary tree), the creation time, the start sector
and the size.

:class:`CompoundDocument` reads the header, the FAT, the mini FAT and the directory once, with numpy
(olefile checks every stream against a list of those seen, which takes minutes for the 10^5 entries of a
long HCImage recording), and turns a stream into ``(file offset, length)`` runs (:meth:`extents`), so that
its bytes are read with positional reads of the file itself. Every chain is checked as it is walked
(sectors inside the file, no loop, as many as the size needs); a damaged or truncated document is a
:class:`~ophysio.errors.CorruptFileError` naming the file.
"""

from __future__ import annotations

import array
import os
import struct
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from ...errors import CorruptFileError
from .._head import read_at

__all__ = ["OLE_MAGIC", "first_directory_names", "CompoundDocument", "Entry"]

OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_END_OF_CHAIN = 0xFFFFFFFE
_LAST_REGULAR = 0xFFFFFFFA
_NO_STREAM = 0xFFFFFFFF
_FILETIME_EPOCH = datetime(1601, 1, 1)
#: Largest directory read (entries of 128 bytes): 64 MiB holds half a million entries.
_MAX_DIRECTORY = 64 << 20

_ENTRY = np.dtype([("name", "V64"), ("name_length", "<u2"), ("type", "u1"), ("colour", "u1"), ("left", "<u4"),
                   ("right", "<u4"), ("child", "<u4"), ("clsid", "V16"), ("state", "<u4"), ("created", "<u8"),
                   ("modified", "<u8"), ("start", "<u4"), ("size", "<u8")])


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


@dataclass
class Entry:
    """One directory entry: a storage (with ``children`` by name) or a stream."""

    name: str
    type: int
    start: int
    size: int
    created: datetime | None
    children: dict[str, Entry] = field(default_factory=dict, repr=False)

    @property
    def is_stream(self) -> bool:
        return self.type == 2


def _table(data: bytes) -> array.array:
    """Little-endian uint32 sector numbers."""
    table = array.array("I", data[: len(data) // 4 * 4])
    if sys.byteorder == "big":  # pragma: no cover
        table.byteswap()
    return table


def _filetime(value: int) -> datetime | None:
    if value == 0:
        return None
    try:
        return _FILETIME_EPOCH + timedelta(microseconds=int(value) // 10)
    except OverflowError:
        return None


class CompoundDocument:
    """The directory and allocation tables of a compound document, read once from the open file ``fd``."""

    def __init__(self, fd: int, path: str):
        self.path = path
        self.file_size = os.fstat(fd).st_size
        header = os.pread(fd, 512, 0)
        if len(header) < 512 or header[:8] != OLE_MAGIC:
            raise CorruptFileError(f"{path} is not an OLE2 compound document (no D0CF11E0A1B11AE1 header)")
        major, order, shift, mini_shift = struct.unpack_from("<HHHH", header, 26)
        if order != 0xFFFE or (major, shift) not in ((3, 9), (4, 12)) or mini_shift != 6:
            raise CorruptFileError(f"{path}: compound document header with version {major}, byte order {order:#x}, "
                                   f"sector shift {shift} and mini sector shift {mini_shift}; the file is damaged")
        (fat_count, first_dir, _, cutoff, first_minifat, minifat_count, first_difat,
         difat_count) = struct.unpack_from("<IIIIIIII", header, 44)
        self.sector = 1 << shift
        self.mini = 64
        self.cutoff = cutoff
        self.sectors = max(0, -(-self.file_size // self.sector) - 1)  # after the header (the last may be partial)
        per = self.sector // 4
        if fat_count > self.sectors:
            raise CorruptFileError(f"{path}: the header lists {fat_count} FAT sectors, more than the file's "
                                   f"{self.sectors} sectors; the file is truncated or damaged")
        # the FAT's own sectors: 109 in the header, the rest in the DIFAT chain
        fat_sectors = list(struct.unpack_from("<109I", header, 76))[:fat_count]
        difat, seen = first_difat, set()
        while len(fat_sectors) < fat_count and difat < _LAST_REGULAR:
            if difat in seen or difat >= self.sectors or len(seen) > difat_count + 1:
                raise CorruptFileError(f"{path}: the DIFAT chain loops or leaves the file; the document is damaged")
            seen.add(difat)
            slots = np.frombuffer(self._sector_bytes(fd, difat, "the DIFAT"), "<u4")
            fat_sectors.extend(slots[: per - 1].tolist())
            difat = int(slots[per - 1])
        fat_sectors = fat_sectors[:fat_count]
        if len(fat_sectors) < fat_count or any(s >= self.sectors for s in fat_sectors):
            raise CorruptFileError(f"{path}: a FAT sector lies outside the file; the file is truncated or damaged")
        # array.array: indexing gives Python ints at a fraction of numpy's per-item cost, in 4 bytes a sector
        self.fat = _table(b"".join(self._sector_bytes(fd, s, "the FAT") for s in fat_sectors))
        directory = self._read_chain(fd, first_dir, None, "the directory")
        if len(directory) > _MAX_DIRECTORY:
            raise CorruptFileError(f"{path}: a directory of {len(directory)} bytes; the document is damaged")
        records = np.frombuffer(directory[: len(directory) // 128 * 128], dtype=_ENTRY)
        if not len(records) or records["type"][0] != 5:
            raise CorruptFileError(f"{path}: the compound document has no root entry; the file is damaged")
        self._records = records
        self.minifat = _table(b"")
        if minifat_count and first_minifat < _LAST_REGULAR:
            self.minifat = _table(self._read_chain(fd, first_minifat, None, "the mini FAT"))
        root = records[0]
        self._mini_stream = self._chain(int(root["start"]), -(-int(root["size"]) // self.sector), self.fat,
                                        self.sectors, "the mini stream") if int(root["size"]) else []
        self.root = self._tree()

    # ------------------------------------------------------------------ chains
    def _sector_bytes(self, fd: int, sector: int, what: str) -> bytes:
        data = os.pread(fd, self.sector, (sector + 1) * self.sector)
        if len(data) != self.sector:
            raise CorruptFileError(f"{self.path}: {what} reaches past the end of the file; the file is truncated")
        return data

    def _chain(self, start: int, count: int | None, table: array.array, limit: int, what: str) -> list[int]:
        """Sector numbers of the chain from ``start`` (``count`` of them, or up to its end when None)."""
        chain: list[int] = []
        seen: set[int] = set()
        sector = start
        while (count is None and sector < _LAST_REGULAR) or (count is not None and len(chain) < count):
            if sector >= limit or sector >= len(table) or sector in seen:
                problem = "loops back" if sector in seen else f"points to sector {sector:#x}, outside the file"
                raise CorruptFileError(f"{self.path}: the sector chain of {what} {problem}; the compound document "
                                       "is damaged or truncated")
            seen.add(sector)
            chain.append(sector)
            sector = table[sector]
        return chain

    def _read_chain(self, fd: int, start: int, size: int | None, what: str) -> bytes:
        chain = self._chain(start, None if size is None else -(-size // self.sector), self.fat, self.sectors, what)
        data = b"".join(self._sector_bytes(fd, s, what) for s in chain)
        return data if size is None else data[:size]

    # ------------------------------------------------------------------ directory
    def _tree(self) -> Entry:
        records = self._records
        count = len(records)
        entries: list[Entry | None] = [None] * count
        raw = records.tobytes()
        lengths, kinds = records["name_length"].tolist(), records["type"].tolist()
        lefts, rights, childs = records["left"].tolist(), records["right"].tolist(), records["child"].tolist()
        starts, sizes, created = records["start"].tolist(), records["size"].tolist(), records["created"].tolist()

        def entry(index: int) -> Entry:
            if entries[index] is None:
                length = max(min(lengths[index], 64) - 2, 0)
                name = raw[index * 128 : index * 128 + length].decode("utf-16-le", errors="replace")
                entries[index] = Entry(name, kinds[index], starts[index], sizes[index], _filetime(created[index]))
            return entries[index]

        root = entry(0)
        pending = [0]
        placed = {0}
        while pending:  # each storage: walk its children's binary tree (iteratively; a loop is an error)
            parent_index = pending.pop()
            parent = entry(parent_index)
            stack = [childs[parent_index]]
            while stack:
                index = stack.pop()
                if index == _NO_STREAM:
                    continue
                if index >= count or index in placed:
                    raise CorruptFileError(f"{self.path}: the directory's tree points to entry {index} twice or "
                                           "outside the directory; the compound document is damaged")
                placed.add(index)
                child = entry(index)
                parent.children[child.name] = child
                stack += [lefts[index], rights[index]]
                if child.type in (1, 5):
                    pending.append(index)
        return root

    def find(self, *names: str) -> Entry | None:
        """The entry at ``names`` (``find("Field Data", "Field 1")``), or None."""
        node = self.root
        for name in names:
            node = node.children.get(name)
            if node is None:
                return None
        return node

    # ------------------------------------------------------------------ streams
    def extents(self, entry: Entry, what: str) -> list[tuple[int, int]]:
        """``(file offset, length)`` runs holding the bytes of the stream ``entry``."""
        size = entry.size
        if size == 0:
            return []
        if size >= self.cutoff:
            count = -(-size // self.sector)
            first = entry.start
            if first + count <= min(len(self.fat), self.sectors) and count > 1:  # one run of sectors: checked at once
                links = np.frombuffer(self.fat, dtype=np.uint32, count=count - 1, offset=first * 4)
                if np.array_equal(links, np.arange(first + 1, first + count, dtype=np.uint32)):
                    offset = (first + 1) * self.sector
                    if offset + size > self.file_size:
                        raise CorruptFileError(f"{self.path}: {what} reaches byte {offset + size}, past the end of the "
                                               f"file ({self.file_size} bytes); the file is truncated")
                    return [(offset, size)]
            chain = self._chain(entry.start, count, self.fat, self.sectors, what)
            starts, unit = [(s + 1) * self.sector for s in chain], self.sector
        else:
            mini_count = len(self._mini_stream) * self.sector // self.mini
            chain = self._chain(entry.start, -(-size // self.mini), self.minifat, mini_count, what)
            per = self.sector // self.mini
            starts = [(self._mini_stream[m // per] + 1) * self.sector + (m % per) * self.mini for m in chain]
            unit = self.mini
        runs: list[list[int]] = []
        left = size
        for start in starts:
            take = min(unit, left)
            if runs and runs[-1][0] + runs[-1][1] == start:
                runs[-1][1] += take
            else:
                runs.append([start, take])
            left -= take
        end = max(offset + length for offset, length in runs)
        if end > self.file_size:
            raise CorruptFileError(f"{self.path}: {what} reaches byte {end}, past the end of the file "
                                   f"({self.file_size} bytes); the file is truncated")
        return [(offset, length) for offset, length in runs]

    def read(self, fd: int, entry: Entry, what: str) -> bytes:
        """The bytes of the stream ``entry``."""
        pieces = [os.pread(fd, length, offset) for offset, length in self.extents(entry, what)]
        data = b"".join(pieces)
        if len(data) != entry.size:
            raise CorruptFileError(f"{self.path}: {what} ends past the end of the file; the file was cut short")
        return data
