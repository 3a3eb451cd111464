"""The IFD walk: follow a file's IFD chain and hand the raw IFDs to the page table.

:func:`walk_ifds` first tries :func:`uniform_chain`: most writers (ScanImage, tifffile, most acquisition
software) put every IFD at the same distance from the previous one with the same tag list, so the chain
is predicted from IFDs 0 and 1, read with one ``os.pread`` per IFD and checked in one vectorised step.
When the file does not follow that pattern, :func:`_walk_chain` follows it one IFD at a time (about
1-2 us per IFD), detecting chains that loop, point past the end of the file, claim impossible tag
counts or hold more than :data:`MAX_IFDS` IFDs.

:func:`predict_uniform_pages` goes further for ScanImage: four reads predict the whole table
(``verified=False``), which the reader checks with :func:`walk_ifds` when a file is first read.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from ...errors import CorruptFileError, FormatError
from .header import MAX_TAGS, TiffHeader, read_header
from .pages import PageTable, decode_ifds

__all__ = ["MAX_IFDS", "walk_ifds", "uniform_chain", "predict_uniform_pages"]

#: Largest number of IFDs accepted in one file (a guard against looping or absurd chains).
MAX_IFDS = 10_000_000


def _ifd_size(fd: int, header: TiffHeader, offset: int) -> int | None:
    """Bytes of the IFD at ``offset`` (count, entries, next pointer), or None if its count is impossible."""
    head = os.pread(fd, header.count_size, offset)
    if len(head) < header.count_size:
        return None
    (count,) = struct.unpack(header.count_format, head)
    if count == 0 or count > MAX_TAGS:
        return None
    return header.count_size + count * header.entry_size + header.offset_size


def _walk_chain(fd: int, path: str, header: TiffHeader, max_ifds: int | None) -> tuple[list[int], list[bytes]]:
    """Follow the IFD chain one IFD at a time; return each IFD's offset and raw bytes."""
    size, csize, esize, osize = header.file_size, header.count_size, header.entry_size, header.offset_size
    count_fmt, next_fmt = header.count_format, header.offset_format
    pread = os.pread
    offsets: list[int] = []
    raws: list[bytes] = []
    seen: set[int] = set()
    limit = MAX_IFDS if max_ifds is None else max_ifds
    offset = header.first_ifd
    guess = 0  # bytes of the previous IFD: most files repeat one tag list
    last = -1
    while offset and len(offsets) < limit:
        if offset <= last and offset in seen:  # offsets usually increase; only then is a loop possible
            raise CorruptFileError(
                f"{path}: the IFD chain loops (IFD {len(offsets) - 1} points back to the IFD at offset "
                f"{offset}); the file is damaged"
            )
        if offset + csize > size:
            raise CorruptFileError(
                f"{path}: IFD {len(offsets)} at offset {offset} points past the end of the file ({size} bytes); "
                "the file is truncated"
            )
        buf = pread(fd, guess, offset) if guess else b""
        if len(buf) < csize or struct.unpack_from(count_fmt, buf, 0)[0] * esize + csize + osize != len(buf):
            (count,) = struct.unpack_from(count_fmt, pread(fd, csize, offset), 0)
            if count == 0 or count > MAX_TAGS:
                raise CorruptFileError(
                    f"{path}: IFD {len(offsets)} at offset {offset} claims {count} tags; the file is damaged"
                )
            need = csize + count * esize + osize
            buf = pread(fd, need, offset)
            if len(buf) != need:
                raise CorruptFileError(
                    f"{path}: IFD {len(offsets)} at offset {offset} is cut off by the end of the file "
                    f"({size} bytes); the file is truncated"
                )
            guess = need
        seen.add(offset)
        offsets.append(offset)
        raws.append(buf)
        last = max(last, offset)
        (offset,) = struct.unpack_from(next_fmt, buf, len(buf) - osize)
    if offset and max_ifds is None:
        raise CorruptFileError(f"{path}: more than {MAX_IFDS} IFDs; the chain is damaged")
    return offsets, raws


