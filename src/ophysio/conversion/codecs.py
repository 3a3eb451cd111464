"""The steps a chunk passes through on its way into an HDF5 file, one class each (array -> array,
array -> bytes, bytes -> bytes), and :class:`ChunkPipeline`, which applies them in order.

They reproduce HDF5's own shuffle and gzip filters exactly, so chunks encoded here and stored with
``write_direct_chunk`` are standard chunks; all of them release the GIL (numpy copies, zlib, ISA-L).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["TransposeToNWB", "ShuffleBytes", "RawBytes", "Deflate", "ChunkPipeline", "transpose_into"]


class _ThreadBuffers:
    """One reused output buffer per thread (fresh memory is slow to touch the first time)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self, shape: tuple, dtype) -> np.ndarray:
        buffer = getattr(self._local, "buffer", None)
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            buffer = np.empty(shape, dtype=dtype)
            self._local.buffer = buffer
        return buffer


#: Rows and columns of one transpose tile: a tile of the source and of the destination stay in cache while
#: it is copied.
_TILE = 64


def transpose_into(out: np.ndarray, chunk: np.ndarray) -> None:
    """``out[...] = chunk`` with axes 1 and 2 swapped (NWB layout), copied tile by tile.

    A plain strided copy walks down the columns of a frame. Here the frame is seen as a grid of tiles (a
    6-dimensional view of both arrays, no copy) and numpy copies it in one call, tile after tile: one call
    per chunk, so the GIL is released for the whole copy (a Python loop over tiles held it between its
    small copies, and chunks of a frame or two were mostly loop; the encoder threads then took turns).
    The rows and columns past the last whole tile are copied plainly.
    """
    rows, columns = chunk.shape[1], chunk.shape[2]
    t = _TILE
    whole_rows, whole_columns = rows // t * t, columns // t * t
    if not whole_rows or not whole_columns:
        np.copyto(out, chunk.swapaxes(1, 2))
        return
    rest, rest_src, rest_dst = chunk.shape[3:], chunk.strides[3:], out.strides[3:]
    s0, s1, s2 = chunk.strides[:3]
    d0, d1, d2 = out.strides[:3]
    n = chunk.shape[0]
    # source (sample, row tile, row, column tile, column), read as (sample, column tile, column, row tile, row)
    source = as_strided(chunk, (n, whole_columns // t, t, whole_rows // t, t, *rest),
                        (s0, t * s2, s2, t * s1, s1, *rest_src), writeable=False)
    target = as_strided(out, (n, whole_columns // t, t, whole_rows // t, t, *rest),
                        (d0, t * d1, d1, t * d2, d2, *rest_dst))
    np.copyto(target, source)
    if whole_columns < columns:
        np.copyto(out[:, whole_columns:], chunk[:, :, whole_columns:].swapaxes(1, 2))
    if whole_rows < rows:
        np.copyto(out[:, :whole_columns, whole_rows:], chunk[:, whole_rows:, :whole_columns].swapaxes(1, 2))


class TransposeToNWB:
    """array -> array: (samples, rows, columns[, planes]) to (samples, columns, rows[, planes]), in native
    byte order (HDF5 stores the dataset's own order), into a reused per-thread buffer."""

    def __init__(self) -> None:
        self._buffers = _ThreadBuffers()

    def encode(self, chunk: np.ndarray) -> np.ndarray:
        dtype = chunk.dtype if chunk.dtype.byteorder in ("=", "|") else chunk.dtype.newbyteorder("=")
        out = self._buffers.get((chunk.shape[0], chunk.shape[2], chunk.shape[1], *chunk.shape[3:]), dtype)
        transpose_into(out, chunk)
        return out


class RawBytes:
    """array -> bytes: the elements' bytes in memory order (a view when the array is contiguous)."""

    def encode(self, chunk: np.ndarray) -> memoryview:
        return memoryview(np.ascontiguousarray(chunk).reshape(-1).view(np.uint8))


class ShuffleBytes:
    """array -> bytes: HDF5's shuffle filter (byte k of every element, then byte k + 1 of every element).

    Each byte plane is taken from the elements with one vectorised shift into a reused per-thread buffer;
    on a 10 MB int16 chunk this costs ~3 ms (measured here).
    """

    def __init__(self) -> None:
        self._buffers = _ThreadBuffers()
        self._little = sys.byteorder == "little"

    def encode(self, chunk: np.ndarray) -> memoryview:
        chunk = np.ascontiguousarray(chunk)
        k = chunk.dtype.itemsize
        if k == 1:
            return memoryview(chunk.reshape(-1).view(np.uint8))
        out = self._buffers.get((k, chunk.size), np.uint8)
        if k in (2, 4, 8) and chunk.dtype.byteorder in ("=", "|"):
            words = chunk.reshape(-1).view(f"u{k}")
            for j in range(k):  # byte j in memory order is bits 8j.. (little-endian machines)
                shift = 8 * (j if self._little else k - 1 - j)
                np.right_shift(words, shift, out=out[j], casting="unsafe")
        else:
            as_bytes = chunk.reshape(-1).view(np.uint8).reshape(chunk.size, k)
            for j in range(k):
                np.copyto(out[j], as_bytes[:, j])
        return memoryview(out.reshape(-1))


class Deflate:
    """bytes -> bytes: a zlib stream (what HDF5's gzip filter stores), by ``compress`` (zlib or ISA-L)."""

    def __init__(self, compress: Callable[[Any], bytes]):
        self.compress = compress

    def encode(self, data) -> bytes:
        return self.compress(data)


class ChunkPipeline:
    """Steps applied in order to a chunk: zero or more array -> array, one array -> bytes, then bytes -> bytes."""

    def __init__(self, steps: list):
        self.steps = list(steps)

    def encode(self, chunk: np.ndarray) -> bytes:
        value: Any = chunk
        for step in self.steps:
            value = step.encode(value)
        return bytes(value) if not isinstance(value, bytes) else value

    def __repr__(self) -> str:
        return f"ChunkPipeline([{', '.join(type(s).__name__ for s in self.steps)}])"
