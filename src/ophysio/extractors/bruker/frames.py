"""Reading Prairie View frames: one single-page file per frame, or pages of multi-page files (5.8+).

:class:`FrameFiles` reads frames given by number into a caller's array. Construction has read one TIFF,
the first frame's, into a :class:`~ophysio.extractors._tiff.template.PageTemplate`; every other
single-page file is trusted to be laid out alike and checked as it is read (one positional read and a
comparison of the bytes that define the layout), so that a series of 100,000 files is never opened whole
and never walked file by file. Each file is opened through the process-wide handle cache
(:class:`~ophysio.extractors._handles.CachedFile`) only while it is read. Multi-page files are indexed
(their IFDs walked) the first time one of their pages is read, and read in runs of pages.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from ...errors import CorruptFileError
from .._handles import CachedFile
from .._tiff.index import TiffIndex, index_tiff
from .._tiff.read import TiffPageSource
from .._tiff.template import PageTemplate

__all__ = ["FrameFiles"]


class FrameFiles:
    """The frames of one channel, read from their files.

    Parameters
    ----------
    folder : str
        The dataset's folder (file names are relative to it).
    names : list of str
        The file names the frames refer to.
    frame_file, frame_page : numpy.ndarray of int64
        Per frame: index of its file in ``names`` and its page in that file (0-based).
    template : PageTemplate
        The layout of the first frame's page.
    """

    def __init__(self, folder: str, names: list[str], frame_file: np.ndarray, frame_page: np.ndarray,
                 template: PageTemplate):
        self.folder = folder
        self.names = names
        self.frame_file = frame_file
        self.frame_page = frame_page
        self.template = template
        used = frame_file[frame_file >= 0]
        references = np.bincount(used, minlength=len(names))
        top = np.zeros(len(names), dtype=np.int64)
        np.maximum.at(top, used, frame_page[frame_file >= 0])
        #: per file: whether it holds several frames (read through its page index)
        self.multipage = (references > 1) | (top > 0)
        self.last_page = top
        self._setup()

    def _setup(self) -> None:
        self._lock = threading.Lock()
        self._sources: dict[int, TiffPageSource] = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_lock"], state["_sources"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._setup()

    def path(self, file: int) -> str:
        return os.path.join(self.folder, self.names[file])

    # ------------------------------------------------------------------ reading
    def read(self, frames: np.ndarray, out: np.ndarray) -> None:
        """Read the frames numbered ``frames`` into the C-contiguous ``out`` of shape (len(frames), rows, columns)."""
        files = self.frame_file[frames]
        multipage = self.multipage[files]
        if not multipage.any():
            self._read_single(files.tolist(), out)
            return
        breaks = np.flatnonzero((files[1:] != files[:-1]) | (multipage[1:] != multipage[:-1])) + 1
        bounds = np.concatenate(([0], breaks, [len(files)])).tolist()
        for a, b in zip(bounds[:-1], bounds[1:]):
            if multipage[a]:
                source = self._source(int(files[a]))
                source.read(self.frame_page[frames[a:b]], out[a:b])
            else:
                self._read_single(files[a:b].tolist(), out[a:b])

    def _read_single(self, files: list[int], out: np.ndarray) -> None:
        """Read the page of each single-page file, one file open at a time."""
        template, folder, names, join = self.template, self.folder, self.names, os.path.join
        for i, file in enumerate(files):
            path = join(folder, names[file])
            handle = CachedFile(path)
            try:
                with handle.open() as fd:
                    template.read(fd, path, out[i])
            finally:
                handle.close()

    def _source(self, file: int) -> TiffPageSource:
        """The page reader of a multi-page file, indexed on first use and checked against the series."""
        source = self._sources.get(file)
        if source is not None:
            return source
        with self._lock:
            source = self._sources.get(file)
            if source is None:
                path = self.path(file)
                handle = CachedFile(path)
                try:
                    with handle.open() as fd:
                        index = index_tiff(path, fd)
                finally:
                    handle.close()
                self._check(index, file)
                source = self._sources[file] = TiffPageSource([path], [index])
        return source

    def _check(self, index: TiffIndex, file: int) -> None:
        template = self.template
        if index.shape != template.shape or index.dtype != template.dtype:
            raise CorruptFileError(
                f"{index.path}: its pages are {index.shape[0]}x{index.shape[1]} {index.dtype}, but the series' pages "
                f"are {template.shape[0]}x{template.shape[1]} {template.dtype} (as in "
                f"{os.path.basename(template.path)}); the file does not belong to the series or is damaged"
            )
        need = int(self.last_page[file]) + 1
        if index.num_pages < need:
            raise CorruptFileError(
                f"{index.path} holds {index.num_pages} pages, but the PVScan XML puts a frame on page {need}; the file "
                "is truncated (was the acquisition stopped?) or does not belong to the series"
            )

    def close(self) -> None:
        with self._lock:
            sources = list(self._sources.values())
        for source in sources:
            source.close()
