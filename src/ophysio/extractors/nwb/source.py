"""An NWB source opened locally, remotely or as NWB-Zarr, shared by the photon series and segmentation readers.

:class:`NwbSource` is what both extractors of this folder do the same way: it works out what the path
is (:func:`source_kind`), opens it one of three ways and hands the root of its tree to the extractor's
``_scan(root, name, check)``, which finds what it reads:

- ``"hdf5"``: a local file through a :class:`~ophysio.extractors._handles.CachedFile`; ``check(path)``
  refuses a dataset whose reading would leave the dataset's folder (the containment policy);
- ``"hdf5-remote"``: an HDF5 file at a URL through :func:`~ophysio.extractors._hdf5.remote.open_remote_h5`
  (``check`` refuses any other file); a URL whose bytes do not start as HDF5 is tried as a Zarr store;
- ``"zarr"``: an NWB-Zarr store (Zarr v2, as hdmf-zarr writes it), local or at a URL, with no ``check``
  (links leave the store nowhere).

It also gives the root node again on demand (``_with_root``), the recorded times read a slice at a time and
checked, the rate those times give, closing and pickling; :func:`list_in_file` lists the objects a finder
function finds in a file, :func:`choose_named` picks one of them by name or path and :func:`node_at` finds a
node by its path.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

import numpy as np

from ...errors import FileSetError, FormatError, MetadataError, OphysioError, SelectionError
from .._remote.chunks import CHUNK_CACHE_BYTES, ChunkCache

__all__ = ["NwbSource", "source_kind", "list_in_file", "choose_named", "node_at", "RATE_TIMESTAMPS"]

#: Timestamps read to find the rate of a series that has timestamps.
RATE_TIMESTAMPS = 4096
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def source_kind(file_path: str, storage_options: dict | None) -> str:
    """``"hdf5"`` (a local file), ``"zarr"`` (a local folder or a URL of a store) or ``"hdf5-remote"``."""
    from .._remote.urls import is_remote, resolve_url

    if not is_remote(file_path):
        path = Path(file_path)
        if path.is_dir():
            return "zarr"
        if not path.is_file():
            raise FileSetError(f"{file_path} does not exist")
        return "hdf5"
    path = resolve_url(file_path).split("?", 1)[0]  # where the bytes are: a DANDI asset URL ends in /download/
    if path.rstrip("/").lower().endswith(".zarr") or path.endswith("/"):
        return "zarr"
    return "hdf5-remote"


def list_in_file(file_path: str | os.PathLike, storage_options: dict | None, finder) -> list[str]:
    """The paths ``finder(root)`` finds (``(path, node)`` pairs) in an NWB file, local or a URL, HDF5 or Zarr."""
    from .tree import H5Node

    file_path = file_path if isinstance(file_path, str) else os.fspath(file_path)
    kind = source_kind(file_path, storage_options)
    if kind == "zarr":
        from .._zarr.nodes import ZarrTree
        from .._zarr.store import open_store
        from .tree import ZarrNode

        tree = ZarrTree(open_store(file_path, None, storage_options))
        return [path for path, _ in finder(ZarrNode(tree, tree.root))]
    from .._hdf5.reads import h5_read_errors

    if kind == "hdf5":
        import h5py

        with h5py.File(file_path, "r") as h5, h5_read_errors(f"{file_path}: its NWB structure"):
            return [path for path, _ in finder(H5Node(h5["/"], ""))]
    from .._hdf5.remote import open_remote_h5

    remote = open_remote_h5(file_path)
    try:
        with h5_read_errors(f"{file_path}: its NWB structure"):
            return [path for path, _ in finder(H5Node(remote.h5["/"], ""))]
    finally:
        remote.close()


def choose_named(found: list[tuple[str, object]], name: str | None, where: str, *, one: str, many: str,
                 argument: str, none: str) -> tuple[str, object]:
    """The item of ``found`` named ``name`` (its name, or its path in the file), or the only one when ``name`` is
    None; else a SelectionError listing them. ``one`` / ``many`` name the kind of object, ``argument`` the
    parameter that chooses, ``none`` is the message when there is none at all."""
    listing = ", ".join(path for path, _ in found) or "none"
    if name is None:
        if len(found) == 1:
            return found[0]
        if not found:
            raise SelectionError(none)
        raise SelectionError(f"{where} holds {len(found)} {many} ({listing}): pass {argument}= with one of them")
    wanted = str(name).strip("/")
    matches = [item for item in found if item[0].strip("/") == wanted] or \
        [item for item in found if item[0].rsplit("/", 1)[-1] == wanted]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise SelectionError(f"{where}: {len(matches)} {many} are named {name!r} "
                             f"({', '.join(p for p, _ in matches)}): pass the path of one")
    raise SelectionError(f"{where} has no {one} {name!r}; {many}: {listing}")


def node_at(root, path: str, follow_external: bool = False):
    """The node at ``path`` below ``root`` (links followed as :meth:`H5Node.child` does), or None."""
    node = root
    for part in path.strip("/").split("/"):
        node = node.child(part, follow_external=follow_external) if node is not None else None
    return node


class NwbSource:
    """An NWB file or store opened locally, remotely or as NWB-Zarr, with its root node on demand.

    A mixin of the extractors of this folder (listed before their contract's base class). The extractor
    calls :meth:`_open_source` from its ``__init__`` and implements ``_scan(root, name, check)``; the hooks
    ``_opened_local(h5)`` (may return another opener for the file: a larger chunk cache), ``_opened_remote()``
    and ``_opened_zarr()`` run once the scan is done, ``_forget()`` when closing. Times: the extractor says
    where they are (``_times_path()``) and reads a slice of them (``_times_slice(path, start, stop)``).
    """

    #: Attributes left out (None) of the pickled state, besides the lock.
    _TRANSIENT: tuple[str, ...] = ()

    def _open_source(self, file_path, name, cache_dir, cache_bytes: int = CHUNK_CACHE_BYTES,
                     storage_options: dict | None = None) -> None:
        self._file_path = file_path if isinstance(file_path, str) else os.fspath(file_path)
        self._cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        self._storage_options = storage_options
        self._cache = ChunkCache(cache_bytes)
        self._kind = source_kind(self._file_path, storage_options)
        self._lock = threading.Lock()
        self._timestamps_full: np.ndarray | None = None
        if self._kind == "hdf5":
            self._open_local(name)
        elif self._kind == "hdf5-remote":
            self._open_remote(name)
        else:
            self._open_zarr(name)

    # ------------------------------------------------------------------ opening
    def _open_local(self, name) -> None:
        from .._contain import ReferencePolicy
        from .._handles import CachedFile
        from .._hdf5.reads import _open_h5, h5_read_errors
        from .._hdf5.refs import check_object
        from .tree import H5Node

        self._file = CachedFile(self._file_path, _open_h5)
        try:
            with self._file.open() as h5, h5_read_errors(f"{self._file_path}: its NWB structure"):
                policy = ReferencePolicy.for_dataset(Path(self._file_path).parent, False, self._file_path)
                self._scan(H5Node(h5["/"], ""), name, lambda path: check_object(h5, path, policy, self._file_path))
                opener = self._opened_local(h5)
        except OphysioError:
            self._file.close()
            raise
        except OSError as exc:
            self._file.close()
            raise FormatError(f"{self._file_path} could not be read as an NWB (HDF5) file: {exc}") from exc
        except BaseException:
            self._file.close()
            raise
        if opener is not None:
            self._file.close()
            self._file = CachedFile(self._file_path, opener)

    def _open_remote(self, name) -> None:
        from .._handles import CachedFile
        from .._hdf5.reads import h5_read_errors
        from .._hdf5.remote import check_remote_object, open_remote_h5
        from .._remote import open_range_source
        from .._remote.blocks import BLOCK_BYTES
        from .tree import H5Node

        source = open_range_source(self._file_path, self._storage_options)
        if source.head(BLOCK_BYTES)[:8] != _HDF5_SIGNATURE:  # the first block h5py reads too (the source keeps it)
            from .._zarr.nodes import ZarrTree
            from .._zarr.store import open_store

            try:  # not HDF5 at its start: an NWB-Zarr store at a URL without a .zarr name?
                ZarrTree(open_store(self._file_path, None, self._storage_options))
            except OphysioError:
                raise FormatError(f"{self._file_path} is neither an NWB HDF5 file (no HDF5 signature at its start) "
                                  "nor a Zarr store") from None
            self._kind = "zarr"
            self._open_zarr(name)
            return
        self._source = source
        self._file = CachedFile(self._file_path, functools.partial(open_remote_h5, source=source,
                                                                    cache_dir=self._cache_dir))
        try:
            with self._file.open() as remote, h5_read_errors(f"{self._file_path}: its NWB structure"):
                self._scan(H5Node(remote.h5["/"], ""), name,
                           lambda path: check_remote_object(remote.h5, path, self._file_path))
            self._opened_remote()
        except BaseException:
            self._file.close()
            raise

    def _open_zarr(self, name) -> None:
        from .._zarr.nodes import ZarrTree
        from .._zarr.store import open_store
        from .tree import ZarrNode

        self._store = open_store(self._file_path, self._cache_dir, self._storage_options)
        tree = ZarrTree(self._store)
        if tree.zarr_format != 2:
            raise FormatError(f"{self._file_path}: NWB-Zarr is Zarr v2 (as hdmf-zarr writes it); this store is Zarr "
                              f"v{tree.zarr_format}")
        self._tree = tree
        self._scan(ZarrNode(tree, tree.root), name, None)
        self._opened_zarr()

    def _opened_local(self, h5):
        return None

    def _opened_remote(self) -> None:
        pass

    def _opened_zarr(self) -> None:
        pass

    def _with_root(self, function):
        """``function(root node)`` with the file open."""
        from .._hdf5.reads import h5_read_errors
        from .tree import H5Node, ZarrNode

        if self._kind == "zarr":
            return function(ZarrNode(self._tree, self._tree.root))
        with self._file.open() as handle, h5_read_errors(f"{self._file_path}: its NWB structure"):
            h5 = handle if self._kind == "hdf5" else handle.h5
            return function(H5Node(h5["/"], ""))

    # ------------------------------------------------------------------ time
    def _times_path(self) -> str:
        raise NotImplementedError

    def _times_slice(self, path: str, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    def _read_timestamps(self, start: int, stop: int) -> np.ndarray:
        """Recorded times of samples ``start:stop`` (only those are read), checked to be finite."""
        if self._timestamps_full is not None:
            return self._timestamps_full[start:stop]
        path = self._times_path()
        values = self._times_slice(path, start, stop).astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise MetadataError(f"{self._file_path}: {path}: the time of sample {start + int(bad[0])} is "
                                f"{values[bad[0]]}, not a finite number of seconds; the time records are damaged")
        if start == 0 and stop == self.get_num_samples():
            values.flags.writeable = False
            self._timestamps_full = values
        return values

    def _rate_of_timestamps(self, stated: float | None, unknown: str) -> float | None:
        """The rate of the first timestamps (at most :data:`RATE_TIMESTAMPS`): ``stated`` (a positive rate or
        None) when they agree with it within the tolerance, else their median step's; ``unknown`` is the
        reason told when they do not advance and nothing is stated."""
        times = self._read_timestamps(0, min(self.get_num_samples(), RATE_TIMESTAMPS))
        steps = np.diff(times)
        steps = steps[np.isfinite(steps) & (steps > 0)]
        if not steps.size:
            return float(stated) if stated is not None else self._rate_unknown(unknown)
        measured = 1.0 / float(np.median(steps))
        if stated is not None and abs(measured - stated) <= self.RATE_TOLERANCE * stated:
            return float(stated)
        return measured

    # ------------------------------------------------------------------ resources
    def _forget(self) -> None:
        pass

    def close(self) -> None:
        self._cache.clear()
        self._forget()
        super().close()
        if self._kind != "hdf5":
            from .._remote.http import close_connections

            close_connections()

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in ("_lock", *self._TRANSIENT):
            state[name] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
