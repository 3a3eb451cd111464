"""Where an HDF5 dataset's values lie in its file, checked once at open and cheaply on every read.

libhdf5 does not tell a reader that values are missing: a chunk that was never written, or one whose
bytes lie past the end of a file that was cut short after it was opened, reads as the fill value
(zeros), and a chunk whose filter mask says "not compressed" is handed over as pixels even when its
bytes are a deflate stream (and its byte count is smaller than the chunk, so libhdf5 then reads past
its buffer). :func:`storage_census` looks at every chunk's record once (``chunk_iter``: ~2 us per
chunk) and keeps what a read needs to check: the byte where the stored values end, and which chunk
rows along time are incomplete. :meth:`StoredExtent.check` then costs one ``os.fstat``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

import numpy as np

from ...errors import CorruptFileError

__all__ = ["StoredExtent", "storage_census", "stored_extent_at_open", "check_stored_size", "h5_file_size"]

_SHUFFLE, _FLETCHER32 = 2, 3
#: Filters that do not change the size of a chunk (fletcher32 adds its 4-byte checksum).
_SIZE_KEEPING = {_SHUFFLE, _FLETCHER32}


@dataclass(frozen=True)
class StoredExtent:
    """What a read of one dataset needs from its file.

    Attributes
    ----------
    path, dataset : str
        The file and the dataset (for messages).
    end : int
        Byte of the file where the dataset's stored values end (0: nothing to check, e.g. compact or
        external storage).
    rows : int
        Samples per chunk row along the time axis.
    incomplete : numpy.ndarray or None
        Per chunk row along time: True when one of its chunks is not stored (it would read as fill
        values); None when every row is complete.
    stored, expected : int
        Chunks stored and chunks a fully written dataset has.
    data_file : str or None
        The file that holds the values when it is not the one opened (a dataset reached through an
        external link); its size is what a read checks.
    """

    path: str
    dataset: str
    end: int
    rows: int = 1
    incomplete: np.ndarray | None = None
    stored: int = 0
    expected: int = 0
    data_file: str | None = None

    def file_size(self, h5file) -> int:
        """Current size of the file holding the values (``h5file`` is the file that was opened)."""
        if self.data_file is None:
            return h5_file_size(h5file, self.path)
        return os.stat(self.data_file).st_size

    def check(self, size: int, start: int, stop: int) -> None:
        """Raise CorruptFileError when samples ``start:stop`` are not all stored in a file of ``size`` bytes."""
        if size < self.end:
            raise CorruptFileError(
                f"{self.path} is {size} bytes now, but the values of dataset {self.dataset} reach byte {self.end}: "
                f"the file was cut short (truncated while it was open?)"
            )
        if self.incomplete is not None and stop > start:
            first, last = start // self.rows, (stop - 1) // self.rows
            if self.incomplete[first : last + 1].any():
                bad = first + int(np.argmax(self.incomplete[first : last + 1]))
                raise CorruptFileError(
                    f"{self.path}: dataset {self.dataset} has {self.stored} of its {self.expected} chunks stored; "
                    f"samples {bad * self.rows}:{(bad + 1) * self.rows} were never written (HDF5 would give fill "
                    f"values for them): the file is incomplete (its writer stopped early?)"
                )

    def guarded_read(self, h5file, start: int, stop: int, read):
        """``read(h5file)`` of samples ``start:stop``, with the file's size and the chunks stored checked
        before and after it, and after a failure too (a file cut short explains the failure best)."""
        self.check(self.file_size(h5file), start, stop)
        try:
            values = read(h5file)
        except Exception:
            self.check(self.file_size(h5file), start, stop)
            raise
        self.check(self.file_size(h5file), start, stop)
        return values


def h5_file_size(h5file, path: str) -> int:
    """Current size of an open h5py file: ``fstat`` of its descriptor (~1 us), else ``stat`` of its path."""
    handle = h5file.__dict__.get("_ophysio_fd")
    if handle is None:
        try:
            handle = h5file.id.get_vfd_handle()  # ~3 us: asked once per open file
        except (ValueError, TypeError, OSError):  # drivers without a plain descriptor
            handle = -1
        handle = handle if isinstance(handle, int) else -1
        h5file.__dict__["_ophysio_fd"] = handle
    if handle >= 0:
        return os.fstat(handle).st_size
    return os.stat(path).st_size


def _filters(dset) -> list[tuple[int, int]]:
    plist = dset.id.get_create_plist()
    return [tuple(plist.get_filter(i)[:2]) for i in range(plist.get_nfilters())]


def _chunk_records(dset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Logical offsets (chunks x axes), filter masks, byte offsets and byte counts of the stored chunks."""
    records: list = []
    dsid = dset.id
    if hasattr(dsid, "chunk_iter"):  # HDF5 >= 1.12.3 / 1.14: one pass over the chunk index
        dsid.chunk_iter(lambda s: records.append((*s.chunk_offset, s.filter_mask, s.byte_offset, s.size)))
    else:  # pragma: no cover - old libhdf5 (get_chunk_info walks the index each time: quadratic)
        for i in range(dsid.get_num_chunks()):
            s = dsid.get_chunk_info(i)
            records.append((*s.chunk_offset, s.filter_mask, s.byte_offset, s.size))
    table = np.array(records, dtype=np.int64).reshape(len(records), dset.ndim + 3)
    return table[:, : dset.ndim], table[:, -3], table[:, -2], table[:, -1]


