"""Reading one HDF5 dataset as a movie, shared by the formats stored in HDF5 (``hdf5``, ``femtonics``,
MATLAB v7.3 in ``mat``): opening with a chunk cache, turning h5py's errors on damaged content into
:class:`~ophysio.errors.CorruptFileError`, reads checked against a file cut short while open, and
:class:`DatasetReads`, the read half of an extractor of one dataset.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from ...errors import CorruptFileError, OphysioError
from ..axes import ArrayLayout
from .storage import StoredExtent

__all__ = ["CHUNK_CACHE_BYTES", "MAX_CHUNK_CACHE_BYTES", "h5_read_errors", "read_checked", "chunk_row_bytes",
           "DatasetReads"]

#: HDF5's default chunk cache per dataset (h5py's default too). Unfiltered chunks bigger than it are
#: read straight into the destination; a bigger cache would add a copy through the cache.
CHUNK_CACHE_BYTES = 1024**2
#: Largest chunk cache ophysio asks for (a time-row of chunks bigger than this is decompressed per read).
MAX_CHUNK_CACHE_BYTES = 1024**3


def _open_h5(path: str, rdcc_nbytes: int | None = None):
    import h5py

    if rdcc_nbytes is None:
        return h5py.File(path, "r")
    return h5py.File(path, "r", rdcc_nbytes=rdcc_nbytes, rdcc_nslots=10007)


@contextlib.contextmanager
def h5_read_errors(what: str):
    """Turn what h5py raises on damaged content (``OSError`` without an errno, ``RuntimeError``,
    ``KeyError`` of a damaged link table, ``TypeError`` of an undecodable name) into a
    :class:`CorruptFileError` that says ``what`` was read.

    ophysio's own errors pass through, and so does an ``OSError`` that carries an errno (the operating
    system's: a network file system gone away), so that callers may retry it.
    """
    try:
        yield
    except OphysioError:
        raise
    except OSError as exc:
        if exc.errno is not None:
            raise
        raise CorruptFileError(f"{what} cannot be read; the file is damaged ({exc})") from exc
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(f"{what} cannot be read; the file is damaged ({exc})") from exc


def read_checked(h5, dset, extent: StoredExtent, layout: ArrayLayout, start: int, stop: int, out: np.ndarray) -> None:
    """Read samples ``start:stop`` of ``dset`` into ``out``, checking before and after that the file still holds
    them (one ``fstat`` each): libhdf5 gives zeros for bytes past the end of a file cut short while open."""
    extent.check(extent.file_size(h5), start, stop)
    try:
        layout.read(dset, start, stop, out)
    except Exception:
        extent.check(extent.file_size(h5), start, stop)  # a file cut short explains the failure best
        raise
    extent.check(extent.file_size(h5), start, stop)


def chunk_row_bytes(shape: tuple[int, ...], chunks: tuple[int, ...] | None, time_axis: int, itemsize: int) -> int:
    """Bytes of the chunks that cover one chunk's extent along time (0 for contiguous storage)."""
    if not chunks:
        return 0
    total = itemsize * chunks[time_axis]
    for axis, (size, chunk) in enumerate(zip(shape, chunks)):
        if axis != time_axis:
            total *= math.ceil(size / chunk) * chunk
    return total


class DatasetReads:
    """The read half of an extractor of one HDF5 dataset.

    The class using it sets ``_file`` (a :class:`~ophysio.extractors._handles.CachedFile` of the HDF5 file),
    ``_file_path``, ``_dataset_path``, ``_extent`` (:class:`~ophysio.extractors._hdf5.storage.StoredExtent`)
    and ``_layout`` (:class:`~ophysio.extractors.axes.ArrayLayout`); ``_read_what`` names what is read in
    error messages (``{start}``, ``{stop}`` and ``{dataset}`` are filled in).
    """

    _read_what = "samples {start}:{stop} of dataset {dataset}"

    def _dataset(self, h5):
        """The dataset object, looked up once per open file (a lookup costs ~0.2 ms)."""
        cached = self.__dict__.get("_dataset_cache")
        if cached is None or cached[0] is not h5:
            cached = (h5, h5[self._dataset_path])
            self._dataset_cache = cached
        return cached[1]

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        where = f"{self._file_path}: " + self._read_what.format(start=start, stop=stop, dataset=self._dataset_path)
        with h5_read_errors(where), self._file.open() as h5:  # reopening a file cut short is an error too
            read_checked(h5, self._dataset(h5), self._extent, self._layout, start, stop, out)

    def close(self) -> None:
        self._dataset_cache = None
        super().close()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_dataset_cache"] = None
        return state
