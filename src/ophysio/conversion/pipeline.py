"""The one chunk pipeline: transpose, byte shuffle, compress in threads, write the chunk directly.

Every chunked HDF5 output of ophysio (the photon series of an NWB file, the movie of the HDF5 writer)
goes through this module, in the spirit of zarr-python v3's codec pipeline: a chunk passes through
small steps, each one class,

- array -> array: :class:`TransposeToNWB` (ophysio's (samples, rows, columns[, planes]) to NWB's
  (samples, x=columns, y=rows[, z]), in cache-sized tiles);
- array -> bytes: :class:`ShuffleBytes` (HDF5's shuffle filter: byte k of every element before byte
  k + 1 of any) or :class:`RawBytes`;
- bytes -> bytes: :class:`Deflate` (zlib or ISA-L; HDF5's gzip filter stores plain zlib streams),

and the encoded chunks are stored with ``Dataset.id.write_direct_chunk``: standard gzip+shuffle
chunks that every HDF5 reader decodes. The steps release the GIL (numpy copies, zlib, ISA-L), so a
pool of threads encodes chunks in parallel (h5py runs HDF5's own filters under one lock: threads do
not speed those up).

:func:`fill_dataset` overlaps the three stages of a conversion: a reader thread fills a few reused
buffers from the source, the pool encodes them, and the calling thread writes the encoded chunks in
order. Memory stays bounded (see :func:`fill_dataset`).

One compression vocabulary, :class:`Compression`, serves NWB (``compression="gzip:6"``), the HDF5
writer (``compression="gzip", compression_level=6`` is read as the same thing) and NWB-Zarr.
"""

from __future__ import annotations

import math
import os
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import OptionError

__all__ = [
    "Compression",
    "OptionValueError",
    "TransposeToNWB",
    "ShuffleBytes",
    "RawBytes",
    "Deflate",
    "ChunkPipeline",
    "ChunkWriter",
    "fill_dataset",
    "default_workers",
]

ProgressCallback = Callable[[int, int], Any]


class OptionValueError(OptionError, ValueError):
    """An option of a conversion or writer has a value it cannot take; ``option`` names it."""

    def __init__(self, option: str, message: str):
        super().__init__(f"{option}: {message}")
        self.option = option


