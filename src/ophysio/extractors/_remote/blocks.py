"""A remote file seen as a local one: fixed-size blocks fetched by range, kept in a bounded LRU (and on disk).

:class:`BlockFile` is the file object h5py reads an HDF5 file's structure through (its ``fileobj``
driver): every read is turned into the blocks of :attr:`BlockFile.block_size` bytes it touches, the
missing ones fetched in one request per run of consecutive blocks, so that the many small reads libhdf5
makes while it walks groups, attributes and chunk indexes cost a few requests. :class:`DiskCache` keeps
fetched bytes in a folder (``cache_dir=``) under a name derived from the URL and the file's size and
validator, so that a second session reads them from disk and a changed remote file is never mixed with
an old copy.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

from ...errors import RemoteSourceError

__all__ = ["RangeSource", "BlockFile", "DiskCache", "BLOCK_BYTES", "BLOCK_CACHE_BYTES"]

#: Block of a remote file's structure fetched at once (HDF5 metadata lie in small pieces, often together).
BLOCK_BYTES = 64 * 1024
#: Most bytes of blocks one open remote file keeps.
BLOCK_CACHE_BYTES = 32 * 1024**2


class RangeSource(Protocol):
    """What a remote file offers: its size, exact byte ranges, a name for messages."""

    name: str

    def size(self) -> int: ...

    def read(self, start: int, stop: int) -> bytes: ...


class DiskCache:
    """Bytes of one remote file (or store) kept in ``folder`` under keys, written atomically.

    Parameters
    ----------
    folder : path
        The user's cache folder (created if needed).
    identity : str
        What names the remote object and its version (URL, size, ETag): its hash names the subfolder.
    """

    def __init__(self, folder: str | os.PathLike, identity: str):
        self.folder = Path(folder).expanduser()
        self.identity = identity
        self.path = self.folder / hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def __getstate__(self):
        return {"folder": os.fspath(self.folder), "identity": self.identity}

    def __setstate__(self, state):
        self.__init__(state["folder"], state["identity"])

    def _file(self, key: str) -> Path:
        return self.path / hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]

    def get(self, key: str, size: int | None = None) -> bytes | None:
        """The bytes kept under ``key`` (None when absent, or not of ``size`` bytes)."""
        try:
            data = self._file(key).read_bytes()
        except OSError:
            return None
        return data if size is None or len(data) == size else None

    def put(self, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key`` (a cache that cannot be written is left alone: reads go on)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.path, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(temp, self._file(key))
            except BaseException:
                try:
                    os.unlink(temp)
                except OSError:
                    pass
                raise
        except OSError:
            pass


class BlockFile(io.RawIOBase):
    """A read-only, seekable file object over a :class:`RangeSource` (see the module documentation).

    Parameters
    ----------
    source : RangeSource
        The remote file.
    block_size : int
        Bytes per block.
    max_bytes : int
        Most bytes of blocks kept (least recently used ones are dropped first).
    disk : DiskCache, optional
        Also keep fetched blocks on disk, and look there first.
    """

    def __init__(self, source: RangeSource, block_size: int = BLOCK_BYTES, max_bytes: int = BLOCK_CACHE_BYTES,
                 disk: DiskCache | None = None):
        super().__init__()
        self.source = source
        self.block_size = int(block_size)
        self.max_blocks = max(4, int(max_bytes) // self.block_size)
        self.disk = disk
        self._size = source.size()
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._position = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:  # h5py shows it as the file name
        return self.source.name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._position = offset
        elif whence == io.SEEK_CUR:
            self._position += offset
        elif whence == io.SEEK_END:
            self._position = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if self._position < 0:
            raise OSError(f"{self.name}: seek to a negative position")
        return self._position

    def size(self) -> int:
        return self._size

    def _block_range(self, index: int) -> tuple[int, int]:
        start = index * self.block_size
        return start, min(start + self.block_size, self._size)

    def _fetch(self, pending: list[int]) -> None:
        """Fetch the missing blocks ``pending`` (ascending): from the disk cache, else one request per run of
        consecutive blocks."""
        if len(pending) > self.max_blocks:
            raise RemoteSourceError(f"{self.name}: a read of {len(pending)} blocks is larger than the block cache")
        if self.disk is not None:
            missing = []
            for index in pending:
                start, stop = self._block_range(index)
                data = self.disk.get(f"block-{self.block_size}-{index}", stop - start)
                if data is None:
                    missing.append(index)
                else:
                    self._store(index, data)
            pending = missing
        runs: list[list[int]] = []
        for index in pending:
            if runs and runs[-1][-1] == index - 1:
                runs[-1].append(index)
            else:
                runs.append([index])
        for run in runs:
            start, stop = self._block_range(run[0])[0], self._block_range(run[-1])[1]
            data = self.source.read(start, stop)
            if len(data) != stop - start:
                raise RemoteSourceError(f"{self.name}: asked for bytes {start}-{stop - 1}, received {len(data)}")
            for index in run:
                a, b = self._block_range(index)
                block = data[a - start : b - start]
                self._store(index, block)
                if self.disk is not None:
                    self.disk.put(f"block-{self.block_size}-{index}", block)

    def _store(self, index: int, data: bytes) -> None:
        self._blocks[index] = data
        self._blocks.move_to_end(index)
        while len(self._blocks) > self.max_blocks:
            self._blocks.popitem(last=False)

    def pread(self, offset: int, count: int) -> bytes:
        """Up to ``count`` bytes at ``offset`` (fewer at the end of the file)."""
        stop = min(offset + count, self._size)
        if stop <= offset:
            return b""
        first, last = offset // self.block_size, (stop - 1) // self.block_size
        with self._lock:
            missing = [i for i in range(first, last + 1) if i not in self._blocks]
            if missing:
                self._fetch(missing)
            parts = []
            for index in range(first, last + 1):
                block = self._blocks[index]
                self._blocks.move_to_end(index)
                a = max(offset - index * self.block_size, 0)
                b = min(stop - index * self.block_size, len(block))
                parts.append(block[a:b])
        return b"".join(parts)

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.pread(self._position, len(view))
        view[: len(data)] = data
        self._position += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._position
        data = self.pread(self._position, size)
        self._position += len(data)
        return data

    def close(self) -> None:
        with self._lock:
            self._blocks.clear()
        super().close()
