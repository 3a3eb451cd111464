"""Constant-stride IFD chains (ScanImage and most writers): read or predict them in bulk.

Built on :mod:`ophysio.extractors._tiff.ifd`: :func:`walk_ifds` here is its walk with the constant-stride
fast path.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from ...errors import CorruptFileError, FormatError
from . import ifd
from .ifd import PageTable, TiffHeader, _decode, read_header

__all__ = ["uniform_chain", "predict_uniform_pages", "walk_ifds"]


def uniform_chain(fd: int, header: TiffHeader) -> tuple[np.ndarray, np.ndarray] | None:
    """IFD offsets and raw IFD bytes when the chain has a constant stride (ScanImage, most writers).

    Reads IFD 0 and 1, predicts every IFD from their distance, reads the predicted IFDs (one ``pread``
    each, no parsing in the loop) and checks the prediction in one vectorised step: each predicted IFD
    must have IFD 0's tag count and point at the next predicted IFD, the last one at 0. Returns None
    when the file does not follow that pattern (the caller then walks the chain one IFD at a time, which
    also reports damage precisely).
    """
    order, big, size = header.byteorder, header.bigtiff, header.file_size
    csize, esize, osize = header.count_size, header.entry_size, header.offset_size
    count_fmt = order + ("Q" if big else "H")
    next_fmt = order + ("Q" if big else "I")
    first = header.first_ifd
    head = os.pread(fd, csize, first)
    if len(head) < csize:
        return None
    (count,) = struct.unpack(count_fmt, head)
    ifd_size = csize + count * esize + osize
    if count == 0 or count > 4096 or first + ifd_size > size:
        return None
    (second,) = struct.unpack(next_fmt, os.pread(fd, osize, first + ifd_size - osize))
    if second == 0:
        return np.array([first], np.int64), np.frombuffer(os.pread(fd, ifd_size, first), np.uint8).reshape(1, -1)
    stride = second - first
    if stride < ifd_size or second + ifd_size > size:
        return None
    most = (size - ifd_size - first) // stride + 1
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
    big, size, osize, csize = header.bigtiff, header.file_size, header.offset_size, header.count_size
    count_fmt = header.byteorder + ("Q" if big else "H")
    next_fmt = header.byteorder + ("Q" if big else "I")
    first = header.first_ifd
    head = os.pread(fd, csize, first)
    if len(head) < csize:
        return None
    (count,) = struct.unpack(count_fmt, head)
    ifd_size = csize + count * header.entry_size + osize
    if count == 0 or count > 4096 or first + ifd_size > size:
        return None
    raw0 = os.pread(fd, ifd_size, first)
    (second,) = struct.unpack_from(next_fmt, raw0, ifd_size - osize)
    stride = second - first
    if second == 0 or stride < ifd_size or second + ifd_size > size:
        return None
    most = (size - ifd_size - first) // stride + 1
    if most < 4:
        return None
    last = first + (most - 1) * stride
    raws = [raw0, os.pread(fd, ifd_size, second), os.pread(fd, ifd_size, last)]
    before = os.pread(fd, osize, last - stride + ifd_size - osize)
    if any(len(r) != ifd_size for r in raws) or len(before) != osize:
        return None
    if struct.unpack(next_fmt, before)[0] != last or struct.unpack_from(next_fmt, raws[2], ifd_size - osize)[0]:
        return None
    if any(struct.unpack_from(count_fmt, r, 0)[0] != count for r in raws):
        return None
    sample_offsets = np.array([first, second, last], np.int64)
    block = np.frombuffer(b"".join(raws), np.uint8).reshape(3, ifd_size)
    try:
        sample = _decode(fd, path, header, sample_offsets, block, None)
    except (FormatError, CorruptFileError):
        return None
    if sample is None or sample.strips or not sample.is_uniform():
        return None
    for arr in (sample.planar_configuration, sample.data_offset - sample_offsets):
        if np.any(arr != arr[0]):
            return None
    ifd_offset = first + np.arange(most, dtype=np.int64) * stride
    text = {}
    for tag, (offsets, counts) in sample.text.items():
        if np.any(counts != counts[0]):
            return None
        if np.all(offsets == offsets[0]):
            text[tag] = (np.full(most, offsets[0], np.int64), np.full(most, counts[0], np.int64))
        elif np.all(offsets - sample_offsets == offsets[0] - first):
            text[tag] = (ifd_offset + (offsets[0] - first), np.full(most, counts[0], np.int64))
        else:
            return None

    def full(arr):
        return np.full(most, arr[0], np.int64)

    return PageTable(
        path=path, header=header, ifd_offset=ifd_offset, width=full(sample.width), height=full(sample.height),
        bits_per_sample=full(sample.bits_per_sample), sample_format=full(sample.sample_format),
        samples_per_pixel=full(sample.samples_per_pixel), compression=full(sample.compression),
        planar_configuration=full(sample.planar_configuration),
        data_offset=ifd_offset + (sample.data_offset[0] - first), data_nbytes=full(sample.data_nbytes),
        contiguous=np.ones(most, bool), text=text, tiled=sample.tiled, verified=False,
    )


def walk_ifds(fd: int, path: str, header: TiffHeader | None = None, max_ifds: int | None = None) -> PageTable:
    """:func:`ophysio.extractors._tiff.ifd.walk_ifds` that first tries :func:`uniform_chain`."""
    return ifd.walk_ifds(fd, path, header, max_ifds, fast_chain=uniform_chain)