def default_workers() -> int:
    """Compression threads: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------- the vocabulary
@dataclass(frozen=True)
class Compression:
    """How chunks are compressed: the one vocabulary of NWB, the HDF5 writer and NWB-Zarr.

    Parameters
    ----------
    method : {"gzip", "lzf", "zstd", "blosc", None}
        gzip (deflate, readable by every HDF5 reader; compressed in parallel by ophysio), lzf (h5py only,
        one core), zstd or blosc (HDF5 plugin filters from the optional ``hdf5plugin`` package; HDF5
        compresses them on one core and readers need ``import hdf5plugin``) or None.
    level : int, optional
        gzip level 0-9, applied with zlib exactly. None (default) is the fast setting: ISA-L level 1 when
        the ``isal`` package is installed (a dependency of ophysio), else zlib level 1. zstd: 1-22
        (default 3). blosc: 0-9 (default 5).
    shuffle : bool
        Byte-shuffle first (default True: smaller output for integer movies): HDF5's shuffle filter, or
        for blosc its own shuffle.
    engine : {"auto", "zlib", "isal"}
        Deflate implementation (see :mod:`ophysio.conversion._compress`).
    cname : str, optional
        blosc's inner compressor: blosclz, lz4 (default), lz4hc, zlib or zstd.
    """

    method: str | None = "gzip"
    level: int | None = None
    shuffle: bool = True
    engine: str = "auto"
    cname: str | None = None

    #: Syntax accepted by :meth:`parse` (shown in errors).
    SYNTAX = "gzip, gzip:LEVEL (0-9), lzf, zstd, zstd:LEVEL (1-22), blosc, blosc:CNAME, blosc:CNAME:LEVEL (0-9) or none"

    @classmethod
    def parse(cls, value: str | Compression | None, option: str = "compression") -> Compression:
        """``"gzip"``, ``"gzip:6"``, ``"lzf"``, ``"zstd"``, ``"zstd:9"``, ``"blosc"``, ``"blosc:zstd:5"``,
        ``"none"``/None, or a :class:`Compression`. A bad value raises :class:`OptionValueError`
        naming ``option``."""
        from ._compress import BLOSC_CNAMES

        if isinstance(value, Compression):
            if value.engine not in ("auto", "zlib", "isal"):
                raise OptionValueError(option, f"unknown deflate engine {value.engine!r}; use auto, zlib or isal")
            return value
        if value is None or str(value).lower() in ("none", "off", "false"):
            return cls(None, None, False)
        method, *options = str(value).lower().split(":")
        if method not in ("gzip", "lzf", "zstd", "blosc"):
            raise OptionValueError(option, f"unknown compression {value!r}; use {cls.SYNTAX}")
        if method == "blosc":
            if len(options) > 2 or (options and options[0] not in BLOSC_CNAMES):
                raise OptionValueError(option, f"compression {value!r}: use blosc, blosc:CNAME or blosc:CNAME:LEVEL "
                                       f"with CNAME one of {', '.join(BLOSC_CNAMES)} and LEVEL 0-9 (e.g. blosc:zstd:5)")
            level = cls._level(option, value, options[1], 0, 9) if len(options) == 2 else None
            return cls(method, level, cname=options[0] if options else None)
        if not options:
            return cls(method)
        if method == "lzf" or len(options) > 1:
            raise OptionValueError(option, f"compression {value!r}: a level is only for gzip, zstd or blosc; "
                                   f"use {cls.SYNTAX}")
        low, high = (0, 9) if method == "gzip" else (1, 22)
        return cls(method, cls._level(option, value, options[0], low, high))

    @classmethod
    def from_writer_options(cls, compression: str | None, level: int | None = None,
                            shuffle: bool | None = None) -> Compression:
        """The HDF5 writer's spelling (``compression="gzip", compression_level=6, shuffle=True``), or
        ``compression="gzip:6"`` as for NWB. gzip there is zlib at ``level`` (default 1)."""
        parsed = cls.parse(compression)
        if level is not None:
            if parsed.level is not None and parsed.level != level:
                raise OptionValueError("compression_level", f"{level} contradicts compression={compression!r}")
            parsed = cls.parse(f"{parsed.method}:{int(level)}" if parsed.method != "blosc"
                               else f"blosc:{parsed.cname or 'lz4'}:{int(level)}", "compression_level")
        shuffle = parsed.method is not None if shuffle is None else bool(shuffle)
        engine = "zlib" if parsed.method == "gzip" else parsed.engine
        gzip_level = 1 if parsed.method == "gzip" and parsed.level is None else parsed.level
        return cls(parsed.method, gzip_level, shuffle, engine, parsed.cname)

    @staticmethod
    def _level(option: str, value: Any, text: str, low: int, high: int) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise OptionValueError(option, f"compression {value!r}: the level must be an integer {low}-{high}")
        return int(text)

    @property
    def uses_plugin(self) -> bool:
        """Whether the compression is an HDF5 plugin filter (hdf5plugin needed to write and to read)."""
        return self.method in ("zstd", "blosc")

    @property
    def direct(self) -> bool:
        """Whether ophysio encodes the chunks itself (gzip, with or without shuffle) in threads."""
        return self.method == "gzip"

    def deflate(self):
        """``(compress, level_to_record, engine_name)`` for gzip (see :mod:`ophysio.conversion._compress`)."""
        from ._compress import deflate_engine

        return deflate_engine(self.level, self.engine)

    def h5py_kwargs(self) -> dict:
        """h5py dataset keywords (``compression``, ``compression_opts``, ``shuffle``).

        Raises :class:`~ophysio.errors.MissingPluginError` for zstd and blosc without hdf5plugin.
        """
        if self.method is None:
            return {}
        if self.uses_plugin:
            from ._compress import plugin_filter

            return plugin_filter(self.method, self.level, self.cname, self.shuffle)
        kwargs: dict[str, Any] = {"compression": self.method, "shuffle": self.shuffle}
        if self.method == "gzip":
            kwargs["compression_opts"] = self.deflate()[1]
        return kwargs

    def h5dataio_kwargs(self) -> dict:
        """Keywords of hdmf's ``H5DataIO`` (:meth:`h5py_kwargs`, plus permission to use plugin filters)."""
        kwargs = self.h5py_kwargs()
        if self.uses_plugin:
            kwargs["allow_plugin_filters"] = True
        return kwargs

    def pipeline(self, dtype: np.dtype, transpose: bool = False) -> ChunkPipeline:
        """The steps that encode a chunk of ``dtype`` exactly as HDF5's filters would (gzip only)."""
        if not self.direct:
            raise OptionValueError("compression", f"{self.method!r} chunks are compressed by HDF5, not in the pipeline")
        steps: list = [TransposeToNWB()] if transpose else []
        steps.append(ShuffleBytes() if self.shuffle and np.dtype(dtype).itemsize > 1 else RawBytes())
        steps.append(Deflate(self.deflate()[0]))
        return ChunkPipeline(steps)


