"""Picklable file references opened on demand through one process-wide LRU of open handles.

An extractor never holds an open file object directly: it holds :class:`CachedFile` references. A
reference opens its file the first time it is used, and the process keeps at most
:data:`MAX_OPEN_FILES` files open across all extractors (least recently used ones are closed first and
reopened when needed again). This is what lets a 500-file series work under ``ulimit -n 64`` and lets
extractors pickle: a pickled reference carries only its path and opener.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ..errors import FileSetError

__all__ = ["CachedFile", "open_fd", "MAX_OPEN_FILES", "open_handle_count"]

#: Largest number of files ophysio keeps open at once in this process (handles in use may exceed it briefly).
MAX_OPEN_FILES = 32

_lock = threading.RLock()
# key -> [handle, in_use_count]
_open: OrderedDict[int, list] = OrderedDict()
_keys = itertools.count()
# keys of references collected while another thread held _lock, closed by the next holder (see __del__)
_collected: list[int] = []
# handles inherited by a forked child from its parent's threads: kept referenced, never used or closed there
_inherited: list[Any] = []


#: Flags of :func:`open_fd`, worked out once (a series of 100,000 single-frame files opens each once).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def open_fd(path: str) -> int:
    """Open ``path`` read-only as a raw OS file descriptor (the default opener)."""
    return os.open(path, _OPEN_FLAGS)


def _close_handle(handle: Any) -> None:
    if isinstance(handle, int):
        os.close(handle)
    else:
        handle.close()


def open_handle_count() -> int:
    """Number of files currently held open by all :class:`CachedFile` references of this process."""
    with _lock:
        _close_collected_locked()
        return len(_open)


def _close_key_locked(key: int) -> None:
    """Forget ``key``'s handle; close it now unless a block is using it (its last user closes it then)."""
    entry = _open.pop(key, None)
    if entry is not None and entry[1] == 0:
        _close_handle(entry[0])


def _close_collected_locked() -> None:
    while _collected:
        _close_key_locked(_collected.pop())


def _evict_locked() -> None:
    _close_collected_locked()
    if len(_open) <= MAX_OPEN_FILES:
        return
    for key in list(_open):
        if len(_open) <= MAX_OPEN_FILES:
            break
        entry = _open.get(key)  # closing a handle can run a collected reference's __del__, which pops others
        if entry is not None and entry[1] == 0:
            del _open[key]
            _close_handle(entry[0])


def _reset_after_fork() -> None:
    """In a forked child: a fresh lock (another parent thread may have held it) and no inherited handles.

    A descriptor inherited through fork shares its file position with the parent, so a file object
    (tifffile) used by both would read the other's bytes; the child reopens its files instead. Raw
    descriptors are closed (that touches only the child's copy); other handles are kept referenced and
    left alone, since closing them could need a library lock a parent thread held at the fork.
    """
    global _lock
    _lock = threading.RLock()
    for handle, _ in list(_open.values()):
        if isinstance(handle, int):
            try:
                os.close(handle)
            except OSError:
                pass
        else:
            _inherited.append(handle)
    _open.clear()
    _collected.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class CachedFile:
    """A file opened lazily through the process-wide handle LRU.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    opener : callable, optional
        A module-level function ``opener(path) -> handle`` (it must pickle by reference). The default
        opens a read-only OS file descriptor for positional reads. A handle is closed with ``os.close``
        when it is an ``int``, else with its ``close()`` method.
    """

    __slots__ = ("path", "opener", "_key")

    def __init__(self, path: str | os.PathLike, opener: Callable[[str], Any] = open_fd):
        self.path = os.fspath(path)
        self.opener = opener
        self._key = next(_keys)  # itertools.count: atomic under the GIL

    def open(self) -> _InUse:
        """A context manager giving the open handle, opening it if needed; it is not evicted while the block runs.

        (A small class rather than ``contextlib.contextmanager``: a series of 100,000 single-frame files
        opens each file once, and the generator machinery was a third of the cost of a read.)
        """
        return _InUse(self)

    def close(self) -> None:
        """Close the handle if it is open; the reference stays usable and reopens on demand."""
        with _lock:
            _close_key_locked(self._key)

    @property
    def is_open(self) -> bool:
        """Whether the file is open right now."""
        with _lock:
            return self._key in _open

    def __getstate__(self):
        return {"path": self.path, "opener": self.opener}

    def __setstate__(self, state):
        self.__init__(state["path"], state["opener"])

    def __del__(self):
        # The garbage collector runs this in whatever thread allocates, possibly one holding a library's lock
        # (h5py's) while another thread holds _lock and waits for that library lock to open or close a file:
        # never wait for _lock here. When it is busy, the next holder closes the handle.
        try:
            key = self._key
        except AttributeError:  # __init__ did not finish
            return
        try:
            if _lock.acquire(blocking=False):
                try:
                    _close_key_locked(key)
                finally:
                    _lock.release()
            else:
                _collected.append(key)  # list.append is atomic
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        return f"CachedFile({self.path!r})"


class _InUse:
    """``with reference.open() as handle:``: the handle, counted in use (never evicted) until the block ends."""

    __slots__ = ("reference", "entry")

    def __init__(self, reference: CachedFile):
        self.reference = reference

    def __enter__(self) -> Any:
        reference = self.reference
        key = reference._key
        with _lock:
            entry = _open.get(key)
            if entry is None:
                try:
                    handle = reference.opener(reference.path)
                except FileNotFoundError as exc:
                    raise FileSetError(
                        f"{reference.path} does not exist (it may have been moved since it was opened)"
                    ) from exc
                entry = [handle, 0]
                _open[key] = entry
            else:
                _open.move_to_end(key)
            entry[1] += 1
            _evict_locked()
        self.entry = entry
        return entry[0]

    def __exit__(self, *exc_info) -> None:
        entry = self.entry
        with _lock:
            entry[1] -= 1
            if _open.get(self.reference._key) is not entry and entry[1] == 0:
                # closed (close()) while in use: finish the close now
                _close_handle(entry[0])
            else:
                _evict_locked()
