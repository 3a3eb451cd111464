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
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ..errors import OptionValueError
from ._h5discard import hdf5_file_descriptor
from .codecs import ChunkPipeline, Deflate, RawBytes, ShuffleBytes, TransposeToNWB
from .compression import Compression, default_workers

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


# ---------------------------------------------------------------------- encoding in threads, writing in order
class ChunkWriter:
    """Encode chunks in a pool of threads and store them in order with ``write_direct_chunk``.

    ``submit(first_sample, array, release)`` hands a whole chunk (time first); ``release()`` is called
    once the array has been encoded (its buffer may then be refilled). At most ``2 * workers`` encoded
    chunks wait to be written; the calling thread writes them. A chunk that does not span the other axes
    (a tile of a trace: some samples of some ROIs) is submitted with its whole offset, a tuple, as ``first``.
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

    def submit(self, first: int | tuple[int, ...], array: np.ndarray, count: int | None = None,
               release: Callable[[], Any] | None = None) -> None:
        """Queue the chunk that starts at sample ``first`` (or at the offset ``first``, a tuple) with ``count``
        real samples (default all)."""
        self.drain(2 * self.workers)
        future = self._pool.submit(self._encode, array, release)
        self._pending.append((first, array.shape[0] if count is None else count, future))

    def drain(self, limit: int = 0) -> None:
        """Write encoded chunks, oldest first, until at most ``limit`` wait."""
        while len(self._pending) > limit:
            first, count, future = self._pending.popleft()
            offset = first if isinstance(first, tuple) else (first, *self._zeros)
            self.dataset.id.write_direct_chunk(offset, future.result())
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


# ---------------------------------------------------------------------- writing back while filling
class Writeback:
    """Flush the file of ``dataset`` to disk every ``interval`` seconds while it fills, in a thread.

    Every output is synced before it is renamed into place (``conversion/_atomic.py``). Left to the end,
    that sync waits for the whole file to reach the disk after the last chunk is written; flushing as the
    chunks arrive overlaps it with the fill, so the final sync only waits for the last ``interval``. The
    thread syncs its own duplicate of the file's descriptor (HDF5 may close its own at any time); a
    driver without one descriptor, or a platform without ``fdatasync``, gets no thread.
    """

    def __init__(self, dataset, interval: float = 0.5):
        self._fd: int | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.interval = interval
        sync = getattr(os, "fdatasync", None)
        handle = hdf5_file_descriptor(dataset.file)
        if sync is None or handle is None:
            return
        self._fd = os.dup(handle)
        self._thread = threading.Thread(target=self._run, args=(sync,), name="ophysio-writeback", daemon=True)
        self._thread.start()

    def _run(self, sync: Callable[[int], Any]) -> None:
        while not self._stopped.wait(self.interval):
            try:
                sync(self._fd)
            except OSError:  # a file system that cannot sync: the final sync will say what it can
                return

    def close(self) -> None:
        """Stop the thread and release the descriptor."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


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
    writeback = Writeback(dataset)
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
        writeback.close()
        if bar is not None:
            bar.close()
