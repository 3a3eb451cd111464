"""Where a Zarr store's objects come from: a local folder, an HTTP(S) base URL, or an fsspec URL.

A store answers ``get(key)`` (the whole object, None when absent) and ``get_range(key, start, stop)`` (a byte
range of an object, for the index and chunks of a sharded Zarr v3 array). Keys are checked before use: a
key naming something outside the store (``..``, an absolute path, a symlink leading elsewhere in a local
folder) is refused, since keys are built from the store's own (untrusted) metadata. With a
:class:`~ophysio.extractors._remote.blocks.DiskCache`, fetched objects are kept on disk.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Protocol

from ...errors import ContainmentError, FormatError, RemoteSourceError

__all__ = ["ZarrStore", "LocalStore", "CachedStore", "FsspecStore", "PrefetchStore", "checked_key", "open_store"]


class ZarrStore(Protocol):
    name: str

    def get(self, key: str) -> bytes | None: ...

    def get_range(self, key: str, start: int, stop: int) -> bytes | None: ...

    def get_suffix(self, key: str, count: int) -> bytes | None: ...

    def size(self, key: str) -> int | None: ...


def checked_key(key: str, where: str) -> str:
    """``key`` normalised (``a/./b`` -> ``a/b``), or a FormatError when it leaves the store."""
    text = str(key).replace("\\", "/")
    if text.startswith("/") or "\x00" in text:
        raise FormatError(f"{where}: the key {key!r} is not inside the store")
    norm = posixpath.normpath(text) if text else ""
    if norm == "." or norm == "":
        return ""
    if norm == ".." or norm.startswith("../"):
        raise FormatError(f"{where}: the key {key!r} leads outside the store")
    return norm


class LocalStore:
    """A Zarr store in a local folder; objects are read only from inside it (symlinks resolved)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = os.fspath(folder)
        self._real = os.path.realpath(self.folder)

    @property
    def name(self) -> str:
        return self.folder

    def __getstate__(self):
        return {"folder": self.folder}

    def __setstate__(self, state):
        self.__init__(state["folder"])

    def _path(self, key: str) -> str:
        key = checked_key(key, self.folder)
        path = os.path.join(self.folder, *key.split("/")) if key else self.folder
        real = os.path.realpath(path)
        if real != self._real and not real.startswith(self._real.rstrip(os.sep) + os.sep):
            raise ContainmentError(f"{self.folder}: {key} is a link to {real}, outside the store; ophysio reads a Zarr "
                                   "store only from inside its folder")
        return path

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def get_range(self, key: str, start: int, stop: int) -> bytes | None:
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        try:
            return os.pread(fd, max(stop - start, 0), start)
        finally:
            os.close(fd)

    def size(self, key: str) -> int | None:
        try:
            return os.path.getsize(self._path(key))
        except OSError:
            return None

    def get_suffix(self, key: str, count: int) -> bytes | None:
        size = self.size(key)
        return None if size is None else self.get_range(key, max(size - count, 0), size)

    def list_dir(self, key: str) -> list[str] | None:
        """Names in a folder of the store (local stores can be listed), None when it is not a folder."""
        try:
            return sorted(os.listdir(self._path(key)))
        except OSError:
            return None

    def files(self) -> list[str]:
        return [self.folder]


class FsspecStore:
    """A Zarr store under an fsspec URL (``gs://``, ``memory://``, ``s3://`` with ``storage_options``...)."""

    def __init__(self, url: str, storage_options: dict | None = None):
        self.url = url.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self._fs = None

    @property
    def name(self) -> str:
        return self.url

    def __getstate__(self):
        return {"url": self.url, "storage_options": self.storage_options}

    def __setstate__(self, state):
        self.__init__(state["url"], state["storage_options"])

    def _filesystem(self):
        if self._fs is None:
            from .._remote.fsspec_file import filesystem_for

            self._fs, self._root = filesystem_for(self.url, self.storage_options)
        return self._fs

    def _wrap(self, key: str, call):
        fs = self._filesystem()
        path = f"{self._root}/{checked_key(key, self.url)}"
        try:
            return call(fs, path)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - each fsspec backend raises its own errors
            raise RemoteSourceError(f"{self.url}/{key} could not be read ({type(exc).__name__}: {exc})") from exc

    def get(self, key: str) -> bytes | None:
        return self._wrap(key, lambda fs, path: fs.cat_file(path))

    def get_range(self, key: str, start: int, stop: int) -> bytes | None:
        return self._wrap(key, lambda fs, path: fs.cat_file(path, start=start, end=stop))

    def size(self, key: str) -> int | None:
        return self._wrap(key, lambda fs, path: fs.size(path))

    def get_suffix(self, key: str, count: int) -> bytes | None:
        size = self.size(key)
        return None if size is None else self.get_range(key, max(size - count, 0), size)


