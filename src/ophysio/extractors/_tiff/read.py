"""Bulk reads of page data: positional reads straight into the output, decoded pages, volume blocks.

- :func:`read_pages_into` reads equal-sized page data into the rows of a caller's array with
  ``os.preadv`` (one call per group of pages that follow each other closely, one copy), checking every read
  for a short count;
- :class:`TiffPageSource` reads any list of pages of one or several files of one size and type: direct
  reads where a page is stored plainly, zlib or tifffile decoding (:mod:`.decode`) in a thread pool
  otherwise, so that no file is ever loaded whole;
- :func:`read_volumes` reads (samples, planes) pages in blocks of about 32 MB into one reused buffer
  and moves them to the plane-last layout of the output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from ...errors import CorruptFileError, FormatError
from .._handles import CachedFile
from .decode import decode_tifffile_page, inflate_page, open_tifffile, run_in_pool, tifffile_page
from .index import TiffIndex, index_tiff

__all__ = [
    "read_pages_into",
    "read_spans",
    "read_volumes",
    "read_page_descriptions",
    "TiffPageSource",
    "PagedSampleReads",
]

_PREADV = getattr(os, "preadv", None)
#: Largest gap between two pages' data that one read spans (the scratch buffer takes it).
_MAX_GAP = 256 * 1024
#: Most pages one ``preadv`` reads (two buffers each, below the system's IOV_MAX of 1024).
_GROUP = 256


def _runs(offsets: np.ndarray, size: int) -> list[tuple[int, int]]:
    """[a, b) runs of entries whose data follow each other in the file (one read each)."""
    n = len(offsets)
    if n == 1:
        return [(0, 1)]
    breaks = np.flatnonzero(offsets[1:] != offsets[:-1] + size) + 1
    if len(breaks) == n - 1:  # nothing back to back (ScanImage: an IFD between pages)
        return [(i, i + 1) for i in range(n)]
    bounds = [0, *breaks.tolist(), n]
    return list(zip(bounds[:-1], bounds[1:]))


def _gathered(offsets: np.ndarray, size: int) -> list[tuple[int, int]]:
    """[a, b) groups of entries read by one ``preadv``: each next entry starts at most :data:`_MAX_GAP` bytes
    (and no more than one entry's size) after the previous one ends, as ScanImage's frames follow each other
    with an IFD and its description between them; at most :data:`_GROUP` entries a group."""
    n = len(offsets)
    if n <= 1:
        return [(0, n)]
    gaps = offsets[1:] - (offsets[:-1] + size)
    joined = (gaps >= 0) & (gaps <= min(_MAX_GAP, size))
    groups, a = [], 0
    for i in range(1, n):
        if not joined[i - 1] or i - a >= _GROUP:
            groups.append((a, i))
            a = i
    groups.append((a, n))
    return groups


def _read_gathered(fd: int, memory: memoryview, offs: list[int], a: int, b: int, size: int) -> bool:
    """Entries a..b-1 (one group of :func:`_gathered`) in one ``preadv``: their data into ``memory``, the bytes
    between them into a scratch buffer; False when the read came up short (the caller then reads them one
    by one, which says where the file ends)."""
    gaps = [offs[i + 1] - offs[i] - size for i in range(a, b - 1)]
    scratch = memoryview(bytearray(max(gaps, default=0)))
    vectors = []
    for i in range(a, b):
        vectors.append(memory[i * size : (i + 1) * size])
        if i < b - 1 and gaps[i - a]:
            vectors.append(scratch[: gaps[i - a]])
    want = (b - a) * size + sum(gaps)
    return _PREADV(fd, vectors, offs[a]) == want


def read_pages_into(fd: int, path: str, offsets: np.ndarray, out: np.ndarray, pages: np.ndarray | None = None) -> None:
    """Read ``len(offsets)`` equal-sized data runs straight into the rows of ``out`` (one copy).

    Pages that follow each other in the file with little between them (back to back, or an IFD apart) are
    read with one ``preadv`` per group, the bytes between them into a scratch buffer: a read of many pages
    makes few system calls (each one also a release and a retake of the GIL, which threads encoding
    beside the reader make costly).

    Parameters
    ----------
    fd : int
        Open file descriptor.
    path : str
        The file (for messages).
    offsets : numpy.ndarray
        File offset of each page's data.
    out : numpy.ndarray
        C-contiguous array whose first axis has ``len(offsets)`` entries; row ``i`` receives the
        ``out[i].nbytes`` bytes at ``offsets[i]``.
    pages : numpy.ndarray, optional
        IFD number of each row, for error messages.
    """
    n = len(offsets)
    if n == 0:
        return
    rows = out.reshape(n, -1).view(np.uint8)
    size = rows.shape[1]
    memory = memoryview(rows.reshape(-1))
    offs = offsets.tolist()
    groups = _gathered(offsets, size) if _PREADV is not None else [(i, i + 1) for i in range(n)]
    for g, h in groups:
        if h - g > 1 and _read_gathered(fd, memory, offs, g, h, size):
            continue
        for a, b in _runs(offsets[g:h], size):  # one page (or back-to-back run) at a time, checked
            a, b = a + g, b + g
            want, done, offset = (b - a) * size, 0, offs[a]
            while done < want:
                if _PREADV is not None:
                    got = _PREADV(fd, [memory[a * size + done : b * size]], offset + done)
                else:  # pragma: no cover - platforms without preadv
                    data = os.pread(fd, want - done, offset + done)
                    got = len(data)
                    memory[a * size + done : a * size + done + got] = data
                if got <= 0:
                    page = a + done // size
                    raise CorruptFileError(
                        f"{path}: the image data of IFD {page if pages is None else int(pages[page])} ({size} bytes "
                        f"at offset {offs[page]}) is cut off after {done % size} bytes: the file is truncated"
                    )
                done += got


def read_spans(fd: int, offsets: np.ndarray, size: int) -> list[bytes]:
    """Read ``size`` bytes (fewer at the end of the file) at each of ``offsets``; one ``pread`` each.

    An offset outside the file (a damaged one, up to 2**63, which os.pread refuses with EINVAL) gives
    b"": callers then read that page's text through a checked path that names the page.
    """
    pread = os.pread
    file_size = os.fstat(fd).st_size
    return [pread(fd, size, offset) if 0 <= offset < file_size else b"" for offset in offsets.tolist()]


def read_volumes(read: Callable[[np.ndarray, np.ndarray], None], pages: np.ndarray, out: np.ndarray,
                 block_bytes: int = 32 << 20) -> None:
    """Read volumes whose planes are the pages ``pages[i, z]`` into ``out`` of shape (k, rows, columns, planes).

    ``read(flat_pages, buffer)`` reads pages into a (n, rows, columns) buffer; pages are read in blocks
    of about ``block_bytes`` into one reused buffer and moved to the plane-last layout of ``out``.
    """
    k, planes = pages.shape
    rows, columns = out.shape[1:3]
    block = max(1, block_bytes // (rows * columns * out.dtype.itemsize * planes))
    buffer = np.empty((min(block, k) * planes, rows, columns), dtype=out.dtype)
    for a in range(0, k, block):
        chunk = pages[a : a + block]
        part = buffer[: chunk.size]
        read(chunk.ravel(), part)
        out[a : a + len(chunk)] = part.reshape(len(chunk), planes, rows, columns).transpose(0, 2, 3, 1)


def read_page_descriptions(index: TiffIndex, pages: Sequence[int], fd: int | None = None,
                           micromanager: bool = False) -> list[str]:
    """The ImageDescription text of the given pages ("" where a page has none).

    With ``micromanager=True``, the text of Micro-Manager's JSON tag 51123 instead.
    """
    spans = index.mm_spans if micromanager else index.description_spans
    if spans is None:
        return [""] * len(pages)
    own = fd is None
    if own:
        fd = os.open(index.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        texts = []
        for page in pages:
            pos, n = spans[page]
            texts.append("" if pos < 0 else os.pread(fd, int(n), int(pos)).rstrip(b"\x00").decode("utf-8", "replace"))
        return texts
    finally:
        if own:
            os.close(fd)


class TiffPageSource:
    """Pages of one or several TIFF files of one image size and type, read into a caller's buffer.

    Parameters
    ----------
    paths : sequence of str
        The files, in reading order; their pages are numbered one after the other.
    indexes : sequence of TiffIndex, optional
        Their page tables, if already built.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], indexes: Sequence[TiffIndex] | None = None):
        self.paths = [os.fspath(p) for p in paths]
        if indexes is None:
            indexes = [index_tiff(p) for p in self.paths]
        self.indexes = list(indexes)
        first = self.indexes[0]
        for index in self.indexes[1:]:
            if index.shape != first.shape or index.dtype != first.dtype:
                raise FormatError(
                    f"{index.path} holds {index.shape[0]}x{index.shape[1]} {index.dtype} pages but "
                    f"{first.path} holds {first.shape[0]}x{first.shape[1]} {first.dtype}; the files of one "
                    f"series must match"
                )
        self.shape = first.shape
        self.dtype = first.dtype
        self._files = [CachedFile(p) for p in self.paths]
        self._tiffs = [CachedFile(p, open_tifffile) for p in self.paths]
        counts = [index.num_pages for index in self.indexes]
        self.file_starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self._file = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        self._local = np.concatenate([np.arange(c, dtype=np.int64) for c in counts])
        self._offset = np.concatenate([index.data_offsets for index in self.indexes])
        self._fast = np.concatenate([index.fast for index in self.indexes])

    @property
    def num_pages(self) -> int:
        return int(self.file_starts[-1])

    @property
    def page_nbytes(self) -> int:
        return self.indexes[0].page_nbytes

    def locate(self, page: int) -> tuple[str, int]:
        """(file, IFD number) of a page."""
        f = int(self._file[page])
        return self.paths[f], int(self.indexes[f].ifd_numbers[self._local[page]])

    def read(self, pages: np.ndarray, out: np.ndarray) -> None:
        """Read the pages numbered ``pages`` into the C-contiguous ``out`` of shape (len(pages), rows, columns)."""
        pages = np.asarray(pages, dtype=np.int64)
        k = len(pages)
        if k == 0:
            return
        files, fast = self._file[pages], self._fast[pages]
        breaks = np.flatnonzero((files[1:] != files[:-1]) | (fast[1:] != fast[:-1])) + 1
        bounds = np.concatenate(([0], breaks, [k])).tolist()
        for a, b in zip(bounds[:-1], bounds[1:]):
            f = int(files[a])
            index = self.indexes[f]
            local = self._local[pages[a:b]]
            if fast[a]:
                with self._files[f].open() as fd:
                    read_pages_into(fd, self.paths[f], self._offset[pages[a:b]], out[a:b], index.ifd_numbers[local])
                if index.byteorder == ">" and self.dtype.itemsize > 1:
                    out[a:b].byteswap(inplace=True)
            else:
                self._decode_run(f, local, out[a:b])

    def _decode_run(self, f: int, local_pages: np.ndarray, out: np.ndarray) -> None:
        """Decode pages of file ``f`` into ``out``; several pages at once in threads (zlib & co release the GIL)."""
        index = self.indexes[f]
        if index.deflate_offsets is not None:
            with self._files[f].open() as fd:
                run_in_pool(lambda i: inflate_page(fd, index, int(local_pages[i]), out[i]), len(local_pages))
            return
        with self._tiffs[f].open() as tif:
            ifds = [int(index.ifd_numbers[local]) for local in local_pages]
            with tif.filehandle.lock:  # IFD parsing moves the shared file position: one thread at a time
                pages = [tifffile_page(tif, index, ifd) for ifd in ifds]
            run_in_pool(lambda i: decode_tifffile_page(index, ifds[i], pages[i], out[i]), len(pages))

    def close(self) -> None:
        for handle in (*self._files, *self._tiffs):
            handle.close()


class PagedSampleReads:
    """The reads of an extractor whose samples are pages of the :class:`TiffPageSource` ``self._source``.

    Mixed in before :class:`~ophysio.extractors.imaging.ImagingExtractor`; the extractor gives
    ``_sample_pages(indices)``, the page numbers of each sample's planes as an (n, planes) array.
    """

    _source: TiffPageSource

    def _sample_pages(self, indices: np.ndarray) -> np.ndarray:  # pragma: no cover - each reader has its own
        raise NotImplementedError

    def _read_samples(self, indices: np.ndarray, out: np.ndarray) -> None:
        pages = self._sample_pages(np.asarray(indices, dtype=np.int64))
        if pages.shape[1] == 1:
            self._source.read(pages[:, 0], out)
        else:
            read_volumes(self._source.read, pages, out)

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        self._read_samples(np.arange(start, stop, dtype=np.int64), out)

    def close(self) -> None:
        self._source.close()
        super().close()
