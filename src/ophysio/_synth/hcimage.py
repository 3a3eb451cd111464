"""Synthetic Hamamatsu HCImage ``.cxd`` files: a minimal OLE2 compound-document writer and SimplePCI's layout.

olefile reads compound documents but cannot create them, so this module writes them itself, as
Microsoft's Compound File Binary format ([MS-CFB]) describes: a 512-byte header (sector size 512 for
version 3, 4096 for version 4, whose header sector is padded to 4096 bytes), the FAT (one 32-bit
successor per sector; FAT sectors marked 0xFFFFFFFD, chain ends 0xFFFFFFFE, free 0xFFFFFFFF), streams
shorter than 4096 bytes in the mini stream (64-byte mini sectors, chained by the mini FAT, the mini
stream being the root entry's chain), and 128-byte directory entries (UTF-16 names; each storage's
children form a binary search tree ordered by name length, then by upper-case name). Only up to 109 FAT
sectors (no DIFAT sectors): enough for test files.

The HCImage layout is that of the real sample (``Data00676_stubbed.cxd``) and of Bio-Formats' PCIReader:
``Compix``, ``Comments``, ``File Info/Field Count``..., ``Field Data/Field N/i_ImageK/Bitmap 1`` (the pixels)
with ``Details/Image_Width``, ``Image_Height``, ``Image_Depth`` (doubles) beside it and, with
``frame_times``, ``Field Data/Field N/Details/Time_From_Start`` (a double, seconds).

Channel ``k`` (from 0) of frame ``n`` holds ``movie(num_frames, rows, columns, channel=k)[n]``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

__all__ = ["write_compound_document", "write_cxd", "cxd_movie"]

_FREE, _END, _FAT_SECTOR = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
_NONE = 0xFFFFFFFF
_MINI, _CUTOFF = 64, 4096


def _filetime(moment: datetime | None) -> int:
    if moment is None:
        return 0
    epoch = datetime(1601, 1, 1, tzinfo=timezone.utc)
    return (moment.astimezone(timezone.utc) - epoch) // timedelta(microseconds=1) * 10


class _Node:
    def __init__(self, name: str, data: bytes | None = None, path: str = ""):
        self.name, self.data, self.children, self.path = name, data, {}, path
        self.created: datetime | None = None
        self.index = 0
        self.start, self.size = _END, 0
        self.left = self.right = self.child = _NONE


def _tree(streams: dict[str, bytes], created: dict[str, datetime]) -> _Node:
    root = _Node("Root Entry")
    for path, data in streams.items():
        node = root
        parts = path.split("/")
        for k, part in enumerate(parts[:-1]):
            node = node.children.setdefault(part, _Node(part, path="/".join(parts[: k + 1])))
        node.children[parts[-1]] = _Node(parts[-1], bytes(data), path)
    for path, moment in created.items():
        node = root
        for part in path.split("/"):
            node = node.children[part]
        node.created = moment
    return root


def write_compound_document(path: str | os.PathLike, streams: dict[str, bytes], version: int = 3,
                            created: dict[str, datetime] | None = None, interleave: Sequence[str] = ()) -> Path:
    """Write an OLE2 compound document holding ``streams`` (``"Storage/Sub/Stream" -> bytes``).

    ``created`` gives storages a creation time; the regular-sector chains of the streams named in
    ``interleave`` are interleaved with each other sector by sector (a fragmented file).
    """
    sector = 512 if version == 3 else 4096
    root = _tree(streams, created or {})
    nodes: list[_Node] = [root]  # numbered breadth first: the top-level entries share the first directory sector
    for node in nodes:
        for child in node.children.values():
            child.index = len(nodes)
            nodes.append(child)
    # the mini stream
    ministream = bytearray()
    minifat: list[int] = []
    regular = []
    for node in nodes:
        if node.data is None:
            continue
        node.size = len(node.data)
        if node.size == 0:
            node.start = _END
        elif node.size < _CUTOFF:
            first = len(ministream) // _MINI
            count = -(-node.size // _MINI)
            ministream += node.data + bytes(count * _MINI - node.size)
            minifat += [first + k + 1 for k in range(count - 1)] + [_END]
            node.start = first
        else:
            regular.append(node)
    # sector allocation: regular streams (some interleaved), mini stream, mini FAT, directory, FAT
    chunks: list[bytes] = []
    fat: list[int] = []

    def allocate(data: bytes) -> list[int]:
        numbers = []
        for k in range(0, max(len(data), 1), sector):
            numbers.append(len(chunks))
            chunks.append(data[k : k + sector].ljust(sector, b"\0"))
            fat.append(_FREE)
        return numbers

    def link(numbers: list[int]) -> int:
        for a, b in zip(numbers, numbers[1:]):
            fat[a] = b
        fat[numbers[-1]] = _END
        return numbers[0]

    mixed = [node for node in regular if node.path in set(interleave)]
    plain = [node for node in regular if node not in mixed]
    for node in plain:
        node.start = link(allocate(node.data))
    if mixed:
        pieces = {id(node): [node.data[k : k + sector] for k in range(0, node.size, sector)] for node in mixed}
        owned: dict[int, list[int]] = {id(node): [] for node in mixed}
        for k in range(max(len(p) for p in pieces.values())):
            for node in mixed:
                if k < len(pieces[id(node)]):
                    owned[id(node)] += allocate(pieces[id(node)][k])
        for node in mixed:
            node.start = link(owned[id(node)])
    root.size = len(ministream)
    root.start = link(allocate(bytes(ministream))) if ministream else _END
    minifat_start, minifat_count = _END, 0
    if minifat:
        table = struct.pack(f"<{len(minifat)}I", *minifat)
        numbers = allocate(table + struct.pack("<I", _FREE) * ((-len(minifat)) % (sector // 4)))
        minifat_start, minifat_count = link(numbers), len(numbers)
    # directory: each storage's children as a balanced binary search tree (all black)
    for node in nodes:
        ordered = sorted(node.children.values(), key=lambda n: (len(n.name), n.name.upper()))

        def build(items: list[_Node]) -> int:
            if not items:
                return _NONE
            middle = len(items) // 2
            items[middle].left = build(items[:middle])
            items[middle].right = build(items[middle + 1 :])
            return items[middle].index

        node.child = build(ordered)
    directory = bytearray()
    for node in nodes:
        name = node.name.encode("utf-16-le")[:62] + b"\0\0"
        kind = 5 if node is root else (2 if node.data is not None else 1)
        stamp = _filetime(node.created) if kind == 1 else 0
        directory += name.ljust(64, b"\0") + struct.pack("<HBB", len(name), kind, 1)
        directory += struct.pack("<III", node.left, node.right, node.child) + bytes(16) + struct.pack("<I", 0)
        directory += struct.pack("<QQ", stamp, stamp) + struct.pack("<IQ", node.start, node.size)
    directory += b"\0" * ((-len(directory)) % sector)
    directory = bytes(directory)
    dir_numbers = allocate(directory)
    first_dir = link(dir_numbers)
    # the FAT describes every sector, its own included
    per = sector // 4
    fat_count = 0
    while fat_count * per < len(fat) + fat_count:
        fat_count += 1
    if fat_count > 109:
        raise ValueError("write_compound_document writes at most 109 FAT sectors (no DIFAT sectors)")
    fat_numbers = list(range(len(fat), len(fat) + fat_count))
    fat += [_FAT_SECTOR] * fat_count
    fat += [_FREE] * (fat_count * per - len(fat))
    table = struct.pack(f"<{len(fat)}I", *fat)
    for k in range(fat_count):
        chunks.append(table[k * sector : (k + 1) * sector])
    header = bytearray(512)
    header[0:8] = bytes.fromhex("D0CF11E0A1B11AE1")
    struct.pack_into("<HHHHH", header, 24, 0x3E, version, 0xFFFE, 9 if version == 3 else 12, 6)
    struct.pack_into("<IIIIIIIII", header, 40, len(dir_numbers) if version == 4 else 0, fat_count, first_dir, 0,
                     _CUTOFF, minifat_start, minifat_count, _END, 0)
    difat = fat_numbers + [_FREE] * (109 - fat_count)
    struct.pack_into("<109I", header, 76, *difat)
    path = Path(path)
    with open(path, "wb") as fh:
        fh.write(bytes(header).ljust(sector, b"\0"))
        for chunk in chunks:
            fh.write(chunk)
    return path


def cxd_movie(num_frames: int, rows: int, columns: int, bits: int = 16, channel: int = 0) -> np.ndarray:
    """The frames :func:`write_cxd` writes for ``channel`` (within ``bits`` bits)."""
    from .movie import movie

    dtype = "uint8" if bits <= 8 else "uint16"
    values = movie(num_frames, rows, columns, None, dtype, channel=channel)
    return values & np.array((1 << bits) - 1, dtype=values.dtype) if bits not in (8, 16) else values


def write_cxd(path: str | os.PathLike, num_frames: int = 10, rows: int = 24, columns: int = 20, bits: int = 16,
              channels: int = 1, frame_times: Sequence[float] | None = None, finterval: float | None = 0.05,
              first_field_time: float | None = None, created: datetime | None = datetime(2024, 5, 30, 15, 2, 49,
                                                                                           738000, tzinfo=timezone.utc),
              comments: dict[str, str] | None = None, version: int = 4, fragmented: bool = False,
              binning: float | None = None, field_count: int | None = None) -> Path:
    """Write a ``.cxd`` movie in HCImage's layout and return its path.

    ``frame_times`` writes each frame's ``Time_From_Start``; ``finterval`` the comments' frame interval;
    ``first_field_time`` ``File Info/First Field Date & Time`` (seconds since 1601); ``created`` the creation
    time of the frames' storages; ``fragmented`` interleaves the sector chains of frames 1 and 2.
    """
    text = ["Created: Thu, 30 May 2024 11:02:49 Eastern Daylight Time", "", "ImageJ=1.54f",
            f"images={num_frames}", f"frames={num_frames}", "unit=micron"]
    if finterval is not None:
        text.append(f"finterval={finterval}")
    text += [f"{key}={value}" for key, value in (comments or {}).items()]
    dtype = np.dtype("u1") if bits <= 8 else np.dtype("<u2")
    streams: dict[str, bytes] = {
        "Compix": b"Simple32 0.1.0\0",
        "Comments": ("\r\n".join(text) + "\r\n").encode() + b"\0",
        "File Info/Field Count": struct.pack("<i", num_frames if field_count is None else field_count),
        "File Info/File Has Image": struct.pack("<h", 1),
        "File Info/CaptureDepth": struct.pack("<i", 1),
        "File Info/GroupMode": struct.pack("<i", 0),
    }
    if first_field_time is not None:
        streams["File Info/First Field Date & Time"] = struct.pack("<d", first_field_time)
    size = {"Image_Width": columns, "Image_Height": rows, "Image_Depth": bits}
    movies = [cxd_movie(num_frames, rows, columns, bits, channel=c) for c in range(channels)]
    stamps = {}
    for n in range(num_frames):
        field = f"Field Data/Field {n + 1}"
        for key, value in size.items():
            streams[f"{field}/Details/{key}"] = struct.pack("<d", value)
        if frame_times is not None:
            streams[f"{field}/Details/Time_From_Start"] = struct.pack("<d", frame_times[n])
        if binning is not None:
            streams[f"{field}/Details/Binning"] = struct.pack("<d", binning)
        for c in range(channels):
            image = f"{field}/i_Image{c + 1}"
            streams[f"{image}/Bitmap 1"] = np.ascontiguousarray(movies[c][n], dtype=dtype).tobytes()
            for key, value in size.items():
                streams[f"{image}/Details/{key}"] = struct.pack("<d", value)
        if created is not None:
            stamps[field] = created
    interleave = ("Field Data/Field 1/i_Image1/Bitmap 1", "Field Data/Field 2/i_Image1/Bitmap 1") \
        if fragmented and num_frames > 1 else ()
    return write_compound_document(path, streams, version=version, created=stamps, interleave=interleave)


def _example_hcimage(folder: Path) -> tuple[Path, dict]:
    times = [0.05 * n + 0.0004 * (n % 3) for n in range(60)]
    return write_cxd(folder / "example_movie.cxd", num_frames=60, rows=64, columns=64, frame_times=times), {}


#: Built-in examples of this module (see :func:`ophysio.examples.write_example`).
EXAMPLES = {"hcimage": _example_hcimage}