# ---------------------------------------------------------------------- the steps
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


#: Rows and columns of one transpose tile: source and destination tiles stay in L1 while it is copied.
_TILE = 32


def transpose_into(out: np.ndarray, chunk: np.ndarray) -> None:
    """``out[...] = chunk`` with axes 1 and 2 swapped (NWB layout), copied in cache-sized tiles.

    A plain strided copy of a 512 x 512 frame walks down columns and costs about three times as much.
    """
    rows, columns = chunk.shape[1], chunk.shape[2]
    if rows * columns <= 4 * _TILE * _TILE:
        np.copyto(out, chunk.swapaxes(1, 2))
        return
    for r in range(0, rows, _TILE):
        for c in range(0, columns, _TILE):
            np.copyto(out[:, c : c + _TILE, r : r + _TILE], chunk[:, r : r + _TILE, c : c + _TILE].swapaxes(1, 2))


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


# ---------------------------------------------------------------------- encoding in threads, writing in order
class ChunkWriter:
    """Encode chunks in a pool of threads and store them in order with ``write_direct_chunk``.

    ``submit(first_sample, array, release)`` hands a whole chunk (time first); ``release()`` is called
    once the array has been encoded (its buffer may then be refilled). At most ``2 * workers`` encoded
    chunks wait to be written; the calling thread writes them.
    """

    def __init__(self, dataset, pipeline: ChunkPipeline, workers: int,
                 on_written: Callable[[int], Any] | None = None):
        self.dataset = dataset
        self.pipeline = pipeline
        self.workers = max(1, int(workers))
        self.on_written = on_written
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ophysio-encode")
        self._pending: deque[tuple[int, int, Future]] = deque()
        self._zeros = (0,) * (len(dataset.shape) - 1)

    def _encode(self, array: np.ndarray, release: Callable[[], Any] | None) -> bytes:
        try:
            return self.pipeline.encode(array)
        finally:
            if release is not None:
                release()

    def submit(self, first: int, array: np.ndarray, count: int | None = None,
               release: Callable[[], Any] | None = None) -> None:
        """Queue the chunk that starts at sample ``first`` (``count`` real samples, default all)."""
        self.drain(2 * self.workers)
        future = self._pool.submit(self._encode, array, release)
        self._pending.append((first, array.shape[0] if count is None else count, future))

    def drain(self, limit: int = 0) -> None:
        """Write encoded chunks, oldest first, until at most ``limit`` wait."""
        while len(self._pending) > limit:
            first, count, future = self._pending.popleft()
            self.dataset.id.write_direct_chunk((first, *self._zeros), future.result())
            if self.on_written is not None:
                self.on_written(count)

    def close(self) -> None:
        """Write what is pending and stop the threads."""
        try:
            self.drain(0)
        finally:
            self._pool.shutdown()

    def cancel(self) -> None:
        """Drop what is pending (after a failure) and stop the threads."""
        for _, _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(cancel_futures=True)


# ---------------------------------------------------------------------- reading ahead
_DONE = object()


