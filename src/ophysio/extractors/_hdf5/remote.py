"""An HDF5 file streamed from a URL: its structure through h5py, its dataset chunks fetched and decoded here.

h5py reads the file's structure (groups, attributes, chunk indexes) through a
:class:`~ophysio.extractors._remote.blocks.BlockFile` (the ``fileobj`` driver): libhdf5's many small reads
become a few range requests of whole blocks. The pixels do not go that way: :class:`RemoteDataset` asks
libhdf5 only where each chunk is (``get_chunk_info_by_coord``), fetches the chunks' bytes by range in
parallel, and undoes the standard filters itself (shuffle, deflate through ISA-L or zlib). A read is thus
exactly the chunks it touches, each fetched once into the extractor's chunk cache. A contiguous dataset is
read the same way in blocks of whole samples. Datasets with other filters (lzf, zstd, blosc...) are read
through h5py over the block file (correct, with more requests).

A link or a virtual dataset leading to another file cannot be followed from a URL: refused.
"""

from __future__ import annotations

import math
import threading
import zlib

import numpy as np

from ...errors import CorruptFileError, FormatError
from .._remote.blocks import BLOCK_BYTES, BLOCK_CACHE_BYTES, BlockFile, DiskCache
from .._remote.chunks import ChunkCache, ChunkedArray

__all__ = ["RemoteH5", "open_remote_h5", "RemoteDataset", "check_remote_object"]

_DEFLATE, _SHUFFLE = 1, 2
#: Bytes of the blocks of whole samples a contiguous dataset is read in.
CONTIGUOUS_BLOCK_BYTES = 4 * 1024**2
#: Chunks of one read stored next to each other (up to this gap) are fetched in one request of at most
#: :data:`RUN_BYTES`: consecutive frames, which writers store in order, cost few requests.
RUN_GAP_BYTES = 64 * 1024
RUN_BYTES = 16 * 1024**2

try:  # ISA-L inflates about twice as fast as zlib (ophysio depends on isal for its writer)
    from isal.isal_zlib import decompressobj as _inflater
except ImportError:  # pragma: no cover
    _inflater = zlib.decompressobj


