"""Where ophysio's layout becomes NWB's, and the fast chunked fill of an NWB dataset.

ophysio reads samples as (samples, rows, columns[, planes]); NWB stores photon series as
(frames, x, y[, z]), x being the column: every chunk is transposed here and only here.

Chunks hold whole frames (viewers fetch whole frames) and about 10 MB (:data:`DEFAULT_CHUNK_BYTES`).
Two ways of writing them:

- :class:`ImagingChunkIterator`, an hdmf ``GenericDataChunkIterator``: for callers who add a photon
  series to their own ``NWBFile`` and write it with their own ``NWBHDF5IO``; HDF5 compresses (one core).
- :func:`fill_dataset`: used by :func:`ophysio.write_nwb`. The dataset is created empty by pynwb, then
  filled chunk by chunk: each chunk is transposed and byte-shuffled in one numpy copy, compressed with
  zlib in a pool of threads (zlib releases the GIL) and stored with ``write_direct_chunk``. The chunks
  are standard HDF5 shuffle+deflate chunks that every HDF5 reader decodes. Memory stays bounded: a few
  reused read buffers and a bounded number of chunks in flight.
"""

from __future__ import annotations

import math
import os
import queue
import sys
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "nwb_sample_shape",
    "to_nwb_layout",
    "chunk_shape_for",
    "ImagingChunkIterator",
    "fill_dataset",
]

#: Target size of one chunk of a photon series.
DEFAULT_CHUNK_BYTES = 10 * 1024**2

ProgressCallback = Callable[[int, int], Any]


def nwb_sample_shape(extractor) -> tuple[int, ...]:
    """Shape of one sample in NWB layout: (columns, rows) or (columns, rows, planes)."""
    shape = extractor.get_sample_shape()
    return (shape[1], shape[0], *shape[2:])


def to_nwb_layout(samples: np.ndarray) -> np.ndarray:
    """View (samples, rows, columns[, planes]) as NWB's (samples, x=columns, y=rows[, z]) (no copy)."""
    return samples.swapaxes(1, 2)


