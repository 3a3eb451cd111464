"""The pages of a ScanImage series: one table over all its files, checked lazily, read straight into arrays.

ScanImage's constant page stride lets four reads per file predict its page table
(:func:`~ophysio.extractors._tiff.walk.predict_uniform_pages`); the whole IFD chain of a file is walked
and compared with the prediction the first time that file is read (:meth:`ScanImagePages.verify`).
Page data are read with the TIFF engine's positional reads
(:func:`~ophysio.extractors._tiff.read.read_pages_into`); per-frame timestamps come from the first bytes
of each page's ImageDescription, read in bulk.
"""

from __future__ import annotations

import bisect
import os
import re

import numpy as np

from ...errors import CorruptFileError, FormatError, MetadataError
from .._handles import CachedFile
from .._tiff.header import TAG_IMAGE_DESCRIPTION
from .._tiff.read import read_pages_into, read_spans
from .._tiff.walk import predict_uniform_pages, walk_ifds
from .header import read_scanimage_block

__all__ = ["ScanImagePages", "TIMESTAMP"]

TIMESTAMP = re.compile(rb"frameTimestamps_sec = ([^\n\x00]*)")
_BLOCK_BYTES = 16 * 1024**2  # temporary buffer for narrow ROIs
_PREADV = getattr(os, "preadv", None)