def _inflate(data: bytes, limit: int) -> bytes:
    """A zlib stream inflated to at most ``limit`` bytes (a stream that would give more is refused, not
    inflated: a small damaged or hostile chunk must not fill the memory)."""
    inflater = _inflater()
    out = inflater.decompress(data, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise CorruptFileError(f"inflates to more than the {limit} bytes of a chunk")
    if not getattr(inflater, "eof", True):
        raise CorruptFileError("the deflate stream ends early")
    return out


class RemoteH5:
    """An open remote HDF5 file: the h5py file and the block file under it (closed together)."""

    def __init__(self, source, block_bytes: int = BLOCK_BYTES, cache_dir=None):
        import h5py

        disk = None
        if cache_dir is not None:
            disk = DiskCache(cache_dir, f"hdf5:{source.name}:{source.size()}:{getattr(source, 'validator', None)}")
        self.blocks = BlockFile(source, block_bytes, BLOCK_CACHE_BYTES, disk)
        try:
            self.h5 = h5py.File(self.blocks, "r")
        except BaseException:
            self.blocks.close()
            raise

    def close(self) -> None:
        try:
            self.h5.close()
        finally:
            self.blocks.close()


def open_remote_h5(url: str, source=None, block_bytes: int = BLOCK_BYTES, cache_dir=None) -> RemoteH5:
    """The opener of a :class:`~ophysio.extractors._handles.CachedFile` of a remote HDF5 file (``source``:
    the range source of ``url``, kept so that a reopened file is checked against the first one)."""
    if source is None:
        from .._remote import open_range_source

        source = open_range_source(url)
    return RemoteH5(source, block_bytes, cache_dir)


def check_remote_object(h5, path: str, where: str) -> None:
    """Refuse an object of a remote file whose reading would open another file: an external link on its path,
    a virtual dataset, external raw storage."""
    import h5py

    group = h5["/"]
    parts = [p for p in path.split("/") if p]
    walked = ""
    for hops, name in enumerate(parts):
        if hops > 64:
            raise CorruptFileError(f"{where}: the path {path} is too deep")
        link = group.get(name, getlink=True)
        walked += "/" + name
        if isinstance(link, h5py.ExternalLink):
            raise FormatError(f"{where}: {walked} is an external link to {link.filename!r}, another file, which "
                              "cannot be followed when the file is streamed from a URL")
        if link is None:
            return
        obj = group[name]
        if isinstance(obj, h5py.Dataset):
            if obj.is_virtual or obj.external:
                raise FormatError(f"{where}: dataset {walked} keeps its values in other files (a virtual dataset or "
                                  "external storage), which cannot be read when the file is streamed from a URL")
            return
        group = obj


def _unshuffle(data: bytes, itemsize: int) -> bytes:
    """Undo HDF5's shuffle filter (byte k of every element, then byte k + 1; leftover bytes kept as they are)."""
    if itemsize <= 1:
        return data
    count = len(data) // itemsize
    body = np.frombuffer(data, dtype=np.uint8, count=count * itemsize).reshape(itemsize, count)
    out = np.ascontiguousarray(body.T).tobytes()
    return out + data[count * itemsize :]


class RemoteDataset:
    """One chunked (or contiguous) dataset of a remote HDF5 file read by whole chunks.

    Parameters
    ----------
    file : CachedFile
        The remote file (opened by :func:`open_remote_h5`), for the chunk index and the h5py fallback.
    source : RangeSource
        The same remote file, for the chunks' bytes.
    path : str
        The dataset's path.
    where : str
        How messages name the file.
    disk : DiskCache, optional
        Keep fetched chunk bytes on disk too.
    """

    def __init__(self, file, source, path: str, where: str, disk: DiskCache | None = None):
        import h5py

        self.file, self.source, self.path, self.where, self.disk = file, source, path, where, disk
        self._locations: dict[tuple[int, ...], tuple[int, int, int] | None] = {}
        self._raw: dict[tuple[int, ...], bytes] = {}  # chunks fetched together, waiting to be decoded
        self._lock = threading.Lock()
        with file.open() as remote:
            dset = remote.h5[path]
            self.shape = tuple(int(n) for n in dset.shape)
            self.dtype = dset.dtype
            plist = dset.id.get_create_plist()
            layout = plist.get_layout()
            self.filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
            self.chunks = dset.chunks
            self.fill = dset.fillvalue
            self.mode = "h5py"
            if layout == h5py.h5d.CHUNKED and set(self.filters) <= {_DEFLATE, _SHUFFLE}:
                self.mode = "chunks"
            elif layout == h5py.h5d.CONTIGUOUS and not self.filters:
                offset = dset.id.get_offset()
                if offset is None:
                    raise CorruptFileError(f"{where}: dataset {path} was never written (no storage)")
                self.offset = int(offset)
                sample = math.prod(self.shape[1:]) * self.dtype.itemsize
                if self.offset + sample * self.shape[0] > source.size():
                    raise CorruptFileError(f"{where}: the values of dataset {path} run past the end of the file "
                                           f"({source.size()} bytes): the file is truncated")
                self.chunks = (max(1, CONTIGUOUS_BLOCK_BYTES // max(sample, 1)), *self.shape[1:])
                self.mode = "contiguous"

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_locations"] = {}
        state["_raw"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ where the chunks are
    def locate(self, coords_list: list[tuple[int, ...]]) -> None:
        """Look up where the chunks at ``coords_list`` (chunk-grid positions) are stored (one h5py session)."""
        if self.mode != "chunks":
            return
        with self._lock:
            todo = [c for c in coords_list if c not in self._locations]
        if not todo:
            return
        found = {}
        with self.file.open() as remote:
            dsid = remote.h5[self.path].id
            for coords in todo:
                offset = tuple(c * n for c, n in zip(coords, self.chunks))
                info = dsid.get_chunk_info_by_coord(offset)
                found[coords] = None if info.byte_offset is None else (int(info.byte_offset), int(info.size),
                                                                      int(info.filter_mask))
        with self._lock:
            if len(self._locations) > 1 << 16:
                self._locations.clear()
            self._locations.update(found)

    def _location(self, coords):
        with self._lock:
            if coords in self._locations:
                return self._locations[coords]
        self.locate([coords])
        with self._lock:
            return self._locations[coords]

    def prepare(self, coords_list: list[tuple[int, ...]]) -> None:
        """Before the chunks of a read are decoded (in parallel): find where they are and fetch those stored
        next to each other in one request each, the runs in parallel."""
        from .._remote.chunks import run_parallel

        self.locate(coords_list)
        with self._lock:
            if len(self._raw) > 4096:  # left by reads that failed half way
                self._raw.clear()
            found = sorted((self._locations[c][0], self._locations[c][1], c) for c in coords_list
                           if self._locations.get(c) is not None and c not in self._raw)
        if self.disk is not None:  # chunks kept on disk by an earlier session need no request
            kept = [(item, self.disk.get(f"range:{item[0]}:{item[0] + item[1]}", item[1])) for item in found]
            with self._lock:
                self._raw.update((item[2], data) for item, data in kept if data is not None)
            found = [item for item, data in kept if data is None]
        runs: list[list[tuple[int, int, tuple]]] = []
        for item in found:
            if runs:
                last = runs[-1]
                start, end = last[0][0], last[-1][0] + last[-1][1]
                if 0 <= item[0] - end <= RUN_GAP_BYTES and item[0] + item[1] - start <= RUN_BYTES:
                    last.append(item)
                    continue
            runs.append([item])
        runs = [run for run in runs if len(run) > 1]  # a chunk alone is fetched by its loader, in parallel
        if not runs:
            return
        size = self.source.size()

        def fetch(run):
            start, stop = run[0][0], run[-1][0] + run[-1][1]
            if stop > size:
                return []  # the loaders report the truncated file
            data = self.source.read(start, stop)
            pieces = [(c, data[offset - start : offset - start + length]) for offset, length, c in run]
            if self.disk is not None:
                for (offset, length, _), (_, piece) in zip(run, pieces):
                    self.disk.put(f"range:{offset}:{offset + length}", piece)
            return pieces

        for pieces in run_parallel(fetch, runs):
            with self._lock:
                self._raw.update(pieces)

    # ------------------------------------------------------------------ reading
    def _fetch(self, start: int, stop: int) -> bytes:
        key = f"range:{start}:{stop}"
        if self.disk is not None:
            cached = self.disk.get(key, stop - start)
            if cached is not None:
                return cached
        data = self.source.read(start, stop)
        if self.disk is not None:
            self.disk.put(key, data)
        return data

    def _decode(self, raw: bytes, mask: int, coords) -> np.ndarray:
        data = raw
        where = f"{self.where}: the chunk at {tuple(c * n for c, n in zip(coords, self.chunks))} of dataset {self.path}"
        expected = math.prod(self.chunks) * self.dtype.itemsize
        try:
            for index in reversed(range(len(self.filters))):
                if mask >> index & 1:
                    continue  # this filter was skipped when the chunk was written
                if self.filters[index] == _DEFLATE:
                    data = _inflate(data, expected)
                elif self.filters[index] == _SHUFFLE:
                    data = _unshuffle(data, self.dtype.itemsize)
        except zlib.error as exc:
            raise CorruptFileError(f"{where} cannot be inflated; the file is damaged ({exc})") from exc
        except Exception as exc:  # noqa: BLE001 - isal raises its own error type
            raise CorruptFileError(f"{where} cannot be decoded; the file is damaged ({exc})") from exc
        if len(data) != expected:
            raise CorruptFileError(f"{where} decodes to {len(data)} bytes, not the {expected} of a chunk: the file is "
                                   "damaged")
        return np.frombuffer(data, dtype=self.dtype).reshape(self.chunks)

    def _clip(self, full: np.ndarray, coords) -> np.ndarray:
        shape = tuple(min(c, n - i * c) for i, c, n in zip(coords, self.chunks, self.shape))
        return full if shape == full.shape else np.ascontiguousarray(full[tuple(slice(0, s) for s in shape)])

    def load(self, coords: tuple[int, ...]) -> np.ndarray:
        """The chunk at ``coords``, decoded and clipped to the dataset."""
        if self.mode == "contiguous":
            sample = math.prod(self.shape[1:]) * self.dtype.itemsize
            first = coords[0] * self.chunks[0]
            count = min(self.chunks[0], self.shape[0] - first)
            start = self.offset + first * sample
            raw = self._fetch(start, start + count * sample)
            return np.frombuffer(raw, dtype=self.dtype).reshape((count, *self.shape[1:]))
        location = self._location(coords)
        if location is None:
            first = coords[0] * self.chunks[0]
            raise CorruptFileError(
                f"{self.where}: the chunk of samples {first}:{first + self.chunks[0]} of dataset {self.path} was never "
                "written (HDF5 would give fill values for it): the file is incomplete (its writer stopped early?)")
        offset, size, mask = location
        raw_bytes = math.prod(self.chunks) * self.dtype.itemsize
        if size > raw_bytes + raw_bytes // 100 + 1024:  # deflate adds at most ~0.03%; shuffle nothing
            raise CorruptFileError(f"{self.where}: a chunk of dataset {self.path} is stored in {size} bytes, more than "
                                   f"any encoding of its {raw_bytes} bytes takes: the chunk index is damaged")
        if offset + size > self.source.size():
            raise CorruptFileError(f"{self.where}: a chunk of dataset {self.path} (bytes {offset}-{offset + size - 1}) "
                                   f"lies past the end of the file ({self.source.size()} bytes): it is truncated")
        with self._lock:
            raw = self._raw.pop(coords, None)
        if raw is None:
            raw = self._fetch(offset, offset + size)
        return self._clip(self._decode(raw, mask, coords), coords)

    def chunked(self, cache: ChunkCache) -> ChunkedArray | None:
        """The dataset as a :class:`ChunkedArray` through ``cache``; None when only h5py can decode it."""
        if self.mode == "h5py":
            return None
        return ChunkedArray(self.shape, self.chunks, self.dtype, self.load, cache, name=self.path,
                            prepare=self.prepare if self.mode == "chunks" else None)

    def forget(self) -> None:
        """Drop fetched chunks not yet decoded (and the chunk locations)."""
        with self._lock:
            self._raw.clear()
            self._locations.clear()

    def read_h5py(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` read by h5py over the block file (filters only HDF5 decodes)."""
        with self.file.open() as remote:
            return np.asarray(remote.h5[self.path][start:stop])
