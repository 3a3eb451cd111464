"""Inscopix cell sets (``.isxd``, data set type 1) read with numpy alone: :class:`InscopixSegmentationExtractor`.

A cell set is what Inscopix software (IDPS, IDEAS, the ``isx`` API) writes after cell extraction (PCA-ICA,
CNMF-E) or from ROIs drawn by hand: isxcore's ``CellSetFile``. The file is, for each cell in order, its
image (``spacingInfo.numPixels`` ``y`` rows by ``x`` columns of little-endian float32, row by row) then its
trace (``timingInfo.numTimes`` float32 values), then the JSON footer of every ``.isxd`` file (:mod:`.footer`).
Cell ``k`` starts at byte ``k * (rows * columns + numTimes) * 4``, and the data before the footer is exactly
the cells the footer names.

The footer (its keys sorted, as nlohmann writes them) holds, beside ``type`` (1), ``dataType`` (``"float"``),
``timingInfo``, ``spacingInfo``, ``producer``, ``fileVersion`` and ``extraProperties`` (the session
settings of the movie the cells came from):

- ``CellNames``: one name per cell (``"C0"``, ``"C1"``...);
- ``CellStatuses``: one code per cell, 0 accepted, 1 undecided, 2 rejected (isxcore's
  ``CellSet::CellStatus``; a newly written cell is undecided);
- from file version 1 ``CellActivity`` (one boolean per cell), from version 2 ``CellColors`` (ARGB
  integers), from version 3 the longitudinal registration fields (``SizeGlobalCS``, ``Matches``,
  ``PairScores``, ``CentroidDistances``), from version 4 ``cellMetrics``; ``isRoiSet`` says the cells are
  ROIs drawn by hand rather than extracted.

Unlike a movie, a cell set stores every one of the ``numTimes`` samples: a dropped, cropped or blank
sample is a NaN in each trace (as isxcore writes it), so the traces keep the time grid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import CorruptFileError, FileSetError, FormatError, MetadataError
from .._handles import CachedFile
from ..segmentation import SegmentationExtractor
from .footer import CELL_SET, IMAGE, MOVIE, Footer, Timing, parse_timing, read_footer
from .layout import extra_properties

__all__ = ["InscopixSegmentationExtractor", "CellSetLayout", "cell_set_layout", "CELL_STATUSES"]

#: ``CellStatuses`` code -> word (isxcore's ``CellSet::CellStatus`` and ``getCellStatusString``)
CELL_STATUSES = {0: "accepted", 1: "undecided", 2: "rejected"}
#: bytes of a stored value (float32)
_VALUE_BYTES = 4
_FLOAT = np.dtype("<f4")


@dataclass(frozen=True)
class CellSetLayout:
    """Where each cell's image and trace are in a cell set, and what the footer says of each cell."""

    rows: int
    columns: int
    num_times: int
    names: tuple[str, ...]
    statuses: tuple[int, ...]
    activity: tuple[bool, ...] | None
    colors: tuple[int, ...] | None

    @property
    def num_cells(self) -> int:
        return len(self.names)

    @property
    def image_bytes(self) -> int:
        return self.rows * self.columns * _VALUE_BYTES

    @property
    def cell_bytes(self) -> int:
        return self.image_bytes + self.num_times * _VALUE_BYTES

    def image_offset(self, cell: int) -> int:
        return cell * self.cell_bytes

    def trace_offset(self, cell: int, sample: int = 0) -> int:
        return cell * self.cell_bytes + self.image_bytes + sample * _VALUE_BYTES


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _per_cell(header: dict, key: str, check, what: str, count: int | None, path: str) -> list | None:
    """The list ``header[key]`` (None when absent or null), each item passing ``check``."""
    value = header.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(check(v) for v in value):
        raise FormatError(f"{path}: the cell set footer's {key} is not a list of {what}")
    if count is not None and len(value) != count:
        raise FormatError(f"{path}: the cell set footer lists {count} cell names but {len(value)} {key}")
    return value


