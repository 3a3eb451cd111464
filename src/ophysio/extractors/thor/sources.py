"""Where a ThorImageLS movie's frames are read from: one single-page TIFF per frame, or a ``.raw`` stream.

Both sources number the frames they hold and read any list of them into the rows of a caller's array
(``read(frames, out)``, the interface of :class:`~ophysio.extractors._tiff.read.TiffPageSource`, which
reads the multipage variant), so the reader maps samples to frames once for all three.

:class:`TiffFrameFiles` is built for long recordings of one small TIFF per frame (an hour at 30 Hz is
100,000 files): building it indexes the first file only. ThorImageLS writes every file of a series
alike (pixels right after the 8-byte header, one uncompressed strip, then the IFD), so the page layout of
the first file is taken as the prediction, and each file is checked against it when it is read: its
header and IFD are read (two small positional reads) and the tags that place and shape the pixels
(size, sample type, compression, strip offsets and byte counts...) must be the first file's, byte for
byte; the pixels are then read with one ``os.preadv`` straight into the output. A file laid out
otherwise is indexed and read by the TIFF engine (:mod:`~ophysio.extractors._tiff`) instead. Nothing is
kept open between reads: each read opens its files and closes them.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from ...errors import CorruptFileError, FileSetError, FormatError
from .._handles import CachedFile
from .._tiff.header import MAX_TAGS, TAG_STRIP_BYTE_COUNTS, TAG_STRIP_OFFSETS, parse_header
from .._tiff.index import TiffIndex, index_tiff
from .._tiff.read import TiffPageSource, read_pages_into

__all__ = ["TiffFrameFiles", "RawFrames"]

_PREADV = getattr(os, "preadv", None)
_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
#: Tags that decide where a page's pixels are and how they are stored.
_LAYOUT_TAGS = frozenset({254, 256, 257, 258, 259, 266, 273, 277, 278, 279, 284, 317, 322, 323, 324, 325, 339})


def _layout_entries(fd: int, path: str, byteorder: str, bigtiff: bool, ifd: int, file_size: int,
                    guess: int) -> dict[int, bytes] | None:
    """The raw IFD entries of the layout tags of the IFD at ``ifd`` (None when it cannot be read plainly)."""
    csize, esize = (8, 20) if bigtiff else (2, 12)
    head = os.pread(fd, csize + guess * esize, ifd)
    if len(head) < csize:
        return None
    (count,) = struct.unpack_from(byteorder + ("Q" if bigtiff else "H"), head, 0)
    if count == 0 or count > MAX_TAGS or ifd + csize + count * esize > file_size:
        return None
    if count != guess:
        head = os.pread(fd, csize + count * esize, ifd)
        if len(head) < csize + count * esize:
            return None
    out = {}
    for j in range(count):
        start = csize + j * esize
        (tag,) = struct.unpack_from(byteorder + "H", head, start)
        if tag in _LAYOUT_TAGS:
            out[tag] = head[start : start + esize]
    return out


class TiffFrameFiles:
    """Single-page TIFF files, frame ``k`` in ``paths[k]``, of one image size and type.

    Parameters
    ----------
    paths : list of str
        The files in frame order.
    first : TiffIndex, optional
        The page table of ``paths[0]``, if already made.
    """

    def __init__(self, paths: list[str], first: TiffIndex | None = None):
        self.paths = list(paths)
        first = first or index_tiff(self.paths[0])
        self.shape = first.shape
        self.dtype = first.dtype
        self.page_nbytes = first.page_nbytes
        self._byteorder = first.byteorder
        self._data_offset = int(first.data_offsets[0])
        self._signature = self._first_signature(first)

    @property
    def num_pages(self) -> int:
        return len(self.paths)

    def _first_signature(self, index: TiffIndex) -> tuple | None:
        """(bigtiff, entry count, layout entries) of the first file, when its page is read plainly."""
        if not bool(index.fast[0]) or index.compression != 1:
            return None
        fd = os.open(index.path, _FLAGS)
        try:
            header = parse_header(os.pread(fd, 16, 0), os.fstat(fd).st_size, index.path)
            entries = _layout_entries(fd, index.path, header.byteorder, header.bigtiff, int(index.ifd_offsets[0]),
                                      header.file_size, 0)
        finally:
            os.close(fd)
        if not entries or TAG_STRIP_OFFSETS not in entries or TAG_STRIP_BYTE_COUNTS not in entries:
            return None
        for tag in (TAG_STRIP_OFFSETS, TAG_STRIP_BYTE_COUNTS):
            (count,) = struct.unpack_from(header.byteorder + ("Q" if header.bigtiff else "I"), entries[tag], 4)
            if count != 1:  # several strips: the entry holds a pointer, equal pointers prove nothing
                return None
        return header.bigtiff, len(entries), entries

    def read(self, pages: np.ndarray, out: np.ndarray) -> None:
        """Read frames ``pages`` into the rows of the C-contiguous ``out`` (len(pages), rows, columns)."""
        for i, page in enumerate(np.asarray(pages, dtype=np.int64).tolist()):
            self._read_one(self.paths[page], out[i])

    def _read_one(self, path: str, target: np.ndarray) -> None:
        try:
            fd = os.open(path, _FLAGS)
        except FileNotFoundError:
            raise FileSetError(f"{path} does not exist (it was there when the extractor was made: moved or deleted "
                               "since?)") from None
        try:
            if self._signature is None or not self._read_predicted(fd, path, target):
                self._read_indexed(fd, path, target)
        finally:
            os.close(fd)

    def _read_predicted(self, fd: int, path: str, target: np.ndarray) -> bool:
        """Read the page if the file is laid out as the first one; False when it is not."""
        bigtiff, guess, entries = self._signature
        header = parse_header(os.pread(fd, 16, 0), os.fstat(fd).st_size, path)
        if header.bigtiff != bigtiff or header.byteorder != self._byteorder:
            return False
        found = _layout_entries(fd, path, header.byteorder, bigtiff, header.first_ifd, header.file_size, guess)
        if found != entries:
            return False
        if self._data_offset + self.page_nbytes > header.file_size:
            raise CorruptFileError(f"{path}: the image data ({self.page_nbytes} bytes at offset {self._data_offset}) "
                                   f"runs past the end of the file ({header.file_size} bytes): the file is truncated")
        read_pages_into(fd, path, np.array([self._data_offset], np.int64), target[None])
        if self._byteorder == ">" and self.dtype.itemsize > 1:
            target.byteswap(inplace=True)
        return True

    def _read_indexed(self, fd: int, path: str, target: np.ndarray) -> None:
        """Read the first page of a file laid out otherwise, through the TIFF engine."""
        index = index_tiff(path, fd)
        if index.shape != self.shape or index.dtype != self.dtype:
            raise FormatError(f"{path} holds {index.shape[0]}x{index.shape[1]} {index.dtype} images, but "
                              f"{self.paths[0]} holds {self.shape[0]}x{self.shape[1]} {self.dtype}; the files of "
                              "one series must match")
        if bool(index.fast[0]):
            read_pages_into(fd, path, index.data_offsets[:1], target[None], index.ifd_numbers[:1])
            if index.byteorder == ">" and self.dtype.itemsize > 1:
                target.byteswap(inplace=True)
            return
        source = TiffPageSource([path], [index])
        try:
            source.read(np.zeros(1, np.int64), target[None])
        finally:
            source.close()

    def close(self) -> None:
        """Nothing stays open between reads."""


class RawFrames:
    """The frames of a ThorImageLS ``.raw`` stream: ``count`` images of ``shape`` back to back, uint16 little-endian.

    Frame ``k`` starts at byte ``k * rows * columns * 2``; which frame is which channel, plane and
    sample is the reader's business (:mod:`.reader`).
    """

    def __init__(self, path: str, shape: tuple[int, int], count: int, dtype: str = "<u2"):
        self.path = path
        self.file = CachedFile(path)
        self.shape = shape
        self.dtype = np.dtype(dtype).newbyteorder("=")
        self._stored = np.dtype(dtype)
        self.count = count
        self.page_nbytes = shape[0] * shape[1] * self.dtype.itemsize

    @property
    def num_pages(self) -> int:
        return self.count

    def read(self, frames: np.ndarray, out: np.ndarray) -> None:
        """Read frames ``frames`` into the rows of the C-contiguous ``out``, one read per run of adjacent frames."""
        frames = np.asarray(frames, dtype=np.int64)
        if len(frames) == 0:
            return
        size = self.page_nbytes
        rows = out.reshape(len(frames), -1).view(np.uint8)
        memory = memoryview(rows.reshape(-1))
        breaks = np.flatnonzero(np.diff(frames) != 1) + 1
        bounds = [0, *breaks.tolist(), len(frames)]
        with self.file.open() as fd:
            for a, b in zip(bounds[:-1], bounds[1:]):
                start = int(frames[a]) * size
                want, done = (b - a) * size, 0
                while done < want:
                    if _PREADV is not None:
                        got = _PREADV(fd, [memory[a * size + done : b * size]], start + done)
                    else:  # pragma: no cover - platforms without preadv
                        data = os.pread(fd, want - done, start + done)
                        got = len(data)
                        memory[a * size + done : a * size + done + got] = data
                    if got <= 0:
                        frame = int(frames[a]) + done // size
                        raise CorruptFileError(
                            f"{self.path} ends at byte {start + done}, inside frame {frame} (bytes {frame * size} to "
                            f"{(frame + 1) * size}): the file is truncated (cut short after it was opened?)"
                        )
                    done += got
        if self._stored.byteorder == ">" and self.dtype.itemsize > 1:
            out.byteswap(inplace=True)

    def close(self) -> None:
        self.file.close()
