"""Micro-Manager image file stacks (MMStack): one channel of one stage position of a dataset.

A dataset is the ``<prefix>_MMStack_<position>.ome.tif`` files of a folder (continued in ``_1``, ``_2``
files past 4 GB) with ``DisplaySettings.json`` beside them. Samples are frames (timepoints); a sample is a
volume of the summary's ``Slices`` planes when there are several. Images are placed by the (channel,
slice, frame, position) that each file's index map records, whatever order the acquisition wrote them in;
pixels are read through the shared TIFF engine, across the files, only when asked for.

Timestamps are each image's ``ElapsedTime-ms`` (tag 51123 JSON; of the first plane for a volume), in
seconds as recorded (Micro-Manager counts them from the acquisition's start, the summary's ``StartTime``).
They are read when first asked for, not when the extractor is built: one positional read per sample,
with the number taken straight from the text when the key appears once (the whole JSON is parsed, and
its damage reported, otherwise). The rate is the median interval of those times, else the summary's
``Interval_ms``, else ``PlaybackFPS`` of ``DisplaySettings.json`` (a display setting: a warning says so).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np

from ...errors import CorruptFileError, FileSetError, FormatError, MetadataError, SelectionError
from .._contain import AllowOutside, ReferencePolicy
from .._json import loads_json
from .._tiff.header import pread_exact
from .._tiff.index import TiffIndex, index_tiff
from .._tiff.read import PagedSampleReads, TiffPageSource
from ..imaging import ImagingExtractor, checked_rate
from .dataset import StackFile, channel_names, declared_sizes, find_stack_files, image_entries, position_labels
from .header import read_comments, read_display_settings

__all__ = ["MicroManagerTiffImagingExtractor"]

#: the number after the key, followed by the next key or the end of the object (anything else: parse it all)
_ELAPSED = re.compile(rb'"ElapsedTime-ms"\s*:\s*("?)(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\1\s*(?:,\s*"|\}\s*\Z)')
_MAX_SIDECAR_BYTES = 64 << 20


class MicroManagerTiffImagingExtractor(PagedSampleReads, ImagingExtractor):
    """One channel of one stage position of a Micro-Manager MMStack dataset.

    Parameters
    ----------
    folder_path : str or os.PathLike
        The folder of the dataset (roiextractors' keyword), or one of its stack files (which also picks
        that file's position and acquisition when the folder holds several).
    sampling_frequency : float, optional
        Overrides the rate worked out from the recorded times or the summary.
    channel_name : str, optional
        Channel to read, by the summary's ``ChNames``; required when there are several.
    position : int or str, optional
        Stage position: its index, or its label (``StagePositions``, or the name in the file names, e.g.
        ``"Pos1"``); required when the dataset (or the file named) holds several.
    allow_outside : bool, folder or list of folders
        Where the stack files and ``DisplaySettings.json`` found by name may really be (symlinks): by
        default only inside the dataset's folder.
    """

    format_id = "micromanager"
    extractor_name = "MicroManagerTiffImaging"

    def __init__(
        self,
        folder_path: str | os.PathLike,
        sampling_frequency: float | None = None,
        channel_name: str | None = None,
        position: int | str | None = None,
        allow_outside: AllowOutside = False,
    ):
        super().__init__()
        path = Path(os.fspath(folder_path))
        self.folder_path = path
        if not path.exists():
            raise FileSetError(f"{path} does not exist")
        self._folder = path if path.is_dir() else path.parent
        self._references = ReferencePolicy.for_dataset(self._folder, allow_outside,
                                                       path if path.is_file() else None)
        files, chosen = find_stack_files(path, self._references)
        self._summary = files[0].header.summary
        self._sizes = declared_sizes(self._summary)
        self.stopped_early: tuple[int, int] | None = None  # (frames planned, frames acquired)
        entries = self._scan_unmapped(files)
        self._position_names = self._name_positions(files, entries)
        self._position = self._select_position(files, chosen, position, entries)
        self._build(files, entries, channel_name)
        self._user_rate = None if sampling_frequency is None else checked_rate(sampling_frequency)
        self._sampling_frequency: float | None = self._user_rate
        self.rate_source: str | None = "sampling_frequency" if self._user_rate else None
        self.timestamp_source: str | None = None  # known once the times are read

    # ------------------------------------------------------------------ the dataset
    def _scan_unmapped(self, files: list[StackFile]) -> dict[str, tuple[np.ndarray, str, TiffIndex]]:
        """Entries of the files without a usable index map (placed by their per-image JSON, walked now)."""
        entries = {}
        for f in files:
            if f.header.index_map is None:
                index = index_tiff(f.path)
                fd = os.open(f.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                try:
                    rows, source = image_entries(f, index, fd)
                finally:
                    os.close(fd)
                entries[f.path] = (rows, source, index)
        return entries

    @staticmethod
    def _positions_of(f: StackFile, entries: dict) -> set[int]:
        if f.path in entries:
            return set(np.unique(entries[f.path][0][:, 3]).tolist())
        return f.positions() or set()

    def _name_positions(self, files: list[StackFile], entries: dict) -> dict[int, str]:
        every = sorted(set().union(*(self._positions_of(f, entries) for f in files)))
        labels = position_labels(self._summary, max(every) + 1 if every else 0)
        names = {}
        for p in every:
            name = labels[p]
            if name is None:  # a file set of this position alone names it: <prefix>_MMStack_<name>
                sets = {f.series for f in files if self._positions_of(f, entries) == {p}}
                name = next((s.rpartition("_MMStack_")[2] for s in sets if "_MMStack_" in s), None)
            names[p] = name or f"Pos{p}"
        return names

    def _select_position(self, files, chosen, position, entries) -> int:
        known = self._position_names
        offered = sorted(self._positions_of(chosen, entries)) if chosen is not None else sorted(known)
        listing = [known[p] for p in offered]
        where = chosen.path if chosen is not None else str(self._folder)
        if position is None:
            if len(offered) != 1:
                raise SelectionError(f"{where} holds {len(offered)} stage positions {listing}; pass position= (an "
                                     "index or a name)")
            return offered[0]
        if isinstance(position, (int, np.integer)) and not isinstance(position, bool):
            if int(position) in known:
                return int(position)
        else:
            text = str(position)
            for p, name in known.items():
                if text == name:
                    return p
            match = re.fullmatch(r"(?i)(?:pos)?(\d+)", text)
            if match and int(match.group(1)) in known:
                return int(match.group(1))
        raise SelectionError(f"position {position!r} is not in {where}; positions: "
                             f"{[f'{p}: {known[p]}' for p in sorted(known)]}")

    def _build(self, files: list[StackFile], scanned: dict, channel_name: str | None) -> None:
        """Index the files of the chosen position and place every image of the chosen channel."""
        p = self._position
        mine = [f for f in files if p in self._positions_of(f, scanned)]
        indexes, rows, sources = [], [], set()
        for f in mine:
            if f.path in scanned:
                entries, source, index = scanned[f.path]
            else:
                index = index_tiff(f.path)
                fd = os.open(f.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                try:
                    entries, source = image_entries(f, index, fd)
                finally:
                    os.close(fd)
            indexes.append(index)
            rows.append(entries)
            sources.add(source)
        self._files = mine
        self.index_source = " and ".join(sorted(sources))
        self._source = TiffPageSource([f.path for f in mine], indexes)
        summary = self._summary
        width, height = summary.get("Width"), summary.get("Height")
        if isinstance(width, int) and isinstance(height, int) and (height, width) != self._source.shape:
            raise MetadataError(f"{mine[0].path}: the summary metadata says {height}x{width} images (Height x Width) "
                                f"but the pages are {self._source.shape[0]}x{self._source.shape[1]}")
        # (channel, slice, frame, global page) of this position's images; a repeated coordinate: the last counts
        parts = [np.empty((0, 4), np.int64)]
        for k, r in enumerate(rows):
            r = r[r[:, 3] == p]
            parts.append(np.column_stack([r[:, :3], r[:, 4] + self._source.file_starts[k]]))
        table = np.concatenate(parts)
        self._choose_names(table)
        c = self._channel_index = self._choose_channel(self._all_channel_names, channel_name,
                                                       f"{self._folder} (position {self._position_names[p]})")
        table = table[table[:, 0] == c]
        slices, n = self._num_planes, len(table)
        where = f"{', '.join(f.name for f in mine)} (position {self._position_names[p]})"
        if n == 0:
            raise FileSetError(f"{where} hold no image of channel {self._all_channel_names[c]!r}; a file of the series "
                               "may be missing")
        # sizes are checked against the images there are before a table is made from them (damaged values of
        # 2**32 must not allocate gigabytes)
        top_z, top_t = int(table[:, 1].max()), int(table[:, 2].max())
        if top_z >= slices:
            raise MetadataError(f"{self._where_is(table, table[:, 1] == top_z)}: the index map places an image at "
                                f"slice {top_z}, but the summary declares {slices} slices; the metadata is damaged")
        if slices > n:
            raise CorruptFileError(f"{where} hold {n} images of channel {self._all_channel_names[c]!r}, too few for "
                                   f"the {slices} slices the summary declares; the metadata is damaged or files are "
                                   "missing")
        if top_t >= max(n, self._sizes["time"] or 0):
            raise MetadataError(f"{self._where_is(table, table[:, 2] == top_t)}: the index map places an image at "
                                f"frame {top_t}, but the summary declares {self._sizes['time']} frames and the files "
                                f"hold {n} images of this channel; the index map is damaged")
        pages = np.full((top_t + 1, slices), -1, dtype=np.int64)
        _, last = np.unique((table[::-1, 2] * slices + table[::-1, 1]), return_index=True)
        keep = table[::-1][last]
        pages[keep[:, 2], keep[:, 1]] = keep[:, 3]
        self._sample_pages_table = pages[: self._complete_frames(pages, self._sizes["time"])]

    def _choose_names(self, table: np.ndarray) -> None:
        self._all_channel_names = channel_names(self._summary, int(table[:, 0].max()) + 1 if len(table) else 0)
        self._num_planes = max(self._sizes["z"] or 1, 1)

    @staticmethod
    def get_available_channel_names(folder_path: str | os.PathLike) -> list[str]:
        """Channel names of a dataset (the summary's ``ChNames``) without building an extractor."""
        path = Path(os.fspath(folder_path))
        folder = path if path.is_dir() else path.parent
        files, _ = find_stack_files(path, ReferencePolicy.for_dataset(folder, True))
        seen = max((int(f.header.index_map[:, 0].max()) + 1 for f in files if f.header.index_map is not None),
                   default=0)
        return channel_names(files[0].header.summary, seen)

    def _where_is(self, table: np.ndarray, mask: np.ndarray) -> str:
        page = int(table[mask][0, 3])
        return self._source.locate(page)[0]

    def _complete_frames(self, pages: np.ndarray, declared: int | None) -> int:
        """How many samples the dataset holds: every frame the summary declares or the index maps name (as
        tifffile, the larger), or the frames taken by an acquisition stopped early, or the error that says
        what is missing."""
        complete = np.all(pages >= 0, axis=1)
        found = len(pages)
        wanted = max(found, declared or 0)
        if found == wanted and complete.all():
            return found
        first_hole = found if complete.all() else int(np.flatnonzero(~complete)[0])
        stopped = self._ome_size_t()
        if stopped is not None and stopped < wanted and stopped <= found and complete[:stopped].all():
            self.stopped_early = (wanted, stopped)  # the acquisition ended before its planned frames
            return stopped
        series = self._files[-1]
        held = f"{', '.join(f.name for f in self._files)} hold"
        if not (pages[first_hole:] >= 0).any():
            suffix = re.search(r"(\.ome)?\.tiff?$", series.name, re.IGNORECASE).group(0)
            following = f"{series.series}_{series.split + 1}{suffix}"
            raise FileSetError(
                f"{following} is missing from {self._folder}: {held} frames 0..{first_hole - 1} of the {wanted} frames "
                f"the summary declares, and Micro-Manager continues a series in the next numbered file (or the "
                f"acquisition stopped early without closing its files)")
        channel = self._all_channel_names[self._channel_index]
        z = int(np.flatnonzero(pages[first_hole] < 0)[0])
        raise CorruptFileError(f"{held} no image for frame {first_hole}, slice {z} of channel {channel!r} (the "
                               f"summary declares {wanted} frames); the index maps are damaged or a file is missing")

    def _ome_size_t(self) -> int | None:
        """SizeT of this position's Image in the OME-XML of its first file (updated when an acquisition stops
        early), after checking that the files it names are here; None without readable OME-XML."""
        from ..ome_tiff.xml import parse_ome_xml

        first, index = self._files[0], self._source.indexes[0]
        offset, count = (int(v) for v in index.description_spans[0])
        if offset < 0 or count == 0:
            return None
        with self._source._files[0].open() as fd:
            text = pread_exact(fd, count, offset, first.path, "OME-XML").rstrip(b"\x00").decode("utf-8", "replace")
        if "<OME" not in text[:4096]:
            return None
        try:
            _, images = parse_ome_xml(text, f"{first.path}: the OME-XML")
        except (FormatError, MetadataError):  # no help from it: the caller reports what is missing
            return None
        image = next((img for img in images if img.image_id == f"Image:{self._position}"), None)
        if image is None:
            return None
        for name in sorted({block.file_name for block in image.tiff_data if block.file_name}):
            target = self._folder / name
            if not target.is_file():
                raise FileSetError(f"{name} is missing from {self._folder}: the OME-XML of {first.name} stores images "
                                   f"of position {self._position_names[self._position]!r} in it")
        return image.size_t

    # ------------------------------------------------------------------ per-image metadata
    def _sample_page_of(self, samples: np.ndarray, plane: int = 0) -> np.ndarray:
        return self._sample_pages_table[np.asarray(samples, dtype=np.int64), plane]

    def _read_records_raw(self, pages: np.ndarray) -> list[tuple[str, int, bytes]]:
        """(file, IFD, raw JSON bytes) of the tag 51123 text of the given global pages."""
        source = self._source
        out: list = [None] * len(pages)
        files, local = source._file[pages], source._local[pages]
        for f in np.unique(files).tolist():
            index = source.indexes[f]
            mine = np.flatnonzero(files == f)
            if index.mm_spans is None:
                for i in mine.tolist():
                    out[i] = (source.paths[f], int(index.ifd_numbers[local[i]]), None)
                continue
            spans = index.mm_spans[local[mine]]
            with source._files[f].open() as fd:
                for i, (offset, count), page in zip(mine.tolist(), spans.tolist(), local[mine].tolist()):
                    ifd = int(index.ifd_numbers[page])
                    raw = None if offset < 0 else pread_exact(fd, count, offset, source.paths[f],
                                                              f"Micro-Manager metadata (tag 51123) of IFD {ifd}")
                    out[i] = (source.paths[f], ifd, raw)
        return out

    @staticmethod
    def _parse_record(path: str, ifd: int, raw: bytes | None) -> dict:
        if raw is None:
            return {}
        record = loads_json(raw.rstrip(b"\x00"), f"{path}, IFD {ifd}: the Micro-Manager metadata (tag 51123)",
                            "UTF-8 JSON")
        if not isinstance(record, dict):
            raise MetadataError(f"{path}, IFD {ifd}: the Micro-Manager metadata (tag 51123) is not a JSON object")
        return record

    def get_image_metadata(self, sample_index: int, plane: int = 0) -> dict:
        """The per-image JSON (tag 51123) of one sample (of one plane of a volume), as Micro-Manager wrote it."""
        n = self.get_num_samples()
        if not -n <= sample_index < n:
            raise IndexError(f"sample {sample_index} of {n}")
        page = self._sample_page_of(np.array([sample_index % n]), plane)
        return self._parse_record(*self._read_records_raw(page)[0])

    def _elapsed_seconds(self) -> np.ndarray | None:
        records = self._read_records_raw(self._sample_page_of(np.arange(self.get_num_samples())))
        times = np.empty(len(records))
        for i, (path, ifd, raw) in enumerate(records):
            raw = None if raw is None else raw.rstrip(b"\x00")
            match = _ELAPSED.search(raw) if raw is not None and raw.count(b'"ElapsedTime-ms"') == 1 else None
            if match is not None:
                times[i] = float(match.group(2))
                continue
            record = self._parse_record(path, ifd, raw)  # whole JSON: damage is reported, a missing key seen
            try:
                times[i] = float(record["ElapsedTime-ms"])
            except (KeyError, TypeError, ValueError):
                return None
        return times / 1000.0

    def _get_native_timestamps(self) -> np.ndarray | None:
        times = self._elapsed_seconds() if self.get_num_samples() else None
        self.timestamp_source = None if times is None else "ElapsedTime-ms"
        return times

    # ------------------------------------------------------------------ rate
    def get_sampling_frequency(self) -> float | None:
        """The rate (worked out on first use, see the module notes); None when the dataset records none."""
        if self._sampling_frequency is None and not self.__dict__.get("_rate_looked_for"):
            self._sampling_frequency, self.rate_source = self._rate()
            self._rate_looked_for = True
        return self._sampling_frequency

    def _rate(self) -> tuple[float | None, str | None]:
        times = self.get_native_timestamps()
        if times is not None and len(times) > 1:
            step = float(np.median(np.diff(times)))
            if step > 0:
                return 1.0 / step, "ElapsedTime-ms"
        try:
            interval = float(self._summary.get("Interval_ms") or 0)
        except (TypeError, ValueError):
            interval = 0.0
        if interval > 0:
            return 1000.0 / interval, "Interval_ms"
        settings = self._display_settings_file()
        fps = None
        if isinstance(settings, dict):
            entry = (settings.get("map") or {}).get("PlaybackFPS")
            fps = entry.get("scalar") if isinstance(entry, dict) else entry
        try:
            fps = float(fps) if fps is not None else None
        except (TypeError, ValueError):
            fps = None
        if fps and fps > 0:
            warnings.warn(f"{self._folder}: no recorded times and no Interval_ms; using PlaybackFPS={fps:g} of "
                          "DisplaySettings.json, the display's playback speed, as the rate (as roiextractors does); "
                          "pass sampling_frequency= if the acquisition ran at another rate", UserWarning, stacklevel=3)
            return fps, "DisplaySettings.json PlaybackFPS"
        return self._rate_unknown(f"{self._folder}: the dataset records no rate (no ElapsedTime-ms, Interval_ms 0, "
                                  "no DisplaySettings.json PlaybackFPS)"), None

    # ------------------------------------------------------------------ companions
    def _display_settings_file(self) -> dict | None:
        path = self._folder / "DisplaySettings.json"
        if not path.is_file():
            return None
        self._references.check(path, "DisplaySettings.json (found by name)", os.fspath(self._folder))
        if path.stat().st_size > _MAX_SIDECAR_BYTES:
            raise MetadataError(f"{path} is larger than {_MAX_SIDECAR_BYTES >> 20} MB; refused")
        value = loads_json(path.read_bytes(), os.fspath(path), "UTF-8 JSON")
        return value if isinstance(value, dict) else None

    # ------------------------------------------------------------------ facts
    def get_num_samples(self) -> int:
        return int(self._sample_pages_table.shape[0])

    def get_image_shape(self) -> tuple[int, int]:
        return tuple(self._source.shape)

    def get_num_planes(self) -> int:
        return self._num_planes

    def get_dtype(self) -> np.dtype:
        return self._source.dtype

    def get_file_paths(self) -> list[str]:
        return list(self._source.paths)

    def get_available_positions(self) -> list[str]:
        """Names of the dataset's stage positions, in index order."""
        return [self._position_names[p] for p in sorted(self._position_names)]

    @property
    def position(self) -> int:
        """Index of the stage position read."""
        return self._position

    @property
    def micromanager_metadata(self) -> dict:
        """Micro-Manager's non-TIFF metadata of the first file read, keyed as tifffile keys it (``Summary``,
        ``IndexMap``, ``DisplaySettings``, ``Comments``)."""
        header = self._files[0].header
        with self._source._files[0].open() as fd:
            _, settings = read_display_settings(fd, header)
            comments = read_comments(fd, header)
        return {"Summary": self._summary, "IndexMap": header.index_map, "DisplaySettings": settings,
                "Comments": comments}

    def get_metadata(self) -> dict:
        """The summary metadata (whole), the dataset's layout, and where times and rate came from."""
        summary = self._summary
        try:
            display = self._display_settings_file()
        except MetadataError as exc:
            display = f"unreadable: {exc}"
        with self._source._files[0].open() as fd:
            comments = read_comments(fd, self._files[0].header)
        return {
            "summary": summary,
            "axis_order": summary.get("AxisOrder"),
            "dimensions": {key: value for key, value in self._sizes.items()},
            "channel_names": list(self._all_channel_names),
            "position": self._position,
            "position_name": self._position_names[self._position],
            "files": [f.name for f in self._files],
            "index_source": self.index_source,
            "timestamp_source": self.timestamp_source,
            "rate_source": self.rate_source,
            "display_settings": display,
            "comments": comments,
        }

    def get_acquisition_facts(self):
        """What the dataset records (see :mod:`ophysio.extractors.micromanager.facts`)."""
        from .facts import micromanager_facts

        return micromanager_facts(self)

    # ------------------------------------------------------------------ reading
    def _sample_pages(self, indices: np.ndarray) -> np.ndarray:
        return self._sample_pages_table[indices]