def cell_set_layout(footer: Footer, timing: Timing, path: str) -> CellSetLayout:
    """The layout of a cell set from its footer, checked against the bytes before the footer.

    Raises
    ------
    FormatError
        The footer lacks the cell names or statuses, gives lists of different lengths, a status other than
        0, 1 or 2, a data type other than float, or no field of view.
    CorruptFileError
        The bytes before the footer are not exactly the cells the footer names (a truncated or padded file,
        or a footer whose sizes do not match the data).
    """
    header = footer.header
    data_type = header.get("dataType", "float")
    if data_type not in ("float", 1):
        raise FormatError(f"{path}: the cell set's dataType is {data_type!r}; isxcore writes cell sets as float "
                          "(float32) only")
    spacing = header.get("spacingInfo")
    pixels = spacing.get("numPixels") if isinstance(spacing, dict) else None
    columns = pixels.get("x") if isinstance(pixels, dict) else None
    rows = pixels.get("y") if isinstance(pixels, dict) else None
    if not (_is_int(rows) and _is_int(columns) and rows > 0 and columns > 0):
        raise FormatError(f"{path}: the cell set footer's spacingInfo.numPixels is {pixels!r}, not the x (columns) "
                          "and y (rows) of the cell images")
    names = _per_cell(header, "CellNames", lambda v: isinstance(v, str), "strings", None, path)
    if names is None:
        raise FormatError(f"{path}: the cell set footer has no CellNames")
    count = len(names)
    statuses = _per_cell(header, "CellStatuses", lambda v: _is_int(v) and v in CELL_STATUSES,
                         "status codes (0 accepted, 1 undecided, 2 rejected)", count, path)
    if statuses is None:
        raise FormatError(f"{path}: the cell set footer has no CellStatuses")
    activity = _per_cell(header, "CellActivity", lambda v: isinstance(v, bool), "booleans", count, path)
    colors = _per_cell(header, "CellColors", _is_int, "colours (integers)", count, path)
    layout = CellSetLayout(rows, columns, timing.num_times, tuple(names), tuple(statuses),
                           None if activity is None else tuple(activity), None if colors is None else tuple(colors))
    expected = count * layout.cell_bytes
    if expected != footer.offset:
        raise CorruptFileError(
            f"{path}: the footer names {count} cells of a {rows} x {columns} image and {timing.num_times} samples "
            f"({layout.cell_bytes} bytes each, {expected} in all), but {footer.offset} bytes come before the footer; "
            "the file is truncated or damaged, or its footer does not describe its data")
    return layout


def _pread_into(fd: int, buffer: memoryview, offset: int, path: str, what: str) -> None:
    """Fill ``buffer`` from the file's bytes at ``offset``; a file that ends first is a CorruptFileError."""
    while len(buffer):
        got = os.preadv(fd, [buffer], offset)
        if got <= 0:
            raise CorruptFileError(f"{path} ends at byte {offset}, inside {what}: the file was cut short "
                                   "(truncated while it was open?)")
        buffer = buffer[got:]
        offset += got


