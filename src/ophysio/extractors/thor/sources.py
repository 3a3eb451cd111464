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
from dataclasses import dataclass

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


@dataclass(frozen=True)
class _Prediction:
    """The layout of the first file, as bytes every other file must repeat.

    ``header`` is the file's first bytes up to and with the first IFD's offset (at ``offset_at``); the IFD
    (entry count, entries, next-IFD pointer). ``mask`` selects the bytes that must match: the entry count,
    every entry's tag and type (the same tag list), and the whole entry of each layout tag (so its value:
    where the single strip is, how many bytes, the size and sample type...).
    """

    header: bytes
    offset_at: int
    ifd_size: int
    mask: int
    expected: int


def _predict(path: str, ifd: int) -> _Prediction | None:
    """The prediction of the file whose page 0 (one uncompressed strip) has its IFD at ``ifd``."""
    fd = os.open(path, _FLAGS)
    try:
        header = parse_header(os.pread(fd, 16, 0), os.fstat(fd).st_size, path)
        csize, esize, osize = header.count_size, header.entry_size, header.offset_size
        (count,) = struct.unpack(header.count_format, os.pread(fd, csize, ifd))
        if count == 0 or count > MAX_TAGS:
            return None
        size = csize + count * esize + osize
        raw = os.pread(fd, size, ifd)
        offset_at = 8 if header.bigtiff else 4
        start = os.pread(fd, offset_at + osize, 0)
    finally:
        os.close(fd)
    if len(raw) != size:
        return None
    mask = bytearray(size)
    mask[:csize] = b"\xff" * csize
    strips = 0
    for j in range(count):
        at = csize + j * esize
        tag, = struct.unpack_from(header.byteorder + "H", raw, at)
        if tag in _LAYOUT_TAGS:
            mask[at : at + esize] = b"\xff" * esize
            if tag in (TAG_STRIP_OFFSETS, TAG_STRIP_BYTE_COUNTS):
                (values,) = struct.unpack_from(header.offset_format, raw, at + 4)
                if values != 1:  # several strips: the entry holds a pointer, and equal pointers prove nothing
                    return None
                strips += 1
        else:
            mask[at : at + 4] = b"\xff" * 4
    if strips != 2:
        return None
    bits = int.from_bytes(mask, "little")
    return _Prediction(start, offset_at, size, bits, int.from_bytes(raw, "little") & bits)


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
        plain = bool(first.fast[0]) and first.compression == 1
        self._prediction = _predict(first.path, int(first.ifd_offsets[0])) if plain else None

    @property
    def num_pages(self) -> int:
        return len(self.paths)

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
            if self._prediction is None or not self._read_predicted(fd, path, target):
                self._read_indexed(fd, path, target)
        finally:
            os.close(fd)

    def _read_predicted(self, fd: int, path: str, target: np.ndarray) -> bool:
        """Read the page if the file is laid out as the first one (two small reads tell); False when it is not."""
        guess = self._prediction
        start = os.pread(fd, len(guess.header), 0)
        at = guess.offset_at
        if len(start) != len(guess.header) or start[:at] != guess.header[:at]:
            return False
        ifd = int.from_bytes(start[at:], "little" if start[:2] == b"II" else "big")
        raw = os.pread(fd, guess.ifd_size, ifd)
        if len(raw) != guess.ifd_size or int.from_bytes(raw, "little") & guess.mask != guess.expected:
            return False
        view = memoryview(target.reshape(-1).view(np.uint8))
        done, want = 0, len(view)
        while done < want:
            got = _PREADV(fd, [view[done:]], self._data_offset + done) if _PREADV is not None else 0
            if got <= 0:
                if _PREADV is None:  # pragma: no cover - platforms without preadv
                    return False
                raise CorruptFileError(f"{path}: the image data ({want} bytes at offset {self._data_offset}) is cut "
                                       f"off after {done} bytes: the file is truncated")
            done += got
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
