"""Inscopix ``.isxd`` movies read with numpy alone: :class:`InscopixImagingExtractor`.

The layout (frames, then a JSON footer; dropped, cropped and blank samples not stored; optional frame
headers with the acquisition box's time stamps; planes and colours interleaved frame by frame) is
described in :mod:`.footer` and :mod:`.layout`. Frames are read with positional reads straight into the
caller's buffer, the frame headers and footers skipped in the same call.

Samples and times:

- a movie of one plane and one colour gives every stored frame; its time is its time index times the
  period (``timingInfo``), or, when the frame headers carry the acquisition box's time stamp counter,
  the first frame's grid time plus the counter's microseconds since it (and the rate, as in isxcore, is
  the counter's mean step). Dropped, cropped and blank samples are gaps in the times, never frames;
- a multiplane movie gives volumes (rows, columns, planes): the planes of one efocus cycle, timed at the
  first plane; a cycle with a missing frame is left out. ``plane_index=`` gives one plane's frames instead;
- a multiplexed dual-colour movie gives the frames of ``channel_name`` (``"green"`` or ``"red"``).
"""

from __future__ import annotations

import os

import numpy as np

from ...errors import CorruptFileError, FileSetError, FormatError, SelectionError
from .._handles import CachedFile
from ..imaging import ImagingExtractor
from .footer import Footer, Timing, check_movie, parse_timing, read_footer
from .layout import Interleave, MovieLayout, channel_cycle, movie_layout, plane_cycle, read_frame_metadata

__all__ = ["InscopixImagingExtractor", "read_isxd_footer"]

#: Largest number of buffers in one preadv call (IOV_MAX is 1024 on Linux).
_MAX_IOV = 1024
#: Largest single positional read (Linux reads at most 0x7ffff000 bytes per call).
_MAX_IO = 1 << 30
#: Frames read per step when planes are moved to the last axis.
_BLOCK_BYTES = 32 << 20