class ScanImagePages:
    """The page table of the files of one ScanImage acquisition, global IFD numbers across files.

    Parameters
    ----------
    files : list of CachedFile
        The files, in acquisition order (the first one's ScanImage header already checked).
    """

    def __init__(self, files: list[CachedFile]):
        self.files = files
        offsets, descriptions, desc_sizes, counts, verified = [], [], [], [], []
        shape = dtype = None
        first = files[0].path
        for number, cached in enumerate(files):
            with cached.open() as fd:
                if number:
                    read_scanimage_block(fd, cached.path)  # every file must be a ScanImage file
                pages = predict_uniform_pages(fd, cached.path) or walk_ifds(fd, cached.path)
            if not pages.is_uniform() or np.any(pages.compression != 1):
                raise FormatError(
                    f"{cached.path}: IFD {pages.first_irregular()} differs from IFD 0 in shape, type, compression or "
                    "strip layout; ScanImage writes uniform uncompressed pages, so the file is not a ScanImage file "
                    "or is damaged"
                )
            page_shape = (int(pages.height[0]), int(pages.width[0]))
            if int(pages.samples_per_pixel[0]) != 1:
                raise FormatError(f"{cached.path}: IFD 0 has {int(pages.samples_per_pixel[0])} samples per pixel")
            page_dtype = pages.dtype(0)
            if shape is None:
                shape, dtype = page_shape, page_dtype
            elif (page_shape, page_dtype) != (shape, dtype):
                raise FormatError(
                    f"{cached.path}: its pages are {page_shape} {page_dtype}, but those of {first} are "
                    f"{shape} {dtype}; the files are not of one acquisition (pass file_paths= to choose them)"
                )
            if int(pages.data_nbytes[0]) != shape[0] * shape[1] * dtype.itemsize:
                raise CorruptFileError(
                    f"{cached.path}: IFD 0 holds {int(pages.data_nbytes[0])} bytes of pixels for a {shape} {dtype} page"
                )
            offsets.append(pages.data_offset)
            text_offsets, text_sizes = pages.text_span(TAG_IMAGE_DESCRIPTION)
            descriptions.append(text_offsets)
            desc_sizes.append(text_sizes)
            counts.append(len(pages))
            verified.append(pages.verified)
        self.verified = verified
        self.rows, self.columns = shape
        self.dtype = dtype
        self.ifds_per_file = counts
        self.file_starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self._file_start_list = self.file_starts.tolist()
        self.total = int(self.file_starts[-1])
        self.data_offsets = np.concatenate(offsets).astype(np.int64)
        self.desc_offsets = np.concatenate(descriptions).astype(np.int64)
        self.desc_sizes = np.concatenate(desc_sizes).astype(np.int64)

    def verify(self, number: int, fd: int) -> None:
        """Walk the whole IFD chain of file ``number`` once and check it against the predicted table."""
        if self.verified[number]:
            return
        path = self.files[number].path
        pages = walk_ifds(fd, path)
        a, b = self.file_starts[number], self.file_starts[number + 1]
        found = pages.text_span(TAG_IMAGE_DESCRIPTION)[0]
        if len(pages) != b - a:
            raise CorruptFileError(
                f"{path}: its IFD chain has {len(pages)} IFDs, not the {b - a} that its layout predicted when the "
                "extractor was built; the file was modified or is damaged"
            )
        bad = (pages.data_offset != self.data_offsets[a:b]) | (found != self.desc_offsets[a:b])
        bad |= pages.data_nbytes != self.rows * self.columns * self.dtype.itemsize
        bad |= (pages.width != self.columns) | (pages.height != self.rows) | (pages.compression != 1)
        if np.any(bad):
            raise CorruptFileError(
                f"{path}: IFD {int(np.flatnonzero(bad)[0])} does not follow the constant page layout of the "
                "file's first and last IFDs; the file was modified or is damaged"
            )
        self.verified[number] = True

    def file_of(self, pages: np.ndarray) -> np.ndarray:
        """The file number of each global IFD number."""
        return np.searchsorted(self.file_starts, pages, side="right") - 1

    def runs(self, pages: np.ndarray):
        """Yield (file number, slice of ``pages``) for runs of pages in one file."""
        if len(pages) == 0:
            return
        files = self.file_of(pages)
        bounds = [0, *(np.flatnonzero(np.diff(files)) + 1).tolist(), len(pages)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            yield int(files[a]), slice(a, b)

    def read(self, pages: np.ndarray, out: np.ndarray, row_start: int = 0) -> None:
        """Read global IFDs into ``out`` (C-contiguous, (len(pages), rows, columns)), from page row ``row_start``.

        ``out`` may be narrower than a page (one ROI of an mROI page): the pages are then read through a
        reused buffer and cropped.
        """
        rows, columns = out.shape[1:3]
        itemsize = self.dtype.itemsize
        skip = row_start * self.columns * itemsize
        narrow = columns != self.columns
        if len(pages) == 1 and not narrow and _PREADV is not None:  # one frame: skip the bookkeeping
            page = int(pages[0])
            number = bisect.bisect_right(self._file_start_list, page) - 1
            cached = self.files[number]
            with cached.open() as fd:
                if not self.verified[number]:
                    self.verify(number, fd)
                got = _PREADV(fd, [memoryview(out.reshape(-1).view(np.uint8))], int(self.data_offsets[page]) + skip)
            if got != out.nbytes:
                raise CorruptFileError(
                    f"{cached.path}: the image data of IFD {page - self._file_start_list[number]} is cut off: "
                    "the file is truncated"
                )
            return
        for number, run in self.runs(pages):
            cached = self.files[number]
            offsets = self.data_offsets[pages[run]] + skip
            local = pages[run] - self.file_starts[number]
            with cached.open() as fd:
                if not self.verified[number]:
                    self.verify(number, fd)
                if not narrow:
                    read_pages_into(fd, cached.path, offsets, out[run], local)
                    continue
                block = max(1, _BLOCK_BYTES // (rows * self.columns * itemsize))
                tmp = np.empty((min(block, len(offsets)), rows, self.columns), self.dtype)
                target = out[run]
                for a in range(0, len(offsets), block):
                    b = min(a + block, len(offsets))
                    read_pages_into(fd, cached.path, offsets[a:b], tmp[: b - a], local[a:b])
                    target[a:b] = tmp[: b - a, :, :columns]

    def description(self, fd: int, number: int, page: int) -> bytes:
        """The ImageDescription text of global page ``page`` (in file ``number``, open as ``fd``)."""
        size, offset = int(self.desc_sizes[page]), int(self.desc_offsets[page])
        file_size = os.fstat(fd).st_size
        if size < 0 or offset < 0 or offset + size > file_size:
            raise CorruptFileError(
                f"{self.files[number].path}: the ImageDescription of IFD {page - int(self.file_starts[number])} "
                f"({size} bytes at offset {offset}) lies outside the file ({file_size} bytes); the file is damaged"
            )
        return os.pread(fd, size, offset).split(b"\x00", 1)[0]

    def timestamps(self, pages: np.ndarray) -> np.ndarray | None:
        """``frameTimestamps_sec`` of the given global pages, or None when the files record none."""
        if len(pages) == 0:
            return np.zeros(0)
        if np.any(self.desc_offsets[pages] < 0):
            return None
        head = int(min(256, int(self.desc_sizes.max())))
        times = np.empty(len(pages), dtype=np.float64)
        for number, run in self.runs(pages):
            cached = self.files[number]
            with cached.open() as fd:
                if not self.verified[number]:
                    self.verify(number, fd)
                heads = read_spans(fd, self.desc_offsets[pages[run]], head)
                found = TIMESTAMP.findall(b"\x00".join(h.split(b"\x00", 1)[0] for h in heads))
                if len(found) != len(heads):
                    found = []
                    for i, page in enumerate(pages[run].tolist()):
                        match = TIMESTAMP.search(self.description(fd, number, page))
                        if match is None:
                            if i == 0 and number == 0:
                                return None  # this file records no per-frame times
                            raise MetadataError(
                                f"{cached.path}: IFD {page - int(self.file_starts[number])} has no "
                                "frameTimestamps_sec in its ImageDescription"
                            )
                        found.append(match.group(1))
            try:
                times[run] = np.array([float(v) for v in found], dtype=np.float64)
            except ValueError:
                raise MetadataError(f"{cached.path}: a frameTimestamps_sec value is not a number") from None
        return times