class CachedStore:
    """A remote store whose objects (and object ranges) are also kept in a disk cache."""

    def __init__(self, store, disk):
        self.store = store
        self.disk = disk

    @property
    def name(self) -> str:
        return self.store.name

    def get(self, key: str) -> bytes | None:
        cached = self.disk.get(f"object:{key}")
        if cached is not None:
            return cached
        data = self.store.get(key)
        if data is not None:
            self.disk.put(f"object:{key}", data)
        return data

    def get_range(self, key: str, start: int, stop: int) -> bytes | None:
        name = f"range:{key}:{start}:{stop}"
        cached = self.disk.get(name, stop - start)
        if cached is not None:
            return cached
        data = self.store.get_range(key, start, stop)
        if data is not None:
            self.disk.put(name, data)
        return data

    def size(self, key: str) -> int | None:
        return self.store.size(key)

    def get_suffix(self, key: str, count: int) -> bytes | None:
        name = f"suffix:{key}:{count}"
        cached = self.disk.get(name)
        if cached is not None:
            return cached
        data = self.store.get_suffix(key, count)
        if data is not None:
            self.disk.put(name, data)
        return data


class PrefetchStore:
    """A store that can fetch many small objects at once (in parallel) and keeps them for their first read:
    the metadata values of an NWB-Zarr file are one object each, and a remote open would otherwise wait
    for them one after the other."""

    def __init__(self, store):
        self.store = store
        self._kept: dict[str, bytes | None] = {}

    @property
    def name(self) -> str:
        return self.store.name

    def __getstate__(self):
        return {"store": self.store}

    def __setstate__(self, state):
        self.__init__(state["store"])

    def prefetch(self, keys: list[str]) -> None:
        from .._remote.chunks import run_parallel

        keys = [k for k in dict.fromkeys(keys) if k not in self._kept]
        for key, value in zip(keys, run_parallel(self.store.get, keys)):
            self._kept[key] = value

    def get(self, key: str) -> bytes | None:
        if key in self._kept:
            return self._kept.pop(key)
        return self.store.get(key)

    def get_range(self, key: str, start: int, stop: int) -> bytes | None:
        return self.store.get_range(key, start, stop)

    def size(self, key: str) -> int | None:
        return self.store.size(key)

    def get_suffix(self, key: str, count: int) -> bytes | None:
        return self.store.get_suffix(key, count)

    def list_dir(self, key: str) -> list[str] | None:
        lister = getattr(self.store, "list_dir", None)
        return None if lister is None else lister(key)


def open_store(source: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
               storage_options: dict | None = None):
    """The store of a local folder or a URL (HTTP(S), S3, DANDI, fsspec), with a disk cache when asked."""
    from .._remote.urls import is_remote

    if not is_remote(source):
        return LocalStore(Path(source))
    store = _remote_store(source, cache_dir, storage_options)
    return PrefetchStore(store)


def _remote_store(source, cache_dir, storage_options):
    from .._remote.urls import resolve_url

    url = resolve_url(os.fspath(source))
    if url.lower().startswith(("http://", "https://")) and not storage_options:
        from .._remote.http import HttpStore

        store = HttpStore(url)
    else:
        store = FsspecStore(url, storage_options)
    if cache_dir is not None:
        from .._remote.blocks import DiskCache

        store = CachedStore(store, DiskCache(cache_dir, f"zarr:{url}"))
    return store
