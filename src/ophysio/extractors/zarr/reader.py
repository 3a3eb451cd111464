"""A movie in a Zarr store: :class:`ZarrImagingExtractor`.

Which array: ``dataset=`` (its path in the store), else the first (full-resolution) dataset of the OME-NGFF
``multiscales`` (``resolution_level=`` picks another), else the store's root array, else its only array of
three or more axes.

Axis order: ``dims=`` (``"TCZYX"``...), else the multiscale's ``axes`` (names t, c, z, y, x, or types
time, channel, space), else the array's dimension names (Zarr v3 ``dimension_names``, xarray's
``_ARRAY_DIMENSIONS``), else ``"TYX"`` for 3-D data. A channel axis gives one channel per extractor
(``channel_name=`` from the OMERO labels or ophysio's ``channel_names``, else ``channel_<i>``; the first by
default), a ``z`` axis of more than one plane volumetric samples (``plane_index=`` reads one plane).

Rate: ``sampling_frequency=``, else ophysio's ``sampling_frequency`` attribute, else the time axis' scale
(with its unit). Times: the array ophysio's ``timestamps`` attribute names. Pixel size, plane spacing and
origin come from the multiscale's scale and translation (with the axes' units).

Reads go by whole chunks (inner chunks of a sharded v3 array) through a bounded chunk cache shared by the
extractor's reads; a URL (HTTP(S), S3, DANDI, fsspec) streams the same way.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import FileSetError, FormatError, MetadataError, SelectionError
from .._remote.chunks import CHUNK_CACHE_BYTES, ChunkCache
from ..axes import ArrayLayout, LayoutFacts, channel_count, checked_timestamps, dims_from_labels, parse_dims
from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor, checked_rate

__all__ = ["ZarrImagingExtractor"]

#: seconds per unit of a time axis
TIME_UNITS = {"second": 1.0, "s": 1.0, "millisecond": 1e-3, "ms": 1e-3, "microsecond": 1e-6, "minute": 60.0,
              "hour": 3600.0, "nanosecond": 1e-9}
#: micrometers per unit of a space axis
SPACE_UNITS = {"micrometer": 1.0, "um": 1.0, "µm": 1.0, "micron": 1.0, "nanometer": 1e-3, "nm": 1e-3,
               "millimeter": 1e3, "mm": 1e3, "centimeter": 1e4, "meter": 1e6, "m": 1e6, "angstrom": 1e-4}
_AXIS_LETTERS = {"t": "T", "time": "T", "c": "C", "channel": "C", "z": "Z", "y": "Y", "x": "X"}


def _ngff(attrs: dict) -> dict:
    """The OME-NGFF attributes: under ``ome`` (0.5) or at the top (0.4)."""
    ome = attrs.get("ome")
    return ome if isinstance(ome, dict) else attrs


def _axis_letters(axes: Any, where: str) -> str | None:
    if not isinstance(axes, list):
        return None
    letters = []
    for axis in axes:
        name = axis if isinstance(axis, str) else axis.get("name") if isinstance(axis, dict) else None
        kind = axis.get("type") if isinstance(axis, dict) else None
        letter = _AXIS_LETTERS.get(str(name).lower()) or {"time": "T", "channel": "C"}.get(str(kind).lower())
        if letter is None:
            raise FormatError(f"{where}: axis {axis!r} of the multiscales is not one of t, c, z, y, x; pass dims=")
        letters.append(letter)
    return "".join(letters)


class ZarrImagingExtractor(LayoutFacts, ImagingExtractor):
    """A movie in a Zarr store (see the module documentation), local or at a URL.

    Parameters
    ----------
    file_path : str or os.PathLike
        The store: a folder, or a URL (``https://...``, ``s3://...``, a DANDI Zarr asset...).
    channel_name : str, optional
        The channel to read (default: the first).
    channel_index : int, optional
        The channel by position.
    plane_index : int, optional
        Read one plane of a z axis as planar data.
    dataset : str, optional
        Path of the array in the store (default: the multiscale's first dataset, or the only array).
    dims : str, optional
        Stored axis order, letters T, C, Z, Y, X (default: from the metadata).
    sampling_frequency : float, optional
        Samples per second, when the store states none (or to override it).
    resolution_level : int
        Which dataset of the multiscales (0: full resolution).
    cache_dir, cache_bytes, storage_options
        As for :class:`~ophysio.extractors.nwb.reader.NwbImagingExtractor`.
    """

    format_id = "zarr"
    extractor_name = "ZarrImaging"

    def __init__(self, file_path: str | os.PathLike, channel_name: str | None = None, *,
                 channel_index: int | None = None, plane_index: int | None = None, dataset: str | None = None,
                 dims: str | None = None, sampling_frequency: float | None = None, resolution_level: int = 0,
                 cache_dir: str | os.PathLike | None = None, cache_bytes: int = CHUNK_CACHE_BYTES,
                 storage_options: dict | None = None):
        from .._remote.urls import is_remote
        from .._zarr.array import ZarrArray
        from .._zarr.nodes import ZarrTree
        from .._zarr.store import open_store

        super().__init__()
        self._file_path = file_path if isinstance(file_path, str) else os.fspath(file_path)
        if not is_remote(self._file_path) and not Path(self._file_path).is_dir():
            raise FileSetError(f"{self._file_path} does not exist or is not a folder (a Zarr store is a folder)")
        self._cache = ChunkCache(cache_bytes)
        self._store = open_store(self._file_path, cache_dir, storage_options)
        self._tree = ZarrTree(self._store)
        root = self._tree.root
        self._root_attrs = dict(root.attrs) if root.kind == "group" else {}
        ngff = _ngff(self._root_attrs)
        self._ophysio_attrs = self._root_attrs.get("ophysio") if isinstance(self._root_attrs.get("ophysio"), dict) \
            else {}
        self._multiscale, node, self._transforms = self._choose(root, ngff, dataset, resolution_level)
        self._data = ZarrArray(self._store, node)
        where = f"{self._file_path}: array {node.path or '/'} {'x'.join(map(str, self._data.shape))}"
        if self._data.dtype.kind not in "biuf":
            raise FormatError(f"{where} holds {self._data.dtype}, not numbers")
        dims, self._dims_source = self._find_dims(dims, node, where)
        dims = parse_dims(dims, len(self._data.shape), where)
        count = channel_count(self._data.shape, dims, where)
        names = self._channel_labels(ngff, count)
        if channel_name is not None and channel_index is not None:
            raise SelectionError("give channel_name or channel_index, not both")
        if channel_name is not None:
            index = self._choose_channel(names, channel_name, self._file_path)
        else:
            index = 0 if channel_index is None else int(channel_index)
            if not 0 <= index < count:
                raise SelectionError(f"channel_index {index} is out of range for the channels {names}")
            self._channel_names, self._channel_name = tuple(names), names[index]
        if "Z" in dims and plane_index is None and self._data.shape[dims.index("Z")] == 1:
            plane_index = 0  # a single plane: planar samples
        self._layout = ArrayLayout(dims, tuple(self._data.shape), index,
                                   None if plane_index is None else int(plane_index), where)
        self._dtype = self._data.dtype
        self._native = self._timestamps_array()
        self._sampling_frequency = self._find_rate(sampling_frequency, dims)

    # ------------------------------------------------------------------ set-up
    def _choose(self, root, ngff: dict, dataset: str | None, level: int):
        if dataset is not None:
            node = self._tree.node(str(dataset).strip("/"))
            if node is None or node.kind != "array":
                raise SelectionError(f"{self._file_path} has no array {dataset!r}")
            return None, node, []
        if root.kind == "array":
            return None, root, []
        multiscales = ngff.get("multiscales")
        if isinstance(multiscales, list) and multiscales and isinstance(multiscales[0], dict):
            multiscale = multiscales[0]
            datasets = multiscale.get("datasets")
            if not isinstance(datasets, list) or not datasets:
                raise FormatError(f"{self._file_path}: its multiscales list no datasets")
            if not 0 <= level < len(datasets) or not isinstance(datasets[level], dict):
                raise SelectionError(f"{self._file_path}: resolution_level {level} is out of range for "
                                     f"{len(datasets)} datasets")
            path = str(datasets[level].get("path", ""))
            node = self._tree.node(path)
            if node is None or node.kind != "array":
                raise FormatError(f"{self._file_path}: the multiscales' dataset {path!r} is not an array of the store")
            transforms = list(datasets[level].get("coordinateTransformations") or []) + \
                list(multiscale.get("coordinateTransformations") or [])
            return multiscale, node, transforms
        arrays = []
        for name in self._tree.children(""):
            child = self._tree.node(name)
            if child is not None and child.kind == "array" and len(child.meta.get("shape") or []) >= 3:
                arrays.append(child)
        if len(arrays) == 1:
            return None, arrays[0], []
        listing = ", ".join(a.path for a in arrays) or "none"
        raise FormatError(f"{self._file_path} has no OME-NGFF multiscales and {len(arrays)} arrays of 3 or more axes "
                          f"({listing}): pass dataset=...")

    def _find_dims(self, dims: str | None, node, where: str) -> tuple[str, str]:
        if dims is not None:
            return dims, "given"
        if self._multiscale is not None:
            letters = _axis_letters(self._multiscale.get("axes"), where)
            if letters is not None:
                return letters, "OME-NGFF multiscales axes"
        names = self._data.dimension_names if node.zarr_format == 3 else node.attrs.get("_ARRAY_DIMENSIONS")
        if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
            letters = dims_from_labels(names)
            if letters is not None:
                return letters, f"dimension names {list(names)}"
        if len(self._data.shape) == 3:
            return "TYX", "default for 3-D data"
        raise MetadataError(f"the axis order of {where} is unknown: pass dims= (e.g. 'TCZYX', 'TZYX')")

    def _channel_labels(self, ngff: dict, count: int) -> list[str]:
        omero = ngff.get("omero") if isinstance(ngff.get("omero"), dict) else {}
        labels = [c.get("label") for c in omero.get("channels") or [] if isinstance(c, dict)]
        if len(labels) == count and all(isinstance(x, str) and x for x in labels) and len(set(labels)) == count:
            return labels
        names = self._ophysio_attrs.get("channel_names")
        if isinstance(names, list) and len(names) == count and all(isinstance(x, str) and x for x in names) \
                and len(set(names)) == count:
            return list(names)
        return [f"channel_{i}" for i in range(count)]

    def _transform(self, kind: str) -> list[float] | None:
        """The values of the first ``kind`` ("scale" or "translation") coordinate transform, one per axis."""
        for transform in self._transforms:
            if isinstance(transform, dict) and transform.get("type") == kind:
                values = transform.get(kind)
                if isinstance(values, list) and len(values) == len(self._data.shape):
                    try:
                        return [float(v) for v in values]
                    except (TypeError, ValueError):
                        return None
        return None

    def _scale(self) -> list[float] | None:
        return self._transform("scale")

    def _translation(self) -> list[float] | None:
        return self._transform("translation")

    def _unit(self, letter: str) -> str | None:
        axes = (self._multiscale or {}).get("axes")
        if not isinstance(axes, list) or len(axes) != len(self._data.shape) or letter not in self._layout.dims:
            return None
        axis = axes[self._layout.dims.index(letter)]
        return str(axis.get("unit")).lower() if isinstance(axis, dict) and axis.get("unit") else None

    def _find_rate(self, given: float | None, dims: str) -> float | None:
        if given is not None:
            self._rate_source = "given"
            return checked_rate(given)
        stated = self._ophysio_attrs.get("sampling_frequency")
        if isinstance(stated, (int, float)) and not isinstance(stated, bool) and math.isfinite(stated) and stated > 0:
            self._rate_source = "ophysio attribute sampling_frequency"
            return float(stated)
        scale = self._scale()
        if scale is not None:
            unit = self._unit("T") or "second"
            step = scale[dims.index("T")] * TIME_UNITS.get(unit, float("nan"))
            if math.isfinite(step) and step > 0:
                self._rate_source = "the time axis' scale"
                return 1.0 / step
        return self._rate_unknown(f"no sampling rate in {self._file_path} (no ophysio sampling_frequency attribute, "
                                  "no scale of a time axis in seconds)")

    def _timestamps_array(self):
        name = self._ophysio_attrs.get("timestamps")
        if not isinstance(name, str) or not name.strip():
            return None
        node = self._tree.node(name.strip("/"))
        if node is None or node.kind != "array":
            raise MetadataError(f"{self._file_path}: the ophysio attribute timestamps names {name!r}, which is not an "
                                "array of the store")
        from .._zarr.array import ZarrArray

        array = ZarrArray(self._store, node)
        if array.shape != (self._layout.num_samples,):
            raise MetadataError(f"{self._file_path}: array {name} holds {array.shape} times for "
                                f"{self._layout.num_samples} samples")
        return array

    # ------------------------------------------------------------------ facts
    def _get_native_timestamps(self) -> np.ndarray | None:
        if self._native is None:
            return None
        return checked_timestamps(self._native.read_all(), self._layout.num_samples,
                                  f"{self._file_path}: array {self._native.path}")

    def get_metadata(self) -> dict:
        """The store's root attributes (OME-NGFF, OMERO, ophysio) and the array read, its axes and storage."""
        return {
            "attributes": self._root_attrs,
            "array": self._data.path,
            "zarr_format": self._data.zarr_format,
            "shape": list(self._data.shape),
            "chunks": list(self._data.chunks),
            "sharded": self._data.sharded,
            "dims": self._layout.dims,
            "dims_source": self._dims_source,
        }

    def get_acquisition_facts(self) -> AcquisitionFacts:
        facts = super().get_acquisition_facts()
        scale, translation = self._scale(), self._translation()
        dims = self._layout.dims
        changes: dict[str, Any] = {}

        def micrometers(values, letter):
            if values is None or letter not in dims:
                return None
            factor = SPACE_UNITS.get(self._unit(letter) or "micrometer")
            if factor is None:
                return None
            return float(f"{values[dims.index(letter)] * factor:.12g}")

        dy, dx = micrometers(scale, "Y"), micrometers(scale, "X")
        if dy and dx and dy > 0 and dx > 0:
            changes["pixel_size_um"] = (dy, dx)
            rows, columns = self.get_image_shape()
            changes["field_of_view_um"] = (float(f"{rows * dy:.12g}"), float(f"{columns * dx:.12g}"))
        dz = micrometers(scale, "Z")
        if dz and dz > 0 and self.is_volumetric:
            changes["plane_spacing_um"] = dz
        oy, ox = micrometers(translation, "Y"), micrometers(translation, "X")
        if oy is not None and ox is not None:
            oz = micrometers(translation, "Z")
            if oz is not None and self._layout.plane is not None and dz:
                oz += self._layout.plane * dz
            changes["origin_um"] = (oy, ox) if oz is None else (oy, ox, oz)
            if oz is not None:
                count = self.get_num_planes()
                changes["plane_depths_um"] = tuple(float(f"{oz + i * (dz or 0):.12g}") for i in range(count))
        return facts.replace(**changes)

    def get_file_paths(self) -> list[str]:
        return [self._file_path]

    # ------------------------------------------------------------------ reading
    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        layout = self._layout
        pick = {}
        if "C" in layout.dims:
            pick[layout.dims.index("C")] = layout.channel
        if layout.plane is not None:
            pick[layout.dims.index("Z")] = layout.plane
        kept, target = layout.kept, layout.target
        view = out.transpose([target.index(letter) for letter in kept])  # out seen in the stored axis order
        self._data.chunked(self._cache).read(start, stop, view, pick, time_axis=layout.dims.index("T"))

    def _read_samples(self, indices: np.ndarray, out: np.ndarray) -> None:
        """Scattered samples: all their chunks fetched together (in parallel), each once."""
        if len(indices) < 2:
            super()._read_samples(indices, out)
            return
        layout = self._layout
        pick = {}
        if "C" in layout.dims:
            pick[layout.dims.index("C")] = layout.channel
        if layout.plane is not None:
            pick[layout.dims.index("Z")] = layout.plane
        view = out.transpose([layout.target.index(letter) for letter in layout.kept])
        self._data.chunked(self._cache).read_indices(indices, view, pick, time_axis=layout.dims.index("T"))

    def close(self) -> None:
        self._cache.clear()
        super().close()
        from .._remote.urls import is_remote

        if is_remote(self._file_path):
            from .._remote.http import close_connections

            close_connections()
