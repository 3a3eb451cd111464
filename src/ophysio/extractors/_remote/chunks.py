"""Reading an array along its time axis by whole chunks through one bounded LRU of decoded chunks.

A read of samples ``start:stop`` becomes the chunks it touches (the array's chunk grid: a read is aligned
to the chunks as stored, so every fetched byte is used or cached); the chunks not in the cache are fetched
and decoded in parallel (:data:`FETCH_THREADS` threads shared by the process: network waits and zlib,
zstd and blosc release the GIL), and pieces are copied into the caller's buffer, which may be a transposed
view (NWB's (time, x, y) into ophysio's (samples, rows, columns)). :class:`ChunkCache` is shared by all the
reads of one extractor and by its threads: a chunk two threads ask for at once is fetched once.
Long reads go through the chunks a batch at a time, so memory stays near :data:`BATCH_BYTES` beyond the
output.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["ChunkCache", "ChunkedArray", "CHUNK_CACHE_BYTES", "FETCH_THREADS", "run_parallel"]

#: Decoded chunks one extractor keeps by default.
CHUNK_CACHE_BYTES = 256 * 1024**2
#: Chunks fetched (and decoded) at once.
FETCH_THREADS = 8
#: Decoded bytes one step of a long read fetches before copying them out.
BATCH_BYTES = 64 * 1024**2

_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():  # a forked child gets its own threads
            _pool = ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="ophysio-fetch")
            _pool_pid = os.getpid()
        return _pool


def run_parallel(function: Callable, items: Sequence) -> list:
    """``[function(item) for item in items]``, several at a time in the shared fetch threads.

    Called from a fetch thread itself, it runs serially (a pool waiting on itself could deadlock).
    """
    if len(items) <= 1 or threading.current_thread().name.startswith("ophysio-fetch"):
        return [function(item) for item in items]
    return list(_executor().map(function, items))


class ChunkCache:
    """An LRU of decoded chunks holding at most ``max_bytes``; concurrent requests of a chunk load it once."""

    def __init__(self, max_bytes: int = CHUNK_CACHE_BYTES):
        self.max_bytes = int(max_bytes)
        self._data: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._loading: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()
        self.loads = 0  # chunks loaded (fetched and decoded) so far

    def __getstate__(self):
        return {"max_bytes": self.max_bytes}

    def __setstate__(self, state):
        self.__init__(state["max_bytes"])

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def _insert(self, key: Hashable, value: np.ndarray) -> None:
        if value.nbytes > self.max_bytes:
            return
        old = self._data.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
        self._data[key] = value
        self._bytes += value.nbytes
        while self._bytes > self.max_bytes and self._data:
            _, dropped = self._data.popitem(last=False)
            self._bytes -= dropped.nbytes

    def get_many(self, keys: Sequence[Hashable], load: Callable[[Hashable], np.ndarray],
                 prepare: Callable[[list], None] | None = None, keep: bool = True) -> dict:
        """The chunks of ``keys``: cached ones, ones another thread is loading, and the rest loaded (in parallel,
        after ``prepare(keys to load)`` in the calling thread, e.g. to look up where they are stored). With
        ``keep=False`` the loaded chunks are not added to the cache (a long read passing through)."""
        found: dict[Hashable, np.ndarray] = {}
        mine: list[Hashable] = []
        waits: list[tuple[Hashable, threading.Event]] = []
        with self._lock:
            for key in keys:
                if key in found or key in mine:
                    continue
                value = self._data.get(key)
                if value is not None:
                    self._data.move_to_end(key)
                    found[key] = value
                elif key in self._loading:
                    waits.append((key, self._loading[key]))
                else:
                    self._loading[key] = threading.Event()
                    mine.append(key)
        try:
            if prepare is not None and mine:
                prepare(mine)
            loaded = run_parallel(load, mine)
        finally:
            with self._lock:
                events = [self._loading.pop(key) for key in mine]
        with self._lock:
            for key, value in zip(mine, loaded):
                value.flags.writeable = False  # shared between reads: never to be changed in place
                if keep:
                    self._insert(key, value)
                found[key] = value
            self.loads += len(mine)
        for event in events:
            event.set()
        for key, event in waits:
            event.wait()
            with self._lock:
                value = self._data.get(key)
            if value is None:  # the other thread failed, or the chunk was evicted already: load it here
                value = load(key)
                value.flags.writeable = False
            found[key] = value
        return found


class ChunkedArray:
    """A time-first array of ``shape`` and ``dtype`` stored in chunks of ``chunks`` (the read unit).

    ``load(coords)`` returns the decoded chunk at chunk-grid position ``coords``, clipped to the array
    (shape ``min(chunks, shape - coords * chunks)`` per axis); ``prepare(list of coords)``, when given, runs
    first in the reading thread for the chunks about to be loaded. ``name`` tells this array's chunks apart
    in a cache shared with other arrays.
    """

    def __init__(self, shape: Sequence[int], chunks: Sequence[int], dtype: np.dtype,
                 load: Callable[[tuple[int, ...]], np.ndarray], cache: ChunkCache, name: Hashable = "",
                 prepare: Callable[[list], None] | None = None):
        self.shape = tuple(int(n) for n in shape)
        self.chunks = tuple(max(1, int(c)) for c in chunks)
        self.dtype = np.dtype(dtype)
        self._load = load
        self._prepare = prepare
        self.cache = cache
        self.name = name
        self.grid = tuple(math.ceil(n / c) for n, c in zip(self.shape, self.chunks))

    def _load_key(self, key):
        return self._load(key[1])

    def _prepare_keys(self, keys) -> None:
        self._prepare([key[1] for key in keys])

    def chunk_shape(self, coords: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(min(c, n - i * c) for i, c, n in zip(coords, self.chunks, self.shape))

    def read(self, start: int, stop: int, target: np.ndarray, pick: dict[int, int] | None = None,
             time_axis: int = 0) -> None:
        """Copy samples ``start:stop`` along ``time_axis`` into ``target`` (any strides): every other axis whole,
        except the axes of ``pick`` (axis -> index), of which only that index is read (those axes are not in
        ``target``; the others keep their stored order)."""
        if stop <= start:
            return
        pick = dict(pick or {})
        ranges: list = []
        for axis in range(len(self.shape)):
            if axis == time_axis:
                ranges.append(None)
            elif axis in pick:
                ranges.append([pick[axis] // self.chunks[axis]])
            else:
                ranges.append(range(self.grid[axis]))
        row_bytes = self.dtype.itemsize * self.chunks[time_axis] * math.prod(
            len(r) * self.chunks[axis] for axis, r in enumerate(ranges) if r is not None)
        rows_per_batch = max(1, BATCH_BYTES // max(row_bytes, 1))
        step = self.chunks[time_axis]
        first, last = start // step, (stop - 1) // step
        for batch in range(first, last + 1, rows_per_batch):
            rows = range(batch, min(batch + rows_per_batch, last + 1))
            axes = [rows if r is None else r for r in ranges]
            keys = [(self.name, coords) for coords in itertools.product(*axes)]
            # a long read keeps in the cache only its last batch (which the next read may continue)
            keep = rows[-1] == last
            chunks = self.cache.get_many(keys, self._load_key, self._prepare_keys if self._prepare else None, keep)
            for key in keys:
                coords = key[1]
                chunk = chunks[key]
                source: list = []
                destination: list = []
                for axis, index in enumerate(coords):
                    origin = index * self.chunks[axis]
                    if axis == time_axis:
                        a, b = max(start, origin), min(stop, origin + chunk.shape[axis])
                        source.append(slice(a - origin, b - origin))
                        destination.append(slice(a - start, b - start))
                    elif axis in pick:
                        source.append(pick[axis] - origin)
                    else:
                        source.append(slice(0, chunk.shape[axis]))
                        destination.append(slice(origin, origin + chunk.shape[axis]))
                target[tuple(destination)] = chunk[tuple(source)]

    def read_indices(self, indices: np.ndarray, target: np.ndarray, pick: dict[int, int] | None = None,
                     time_axis: int = 0) -> None:
        """Copy the samples at ``indices`` (sorted, unique) into ``target``, the ``i``-th one at position ``i``
        of the time axis: the chunks of all of them fetched together (in parallel), each once."""
        if len(indices) == 0:
            return
        pick = dict(pick or {})
        step = self.chunks[time_axis]
        indices = np.asarray(indices, dtype=np.int64)
        rows = np.unique(indices // step).tolist()
        ranges: list = []
        for axis in range(len(self.shape)):
            if axis == time_axis:
                ranges.append(None)
            elif axis in pick:
                ranges.append([pick[axis] // self.chunks[axis]])
            else:
                ranges.append(range(self.grid[axis]))
        row_bytes = self.dtype.itemsize * step * math.prod(
            len(r) * self.chunks[axis] for axis, r in enumerate(ranges) if r is not None)
        rows_per_batch = max(1, BATCH_BYTES // max(row_bytes, 1))
        kept = [axis for axis in range(len(self.shape)) if axis not in pick]
        out_time = kept.index(time_axis)
        for first in range(0, len(rows), rows_per_batch):
            batch = rows[first : first + rows_per_batch]
            keys = [(self.name, coords) for coords in itertools.product(*[batch if r is None else r for r in ranges])]
            chunks = self.cache.get_many(keys, self._load_key, self._prepare_keys if self._prepare else None)
            for key in keys:
                coords = key[1]
                chunk = chunks[key]
                t0 = coords[time_axis] * step
                where = np.flatnonzero((indices >= t0) & (indices < t0 + chunk.shape[time_axis]))
                if where.size == 0:
                    continue
                view = chunk[tuple(pick[axis] - coords[axis] * self.chunks[axis] if axis in pick else slice(None)
                                   for axis in range(len(self.shape)))]
                source: list = [slice(None)] * view.ndim
                destination: list = [slice(None)] * view.ndim
                source[out_time] = indices[where] - t0
                destination[out_time] = where
                for position, axis in enumerate(kept):
                    if axis != time_axis:
                        origin = coords[axis] * self.chunks[axis]
                        destination[position] = slice(origin, origin + view.shape[position])
                target[tuple(destination)] = view[tuple(source)]

    def read_box(self, box: Sequence[tuple[int, int]], target: np.ndarray) -> None:
        """Copy ``array[a0:b0, a1:b1, ...]`` (one ``(start, stop)`` per axis, inside the array) into ``target``:
        the chunks the box touches, fetched together, each once (a time range of some columns of a 2-D
        array: the segmentation traces of a few ROIs)."""
        if any(b <= a for a, b in box):
            return
        ranges = [range(a // c, (b - 1) // c + 1) for (a, b), c in zip(box, self.chunks)]
        keys = [(self.name, coords) for coords in itertools.product(*ranges)]
        chunks = self.cache.get_many(keys, self._load_key, self._prepare_keys if self._prepare else None)
        for key in keys:
            chunk = chunks[key]
            source: list = []
            destination: list = []
            for axis, index in enumerate(key[1]):
                origin = index * self.chunks[axis]
                a, b = box[axis]
                lo, hi = max(a, origin), min(b, origin + chunk.shape[axis])
                source.append(slice(lo - origin, hi - origin))
                destination.append(slice(lo - a, hi - a))
            target[tuple(destination)] = chunk[tuple(source)]

    def read_all(self) -> np.ndarray:
        """The whole array (for small arrays: timestamps, metadata values)."""
        out = np.empty(self.shape, dtype=self.dtype)
        if not self.shape:
            chunks = self.cache.get_many([(self.name, ())], self._load_key)
            out[()] = chunks[(self.name, ())]
            return out
        if self.shape[0]:
            self.read(0, self.shape[0], out)
        return out