def chunk_shape_for(extractor, chunk_bytes: int = DEFAULT_CHUNK_BYTES, num_samples: int | None = None) -> tuple:
    """Chunk shape in NWB layout: whole samples, about ``chunk_bytes`` per chunk."""
    n = extractor.get_num_samples() if num_samples is None else num_samples
    per_chunk = max(1, int(chunk_bytes) // max(extractor.sample_nbytes, 1))
    return (max(1, min(per_chunk, n)), *nwb_sample_shape(extractor))


def _storage_dtype(dtype: np.dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype


# ---------------------------------------------------------------------- hdmf iterator
def _make_iterator_class():
    from hdmf.data_utils import GenericDataChunkIterator

    class _ImagingChunkIterator(GenericDataChunkIterator):
        """hdmf chunk iterator over an extractor's samples in NWB layout (see :class:`ImagingChunkIterator`)."""

        def __init__(self, extractor, start: int = 0, stop: int | None = None,
                     chunk_bytes: int = DEFAULT_CHUNK_BYTES, on_samples: Callable[[int], Any] | None = None,
                     **kwargs):
            self.extractor = extractor
            self._on_samples = on_samples
            self._start = start
            self._stop = extractor.get_num_samples() if stop is None else stop
            chunk = chunk_shape_for(extractor, chunk_bytes, self._stop - self._start)
            kwargs.setdefault("chunk_shape", chunk)
            kwargs.setdefault("buffer_shape", chunk)
            super().__init__(**kwargs)

        def _get_data(self, selection: tuple) -> np.ndarray:
            t = selection[0]
            first, last, _ = t.indices(self._stop - self._start)
            samples = self.extractor.get_series(self._start + first, self._start + last)
            data = to_nwb_layout(samples)[(slice(None), *selection[1:])]
            data = np.ascontiguousarray(data, dtype=_storage_dtype(data.dtype))
            if self._on_samples is not None:
                self._on_samples(last - first)
            return data

        def _get_maxshape(self) -> tuple:
            return (self._stop - self._start, *nwb_sample_shape(self.extractor))

        def _get_dtype(self) -> np.dtype:
            return _storage_dtype(self.extractor.dtype)

    return _ImagingChunkIterator


_iterator_class = None


def ImagingChunkIterator(extractor, start: int = 0, stop: int | None = None,
                         chunk_bytes: int = DEFAULT_CHUNK_BYTES, on_samples: Callable[[int], Any] | None = None,
                         **kwargs):
    """An hdmf ``GenericDataChunkIterator`` over samples ``start:stop`` of ``extractor`` in NWB layout.

    Chunks and buffers are whole samples of about ``chunk_bytes``; ``on_samples(count)``, when given, is
    called after each buffer is read; other keywords go to hdmf (``display_progress``, ...). Wrap it in
    ``H5DataIO(..., compression="gzip", shuffle=True)`` (or hdmf-zarr's ``ZarrDataIO``).
    """
    global _iterator_class
    if _iterator_class is None:
        _iterator_class = _make_iterator_class()
    return _iterator_class(extractor, start=start, stop=stop, chunk_bytes=chunk_bytes, on_samples=on_samples,
                           **kwargs)


# ---------------------------------------------------------------------- fast fill
def default_workers() -> int:
    """Compression threads: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: Rows and columns of one transpose tile: source and destination tiles stay in L1 while it is copied.
_TILE = 32


def _transpose_into(out: np.ndarray, chunk: np.ndarray) -> None:
    """``out[...] = chunk`` with rows and columns swapped (NWB layout), copied in cache-sized tiles.

    A plain strided copy of a 512 x 512 frame walks down columns and costs about three times as much.
    """
    rows, columns = chunk.shape[1], chunk.shape[2]
    if rows * columns <= 4 * _TILE * _TILE:
        np.copyto(out, chunk.swapaxes(1, 2))
        return
    for r in range(0, rows, _TILE):
        for c in range(0, columns, _TILE):
            np.copyto(out[:, c : c + _TILE, r : r + _TILE], chunk[:, r : r + _TILE, c : c + _TILE].swapaxes(1, 2))


class _Shuffler:
    """Transpose a chunk to NWB layout and byte-shuffle it, into per-thread buffers.

    HDF5's shuffle filter stores byte k of every element before byte k + 1 of any. The transpose goes
    in tiles, then each byte plane is taken from the transposed words with one vectorised shift; on a
    10 MB int16 chunk of 512 x 512 frames this costs ~3 ms against ~9 ms for one strided copy that
    transposes and splits bytes at once (measured here).
    """

    def __init__(self, chunk_shape: tuple, dtype: np.dtype):
        self.itemsize = dtype.itemsize
        self.sample_ndim = len(chunk_shape) - 1
        self.chunk_shape = chunk_shape
        self._little = sys.byteorder == "little"
        self._local = threading.local()

    def _buffer(self, name: str, shape: tuple, dtype) -> np.ndarray:
        buffer = getattr(self._local, name, None)
        if buffer is None or buffer.dtype != dtype:
            buffer = np.empty(shape, dtype=dtype)
            setattr(self._local, name, buffer)
        return buffer

    def __call__(self, chunk: np.ndarray, shuffle: bool) -> memoryview:
        plain = self._buffer("plain", self.chunk_shape, chunk.dtype)
        _transpose_into(plain, chunk)
        if not shuffle or self.itemsize == 1:
            return memoryview(plain.reshape(-1).view(np.uint8))
        out = self._buffer("shuffled", (self.itemsize, *self.chunk_shape), np.uint8)
        k = self.itemsize
        if k in (2, 4, 8):
            words = plain.view(f"u{k}")
            for j in range(k):  # byte j in memory order is bits 8j.. (little-endian machines)
                shift = 8 * (j if self._little else k - 1 - j)
                np.right_shift(words, shift, out=out[j], casting="unsafe")
        else:
            as_bytes = plain.view(np.uint8).reshape((*self.chunk_shape, k))
            for j in range(k):
                np.copyto(out[j], as_bytes[..., j])
        return memoryview(out.reshape(-1))


def fill_dataset(
    dataset,
    extractor,
    start: int = 0,
    stop: int | None = None,
    *,
    deflate: Callable[[bytes], bytes] | None = None,
    max_workers: int | None = None,
    progress: bool = False,
    progress_callback: ProgressCallback | None = None,
    description: str | None = None,
) -> None:
    """Write samples ``start:stop`` of ``extractor`` into the empty h5py ``dataset`` (NWB layout).

    With gzip compression (and the shuffle filter or none), chunks are compressed with ``deflate``
    (default: zlib at the dataset's level) in ``max_workers`` threads and stored with
    ``write_direct_chunk``; otherwise HDF5's own filters run (one core).
    Memory in use is about ``(2 * max_workers + 2)`` chunks.
    """
    stop = extractor.get_num_samples() if stop is None else stop
    total = stop - start
    chunks = dataset.chunks
    if chunks is None or dataset.shape[0] != total:
        raise ValueError(f"dataset {dataset.name} must be chunked with {total} samples; it is {dataset.shape}")
    per_chunk = chunks[0]
    if tuple(chunks[1:]) != tuple(dataset.shape[1:]):
        raise ValueError(f"dataset {dataset.name} chunks {chunks} do not hold whole samples")
    filters = dataset.id.get_create_plist()
    names = []
    for i in range(filters.get_nfilters()):
        names.append(filters.get_filter(i)[0])
    import h5py

    allowed = {h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_DEFLATE}
    direct = all(code in allowed for code in names) and h5py.h5z.FILTER_DEFLATE in names
    shuffle = h5py.h5z.FILTER_SHUFFLE in names
    if deflate is None:
        level = dataset.compression_opts if isinstance(dataset.compression_opts, int) else 4
        deflate = partial(zlib.compress, level=level)
    workers = default_workers() if max_workers is None else max(1, int(max_workers))

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="sample", desc=description or dataset.name.rsplit("/", 1)[-1], leave=False)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if bar is not None:
            bar.update(count)
        if progress_callback is not None:
            progress_callback(done, total)

    storage = _storage_dtype(extractor.dtype)
    native = storage == extractor.dtype
    buffer_shape = (per_chunk, *extractor.get_sample_shape())
    try:
        if not direct:  # HDF5's own filters (lzf, zstd, blosc, none) compress; we read and transpose
            buffer = np.empty(buffer_shape, dtype=extractor.dtype)
            nwb = np.empty((per_chunk, *dataset.shape[1:]), dtype=storage)
            for a in range(start, stop, per_chunk):
                b = min(a + per_chunk, stop)
                chunk = extractor.get_series(a, b, out=buffer[: b - a])
                _transpose_into(nwb[: b - a], chunk if native else chunk.astype(storage))
                dataset[a - start : b - start] = nwb[: b - a]
                advance(b - a)
            return
        _fill_direct(dataset, extractor, start, stop, per_chunk, buffer_shape, storage, native, shuffle, deflate,
                     workers, advance)
    finally:
        if bar is not None:
            bar.close()


def _fill_direct(dataset, extractor, start, stop, per_chunk, buffer_shape, storage, native, shuffle, deflate,
                 workers, advance) -> None:
    chunk_shape = (per_chunk, *dataset.shape[1:])
    shuffler = _Shuffler(chunk_shape, storage)
    free: queue.SimpleQueue = queue.SimpleQueue()
    num_buffers = workers + 2
    for _ in range(min(num_buffers, math.ceil((stop - start) / per_chunk))):
        free.put(np.empty(buffer_shape, dtype=extractor.dtype))

    def compress(buffer: np.ndarray) -> bytes:
        try:
            data = buffer if native else buffer.astype(storage)
            raw = shuffler(data, shuffle)
        finally:
            free.put(buffer)
        return deflate(raw)

    pending: list[tuple[int, int, Future]] = []

    def drain(limit: int) -> None:
        while len(pending) > limit:
            a, b, future = pending.pop(0)
            dataset.id.write_direct_chunk((a - start, *([0] * (len(chunk_shape) - 1))), future.result())
            advance(b - a)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ophysio-deflate") as pool:
        try:
            for a in range(start, stop, per_chunk):
                b = min(a + per_chunk, stop)
                drain(2 * workers)
                buffer = free.get()
                extractor.get_series(a, b, out=buffer[: b - a])
                if b - a < per_chunk:  # an edge chunk is stored whole: pad it
                    buffer[b - a :] = 0
                pending.append((a, b, pool.submit(compress, buffer)))
            drain(0)
        except BaseException:
            for _, _, future in pending:
                future.cancel()
            raise