class ReadAhead:
    """A thread that reads samples ``start:stop`` chunk by chunk into ``buffers`` reused buffers.

    Iterate to get ``(first, count, buffer)`` in order; call ``release(buffer)`` when done with it. An
    edge chunk is padded with zeros (stored whole). An error in the thread is raised by the iteration.
    """

    def __init__(self, extractor, start: int, stop: int, per_chunk: int, buffers: int):
        self.extractor, self.start, self.stop, self.per_chunk = extractor, start, stop, per_chunk
        count = max(1, min(buffers, math.ceil((stop - start) / per_chunk)))
        shape = (per_chunk, *extractor.get_sample_shape())
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(count):
            self._free.put(np.empty(shape, dtype=extractor.dtype))
        self._ready: queue.SimpleQueue = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ophysio-read", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for a in range(self.start, self.stop, self.per_chunk):
                b = min(a + self.per_chunk, self.stop)
                buffer = None
                while buffer is None:
                    if self._stopped.is_set():
                        return
                    try:
                        buffer = self._free.get(timeout=0.1)
                    except queue.Empty:
                        continue
                self.extractor.get_series(a, b, out=buffer[: b - a])
                if b - a < self.per_chunk:
                    buffer[b - a :] = 0
                self._ready.put((a, b - a, buffer))
            self._ready.put(_DONE)
        except BaseException as exc:  # handed to the consumer
            self._ready.put(exc)

    def release(self, buffer: np.ndarray) -> None:
        self._free.put(buffer)

    def __iter__(self) -> Iterator[tuple[int, int, np.ndarray]]:
        while True:
            item = self._ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop the thread (it ends after the read under way)."""
        self._stopped.set()
        self._thread.join()


# ---------------------------------------------------------------------- the NWB fill
def _dataset_compression(dataset) -> Compression | None:
    """The :class:`Compression` the pipeline must apply to match ``dataset``'s filters, or None when HDF5
    must filter (filters other than shuffle + deflate)."""
    import h5py

    plist = dataset.id.get_create_plist()
    codes = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    allowed = {h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_DEFLATE}
    if not all(code in allowed for code in codes) or h5py.h5z.FILTER_DEFLATE not in codes:
        return None
    level = dataset.compression_opts if isinstance(dataset.compression_opts, int) else 4
    return Compression("gzip", level, h5py.h5z.FILTER_SHUFFLE in codes, engine="zlib")


def fill_dataset(
    dataset,
    extractor,
    start: int = 0,
    stop: int | None = None,
    *,
    compression: Compression | None = None,
    max_workers: int | None = None,
    progress: bool = False,
    progress_callback: ProgressCallback | None = None,
    description: str | None = None,
) -> None:
    """Write samples ``start:stop`` of ``extractor`` into the empty h5py ``dataset`` (NWB layout).

    A reader thread reads chunk after chunk into ``max_workers + 2`` reused buffers. With gzip (with the
    shuffle filter or without) the chunks are transposed, shuffled and deflated by ``compression``
    (default: zlib at the dataset's level; its deflate engine and level must match the dataset's) in
    ``max_workers`` threads and stored with ``write_direct_chunk`` by the calling thread, in order, as
    they come; otherwise HDF5's own filters run (one core) while the next chunk is read. Memory in use is
    about ``4 * max_workers + 2`` chunks.
    """
    stop = extractor.get_num_samples() if stop is None else stop
    total = stop - start
    chunks = dataset.chunks
    if chunks is None or dataset.shape[0] != total:
        raise ValueError(f"dataset {dataset.name} must be chunked with {total} samples; it is {dataset.shape}")
    per_chunk = chunks[0]
    if tuple(chunks[1:]) != tuple(dataset.shape[1:]):
        raise ValueError(f"dataset {dataset.name} chunks {chunks} do not hold whole samples")
    filters = _dataset_compression(dataset)
    if filters is not None and compression is not None and compression.direct:
        filters = Compression("gzip", compression.level, filters.shuffle, compression.engine)
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

    reader = ReadAhead(extractor, start, stop, per_chunk, workers + 2)
    try:
        if filters is None:  # HDF5's own filters (lzf, zstd, blosc, none) compress; we transpose
            to_nwb = TransposeToNWB()
            for a, count, buffer in reader:
                nwb = to_nwb.encode(buffer[:count])
                reader.release(buffer)
                dataset[a - start : a - start + count] = nwb
                advance(count)
            return
        writer = ChunkWriter(dataset, filters.pipeline(extractor.dtype, transpose=True), workers, advance)
        try:
            for a, count, buffer in reader:
                writer.submit(a - start, buffer, count, release=lambda b=buffer: reader.release(b))
            writer.close()
        except BaseException:
            writer.cancel()
            raise
    finally:
        reader.close()
        if bar is not None:
            bar.close()
