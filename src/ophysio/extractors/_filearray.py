"""Arrays stored raw in a file, read with positional reads instead of a memory map.

A memory map of a file that shrinks after it was mapped kills the process with SIGBUS at the first
touch of a page past the new end: no Python error, no clean-up. :class:`FileArray` reads the rows asked
for with ``os.preadv`` straight into a new array and checks the byte count, so a file cut short is a
:class:`~ophysio.errors.CorruptFileError` naming it. Selections that would read many more bytes than
they return (time not the first stored axis) go through a memory map, touched only after an
``os.fstat`` has checked that the file still holds the whole array (a window of microseconds remains
between the check and the copy). :meth:`FileArray.iter_mapped` gives a long run of rows through a map
one block at a time, each block checked the same way, for readers that transform the values on the way
(a copy out of the page cache and the transform in one pass, where a positional read would copy twice).
"""

from __future__ import annotations

import math
import mmap
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import CorruptFileError
from ._handles import CachedFile

__all__ = ["FileArray", "require_size"]

#: Read whole rows when they are at most this many times the bytes returned (channel selection).
_WASTE = 4


def require_size(fd: int, end: int, path: str, what: str) -> None:
    """Raise CorruptFileError unless the open file ``fd`` still has ``end`` bytes (one ``os.fstat``)."""
    size = os.fstat(fd).st_size
    if size < end:
        raise CorruptFileError(
            f"{path} is {size} bytes now, but {what} reaches byte {end}: the file was cut short "
            f"(truncated while it was open?)"
        )


class FileArray:
    """A read-only C-order array of ``shape`` and ``dtype`` at byte ``offset`` of a file.

    Indexing takes what :meth:`~ophysio.extractors.axes.ArrayLayout.read` and numpy's basic
    indexing give; the result is a new array, never a view of the file.
    """

    def __init__(self, file: CachedFile, offset: int, dtype: Any, shape: tuple[int, ...], what: str = "the array"):
        self.file = file
        self.offset = int(offset)
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(n) for n in shape)
        self.ndim = len(self.shape)
        self.what = what
        self.nbytes = math.prod(self.shape) * self.dtype.itemsize
        self._row_bytes = math.prod(self.shape[1:]) * self.dtype.itemsize
        self._map: np.memmap | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def read_rows(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Rows ``start:stop`` of the first axis, read into ``out`` (C-contiguous) or a new array."""
        if out is None:
            out = np.empty((max(stop - start, 0), *self.shape[1:]), self.dtype)
        view = memoryview(out.reshape(-1).view(np.uint8))
        begin = self.offset + start * self._row_bytes
        done, total = 0, len(view)
        with self.file.open() as fd:
            while done < total:
                n = os.preadv(fd, [view[done:]], begin + done)
                if n <= 0:
                    raise CorruptFileError(
                        f"{self.file.path} ends at byte {begin + done}, but {self.what} reaches byte "
                        f"{self.offset + self.nbytes}: the file was cut short (truncated while it was open?)"
                    )
                done += n
        return out

    def read_segments(self, rows: np.ndarray, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """``array[rows, start:stop]`` of a 2-D array, each row's segment read with one positional read.

        For arrays whose rows are long and whose callers want a few columns of many rows (suite2p's traces are
        (ROIs, frames): a time range of every ROI), without a memory map, whose pages would stay resident.
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        count = max(stop - start, 0)
        if out is None:
            out = np.empty((len(rows), count), self.dtype)
        if not count or not len(rows):
            return out
        if not hasattr(os, "preadv"):  # pragma: no cover - not POSIX
            out[...] = self._mapped()[rows, start:stop]
            return out
        item = self.dtype.itemsize
        with self.file.open() as fd:
            for i, row in enumerate(rows):
                view = memoryview(out[i].view(np.uint8))
                begin = self.offset + int(row) * self._row_bytes + start * item
                done = 0
                while done < len(view):
                    n = os.preadv(fd, [view[done:]], begin + done)
                    if n <= 0:
                        raise CorruptFileError(
                            f"{self.file.path} ends at byte {begin + done}, but {self.what} reaches byte "
                            f"{self.offset + self.nbytes}: the file was cut short (truncated while it was open?)"
                        )
                    done += n
        return out

    def _mapped(self) -> np.ndarray:
        """The memory map, after checking that the file still holds the whole array."""
        with self.file.open() as fd:
            require_size(fd, self.offset + self.nbytes, self.file.path, self.what)
        if self._map is None:
            self._map = np.memmap(self.file.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape)
        return self._map

    def __getitem__(self, selection) -> np.ndarray:
        selection = selection if isinstance(selection, tuple) else (selection,)
        first = selection[0] if selection else slice(None)
        if isinstance(first, slice) and first.step in (None, 1) and hasattr(os, "preadv"):
            start, stop, _ = first.indices(self.shape[0])
            stop = max(start, stop)
            wanted = np.broadcast_to(np.empty((), self.dtype), self.shape)[selection].nbytes  # no allocation
            if (stop - start) * self._row_bytes <= _WASTE * wanted + (1 << 16):
                rows = self.read_rows(start, stop)
                return rows[(slice(None), *selection[1:])]
        return np.array(self._mapped()[selection])

    def iter_mapped(self, start: int, stop: int, block_rows: int) -> Iterator[tuple[int, int, np.ndarray]]:
        """Rows ``start:stop`` as read-only views of a memory map, ``block_rows`` rows at a time: ``(a, b,
        rows a:b)`` for consecutive blocks.

        Each block is mapped on its own, after an ``os.fstat`` has checked that the file still holds it,
        and unmapped before the next (so the process's resident size does not grow by the file's size): a
        file cut short before a block is a :class:`~ophysio.errors.CorruptFileError` naming it. A cut while
        the caller works on a block would still end the process with SIGBUS: the window is the time spent
        on one block (a copy of 1 MiB out of the page cache takes about 0.1 ms). A view is valid until the
        next block is asked for.
        """
        step = max(1, int(block_rows))
        with self.file.open() as fd:
            for a in range(start, stop, step):
                b = min(a + step, stop)
                begin, end = self.offset + a * self._row_bytes, self.offset + b * self._row_bytes
                require_size(fd, end, self.file.path, self.what)
                aligned = begin - begin % mmap.ALLOCATIONGRANULARITY
                mapped = mmap.mmap(fd, end - aligned, offset=aligned, access=mmap.ACCESS_READ)
                rows = np.frombuffer(mapped, self.dtype, count=(end - begin) // self.dtype.itemsize,
                                     offset=begin - aligned).reshape(b - a, *self.shape[1:])
                try:
                    yield a, b, rows
                finally:
                    del rows
                    try:
                        mapped.close()
                    except BufferError:  # the caller kept a view: the map closes when the view goes
                        pass

    def take(self, indices: np.ndarray, axis: int = 0, out: np.ndarray | None = None) -> np.ndarray:
        """``numpy.take`` through the guarded memory map."""
        return np.take(self._mapped(), indices, axis=axis, out=out)

    def close(self) -> None:
        self._map = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_map"] = None
        return state