class InscopixSegmentationExtractor(SegmentationExtractor):
    """An Inscopix cell set (``.isxd``): cell images, traces, names and statuses, read lazily with numpy; the
    ``isx`` package is not needed.

    Parameters
    ----------
    file_path : str or os.PathLike
        The ``.isxd`` cell set.

    Notes
    -----
    As in roiextractors, ROI ids are the cells' positions ``0..n-1`` and the cell names (``"C0"``...) are the
    ROI property ``cell_name``; an accepted cell is in :meth:`get_accepted_list`, a rejected one in
    :meth:`get_rejected_list`, an undecided one in neither (the property ``status`` keeps the word:
    ``accepted``, ``undecided`` or ``rejected``). Each cell's image is its mask (dense, float32,
    ``native_mask_type = "image"``). The traces are ``raw`` (in the units of the cell extraction:
    ``extraProperties.idps.cellset.units``, e.g. ``dF over noise`` for CNMF-E), one per cell, every sample of
    the time grid (NaN where the movie had a dropped, cropped or blank frame). Times: sample index times
    ``timingInfo.period``; the session start is ``timingInfo.start``.

    Raises
    ------
    FormatError
        The file is an Inscopix movie or another kind of data set, not a cell set, or its footer does not
        describe its cells.
    CorruptFileError
        The file is truncated or damaged.
    """

    format_id = "inscopix"
    extractor_name = "InscopixSegmentation"
    native_mask_type = "image"

    def __init__(self, file_path: str | os.PathLike):
        super().__init__()
        self._file_path = path = os.fspath(file_path)
        if not os.path.isfile(path):
            raise FileSetError(f"{path} does not exist or is not a file")
        self._file = CachedFile(path)
        with self._file.open() as fd:
            footer = read_footer(fd, path)
        if footer.type != CELL_SET:
            hint = (": open it with open_imaging(path) (InscopixImagingExtractor)" if footer.type in (MOVIE, IMAGE)
                    else "")
            raise FormatError(f"{path} is an Inscopix {footer.type_name}, not a cell set; "
                              f"InscopixSegmentationExtractor reads .isxd cell sets{hint}")
        try:
            timing = parse_timing(footer.header, path)
        except MetadataError as exc:
            raise FormatError(str(exc)) from None
        self._footer: Footer = footer
        self._timing: Timing = timing
        self._layout: CellSetLayout = cell_set_layout(footer, timing, path)
        self._rate = 1.0 / float(timing.period)
        props = extra_properties(footer.header)
        idps = props.get("idps") if isinstance(props.get("idps"), dict) else {}
        channel = idps.get("channel")
        if isinstance(channel, str) and channel:
            self._channel_names = (channel,)
        efocus = idps.get("efocus")
        self._efocus = efocus if _is_int(efocus) else None
        self._set_cell_properties()

    def _set_cell_properties(self) -> None:
        layout = self._layout
        statuses = np.array(layout.statuses, dtype=np.int64)
        self.set_property("is_accepted", statuses == 0, description="Whether the cell's status in the Inscopix "
                          "cell set is accepted (CellStatuses 0).")
        self.set_property("is_rejected", statuses == 2, description="Whether the cell's status in the Inscopix "
                          "cell set is rejected (CellStatuses 2).")
        self.set_property("status", np.array([CELL_STATUSES[s] for s in layout.statuses], dtype=str),
                          description="The cell's status in the Inscopix cell set: accepted, undecided or rejected "
                                      "(an undecided cell is neither accepted nor rejected).")
        self.set_property("cell_name", np.array(layout.names, dtype=str),
                          description="The cell's name in the Inscopix cell set (CellNames).")
        if layout.activity is not None:
            self.set_property("is_active", np.array(layout.activity, dtype=bool),
                              description="The cell's CellActivity flag in the Inscopix cell set.")

    # ------------------------------------------------------------------ facts
    def get_image_shape(self) -> tuple[int, int]:
        return (self._layout.rows, self._layout.columns)

    def get_num_samples(self) -> int:
        return self._layout.num_times

    def get_sampling_frequency(self) -> float:
        return self._rate

    def get_roi_ids(self) -> list:
        return list(range(self._layout.num_cells))

    def get_trace_names(self) -> list[str]:
        return ["raw"]

    def get_cell_names(self) -> list[str]:
        """The cells' names in the file (``CellNames``), in ROI order."""
        return list(self._layout.names)

    def get_file_paths(self) -> list[str]:
        return [self._file_path]

    def get_metadata(self) -> dict:
        """The whole JSON footer of the cell set."""
        return self._footer.header

    @property
    def timing(self) -> Timing:
        """The footer's ``timingInfo``: numTimes, period, start, dropped, cropped and blank samples."""
        return self._timing

    def get_acquisition_facts(self):
        """The channel and rate, and what the footer records of the session the cells came from: the device
        and its settings, the acquisition software, the session start and, where Inscopix calibrates the
        lens, the pixel size (as for a movie: :mod:`ophysio.extractors.inscopix.facts`)."""
        from .facts import footer_facts

        facts = super().get_acquisition_facts()
        return facts.replace(**footer_facts(self._footer.header, self._timing, [self._efocus],
                                            self.get_image_shape()))

    # ------------------------------------------------------------------ reads
    def _trace_dtype(self, name: str) -> np.dtype:
        return np.dtype(np.float32)

    def _read_traces(self, name: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        unique, inverse = np.unique(positions, return_inverse=True)
        out = np.empty((len(unique), stop - start), dtype=_FLOAT)
        if stop > start:
            layout = self._layout
            with self._file.open() as fd:
                for row, cell in enumerate(unique.tolist()):
                    _pread_into(fd, memoryview(out[row]).cast("B"), layout.trace_offset(cell, start),
                                self._file_path, f"the trace of cell {cell}")
        return np.ascontiguousarray(out[inverse].T, dtype=np.float32)

    def _read_image_masks(self, positions: np.ndarray, background: bool = False) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        rows, columns = self.get_image_shape()
        if background:
            return np.zeros((rows, columns, 0), dtype=np.float32)
        out = np.empty((len(positions), rows, columns), dtype=_FLOAT)
        if len(positions):
            layout = self._layout
            with self._file.open() as fd:
                for i, cell in enumerate(positions.tolist()):
                    _pread_into(fd, memoryview(out[i]).cast("B"), layout.image_offset(cell), self._file_path,
                                f"the image of cell {cell}")
        return np.moveaxis(out.astype(np.float32, copy=False), 0, -1)
