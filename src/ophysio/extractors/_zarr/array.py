"""One Zarr array (v2, or v3 with or without sharding) read chunk by chunk: :class:`ZarrArray`.

A chunk is the read unit (for a sharded v3 array, the inner chunk: a shard's index is read once, with
a suffix or prefix range request, and each inner chunk by its own range). A chunk that is not stored
reads as the fill value, as Zarr defines; a stored chunk that does not decode to its size is a
:class:`~ophysio.errors.CorruptFileError` naming its key.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

import numpy as np

from ...errors import CorruptFileError, FormatError
from .._remote.chunks import ChunkCache, ChunkedArray
from .codecs import V3Chain, decode_v2, fill_value, v2_codec, v3_dtype
from .nodes import ZarrNode, join

__all__ = ["ZarrArray"]

_MISSING = 2**64 - 1
#: Inner chunks of a shard stored next to each other (up to this gap) are fetched in one request of at most
#: :data:`RUN_BYTES`.
RUN_GAP_BYTES = 64 * 1024
RUN_BYTES = 16 * 1024**2


def _ints(value, where: str, what: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise FormatError(f"{where}: {what} {value!r} is not a list of non-negative integers")
    return tuple(value)


class ZarrArray:
    """The array at ``node`` of ``store`` (see the module documentation)."""

    def __init__(self, store, node: ZarrNode):
        self.store = store
        self.path = node.path
        self.attrs = node.attrs
        self.zarr_format = node.zarr_format
        self.where = f"{store.name}: array {node.path or '/'}"
        meta = node.meta
        self.shape = _ints(meta.get("shape"), self.where, "shape")
        self._index_cache: OrderedDict[str, np.ndarray | None] = OrderedDict()
        self._raw: dict[tuple[int, ...], bytes] = {}  # inner chunks fetched together, waiting to be decoded
        self._lock = threading.Lock()
        self.sharded = False
        if node.zarr_format == 2:
            self._setup_v2(meta)
        else:
            self._setup_v3(meta)
        if len(self.chunks) != len(self.shape) or (self.shape and 0 in self.chunks):
            raise FormatError(f"{self.where}: chunks {self.chunks} do not fit shape {self.shape}")

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_index_cache"] = OrderedDict()
        state["_raw"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ metadata
    def _setup_v2(self, meta: dict) -> None:
        where = self.where
        dtype = meta.get("dtype")
        structured = isinstance(dtype, list)
        if structured:  # fields of numbers (hdmf-zarr's compound datasets: NWB pixel and voxel masks)
            try:
                self.dtype = np.dtype([(str(f[0]), str(f[1])) for f in dtype])
            except (TypeError, ValueError, IndexError, KeyError) as exc:
                raise FormatError(f"{where}: structured dtype {dtype!r} is not a numpy type") from exc
            if any(self.dtype[name].kind not in "biuf" for name in self.dtype.names):
                raise FormatError(f"{where}: structured dtype {dtype!r} has fields that are not numbers")
        elif not isinstance(dtype, str):
            raise FormatError(f"{where}: dtype {dtype!r} is neither a simple type nor fields of numbers")
        else:
            try:
                self.dtype = np.dtype(dtype)
            except TypeError as exc:
                raise FormatError(f"{where}: dtype {dtype!r} is not a numpy type") from exc
        if not structured and (self.dtype.kind not in "biufcO" or self.dtype.names is not None):
            raise FormatError(f"{where}: dtype {dtype!r} is not numeric (nor text)")
        self.chunks = _ints(meta.get("chunks"), where, "chunks")
        self.order = meta.get("order", "C")
        if self.order not in ("C", "F"):
            raise FormatError(f"{where}: order {self.order!r} is neither C nor F")
        self.separator = meta.get("dimension_separator") or "."
        if self.separator not in (".", "/"):
            raise FormatError(f"{where}: dimension_separator {self.separator!r}")
        compressor = meta.get("compressor")
        self.compressor = None if compressor is None else v2_codec(compressor, where)
        self.filters = [v2_codec(f, where) for f in (meta.get("filters") or [])]
        if self.dtype.kind == "O" and not any(getattr(f, "codec_id", "").startswith("vlen") for f in self.filters):
            raise FormatError(f"{where}: an object array without a vlen-utf8 or vlen-bytes filter is not read")
        self.fill = np.zeros((), self.dtype)[()] if structured else \
            fill_value(meta.get("fill_value"), self.dtype, where)

    def _setup_v3(self, meta: dict) -> None:
        where = self.where
        grid = meta.get("chunk_grid")
        if not isinstance(grid, dict) or grid.get("name") != "regular":
            raise FormatError(f"{where}: chunk grid {grid!r} is not a regular grid")
        outer = _ints((grid.get("configuration") or {}).get("chunk_shape"), where, "chunk_shape")
        base = v3_dtype(meta.get("data_type"), where)
        encoding = meta.get("chunk_key_encoding") or {"name": "default"}
        name = encoding.get("name") if isinstance(encoding, dict) else None
        config = (encoding.get("configuration") or {}) if isinstance(encoding, dict) else {}
        if name not in ("default", "v2"):
            raise FormatError(f"{where}: chunk key encoding {encoding!r}")
        self._v3_prefix = "c" if name == "default" else ""
        self.separator = config.get("separator", "/" if name == "default" else ".")
        if self.separator not in (".", "/"):
            raise FormatError(f"{where}: chunk key separator {self.separator!r}")
        chain = V3Chain(meta.get("codecs"), base, outer, where)
        self.order = "C"
        if chain.sharding is None:
            self.chunks = outer
            self._chain = chain
            self.dtype = chain.dtype
        else:
            sharding = chain.sharding
            inner = _ints(sharding.get("chunk_shape"), where, "sharding chunk_shape")
            if len(inner) != len(outer) or any(c == 0 or o % c for o, c in zip(outer, inner)):
                raise FormatError(f"{where}: inner chunks {inner} do not divide the shards {outer}")
            self.sharded = True
            self.shard_shape = outer
            self.chunks = inner
            self._per_shard = tuple(o // c for o, c in zip(outer, inner))
            self._chain = V3Chain(sharding.get("codecs") or [{"name": "bytes"}], base, inner, where)
            self._index_chain = V3Chain(sharding.get("index_codecs") or [{"name": "bytes"}, {"name": "crc32c"}],
                                        np.dtype("u8"), (*self._per_shard, 2), where)
            self._index_at_end = sharding.get("index_location", "end") != "start"
            self._index_bytes = math.prod(self._per_shard) * 16 + 4 * sum(
                1 for name, _ in self._index_chain.byte_codecs if name == "crc32c")
            self.dtype = self._chain.dtype
        self.fill = fill_value(meta.get("fill_value"), self.dtype, where)
        names = meta.get("dimension_names")
        self.dimension_names = tuple(names) if isinstance(names, list) else None

    # ------------------------------------------------------------------ keys
    def _key(self, coords: tuple[int, ...]) -> str:
        if self.zarr_format == 2:
            return join(self.path, self.separator.join(map(str, coords)) if coords else "0")
        parts = ([self._v3_prefix] if self._v3_prefix else []) + [str(c) for c in coords]
        return join(self.path, self.separator.join(parts) if parts else "0")

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(math.ceil(n / c) for n, c in zip(self.shape, self.chunks))

    # ------------------------------------------------------------------ chunks
    def _clip(self, full: np.ndarray, coords: tuple[int, ...]) -> np.ndarray:
        shape = tuple(min(c, n - i * c) for i, c, n in zip(coords, self.chunks, self.shape))
        if shape == full.shape:
            return full
        return np.ascontiguousarray(full[tuple(slice(0, s) for s in shape)])

    def _filled(self, coords: tuple[int, ...]) -> np.ndarray:
        shape = tuple(min(c, n - i * c) for i, c, n in zip(coords, self.chunks, self.shape))
        return np.full(shape, self.fill, dtype=self.dtype)

    def load(self, coords: tuple[int, ...]) -> np.ndarray:
        """The chunk at ``coords`` of the chunk grid, decoded and clipped to the array."""
        if any(not 0 <= c < g for c, g in zip(coords, self.grid)):
            raise IndexError(f"{self.where}: no chunk {coords}")
        if self.sharded:
            return self._load_inner(coords)
        key = self._key(coords)
        data = self.store.get(key)
        if data is None:
            return self._filled(coords)
        where = f"{self.store.name}: chunk {key}"
        if self.zarr_format == 2:
            full = decode_v2(data, self.compressor, self.filters, self.dtype, self.chunks, self.order, where)
        else:
            full = self._chain.decode(data, where)
        return self._clip(full, coords)

    def _shard_index(self, key: str) -> np.ndarray | None:
        with self._lock:
            if key in self._index_cache:
                self._index_cache.move_to_end(key)
                return self._index_cache[key]
        size = self._index_bytes
        if self._index_at_end:
            data = self.store.get_suffix(key, size)  # one request, without asking the shard's size first
        else:
            data = self.store.get_range(key, 0, size)
        if data is None:
            index = None
        else:
            if len(data) != size:
                raise CorruptFileError(f"{self.store.name}: shard {key} is too short for its index ({len(data)} of "
                                       f"{size} bytes)")
            index = np.array(self._index_chain.decode(data, f"{self.store.name}: the index of shard {key}"))
        with self._lock:
            self._index_cache[key] = index
            while len(self._index_cache) > 64:
                self._index_cache.popitem(last=False)
        return index

    def _load_inner(self, coords: tuple[int, ...]) -> np.ndarray:
        shard = tuple(c // p for c, p in zip(coords, self._per_shard))
        local = tuple(c % p for c, p in zip(coords, self._per_shard))
        key = self._key(shard)
        index = self._shard_index(key)
        if index is None:
            return self._filled(coords)
        offset, nbytes = (int(v) for v in index[local])
        if offset == _MISSING and nbytes == _MISSING:
            return self._filled(coords)
        with self._lock:
            data = self._raw.pop(coords, None)
        if data is None:
            data = self.store.get_range(key, offset, offset + nbytes)
        if data is None or len(data) != nbytes:
            raise CorruptFileError(f"{self.store.name}: shard {key} ends before its chunk {local} (bytes {offset}-"
                                   f"{offset + nbytes - 1})")
        return self._clip(self._chain.decode(data, f"{self.store.name}: chunk {local} of shard {key}"), coords)

    def prepare(self, coords_list: list[tuple[int, ...]]) -> None:
        """Before the inner chunks of a read are decoded (in parallel): read their shards' indexes (in parallel),
        then fetch the chunks stored next to each other in a shard in one request each."""
        from .._remote.chunks import run_parallel

        by_shard: dict[str, list[tuple[int, ...]]] = {}
        for coords in coords_list:
            by_shard.setdefault(self._key(tuple(c // p for c, p in zip(coords, self._per_shard))), []).append(coords)
        indexes = dict(zip(by_shard, run_parallel(self._shard_index, list(by_shard))))
        runs: list[tuple[str, list[tuple[int, int, tuple]]]] = []
        for key, members in by_shard.items():
            index = indexes[key]
            if index is None:
                continue
            found = []
            for coords in members:
                offset, nbytes = (int(v) for v in index[tuple(c % p for c, p in zip(coords, self._per_shard))])
                if offset != _MISSING:
                    found.append((offset, nbytes, coords))
            found.sort()
            for item in found:
                if runs and runs[-1][0] == key:
                    last = runs[-1][1]
                    end = last[-1][0] + last[-1][1]
                    if 0 <= item[0] - end <= RUN_GAP_BYTES and item[0] + item[1] - last[0][0] <= RUN_BYTES:
                        last.append(item)
                        continue
                runs.append((key, [item]))
        runs = [run for run in runs if len(run[1]) > 1]  # a chunk alone is fetched by its loader, in parallel
        with self._lock:
            if len(self._raw) > 4096:  # left by reads that failed half way
                self._raw.clear()

        def fetch(run):
            key, items = run
            start, stop = items[0][0], items[-1][0] + items[-1][1]
            data = self.store.get_range(key, start, stop)
            if data is None or len(data) != stop - start:
                return []  # the loaders report what is missing
            return [(c, data[offset - start : offset - start + length]) for offset, length, c in items]

        for pieces in run_parallel(fetch, runs):
            with self._lock:
                self._raw.update(pieces)

    # ------------------------------------------------------------------ reads
    def chunked(self, cache: ChunkCache) -> ChunkedArray:
        """This array as a :class:`ChunkedArray` reading through ``cache``."""
        return ChunkedArray(self.shape, self.chunks, self.dtype, self.load, cache, name=self.path,
                            prepare=self.prepare if self.sharded else None)

    def read_all(self) -> np.ndarray:
        """The whole array (small arrays: metadata values, timestamps)."""
        if not self.shape:
            data = self.store.get(self._key(()))
            if data is None:
                return np.full((), self.fill, dtype=self.dtype)
            where = f"{self.store.name}: chunk {self._key(())}"
            if self.zarr_format == 2:
                return decode_v2(data, self.compressor, self.filters, self.dtype, (), self.order, where)
            return self._chain.decode(data, where)
        return self.chunked(ChunkCache(2**62)).read_all()