def uniform_chain(fd: int, header: TiffHeader) -> tuple[np.ndarray, np.ndarray] | None:
    """IFD offsets and raw IFD bytes (one row per IFD) when the chain has a constant stride, else None.

    Reads IFD 0 and 1, predicts every IFD from their distance, reads the predicted IFDs (one ``pread``
    each, no parsing in the loop) and checks the prediction in one vectorised step: each predicted IFD
    must have IFD 0's tag count and point at the next predicted IFD, the last one at 0. Returns None
    when the file does not follow that pattern (the caller then walks the chain one IFD at a time, which
    also reports damage precisely).
    """
    order, big, size = header.byteorder, header.bigtiff, header.file_size
    csize, osize = header.count_size, header.offset_size
    first = header.first_ifd
    ifd_size = _ifd_size(fd, header, first)
    if ifd_size is None or first + ifd_size > size:
        return None
    count = (ifd_size - csize - osize) // header.entry_size
    (second,) = struct.unpack(header.offset_format, os.pread(fd, osize, first + ifd_size - osize))
    if second == 0:
        return np.array([first], np.int64), np.frombuffer(os.pread(fd, ifd_size, first), np.uint8).reshape(1, -1)
    stride = second - first
    if stride < ifd_size or second + ifd_size > size:
        return None
    (second_count,) = struct.unpack(header.count_format, os.pread(fd, csize, second))
    if second_count != count:  # a first IFD with more tags (Micro-Manager's): no pattern, before 1024 reads
        return None
    most = min((size - ifd_size - first) // stride + 1, MAX_IFDS)
    pread = os.pread
    ctype = np.dtype(order + ("u8" if big else "u2"))
    otype = np.dtype(order + ("u8" if big else "u4"))
    blocks = []
    start, batch = 0, 1024
    while start < most:  # batches, so that a file that breaks the pattern early costs little
        stop = min(most, start + batch)
        predicted = first + np.arange(start, stop, dtype=np.int64) * stride
        raw = b"".join([pread(fd, ifd_size, offset) for offset in predicted.tolist()])
        if len(raw) != (stop - start) * ifd_size:
            return None
        block = np.frombuffer(raw, np.uint8).reshape(stop - start, ifd_size)
        counts = np.ascontiguousarray(block[:, :csize]).view(ctype).ravel()
        nexts = np.ascontiguousarray(block[:, ifd_size - osize :]).view(otype).ravel().astype(np.int64)
        ends = np.flatnonzero(nexts == 0)
        n = int(ends[0]) + 1 if len(ends) else len(nexts)
        if np.any(counts[:n] != count) or np.any(nexts[: n - 1] != predicted[1:n] if n > 1 else False):
            return None
        if len(ends) == 0 and n and nexts[n - 1] != first + stop * stride:
            return None
        blocks.append(block[:n])
        if len(ends):
            offsets = first + np.arange(start + n, dtype=np.int64) * stride
            return offsets, np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
        start, batch = stop, batch * 4
    return None


def walk_ifds(fd: int, path: str, header: TiffHeader | None = None, max_ifds: int | None = None) -> PageTable:
    """Walk the IFD chain of an open TIFF file and decode every page's layout tags.

    Parameters
    ----------
    fd : int
        Open, readable file descriptor.
    path : str
        The file's path (for messages).
    header : TiffHeader, optional
        The header, if already read.
    max_ifds : int, optional
        Stop after this many IFDs (e.g. 1 to look at the first page only).

    Returns
    -------
    PageTable
    """
    header = header or read_header(fd, path)
    fast = uniform_chain(fd, header) if max_ifds is None else None
    if fast is not None:
        table = decode_ifds(fd, path, header, fast[0], fast[1], None)
        if table is not None:
            return table
    # the general walk (the fast path found no constant stride, or IFDs with differing tag lists)
    offsets, raws = _walk_chain(fd, path, header, max_ifds)
    if not offsets:
        raise CorruptFileError(f"{path} has no IFD (no image)")
    block = None
    if len({len(r) for r in raws}) == 1:
        block = np.frombuffer(b"".join(raws), dtype=np.uint8).reshape(len(raws), -1)
    return decode_ifds(fd, path, header, np.asarray(offsets, dtype=np.int64), block, raws)


def predict_uniform_pages(fd: int, path: str, header: TiffHeader | None = None) -> PageTable | None:
    """The page table of a file laid out with a constant IFD stride, predicted from four reads.

    ScanImage (and many writers) put every page at the same distance from the previous one with the
    same tags. This reads IFD 0, IFD 1 and the IFD that the file size predicts to be the last (checking
    that the one before it points at it and that it ends the chain), decodes those three and, when
    their layout agrees (same shape, type, byte counts, data and text at the same place relative to
    their IFD or at the same absolute place), extrapolates every row. The result has
    ``verified=False``: compare it with :func:`walk_ifds` before relying on rows between the three.
    Returns None when the file does not fit the pattern.
    """
    header = header or read_header(fd, path)
    size, osize, next_fmt = header.file_size, header.offset_size, header.offset_format
    first = header.first_ifd
    ifd_size = _ifd_size(fd, header, first)
    if ifd_size is None or first + ifd_size > size:
        return None
    raw0 = os.pread(fd, ifd_size, first)
    (second,) = struct.unpack_from(next_fmt, raw0, ifd_size - osize)
    stride = second - first
    if second == 0 or stride < ifd_size or second + ifd_size > size:
        return None
    most = (size - ifd_size - first) // stride + 1
    if most < 4 or most > MAX_IFDS:
        return None
    last = first + (most - 1) * stride
    raws = [raw0, os.pread(fd, ifd_size, second), os.pread(fd, ifd_size, last)]
    before = os.pread(fd, osize, last - stride + ifd_size - osize)
    if any(len(r) != ifd_size for r in raws) or len(before) != osize:
        return None
    if struct.unpack(next_fmt, before)[0] != last or struct.unpack_from(next_fmt, raws[2], ifd_size - osize)[0]:
        return None
    if any(r[: header.count_size] != raw0[: header.count_size] for r in raws):
        return None
    sample_offsets = np.array([first, second, last], np.int64)
    block = np.frombuffer(b"".join(raws), np.uint8).reshape(3, ifd_size)
    try:
        sample = decode_ifds(fd, path, header, sample_offsets, block, None)
    except (FormatError, CorruptFileError):
        return None
    if sample is None or sample.strips or not sample.is_uniform():
        return None
    return sample.extrapolate(first, stride, most)
