"""ScanImage 2016 and later: single files and multi-file series, channels, volumes, flyback, mROI.

:class:`ScanImageImagingExtractor` reads one saved channel of a ScanImage acquisition lazily. The
parameters and public names follow roiextractors' ``ScanImageImagingExtractor`` (``file_path`` /
``file_paths``, ``channel_name``, ``plane_index``, ``slice_sample``, ``interleave_slice_samples``,
``file_paths``, ``channel_names``, ``num_flyback_frames_per_channel``, ``get_times``,
``get_original_frame_indices`` and the static ``get_available_*`` helpers), plus ``roi_index`` /
``roi_name`` for multi-ROI acquisitions and ``roi_mode`` to read all their ROIs as one canvas
(:mod:`ophysio.extractors.scanimage.canvas`).

**How pages become samples.** ScanImage writes one TIFF page per channel per frame, in this order
(fastest first): saved channel, frame of a slice (``SI.hStackManager.framesPerSlice``), plane (slice),
flyback frames, volume. The data are volumetric when ``SI.hStackManager.enable`` is true and
``numSlices`` > 1 (as ScanImage decides); otherwise they are planar and every page group of one frame is
a sample. A frame-to-IFD table of 64-bit global IFD indices maps every (sample, plane) to its page;
flyback frames are left out and an incomplete last volume is dropped. The rate is
``SI.hRoiManager.scanFrameRate`` (planar) or ``scanVolumeRate`` (volumetric); timestamps are the pages'
``frameTimestamps_sec`` (for a volume, the last plane's page).

**Metadata.** :meth:`ScanImageImagingExtractor.get_metadata` returns a new dict::

    {
      "version": 4,                       # ScanImage TIFF format version of the header (3 or 4)
      "frame_data": {"SI.VERSION_MAJOR": "2021", "SI.hRoiManager.scanFrameRate": 523.926,
                     "SI.hChannels.channelSave": [1, 2], "SI.hStackManager.zs": [92, 94, ...], ...},
                                          # every SI.* line of the header, values parsed (see below)
      "roi_groups": {"imagingRoiGroup": {"rois": ..., ...}, "photostimRoiGroups": ..., ...},
                                          # the ROI JSON's RoiGroups, as json.loads gives it
      "first_frame": {"frameNumbers": 1, "frameTimestamps_sec": 0.0,
                      "epoch": [2020, 10, 13, 9, 24, 59.76], ...},
                                          # the first page's ImageDescription, parsed
      "start_time": "2020-10-13T09:24:59.760000",   # first_frame["epoch"] as ISO 8601 (or None)
    }

Values of ``frame_data`` and ``first_frame`` are parsed as documented in
:mod:`ophysio.extractors.scanimage.header` (numbers, booleans, strings, flat lists for row or column
vectors, lists of rows for matrices). Useful keys: ``SI.VERSION_MAJOR``/``SI.VERSION_MINOR``
(software version), ``SI.hRoiManager.scanFrameRate``/``scanVolumeRate``,
``SI.hChannels.channelName``/``channelSave``, ``SI.hStackManager.zs`` (plane depths),
``SI.hRoiManager.mroiEnable``, ``SI.imagingSystem``; scanfield centres and sizes are in
``roi_groups["imagingRoiGroup"]["rois"]`` (also summarised by
:meth:`ScanImageImagingExtractor.get_roi_layout`).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np

from ...errors import SelectionError
from .._handles import CachedFile
from .._tiff.read import read_volumes
from .._tiff.walk import walk_ifds
from ..imaging import ImagingExtractor, checked_rate
from .canvas import ROI_MODES, build_canvas, checked_fill, read_canvas
from .files import check_files_exist, find_series_files
from .header import epoch_to_iso, parse_key_values, read_scanimage_header
from .layout import frame_table, read_header_of, roi_layout_from, saved_channels, slice_selection, stack_facts
from .pages import TIMESTAMP, ScanImagePages

__all__ = ["ScanImageImagingExtractor", "read_header_of"]

_BLOCK_BYTES = 16 * 1024**2  # temporary buffer for volumes


class ScanImageImagingExtractor(ImagingExtractor):
    """One saved channel of a ScanImage 2016+ acquisition (one file or a multi-file series).

    Parameters
    ----------
    file_path : str or os.PathLike, optional
        A file of the acquisition (normally its first file); the other files of a multi-file series are
        found beside it from ScanImage's naming (grab: ``base_acq_file``; loop and slow stacks:
        ``base_number``).
    channel_name : str, optional
        The saved channel to read (e.g. ``"Channel 2"``); required when several were saved.
    file_paths : list, optional
        The files to read, in acquisition order; overrides the automatic discovery.
    slice_sample : int, optional
        For volumes recorded with several frames per slice: which of them to read.
    plane_index : int, optional
        Read only this plane of volumetric data (the result is planar).
    interleave_slice_samples : bool
        For volumes with several frames per slice and no ``slice_sample``: give each frame of a slice
        its own sample (samples = volumes x frames per slice), as roiextractors does.
    roi_index : int, optional
        For multi-ROI (mROI) acquisitions: read only this ROI (its own rows and columns). Without it the
        pages are returned as stored (ROIs stacked vertically with fly-to lines between them).
    roi_name : str, optional
        The same, by the ROI's name in ScanImage (``get_roi_layout()[k]["name"]``); not with ``roi_index``.
    roi_mode : {"separate", "stitch", "concat"}
        How a multi-ROI acquisition read without ``roi_index`` is given. ``"separate"`` (default): the pages
        as stored, which conversion splits into one stream per ROI (:meth:`split_streams`). ``"stitch"``:
        one canvas with each ROI placed by its scanfield's centre, size and pixel resolution (later ROIs
        drawn over earlier ones where they overlap). ``"concat"``: the ROIs side by side along columns in
        scan order. Every ROI's pixels are as recorded; see :meth:`get_canvas`.
    fill_value : number
        The value of canvas pixels that no ROI covers (default 0).
    on_missing_files : {"warn", "raise"}
        What to do when the automatically found series has a gap in its numbering.

    Raises
    ------
    FormatError
        The file is not a ScanImage 2016+ TIFF.
    CorruptFileError
        A file is truncated or its IFD chain is damaged.
    SelectionError
        A channel, plane, slice sample or ROI that the data do not have was asked for.
    FileSetError
        A file of the series is missing.
    """

    format_id = "scanimage"
    extractor_name = "ScanImageImagingExtractor"

    def __init__(
        self,
        file_path: str | os.PathLike | None = None,
        channel_name: str | None = None,
        file_paths: list[str | os.PathLike] | None = None,
        slice_sample: int | None = None,
        plane_index: int | None = None,
        interleave_slice_samples: bool = False,
        roi_index: int | None = None,
        on_missing_files: str = "warn",
        roi_name: str | None = None,
        roi_mode: str = "separate",
        fill_value: float = 0,
    ):
        super().__init__()
        if roi_mode not in ROI_MODES:
            raise ValueError(f"roi_mode must be one of {', '.join(map(repr, ROI_MODES))}, not {roi_mode!r}")
        if on_missing_files not in ("warn", "raise"):
            raise ValueError(f"on_missing_files must be 'warn' or 'raise', not {on_missing_files!r}")
        if file_paths is not None:
            if len(file_paths) == 0:
                raise ValueError("file_paths is empty")
            paths = [Path(p) for p in file_paths]
            check_files_exist(paths)
        elif file_path is not None:
            paths = [Path(file_path)]
            check_files_exist(paths)
        else:
            raise ValueError("pass file_path (a file of the acquisition) or file_paths (all its files)")
        first = paths[0]
        self.file_path = first
        first_file = CachedFile(first)  # the header and the page table are read through one open file
        with first_file.open() as fd:
            header = read_scanimage_header(fd, str(first))
        self._header = header
        fd_ = header.frame_data
        numbers, names = saved_channels(fd_, str(first))
        self.channel_names = names
        self._channel_index = self._choose_channel(names, channel_name, str(first), "saved channels")

        volumetric, planes, frames_per_slice, flyback = stack_facts(fd_, str(first))
        self._frames_per_slice = frames_per_slice
        self.num_flyback_frames_per_channel = flyback
        self._slice_sample, self._interleave = slice_selection(volumetric, frames_per_slice, slice_sample,
                                                               interleave_slice_samples, first.name)

        if file_paths is None:
            paths = find_series_files(first, fd_, volumetric, on_missing_files)
        self.file_paths = paths
        self._files = [first_file if p == first else CachedFile(p) for p in paths]
        self._pages = ScanImagePages(self._files)
        self._page_rows, self._page_columns = self._pages.rows, self._pages.columns
        self._dtype = self._pages.dtype

        # ROI layout (needs the page shape)
        self._roi_layout = roi_layout_from(fd_, header.roi_groups, self._page_rows, self._page_columns, str(first))
        if roi_name is not None:
            roi_index = self._roi_index_named(roi_name, roi_index, first.name)
        if roi_index is not None:
            if not 0 <= int(roi_index) < len(self._roi_layout):
                raise SelectionError(
                    f"roi_index={roi_index} is out of range: {first.name} has {len(self._roi_layout)} imaging "
                    f"ROI(s) (0 to {len(self._roi_layout) - 1})"
                )
            roi = self._roi_layout[int(roi_index)]
            self._rows, self._columns, self._row_start = roi["rows"], roi["columns"], roi["row_start"]
        else:
            self._rows, self._columns, self._row_start = self._page_rows, self._page_columns, 0
        self._roi_index = None if roi_index is None else int(roi_index)
        self._roi_mode = roi_mode
        self._canvas = None
        if roi_mode != "separate" and len(self._roi_layout) > 1:
            if roi_index is not None:
                raise SelectionError(f"roi_index/roi_name read one ROI, roi_mode={roi_mode!r} places them all on one "
                                     "canvas: give one or the other")
            self._canvas = build_canvas(self._roi_layout, roi_mode, checked_fill(fill_value, self._dtype),
                                        str(first))
            self._rows, self._columns = self._canvas.rows, self._canvas.columns

        table = frame_table(self._pages.total, len(names), self._channel_index, planes, frames_per_slice, flyback,
                            volumetric, self._interleave, self._slice_sample)
        self._num_planes = planes
        self._stack_planes = planes
        self._volumetric = volumetric
        if plane_index is not None:
            if not 0 <= int(plane_index) < planes:
                raise SelectionError(
                    f"plane_index={plane_index} is out of range: {first.name} has {planes} plane(s) "
                    f"(0 to {planes - 1})"
                )
            table = table[:, [int(plane_index)]]
            self._num_planes = 1
        self._plane_index = None if plane_index is None else int(plane_index)
        self._table = np.ascontiguousarray(table)
        rate_key = "SI.hRoiManager.scanVolumeRate" if volumetric else "SI.hRoiManager.scanFrameRate"
        rate = fd_.get(rate_key)
        rate = checked_rate(rate, f"{first}: {rate_key} in the ScanImage header")
        self._sampling_frequency = rate * (frames_per_slice if self._interleave else 1)

    # ------------------------------------------------------------------ facts
    def get_num_samples(self) -> int:
        return int(self._table.shape[0])

    def get_image_shape(self) -> tuple[int, int]:
        return (self._rows, self._columns)

    def get_dtype(self) -> np.dtype:
        return self._dtype

    def get_sampling_frequency(self) -> float:
        key = "scanVolumeRate" if self._volumetric else "scanFrameRate"
        return self._rate_agreeing_with_times(self._sampling_frequency, f"the header's SI.hRoiManager.{key}")

    def get_num_planes(self) -> int:
        return self._num_planes

    @property
    def is_volumetric(self) -> bool:
        """Whether samples are volumes (a plain ``bool`` attribute, as in roiextractors)."""
        return bool(self._num_planes > 1)

    @property
    def num_flyback_frames(self) -> int:
        """Alias of :attr:`num_flyback_frames_per_channel` (an older roiextractors name)."""
        return self.num_flyback_frames_per_channel

    @property
    def _frames_to_ifd_table(self) -> np.ndarray:
        """roiextractors' view of the frame-to-IFD table: one row per (sample, plane), in that order.

        A structured array with 64-bit fields ``file_index``, ``IFD_index`` (within its file),
        ``channel_index``, ``depth_index``, ``slice_sample_index`` and ``acquisition_cycle_index``.
        """
        pages = self._table.ravel()
        files = self._pages.file_of(pages)
        fields = ("file_index", "IFD_index", "channel_index", "depth_index", "slice_sample_index",
                  "acquisition_cycle_index")
        table = np.zeros(len(pages), dtype=[(name, np.int64) for name in fields])
        channels = len(self.channel_names)
        per_cycle = (self._stack_planes * self._frames_per_slice + self.num_flyback_frames_per_channel) * channels
        within = pages % per_cycle
        table["file_index"] = files
        table["IFD_index"] = pages - self._pages.file_starts[files]
        table["channel_index"] = within % channels
        table["slice_sample_index"] = (within // channels) % self._frames_per_slice
        table["depth_index"] = within // (channels * self._frames_per_slice)
        table["acquisition_cycle_index"] = pages // per_cycle
        return table

    def get_file_paths(self) -> list[str]:
        return [str(p) for p in self.file_paths]

    def get_frames_per_slice_of_data(self) -> int:
        """Frames per slice of this acquisition (1 for planar data)."""
        return self._frames_per_slice

    def _roi_index_named(self, roi_name: str, roi_index: int | None, where: str) -> int:
        if roi_index is not None:
            raise SelectionError("give roi_index or roi_name, not both")
        names = [roi["name"] for roi in self._roi_layout]
        matches = [i for i, name in enumerate(names) if name == roi_name]
        if not matches:
            raise SelectionError(f"{where} has no imaging ROI named {roi_name!r}; its ROIs are {names}")
        if len(matches) > 1:
            raise SelectionError(f"{where} has {len(matches)} imaging ROIs named {roi_name!r} (indices "
                                 f"{matches}): pass roi_index= instead")
        return matches[0]

    @property
    def roi_index(self) -> int | None:
        """Index of the ROI read (in :meth:`get_roi_layout`), or None when pages are read whole."""
        return self._roi_index

    @property
    def roi_name(self) -> str | None:
        """Name of the ROI read, or None when pages are read whole."""
        return None if self._roi_index is None else self._roi_layout[self._roi_index]["name"]

    @property
    def plane_index(self) -> int | None:
        """The plane read when ``plane_index=`` was given (the data are then planar), else None."""
        return self._plane_index

    def get_acquisition_facts(self):
        """What the header records (see :mod:`ophysio.extractors.scanimage.facts`)."""
        from .facts import scanimage_facts

        return scanimage_facts(self)

    def split_streams(self) -> list[ScanImageImagingExtractor]:
        """One extractor per imaging ROI for a multi-ROI acquisition read whole, else ``[self]``.

        Each reads the same files, channel, plane and slice sample as this one, with ``roi_index`` set.
        """
        count = len(self._roi_layout)
        if self._roi_index is not None or count < 2 or self._canvas is not None:
            return [self]
        return [ScanImageImagingExtractor(file_paths=self.file_paths, channel_name=self.channel_name,
                                          slice_sample=self._slice_sample, plane_index=self._plane_index,
                                          interleave_slice_samples=self._interleave, roi_index=i)
                for i in range(count)]

    def get_roi_layout(self) -> list[dict]:
        """Where each imaging ROI lies in a page.

        Returns
        -------
        list of dict
            One dict per enabled imaging ROI, in page order: ``index``, ``name``, ``row_start`` (first
            page row), ``rows``, ``columns`` (the scanfield's pixel resolution), ``center_xy`` and
            ``size_xy`` (scanfield centre and size in ScanImage reference coordinates), ``z`` (the ROI's
            ``zs``), and for mROI data ``flyto_lines`` (rows between consecutive ROIs: the rows left over
            spread evenly, else ``SI.hScan2D.flytoTimePerScanfield`` in lines rounded up to even) and
            ``time_offset_s`` (``row_start`` x ``SI.hRoiManager.linePeriod``: when the ROI's first line
            was scanned after the frame's timestamp, or None). Without mROI the single entry covers the
            whole page. With ``roi_mode`` "stitch" or "concat", also ``canvas_row`` and ``canvas_column``
            (where the ROI's first pixel landed) and ``covered_pixels`` (how many a later ROI hides).
        """
        layout = copy.deepcopy(self._roi_layout)
        if self._canvas is not None:
            for entry, placed in zip(layout, self.get_canvas()["rois"]):
                entry.update(canvas_row=placed["canvas_row"], canvas_column=placed["canvas_column"],
                             covered_pixels=placed["covered_pixels"])
        return layout

    @property
    def roi_mode(self) -> str:
        """How the ROIs of a multi-ROI acquisition are given: "separate", "stitch" or "concat"."""
        return self._roi_mode

    def get_canvas(self) -> dict | None:
        """The canvas of ``roi_mode="stitch"`` or ``"concat"`` as plain values, or None (pages as stored).

        ``roi_mode``, ``shape`` (rows, columns), ``fill_value``, ``overlap_rule``, ``pixel_pitch_deg`` (row
        height, column width of a pixel in ScanImage degrees, when the ROIs share one), ``corner_deg`` (y, x
        of the canvas's top-left corner, stitch only) and per ROI its ``page_row``, ``rows``, ``columns``,
        ``canvas_row``, ``canvas_column``, ``placement_residual_px`` (how far the scanfield's corner was
        from the pixel it was rounded to) and ``covered_pixels``.
        """
        return None if self._canvas is None else self._canvas.record()

    def _line_regions(self) -> list[tuple[int, int, int, int, int]]:
        """Pieces of scan lines: a canvas's visible ROI pieces, an ROI with the parity of its first page row."""
        if self._canvas is not None:
            return self._canvas.line_regions()
        return [(0, self._rows, 0, self._columns, self._row_start % 2)]

    def get_metadata(self) -> dict:
        """The whole ScanImage header as Python values (structure in the module docstring)."""
        first_frame = self._first_frame_description()
        metadata = {
            "version": self._header.version,
            "frame_data": copy.deepcopy(self._header.frame_data),
            "roi_groups": copy.deepcopy(self._header.roi_groups),
            "first_frame": first_frame,
            "start_time": epoch_to_iso(first_frame.get("epoch")),
        }
        if self._canvas is not None:
            metadata["ophysio_processing"] = [self._canvas.record()]
        return metadata

    @property
    def _general_metadata(self) -> dict:
        """The header in roiextractors' layout (tifffile's ``scanimage_metadata``), which neuroconv's
        ``ScanImageImagingInterface`` reads: ``{"FrameData": {"SI.*": value}, "RoiGroups": {...},
        "version": int}``. A new dict each time; values are parsed as in :meth:`get_metadata`: a row or
        column vector is one flat list (tifffile nests a column vector's items in lists of one) and a cell
        array is a list, even of one text (tifffile gives that text alone).
        """
        return {
            "FrameData": copy.deepcopy(self._header.frame_data),
            "RoiGroups": copy.deepcopy(self._header.roi_groups),
            "version": self._header.version,
        }

    def _first_frame_description(self) -> dict:
        if self._pages.desc_offsets[0] < 0:
            return {}
        with self._files[0].open() as fd:
            raw = self._pages.description(fd, 0, 0)
        return parse_key_values(raw.decode("utf-8", errors="replace"))

    # ------------------------------------------------------------------ reading
    def _read_rows(self, pages: np.ndarray, out: np.ndarray) -> None:
        self._pages.read(pages, out, self._row_start)

    def _read_table_rows(self, rows: np.ndarray, out: np.ndarray) -> None:
        if self._canvas is not None:
            read_canvas(self._pages, rows, out, self._canvas, _BLOCK_BYTES)
        elif self._num_planes == 1:
            self._pages.read(rows[:, 0], out.reshape(len(rows), self._rows, self._columns), self._row_start)
        else:
            read_volumes(self._read_rows, rows, out, _BLOCK_BYTES)

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        self._read_table_rows(self._table[start:stop], out)

    def _read_samples(self, indices: np.ndarray, out: np.ndarray) -> None:
        self._read_table_rows(self._table[indices], out)

    # ------------------------------------------------------------------ time
    def _get_native_timestamps(self) -> np.ndarray | None:
        return self._pages.timestamps(self._table[:, -1])

    def get_original_frame_indices(self, plane_index: int | None = None) -> np.ndarray:
        """Global IFD index (counted over all files) of each sample's page, for DAQ alignment.

        Parameters
        ----------
        plane_index : int, optional
            For volumes, which plane's page to give (default: the last plane, whose page closes the volume).

        Returns
        -------
        numpy.ndarray of int64, shape (samples,)
            Indices count every page of the series (all channels, flyback frames included). If your
            sync line fires once per frame rather than once per page, divide by the number of channels.
        """
        planes = self._table.shape[1]
        if plane_index is None:
            plane_index = planes - 1
        if not 0 <= plane_index < planes:
            raise SelectionError(f"plane_index={plane_index} is out of range for {planes} plane(s)")
        return self._table[:, plane_index].copy()

    # ------------------------------------------------------------------ static helpers
    @staticmethod
    def extract_timestamp_from_page(page) -> float | None:
        """``frameTimestamps_sec`` of a tifffile page of a ScanImage file, or None (roiextractors' helper)."""
        tag = page.tags.get("ImageDescription") if hasattr(page, "tags") else None
        if tag is None:
            return None
        text = tag.value if isinstance(tag.value, str) else bytes(tag.value).decode("utf-8", errors="replace")
        match = TIMESTAMP.search(text.encode())
        try:
            return float(match.group(1)) if match else None
        except ValueError:
            return None

    @staticmethod
    def get_available_channel_names(file_path: str | os.PathLike) -> list[str]:
        """Names of the channels saved in a ScanImage file, in page order."""
        return saved_channels(read_header_of(file_path).frame_data, os.fspath(file_path))[1]

    @staticmethod
    def get_available_num_planes(file_path: str | os.PathLike) -> int:
        """Number of planes of a ScanImage acquisition (1 for planar data)."""
        return stack_facts(read_header_of(file_path).frame_data, os.fspath(file_path))[1]

    @staticmethod
    def get_frames_per_slice(file_path: str | os.PathLike) -> int:
        """``SI.hStackManager.framesPerSlice`` of a ScanImage file (1 when absent)."""
        return int(read_header_of(file_path).frame_data.get("SI.hStackManager.framesPerSlice", 1) or 1)

    @staticmethod
    def get_available_rois(file_path: str | os.PathLike) -> list[dict]:
        """The imaging ROI layout of a ScanImage file (see :meth:`get_roi_layout`), from its header and first page."""
        path = os.fspath(file_path)
        header = read_header_of(path)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            pages = walk_ifds(fd, path, max_ifds=1)
        finally:
            os.close(fd)
        return roi_layout_from(header.frame_data, header.roi_groups, int(pages.height[0]), int(pages.width[0]), path)

