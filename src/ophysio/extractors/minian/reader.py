"""Minian's segmentation: :class:`MinianSegmentationExtractor`.

Minian (https://minian.readthedocs.io) saves each result of its CNMF pipeline with xarray as a Zarr (v2)
group ``<name>.zarr`` in one folder. The group holds the array ``<name>`` and its coordinates (``unit_id``,
``frame``, ``height``, ``width``, and the scalars ``animal``, ``session``, ``session_id``); the array's
attribute ``_ARRAY_DIMENSIONS`` names its dimensions, which orient it here (never its position):

- ``A``: the spatial footprints ``(unit_id, height, width)``: the ROIs' dense masks;
- ``C``: the denoised calcium traces ``(unit_id, frame)`` (trace ``denoised``);
- ``S``: the deconvolved activity (trace ``deconvolved``); ``b0``: the baseline (trace ``baseline``);
  ``c0``: the initial calcium decay (listed in the metadata, not read: NWB has no series for it);
- ``b``: the background's spatial footprint ``(height, width)`` (or ``(unit_id, height, width)``), and
  ``f`` its temporal trace ``(frame)`` (trace ``background``);
- ``max_proj``: the maximum projection ``(height, width)`` (image ``max``).

The times come from Miniscope's ``timeStamps.csv`` (``Frame Number``, ``Time Stamp (ms)``, ``Buffer
Index``): the time of each of ``C``'s ``frame`` coordinates (Minian may drop or subsample frames).

Arrays are read with the ``zarr`` package (``pip install 'ophysio[zarr]'``), only the selected ROIs and
samples. A chunk file missing from a group reads as the array's fill value, as Zarr specifies (Minian's
writer leaves out chunks that hold only the fill value); a damaged chunk file is an error naming it.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CorruptFileError, FileSetError, FormatError, MetadataError, MissingPluginError
from ..checks import checked_rate
from ..segmentation import SegmentationExtractor
from .sniff import minian_folder

__all__ = ["MinianSegmentationExtractor"]

#: trace name -> Minian variable
_TRACES = {"denoised": "C", "deconvolved": "S", "baseline": "b0"}
#: Minian's variables and the dimensions each must have (besides an optional unit_id for b and f)
_VARIABLES = ("A", "C", "S", "b", "f", "b0", "c0", "max_proj")
_CSV_FRAME, _CSV_TIME = "Frame Number", "Time Stamp (ms)"


def _zarr():
    try:
        import zarr
    except ImportError as exc:
        raise MissingPluginError("reading Minian output needs the zarr package: pip install 'ophysio[zarr]'") \
            from exc
    return zarr


def _chunk_files(path: Path) -> list[str]:
    """The chunk files of a Zarr v2 array folder (nested ``0/0`` keys included), sorted."""
    found = []
    for root, _, files in os.walk(path):
        for name in files:
            if not name.startswith("."):
                found.append(os.path.relpath(os.path.join(root, name), path))
    return sorted(found)


class _Variable:
    """One Minian array (``<folder>/<name>.zarr/<name>``), oriented by its dimension names, read lazily."""

    def __init__(self, folder: Path, name: str):
        self.name = name
        self.group = folder / f"{name}.zarr"
        self.path = self.group / name
        if not (self.path / ".zarray").is_file():
            raise FileSetError(f"{self.path} is not a Zarr array (no .zarray): the Minian group {self.group} is "
                               "incomplete")
        try:
            attrs = json.loads((self.path / ".zattrs").read_text()) if (self.path / ".zattrs").is_file() else {}
        except (OSError, ValueError) as exc:
            raise CorruptFileError(f"{self.path / '.zattrs'} could not be read as JSON: {exc}") from exc
        array = self.array()
        self.shape = tuple(int(s) for s in array.shape)
        self.dtype = np.dtype(array.dtype)
        dims = attrs.get("_ARRAY_DIMENSIONS") if isinstance(attrs, dict) else None
        if not (isinstance(dims, list) and len(dims) == len(self.shape) and all(isinstance(d, str) for d in dims)
                and len(set(dims)) == len(dims)):
            raise FormatError(f"{self.path}: _ARRAY_DIMENSIONS {dims!r} does not name the {len(self.shape)} "
                              f"dimensions of the array (xarray writes them)")
        self.dims = tuple(dims)
        self.attrs = attrs
        if self.dtype.kind not in "biuf":
            raise FormatError(f"{self.path} holds {self.dtype}, not numbers")

    def array(self):
        """The zarr array (opened again on each call: zarr's local store holds no file open)."""
        zarr = _zarr()
        try:
            return zarr.open_array(store=str(self.path), mode="r", zarr_format=2)
        except Exception as exc:  # zarr raises many types for a damaged .zarray
            raise CorruptFileError(f"{self.path} could not be opened as a Zarr v2 array: {type(exc).__name__}: "
                                   f"{exc}") from exc

    def size(self, dim: str) -> int:
        return self.shape[self.dims.index(dim)] if dim in self.dims else 1

    def require(self, dims: set[str], optional: set[str] = frozenset()) -> None:
        """Check that the array has the dimensions ``dims`` (and maybe some of ``optional``), no others."""
        if not dims <= set(self.dims) <= dims | optional:
            extra = f" (and maybe {sorted(optional)})" if optional else ""
            raise FormatError(f"{self.path} has dimensions {list(self.dims)}; Minian's {self.name} has "
                              f"{sorted(dims)}{extra}")

    def read(self, order: tuple[str, ...], **index: Any) -> np.ndarray:
        """The array with its axes in ``order`` (a dimension it lacks becomes a length-1 axis), selecting
        ``index[dim]`` (a slice or an array of positions) along the dimensions named."""
        array = self.array()
        selection = tuple(index.get(dim, slice(None)) for dim in self.dims)
        try:
            data = np.asarray(array.oindex[selection] if selection else array[...])
        except Exception as exc:  # a truncated or corrupt chunk: name the file
            raise CorruptFileError(self._damage(array, exc)) from exc
        for dim in order:
            if dim not in self.dims:
                data = data[..., np.newaxis]
        present = [*self.dims, *(d for d in order if d not in self.dims)]
        return np.transpose(data, [present.index(d) for d in order])

    def _damage(self, array, exc: Exception) -> str:
        """The message for a failed read: the first chunk file that cannot be decoded, when one is found."""
        separator = "/" if array.metadata.dimension_separator == "/" else "."
        for key in _chunk_files(self.path):
            try:
                block = tuple(int(k) for k in key.replace(os.sep, "/").split(separator))
                array.get_block_selection(block)
            except ValueError:
                continue  # not a chunk name
            except Exception as bad:
                return (f"{self.path / key}: the chunk could not be decoded ({type(bad).__name__}: {bad}); the Minian "
                        "array is damaged or was cut short")
        return f"{self.path}: reading failed ({type(exc).__name__}: {exc}); the Minian array is damaged"

    def coordinate(self, dim: str) -> np.ndarray | None:
        """The 1-D coordinate ``dim`` stored beside the array in its group, or None."""
        path = self.group / dim
        if not (path / ".zarray").is_file():
            return None
        try:
            data = np.asarray(_zarr().open_array(store=str(path), mode="r", zarr_format=2)[...])
        except Exception as exc:
            raise CorruptFileError(f"{path}: the coordinate could not be read ({type(exc).__name__}: {exc})") from exc
        if data.shape != (self.size(dim),):
            raise FormatError(f"{path} has shape {data.shape}, but {self.path} has {self.size(dim)} along {dim!r}")
        return data

    def scalar(self, name: str) -> Any:
        """A scalar coordinate of the group (``animal``, ``session``...) as a Python value, or None."""
        path = self.group / name
        if not (path / ".zarray").is_file():
            return None
        try:
            value = np.asarray(_zarr().open_array(store=str(path), mode="r", zarr_format=2)[...])
        except Exception:  # a label only: leave it out rather than refuse the segmentation
            return None
        return value.item() if value.ndim == 0 else None


def _read_timestamps(path: Path, frames: np.ndarray) -> np.ndarray:
    """Seconds of each frame number in ``frames``, from Miniscope's ``timeStamps.csv``."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise FileSetError(f"{path} (Miniscope timestamps) could not be read: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise MetadataError(f"{path} is not a text CSV file: {exc}") from exc
    if not rows:
        raise MetadataError(f"{path} is empty: no Miniscope timestamps")
    header = [h.strip() for h in rows[0]]
    if _CSV_FRAME not in header or _CSV_TIME not in header:
        raise MetadataError(f"{path} has columns {header}; Miniscope's timeStamps.csv has {_CSV_FRAME!r} and "
                            f"{_CSV_TIME!r}")
    f_col, t_col = header.index(_CSV_FRAME), header.index(_CSV_TIME)
    times: dict[int, float] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        try:
            frame, ms = int(row[f_col]), float(row[t_col])
        except (ValueError, IndexError):
            raise MetadataError(f"{path}, line {line}: {row!r} does not hold a frame number and a time in ms") \
                from None
        if frame in times:
            raise MetadataError(f"{path}, line {line}: frame {frame} is listed twice")
        times[frame] = ms
    missing = [int(f) for f in frames if int(f) not in times]
    if missing:
        raise MetadataError(f"{path} has no time for frame {missing[0]} ({len(missing)} of the {len(frames)} frames "
                            f"of the traces are missing; the file belongs to another recording?)")
    return np.array([times[int(f)] for f in frames], dtype=np.float64) / 1000.0


class MinianSegmentationExtractor(SegmentationExtractor):
    """The ROIs, traces, background and maximum projection of a Minian run.

    Parameters
    ----------
    folder_path : str or os.PathLike
        The folder holding Minian's ``A.zarr``, ``C.zarr``... groups (or one of those groups, or a file
        beside them such as its ``timeStamps.csv``).
    sampling_frequency : float, optional
        Samples per second of the traces. By default, the mean rate of the times in ``timeStamps.csv``
        (``(n - 1) / (last - first)``); the timestamps themselves are the recorded times either way.
    timestamps_path : str or os.PathLike, optional
        Miniscope's ``timeStamps.csv``; by default ``timeStamps.csv`` in ``folder_path`` (when it is there).

    Notes
    -----
    ROI ids are ``A``'s ``unit_id`` values. The masks are ``A``'s footprints (dense, weighted); the
    background component ``b`` (id ``background-0``, or one per unit of ``b``) has the trace
    ``background`` (``f``). ``c0`` is not read (see the module notes). Minian is planar.
    """

    format_id = "minian"
    extractor_name = "MinianSegmentation"
    native_mask_type = "image"

    def __init__(self, folder_path: str | os.PathLike, sampling_frequency: float | None = None,
                 timestamps_path: str | os.PathLike | None = None):
        super().__init__()
        _zarr()
        given = Path(folder_path)
        folder = minian_folder(given)  # the folder, one of its groups, or a file beside them
        if folder is None and not given.is_dir():
            raise FileSetError(f"{given} is not a folder (Minian output is a folder of Zarr groups)")
        if folder is None:
            missing = [g for g in ("A.zarr", "C.zarr") if not (given / g / ".zgroup").is_file()]
            raise FileSetError(f"{given} holds no Minian {' and '.join(str(given / g) for g in missing)} "
                               "(Zarr groups with a .zgroup): not a Minian output folder, or an incomplete one")
        self._folder = folder
        self._vars: dict[str, _Variable] = {}
        for name in _VARIABLES:
            if (folder / f"{name}.zarr").is_dir():
                self._vars[name] = _Variable(folder, name)
        A, C = self._vars["A"], self._vars["C"]
        A.require({"unit_id", "height", "width"})
        C.require({"unit_id", "frame"})
        self._shape = (A.size("height"), A.size("width"))
        self._num_samples = C.size("frame")
        unit_ids = A.coordinate("unit_id")
        self._roi_ids = [int(u) if np.issubdtype(np.asarray(u).dtype, np.integer) else u.item()
                         for u in (unit_ids if unit_ids is not None else np.arange(A.size("unit_id")))]
        # each temporal variable: positions of A's units in its unit_id axis
        self._unit_positions: dict[str, np.ndarray] = {}
        self._trace_names = []
        for trace, name in _TRACES.items():
            var = self._vars.get(name)
            if var is None:
                continue
            var.require({"unit_id", "frame"})
            if var.size("frame") != self._num_samples:
                raise FormatError(f"{var.path} has {var.size('frame')} frames but {C.path} has {self._num_samples}")
            self._unit_positions[name] = self._match_units(var)
            self._trace_names.append(trace)
        self._background_ids: list = []
        b, f = self._vars.get("b"), self._vars.get("f")
        if b is not None or f is not None:
            if b is None or f is None:
                have, lack = (b, "f") if f is None else (f, "b")
                raise FileSetError(f"{have.group} is there but {folder / (lack + '.zarr')} is missing: Minian saves "
                                   "the background's footprint (b) and trace (f) together")
            b.require({"height", "width"}, {"unit_id"})
            f.require({"frame"}, {"unit_id"})
            if (b.size("height"), b.size("width")) != self._shape:
                raise FormatError(f"{b.path} is {b.size('height')}x{b.size('width')} but {A.path} is "
                                  f"{self._shape[0]}x{self._shape[1]}")
            if f.size("frame") != self._num_samples:
                raise FormatError(f"{f.path} has {f.size('frame')} frames but {C.path} has {self._num_samples}")
            if b.size("unit_id") != f.size("unit_id"):
                raise FormatError(f"{b.path} has {b.size('unit_id')} background components but {f.path} has "
                                  f"{f.size('unit_id')}")
            self._background_ids = [f"background-{i}" for i in range(b.size("unit_id"))]
            self._trace_names.append("background")
        proj = self._vars.get("max_proj")
        if proj is not None:
            proj.require({"height", "width"})
            if (proj.size("height"), proj.size("width")) != self._shape:
                raise FormatError(f"{proj.path} is {proj.size('height')}x{proj.size('width')} but {A.path} is "
                                  f"{self._shape[0]}x{self._shape[1]}")
        # times
        frames = C.coordinate("frame")
        self._frames = np.arange(self._num_samples) if frames is None else np.asarray(frames)
        if timestamps_path is not None:
            self._timestamps_path = Path(timestamps_path)
            if not self._timestamps_path.is_file():
                raise FileSetError(f"{self._timestamps_path} (timestamps_path) does not exist")
        else:
            default = folder / "timeStamps.csv"
            self._timestamps_path = default if default.is_file() else None
        if self._timestamps_path is not None:
            self._stamps = _read_timestamps(self._timestamps_path, self._frames)
        else:
            self._stamps = None
        if sampling_frequency is not None:
            self._rate = checked_rate(sampling_frequency)
        elif self._stamps is not None and len(self._stamps) > 1 and self._stamps[-1] > self._stamps[0]:
            self._rate = checked_rate((len(self._stamps) - 1) / (self._stamps[-1] - self._stamps[0]),
                                      f"the rate of the times in {self._timestamps_path}")
        elif self._stamps is not None:
            self._rate = self._rate_unknown(f"the {len(self._stamps)} times in {self._timestamps_path} give no rate")
        else:
            self._rate = self._rate_unknown(f"{folder} has no timeStamps.csv and no sampling_frequency was given")

    def _match_units(self, var: _Variable) -> np.ndarray:
        """Where each of A's units is along ``var``'s ``unit_id`` axis (by id when both groups record ids)."""
        n = len(self._roi_ids)
        ids = var.coordinate("unit_id")
        if ids is None or self._vars["A"].coordinate("unit_id") is None:
            if var.size("unit_id") != n:
                raise FormatError(f"{var.path} has {var.size('unit_id')} units but A has {n}")
            return np.arange(n, dtype=np.int64)
        index = {(int(u) if np.asarray(u).dtype.kind in "iu" else u.item()): i for i, u in enumerate(ids)}
        missing = [u for u in self._roi_ids if u not in index]
        if missing or len(index) != n:
            raise FormatError(f"{var.group / 'unit_id'} lists units {list(index)[:12]} but {self._vars['A'].group} "
                              f"lists {self._roi_ids[:12]}: the groups come from different runs")
        return np.array([index[u] for u in self._roi_ids], dtype=np.int64)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    # ------------------------------------------------------------------ facts
    def get_image_shape(self) -> tuple[int, int]:
        return self._shape

    def get_num_samples(self) -> int:
        return int(self._num_samples)

    def get_sampling_frequency(self) -> float | None:
        return self._rate

    def get_roi_ids(self) -> list:
        return list(self._roi_ids)

    def get_background_ids(self) -> list:
        return list(self._background_ids)

    def get_trace_names(self) -> list[str]:
        return list(self._trace_names)

    def get_frame_numbers(self) -> np.ndarray:
        """The ``frame`` coordinate of ``C``: the movie frame of each sample (Minian may skip frames)."""
        return self._frames.copy()

    def get_file_paths(self) -> list[str]:
        paths = [str(var.group) for var in self._vars.values()]
        return paths + ([str(self._timestamps_path)] if self._timestamps_path is not None else [])

    def get_metadata(self) -> dict[str, Any]:
        """The scalar labels (``animal``, ``session``, ``session_id``) and, per Minian array, its dimensions,
        shape, dtype and attributes."""
        first = self._vars["A"]
        meta: dict[str, Any] = {key: first.scalar(key) for key in ("animal", "session", "session_id")}
        meta = {k: v for k, v in meta.items() if v is not None}
        meta["arrays"] = {name: {"dims": list(var.dims), "shape": list(var.shape), "dtype": str(var.dtype),
                                 "attrs": var.attrs} for name, var in self._vars.items()}
        meta["frames"] = self._frames.tolist()
        if self._timestamps_path is not None:
            meta["timestamps_path"] = str(self._timestamps_path)
        return meta

    def get_acquisition_facts(self):
        """The rate, the labels and arrays of Minian's groups; Minian records no device or pixel size."""
        return super().get_acquisition_facts().replace(software="Minian")

    def _get_native_timestamps(self) -> np.ndarray | None:
        return self._stamps

    # ------------------------------------------------------------------ reads
    def _trace_dtype(self, name: str) -> np.dtype:
        return self._vars["f" if name == "background" else _TRACES[name]].dtype

    def _read_traces(self, name: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        frames = slice(start, stop)
        if name == "background":
            f = self._vars["f"]
            data = f.read(("frame", "unit_id"), frame=frames)
            return data[:, np.asarray(positions, dtype=np.int64)]
        var = self._vars[_TRACES[name]]
        units = self._unit_positions[var.name][np.asarray(positions, dtype=np.int64)]
        return var.read(("frame", "unit_id"), frame=frames, unit_id=units)

    def _read_image_masks(self, positions: np.ndarray, background: bool = False) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        if background:
            masks = self._vars["b"].read(("height", "width", "unit_id"))
            return masks[:, :, positions]
        if not len(positions):
            return np.zeros((*self._shape, 0), dtype=self._vars["A"].dtype)
        return self._vars["A"].read(("height", "width", "unit_id"), unit_id=positions)

    def _read_images(self) -> dict[str, np.ndarray]:
        proj = self._vars.get("max_proj")
        return {} if proj is None else {"max": proj.read(("height", "width"))}