def read_isxd_footer(file_path: str | os.PathLike) -> dict:
    """The whole JSON footer of an .isxd file (any kind: movie, cell set...), as Python values."""
    path = os.fspath(file_path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        return read_footer(fd, path).header
    finally:
        os.close(fd)


def _preadv_all(fd: int, buffers: list[memoryview], offset: int, path: str) -> None:
    """Fill ``buffers`` (in order) from the file's bytes at ``offset``; a short file is a CorruptFileError."""
    position = offset
    pending = [b for b in buffers if len(b)]
    while pending:
        batch, size = [], 0
        for buffer in pending[:_MAX_IOV]:
            if size + len(buffer) > _MAX_IO and batch:
                break
            batch.append(buffer)
            size += len(buffer)
        got = os.preadv(fd, batch, position)
        if got <= 0:
            raise CorruptFileError(f"{path} ends at byte {position}, inside its frames: the file was cut short "
                                   "(truncated while it was open?)")
        position += got
        while got:  # drop what was filled, split a partly filled buffer
            first = pending[0]
            if got >= len(first):
                got -= len(first)
                pending.pop(0)
            else:
                pending[0] = first[got:]
                got = 0


class InscopixImagingExtractor(ImagingExtractor):
    """An Inscopix ``.isxd`` movie (nVista, nVoke, nVue), read lazily with numpy; the ``isx`` package is not needed.

    Parameters
    ----------
    file_path : str or os.PathLike
        The ``.isxd`` movie.
    channel_name : str, optional
        ``"green"`` or ``"red"``: the colour to read from a multiplexed dual-colour movie (required there).
    plane_index : int, optional
        Read one plane of a multiplane movie as a planar stream (default: every plane, as volumes).

    Raises
    ------
    FormatError
        The file is an Inscopix cell set (or another kind of data set), not a movie.
    CorruptFileError
        The file is truncated or damaged: its footer cannot be found, or the bytes before it are not the
        frames the footer describes.
    """

    format_id = "inscopix"
    extractor_name = "InscopixImaging"

    def __init__(self, file_path: str | os.PathLike, channel_name: str | None = None,
                 plane_index: int | None = None):
        super().__init__()
        self._file_path = os.fspath(file_path)
        if not os.path.isfile(self._file_path):
            raise FileSetError(f"{self._file_path} does not exist or is not a file")
        self._file = CachedFile(self._file_path)
        path = self._file_path
        with self._file.open() as fd:
            footer = read_footer(fd, path)
            check_movie(footer, path)
            timing = parse_timing(footer.header, path)
            mask = timing.stored_mask()
            stored_times = np.flatnonzero(mask)
            layout = movie_layout(footer.header, len(stored_times), footer.offset, path)
            planes = plane_cycle(footer.header, layout, fd, stored_times, path)
            channels, colours = channel_cycle(footer.header, layout, fd, stored_times, path)
            if planes is not None and colours is not None:
                raise FormatError(f"{path} interleaves {planes.period} planes and two colours; such a movie is not "
                                  "supported yet: de-interleave it in Inscopix software first")
            tsc = self._first_last_tsc(fd, layout, stored_times, path)
        self._footer: Footer = footer
        self._timing: Timing = timing
        self._layout: MovieLayout = layout
        self._planes: Interleave | None = planes
        self._colours: Interleave | None = colours
        self._stored_times = stored_times

        self._choose_channel(channels, channel_name, path)
        self._plane_index: int | None = None
        if plane_index is not None:
            count = planes.period if planes is not None else 1
            if isinstance(plane_index, bool) or not isinstance(plane_index, (int, np.integer)) or \
                    not -count <= plane_index < count:
                raise SelectionError(f"plane_index={plane_index!r} is out of range: {path} has {count} plane(s)")
            self._plane_index = int(plane_index) % count

        # the frame period: the footer's, or (as isxcore) the mean step of the frame time stamps
        period = float(timing.period)
        if tsc is not None:
            (first_time, first_tsc), (last_time, last_tsc) = tsc
            if last_tsc > first_tsc and last_time - first_time > 1:
                period = (last_tsc - first_tsc) / 1e6 / (last_time - first_time)
        self._frame_period = period
        self._build_table(mask)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _first_last_tsc(fd: int, layout: MovieLayout, stored_times: np.ndarray, path: str):
        """``((time index, TSC) of the first stored frame, (time index, TSC) of the last)``, or None."""
        if not layout.frame_timestamps or len(stored_times) < 2:
            return None
        tsc = read_frame_metadata(fd, layout, np.array([0, len(stored_times) - 1]), path)["tsc"]
        return (int(stored_times[0]), int(tsc[0])), (int(stored_times[-1]), int(tsc[1]))

    def _build_table(self, mask: np.ndarray) -> None:
        """The stored frame of every plane of every sample (``_table``) and each sample's time index."""
        n = self._timing.num_times
        stored_of_time = np.cumsum(mask) - 1
        times = np.arange(n)
        planes = self._planes
        if planes is not None and self._plane_index is None:  # volumes: complete efocus cycles
            period = planes.period
            starts = np.arange(n // period) * period
            grid = starts[:, None] + np.arange(period)
            complete = mask[grid].all(axis=1)
            self._sample_times = starts[complete]
            self._table = stored_of_time[grid[complete]]
        else:
            keep = mask.copy()
            if planes is not None:
                keep &= times % planes.period == self._plane_index
            if self._colours is not None:
                name = self.channel_name
                labels = np.array([label == name for label in self._colours.labels])
                keep &= labels[times % self._colours.period]
            self._sample_times = times[keep]
            self._table = stored_of_time[keep][:, None]

    # ------------------------------------------------------------------ facts
    def get_num_samples(self) -> int:
        return int(len(self._table))

    def get_image_shape(self) -> tuple[int, int]:
        return (self._layout.rows, self._layout.columns)

    def get_num_planes(self) -> int:
        return self._table.shape[1]

    def get_dtype(self) -> np.dtype:
        return self._layout.dtype

    def get_sampling_frequency(self) -> float:
        """Samples per second: frames per second for one plane and colour, volumes per second for a
        multiplane movie, the mean rate of one colour's frames for a multiplexed one."""
        rate = 1.0 / self._frame_period
        if self._planes is not None:
            return rate / self._planes.period
        if self._colours is not None:
            labels = self._colours.labels
            return rate * labels.count(self.channel_name) / len(labels)
        return rate

    def get_file_paths(self) -> list[str]:
        return [self._file_path]

    def get_metadata(self) -> dict:
        """The whole JSON footer (``timingInfo``, ``spacingInfo``, ``extraProperties``...)."""
        return self._footer.header

    @property
    def timing(self) -> Timing:
        """The movie's ``timingInfo``, parsed."""
        return self._timing

    @property
    def plane_index(self) -> int | None:
        """The plane read (``plane_index=``), or None."""
        return self._plane_index

    def get_plane_efocus(self) -> list[int | None]:
        """Electronic focus (0-1000, the lens' units) of each plane of the stream."""
        from .layout import extra_properties

        if self._planes is None:
            efocus = (extra_properties(self._footer.header).get("idps") or {}).get("efocus")
            return [efocus if isinstance(efocus, int) else None]
        if self._plane_index is not None:
            return [self._planes.labels[self._plane_index]]
        return list(self._planes.labels)

    @staticmethod
    def get_available_channel_names(file_path: str | os.PathLike) -> list[str]:
        """The channels of an .isxd movie: ``["green", "red"]`` for a multiplexed dual-colour movie, else one."""
        path = os.fspath(file_path)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            footer = read_footer(fd, path)
            check_movie(footer, path)
            mask = parse_timing(footer.header, path).stored_mask()
            stored_times = np.flatnonzero(mask)
            layout = movie_layout(footer.header, len(stored_times), footer.offset, path)
            return channel_cycle(footer.header, layout, fd, stored_times, path)[0]
        finally:
            os.close(fd)

    def get_acquisition_facts(self):
        from .facts import inscopix_facts

        return inscopix_facts(self)

    # ------------------------------------------------------------------ time
    def _get_native_timestamps(self) -> np.ndarray:
        """Seconds since the movie's start (``timingInfo.start``) of each sample: the frame time stamps when
        the frame headers have them, else the time grid (time index times the period)."""
        grid = self._sample_times.astype(np.float64) * float(self._timing.period)
        layout = self._layout
        if not layout.frame_timestamps or layout.num_stored < 2:
            return grid
        with self._file.open() as fd:
            tsc = read_frame_metadata(fd, layout, self._table[:, 0], self._file_path)["tsc"]
            first = read_frame_metadata(fd, layout, np.array([0]), self._file_path)["tsc"][0]
        if np.any(tsc < first) or np.any(np.diff(tsc.astype(np.int64)) <= 0):
            return grid  # time stamps that do not increase: the grid, as isxcore falls back to it
        origin = float(self._stored_times[0]) * float(self._timing.period)
        return origin + (tsc - first).astype(np.float64) / 1e6

    # ------------------------------------------------------------------ reading
    def _read_frames(self, fd: int, stored: np.ndarray, dest: np.ndarray) -> None:
        """Frames ``stored`` (stored indices) into ``dest`` (frames, rows, columns), C-contiguous."""
        layout = self._layout
        frame_bytes, stride, skip = layout.frame_bytes, layout.stride, layout.pixel_offset
        flat = memoryview(dest.reshape(-1).view(np.uint8))
        gap = np.empty(stride - frame_bytes, dtype=np.uint8) if stride > frame_bytes else None
        count = len(stored)
        if count and int(stored[-1]) - int(stored[0]) == count - 1:  # one run (stored indices ascend)
            bounds = [0, count]
        else:
            bounds = [0, *(np.flatnonzero(np.diff(stored) != 1) + 1).tolist(), count]
        for a, b in zip(bounds[:-1], bounds[1:]):
            offset = int(stored[a]) * stride + skip
            if gap is None:  # one run of frames: one read
                _preadv_all(fd, [flat[a * frame_bytes : b * frame_bytes]], offset, self._file_path)
                continue
            buffers: list[memoryview] = []
            for k in range(a, b):  # pixels of each frame, its footer and the next header into a scratch buffer
                buffers.append(flat[k * frame_bytes : (k + 1) * frame_bytes])
                if k + 1 < b:
                    buffers.append(memoryview(gap))
            _preadv_all(fd, buffers, offset, self._file_path)

    def _read_rows(self, rows: np.ndarray, out: np.ndarray) -> None:
        with self._file.open() as fd:
            if rows.shape[1] == 1:
                self._read_frames(fd, rows[:, 0], out)
                return
            planes = rows.shape[1]
            step = max(1, _BLOCK_BYTES // (self._layout.frame_bytes * planes))
            buffer = np.empty((min(step, len(rows)) * planes, *self.get_image_shape()), dtype=self.dtype)
            for a in range(0, len(rows), step):
                block = rows[a : a + step]
                frames = buffer[: block.size]
                self._read_frames(fd, block.reshape(-1), frames)
                out[a : a + len(block)] = np.moveaxis(frames.reshape(len(block), planes, *frames.shape[1:]), 1, -1)

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        self._read_rows(self._table[start:stop], out)

    def _read_samples(self, indices: np.ndarray, out: np.ndarray) -> None:
        self._read_rows(self._table[indices], out)
