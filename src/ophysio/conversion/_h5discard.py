"""Closing an HDF5 file that is being thrown away, when its disk is full or failing.

After a write fails (``ENOSPC``, ``EIO``), libhdf5 still holds dirty metadata and chunks. Closing the file
flushes them; that write fails too, ``H5Fclose`` fails and leaves the file open inside the library, h5py
tries again when the object is collected, and the library's own shutdown at interpreter exit crashes
(SIGSEGV) on the half-closed file. The temporary file is deleted anyway, so its last writes can go
anywhere: :func:`discard_h5file` points the file's descriptor at an in-memory file first, so that the
final flush succeeds and the close completes.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["discard_h5file", "discard_on_error", "hdf5_os_error", "hdf5_file_descriptor"]


def _scratch_descriptor() -> int | None:
    """A descriptor of an anonymous file that takes any write (memory-backed where the platform allows)."""
    if hasattr(os, "memfd_create"):
        try:
            return os.memfd_create("ophysio-discarded-hdf5", 0)
        except OSError:
            pass
    try:
        with tempfile.TemporaryFile() as scratch:  # unlinked already; our duplicate keeps it alive
            return os.dup(scratch.fileno())
    except OSError:
        return None


def hdf5_file_descriptor(file: Any) -> int | None:
    """The operating system's descriptor of an open ``h5py.File``, or None.

    Only the default driver (``sec2``) has one; other drivers' handles are pointers (``core``, ``stdio``)
    or there is no single one (``family``, ``ros3``).
    """
    try:
        if not file.id.valid or file.driver != "sec2":
            return None
        handle = file.id.get_vfd_handle()
    except Exception:  # not open
        return None
    return handle if isinstance(handle, int) and handle >= 0 else None


def discard_h5file(file: Any) -> None:
    """Close an ``h5py.File`` whose contents will be deleted, without flushing to its (failing) disk.

    Never raises: it runs while another error is being reported.
    """
    if file is None:
        return
    handle = hdf5_file_descriptor(file)
    if handle is not None:
        scratch = _scratch_descriptor()
        if scratch is not None:
            try:
                os.dup2(scratch, handle, inheritable=False)
            except OSError:
                pass
            finally:
                os.close(scratch)
    try:
        file.close()
    except Exception:  # nothing more can be done; the file is removed by the caller
        pass


def hdf5_os_error(exc: BaseException, path: str | os.PathLike | None = None) -> OSError | None:
    """The OSError behind an h5py error, when libhdf5 reported a failed system call (h5py raises some of
    them as RuntimeError, e.g. ``Unable to flush raw data (file write failed: ... errno = 28 ...)``)."""
    if isinstance(exc, OSError) and exc.errno:
        return None  # already one
    if not isinstance(exc, (OSError, RuntimeError)):
        return None
    match = _ERRNO.search(str(exc))
    if match is None or int(match[1]) == 0:
        return None
    code = int(match[1])
    return OSError(code, os.strerror(code), None if path is None else os.fspath(path))


_ERRNO = re.compile(r"errno = (\d+)")


@contextmanager
def discard_on_error(get_file: Callable[[], Any]) -> Iterator[None]:
    """Flush the file ``get_file()`` returns at the end of the block; on an exception (there or in the
    flush), :func:`discard_h5file` it and re-raise (as an OSError when libhdf5 reported one).

    Put it inside the ``with`` that opened the file, so that the file is flushed, or discarded, before that
    one closes it (a failed close cannot be undone; a failed flush can)::

        with NWBHDF5IO(path, mode="w") as io, discard_on_error(lambda: io._file):
            io.write(nwbfile)
    """
    try:
        yield
        file = get_file()
        if file is not None and file.id.valid:
            file.flush()
    except BaseException as exc:
        try:
            file = get_file()
            name = file.filename
        except Exception:
            file = name = None
        discard_h5file(file)
        os_error = hdf5_os_error(exc, name)
        if os_error is not None:
            raise os_error from exc
        raise
