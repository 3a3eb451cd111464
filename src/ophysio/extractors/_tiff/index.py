"""The movie view of a page table: the full-resolution pages of one TIFF, checked to make one movie.

:func:`index_tiff` walks a file (:func:`~ophysio.extractors._tiff.walk.walk_ifds`) and keeps what the
page readers of legacy ScanImage, plain TIFF and OME-TIFF need: one image size and sample type, which
pages a positional read can fill directly, where each page's data and description are, and for files
whose every page is deflate-compressed in the same strip layout, the strips themselves (inflated with
zlib, without tifffile).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ...errors import CorruptFileError, FormatError
from .header import TAG_IMAGE_DESCRIPTION, TAG_MICROMANAGER
from .pages import PageTable
from .walk import walk_ifds

__all__ = ["TiffIndex", "index_tiff"]

_DEFLATE = (8, 32946)


@dataclass
class TiffIndex:
    """The page table of one TIFF file as a movie.

    Attributes
    ----------
    path : str
    byteorder : str
        ``"<"`` or ``">"``.
    shape : tuple of int
        (rows, columns) of every page.
    dtype : numpy.dtype
        Native-order sample type of every page.
    fast : numpy.ndarray of bool
        Per page: uncompressed, one sample per pixel, strips back to back (readable with one pread).
    data_offsets : numpy.ndarray of int64
        Per page: position of the first strip.
    ifd_offsets : numpy.ndarray of int64
        Per page: position of the IFD.
    ifd_numbers : numpy.ndarray of int64
        Per page: its number in the file's IFD chain (reduced-resolution IFDs are not pages).
    description_spans : numpy.ndarray of int64, shape (n, 2)
        Per page: (offset, length) of the ImageDescription, (-1, 0) if absent.
    compression : int
        Compression of the first page.
    file_size : int
    mm_spans : numpy.ndarray, optional
        Per page: (offset, length) of Micro-Manager's JSON metadata tag 51123, or None when no page has one.
    deflate_offsets, deflate_counts : numpy.ndarray, optional
        For files whose every page is deflate-compressed in the same number of strips: (pages, strips)
        arrays of strip offsets and byte counts; with ``rows_per_strip`` and ``predictor`` (1 or 2).
    """

    path: str
    byteorder: str
    shape: tuple[int, int]
    dtype: np.dtype
    fast: np.ndarray
    data_offsets: np.ndarray
    ifd_offsets: np.ndarray
    ifd_numbers: np.ndarray
    description_spans: np.ndarray
    compression: int
    file_size: int
    mm_spans: np.ndarray | None = None
    deflate_offsets: np.ndarray | None = None
    deflate_counts: np.ndarray | None = None
    rows_per_strip: int = 0
    predictor: int = 1

    @property
    def num_pages(self) -> int:
        return len(self.data_offsets)

    @property
    def page_nbytes(self) -> int:
        return self.shape[0] * self.shape[1] * self.dtype.itemsize


def index_tiff(path: str | os.PathLike, fd: int | None = None) -> TiffIndex:
    """Walk the IFD chain of ``path`` and return its movie page table (see :class:`TiffIndex`).

    Raises
    ------
    FormatError
        Not a TIFF, or pages that differ in size or sample type, or several samples per pixel.
    CorruptFileError
        The chain or a strip points outside the file, or the chain loops.
    """
    path = os.fspath(path)
    own = fd is None
    if own:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        return movie_index(walk_ifds(fd, path))
    finally:
        if own:
            os.close(fd)


def movie_index(table: PageTable) -> TiffIndex:
    """The :class:`TiffIndex` of a walked page table (reduced-resolution IFDs left out)."""
    path, header = table.path, table.header
    pages = np.flatnonzero((table.new_subfile_type & 1) == 0)
    if len(pages) == 0:
        raise FormatError(f"{path} holds no full-resolution image pages")

    def where(page: int) -> str:
        return f"{path}, IFD {page} at offset {int(table.ifd_offset[page])}"

    spp = table.samples_per_pixel[pages]
    if np.any(spp != 1):
        page = int(pages[np.flatnonzero(spp != 1)[0]])
        raise FormatError(f"{where(page)}: {int(table.samples_per_pixel[page])} samples per pixel (RGB or similar); "
                          "only single-sample (grayscale) pages are read as imaging frames")
    first = int(pages[0])
    dtype = table.dtype(first)
    for arr in (table.height, table.width, table.bits_per_sample, table.sample_format):
        bad = np.flatnonzero(arr[pages] != arr[first])
        if len(bad):
            page = int(pages[bad[0]])
            other = table.dtype(page)
            raise FormatError(
                f"{where(page)}: the page is {int(table.height[page])}x{int(table.width[page])} "
                f"{other.newbyteorder('=')}, but the first page is {int(table.height[first])}x"
                f"{int(table.width[first])} {dtype.newbyteorder('=')}; a movie needs pages of one size and type"
            )
    rows, columns = int(table.height[first]), int(table.width[first])
    nbytes = rows * columns * dtype.itemsize
    compression = table.compression[pages]
    fill = table.fill_order[pages]
    fast = ((compression == 1) & (fill == 1) & table.contiguous[pages] & (table.data_nbytes[pages] >= nbytes)
            & (not table.tiled))
    spans = []
    for tag, name in ((TAG_IMAGE_DESCRIPTION, "ImageDescription"), (TAG_MICROMANAGER, "Micro-Manager metadata")):
        offsets, counts = (a[pages] for a in table.text_span(tag))
        outside = (offsets >= 0) & (offsets > header.file_size - counts)
        if np.any(outside):  # read later, page by page: refuse it before any read
            i = int(np.flatnonzero(outside)[0])
            raise CorruptFileError(f"{where(int(pages[i]))}: the {name} ({int(counts[i])} bytes at offset "
                                   f"{int(offsets[i])}) runs past the end of the file ({header.file_size} bytes); "
                                   "the file is truncated or damaged")
        spans.append(np.stack([offsets, counts], axis=1).astype(np.int64))
    index = TiffIndex(
        path=path, byteorder=header.byteorder, shape=(rows, columns), dtype=dtype.newbyteorder("="), fast=fast,
        data_offsets=table.data_offset[pages].copy(), ifd_offsets=table.ifd_offset[pages].copy(),
        ifd_numbers=pages.astype(np.int64), description_spans=spans[0],
        mm_spans=spans[1] if np.any(spans[1][:, 0] >= 0) else None,
        compression=int(compression[0]), file_size=header.file_size,
    )
    _add_deflate_layout(index, table, pages)
    return index


def _add_deflate_layout(index: TiffIndex, table: PageTable, pages: np.ndarray) -> None:
    """Fill the deflate fields when every page is deflate in one strip layout zlib alone can decode."""
    if table.strip_spans is None or table.tiled:
        return
    rows = index.shape[0]
    predictor = table.predictor[pages]
    rows_per_strip = table.rows_per_strip[pages]
    rows_per_strip = np.minimum(np.where(rows_per_strip < 1, rows, rows_per_strip), rows)
    rows_per_strip = np.maximum(rows_per_strip, 1)
    offsets, counts = (a[pages] for a in table.strip_spans)
    strips = offsets.shape[1]
    ok = (np.all(np.isin(table.compression[pages], _DEFLATE)) and np.all(table.fill_order[pages] == 1)
          and np.all(predictor == predictor[0]) and np.all(rows_per_strip == rows_per_strip[0])
          and strips == -(-rows // int(rows_per_strip[0]))
          and (predictor[0] == 1 or (predictor[0] == 2 and int(table.sample_format[pages[0]]) in (1, 2))))
    if ok:
        index.deflate_offsets, index.deflate_counts = offsets, counts
        index.rows_per_strip, index.predictor = int(rows_per_strip[0]), int(predictor[0])