def _bad_mask(mask: int, size: int, filters: list[tuple[int, int]], raw_bytes: int) -> str | None:
    """Why a chunk's filter mask cannot be right, or None.

    A set bit *i* says the chunk skipped filter *i*. Only optional filters may be skipped (HDF5 stores
    a chunk unfiltered when an optional filter fails), and a chunk left with only size-keeping filters
    must then hold exactly a chunk's bytes: a deflate stream marked "not deflated" has fewer.
    """
    pipeline = (1 << len(filters)) - 1
    skipped = mask & pipeline
    if not skipped:
        return None
    names = {1: "deflate", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset"}
    for i, (code, flags) in enumerate(filters):
        if skipped >> i & 1 and not flags & 1:  # H5Z_FLAG_OPTIONAL
            return f"skips the required filter {names.get(code, code)} (filter mask {mask:#x})"
    applied = [code for i, (code, _) in enumerate(filters) if not skipped >> i & 1]
    if all(code in _SIZE_KEEPING for code in applied):
        want = raw_bytes + (4 if _FLETCHER32 in applied else 0)
        if size != want:
            left_out = ", ".join(names.get(c, str(c)) for i, (c, _) in enumerate(filters) if skipped >> i & 1)
            return (f"is marked as stored without {left_out} (filter mask {mask:#x}) but holds {size} bytes, "
                    f"not the {want} of an unfiltered chunk")
    return None


def storage_census(dset, path: str, name: str, time_axis: int) -> StoredExtent:
    """Check once how ``dset`` is stored and return what each read must check.

    Raises
    ------
    CorruptFileError
        A chunk's filter mask cannot be right (see :func:`_bad_mask`), or stored values lie past the
        end of the file.
    """
    import h5py

    extent = _census(dset, path, name, time_axis, h5py)
    holder = dset.file.filename
    if holder and os.path.realpath(holder) != os.path.realpath(path):  # reached through an external link
        extent = replace(extent, path=holder, data_file=holder)
    return extent


def _census(dset, path: str, name: str, time_axis: int, h5py) -> StoredExtent:
    plist = dset.id.get_create_plist()
    layout = plist.get_layout()
    shape = tuple(int(n) for n in dset.shape)
    if math.prod(shape) == 0 or plist.get_external_count() > 0 or layout not in (h5py.h5d.CHUNKED,
                                                                                  h5py.h5d.CONTIGUOUS):
        return StoredExtent(path, name, 0)  # compact (in the header), external or virtual storage
    if layout == h5py.h5d.CONTIGUOUS:
        offset = dset.id.get_offset()
        if offset is None:  # never written: every value would be the fill value
            return StoredExtent(path, name, 0, shape[time_axis], np.ones(1, bool), 0, 1)
        return StoredExtent(path, name, int(offset) + int(dset.id.get_storage_size()), shape[time_axis], None, 1, 1)
    chunks = dset.chunks
    grid = [math.ceil(n / c) for n, c in zip(shape, chunks)]
    per_row = math.prod(g for axis, g in enumerate(grid) if axis != time_axis)
    filters = _filters(dset)
    raw_bytes = math.prod(chunks) * dset.dtype.itemsize
    offsets, masks, starts, sizes = _chunk_records(dset)
    inside = (offsets < np.asarray(shape)).all(axis=1)  # chunks beyond the extent (a shrunk dataset) are never read
    offsets, masks, starts, sizes = offsets[inside], masks[inside], starts[inside], sizes[inside]
    if filters:
        for i in np.flatnonzero(masks).tolist():  # vanishingly few: HDF5 sets a bit only when a filter failed
            why = _bad_mask(int(masks[i]), int(sizes[i]), filters, raw_bytes)
            if why:
                raise CorruptFileError(
                    f"{path}: the chunk at {tuple(int(o) for o in offsets[i])} of dataset {name} {why}; its filter "
                    f"mask is damaged and it cannot be decoded"
                )
    counts = np.bincount(offsets[:, time_axis] // chunks[time_axis], minlength=grid[time_axis])
    stored = len(offsets)
    end = int((starts + sizes).max()) if stored else 0
    incomplete = counts < per_row
    return StoredExtent(path, name, end, int(chunks[time_axis]), incomplete if incomplete.any() else None,
                        stored, per_row * grid[time_axis])


def check_stored_size(dset, file_size: int, where: str) -> None:
    """Refuse a dataset whose declared shape the file cannot hold, before a read allocates room for it.

    Contiguous storage holds every byte of the dataset in the file: it must end inside the file. Chunked
    storage may legitimately be larger than the file (compression, chunks never written read as the fill
    value), so it is left to the read, whose output allocation is checked in the base class.
    """
    if dset.chunks is not None:
        return
    shape = tuple(int(n) for n in dset.shape)
    nbytes = math.prod(shape) * dset.dtype.itemsize
    try:
        offset = dset.id.get_offset()  # None for compact, external or unwritten storage
    except Exception:  # noqa: BLE001 - h5py raises several types for damaged layouts; left to the read
        return
    if offset is not None and offset + nbytes > file_size:
        raise CorruptFileError(
            f"{where}: its {'x'.join(map(str, shape))} {dset.dtype} values ({nbytes} bytes, stored whole at offset "
            f"{offset}) run past the end of the file ({file_size} bytes): the dataset's shape is damaged or the file "
            "is truncated"
        )


def stored_extent_at_open(h5file, dset, path: str, name: str, time_axis: int, where: str) -> StoredExtent:
    """Every storage check a reader makes once when it opens ``dset`` (of ``h5file``, opened from ``path``):
    the declared size against the file holding the values (:func:`check_stored_size`), the chunk census
    (:func:`storage_census`) and a first size check; returns what each read then checks."""
    check_stored_size(dset, os.path.getsize(dset.file.filename or path), where)
    extent = storage_census(dset, path, name, time_axis)
    extent.check(extent.file_size(h5file), 0, 0)
    return extent
