"""An extractor as a lazy array of the scientific-Python stack: dask (:func:`to_dask`) and xarray (:func:`to_xarray`).

Both are reached as methods of every extractor (``extractor.to_dask()``, ``extractor.to_xarray()``) and
read no pixel when called: the array knows its shape, dtype and chunks from the extractor's facts, and
each chunk, when computed, is one :meth:`~ophysio.extractors.ImagingExtractor.get_series` of the
extractor. The dask graph holds the extractor itself (extractors pickle: they hold paths and facts, no
open file), so the array computes in threads, in processes and on a distributed cluster alike. Views
(``slice_samples``, ``slice_field_of_view``, ``select_plane``, ``bin_samples``, concatenations) are
extractors too, so their arrays read only what the view shows.

dask and xarray are optional: without them these functions raise
:class:`~ophysio.errors.MissingExtraError` naming the extra to install (``ophysio[dask]``,
``ophysio[xarray]``).

A segmentation is reached the same way (:mod:`ophysio.extractors.segmentation.arrays`).
"""

from __future__ import annotations

import dataclasses
import importlib
import operator
import uuid
from datetime import date, datetime, time
from typing import Any

import numpy as np

from ..errors import MissingExtraError

__all__ = ["DASK_CHUNK_BYTES", "chunk_samples_for", "to_dask", "to_xarray", "facts_attrs", "MissingExtraError"]

#: Bytes of one dask chunk by default: ten of ophysio's NWB chunks
#: (``ophysio.conversion.chunks.DEFAULT_CHUNK_BYTES``, about 1 MiB of whole samples, sized for streaming
#: reads), so that a dask chunk is a whole number of NWB chunks of the series written from it while a task
#: still carries enough work for dask's scheduling cost (a test keeps the two in step).
NWB_CHUNKS_PER_DASK_CHUNK = 10
DASK_CHUNK_BYTES = NWB_CHUNKS_PER_DASK_CHUNK * 1024**2


def _require(module: str, extra: str, what: str) -> Any:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        raise MissingExtraError(
            f'{what} needs {package}, which is not installed ({exc}): pip install "ophysio[{extra}]"',
            extra=extra,
        ) from None


def chunk_samples_for(extractor, chunk_bytes: int = DASK_CHUNK_BYTES) -> int:
    """Samples in one chunk of about ``chunk_bytes`` of whole samples (at least one, at most all of them).

    By default a whole number of NWB chunks (:func:`ophysio.conversion.chunks.chunk_shape_for`: as many whole
    samples as fit in about 1 MiB), :data:`NWB_CHUNKS_PER_DASK_CHUNK` of them; otherwise as many whole samples
    as fit in ``chunk_bytes``.
    """
    sample = max(extractor.sample_nbytes, 1)
    if chunk_bytes == DASK_CHUNK_BYTES:
        per_chunk = NWB_CHUNKS_PER_DASK_CHUNK * max(1, (DASK_CHUNK_BYTES // NWB_CHUNKS_PER_DASK_CHUNK) // sample)
    else:
        per_chunk = max(1, int(chunk_bytes) // sample)
    return max(1, min(per_chunk, extractor.get_num_samples()))


def _time_chunks(num_samples: int, chunk_samples: int) -> tuple[int, ...]:
    if num_samples == 0:
        return (0,)
    full, last = divmod(num_samples, chunk_samples)
    return (chunk_samples,) * full + ((last,) if last else ())


class _LazySeries:
    """What :func:`dask.array.from_array` reads from: the extractor's shape and dtype, and its indexing.

    A chunk's key is a slice of whole samples, so ``extractor[key]`` is one ``get_series``; keys that dask
    fuses with a later selection (a crop, one sample, a step) read only what they select.
    """

    def __init__(self, extractor):
        self.extractor = extractor
        self.shape = tuple(extractor.shape)
        self.dtype = extractor.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        return self.extractor[key]

    def __repr__(self) -> str:
        return f"_LazySeries({self.extractor!r})"


def to_dask(extractor, chunk_samples: int | None = None):
    """The extractor's series as a lazy :class:`dask.array.Array`; nothing is read until it is computed.

    Parameters
    ----------
    extractor : ImagingExtractor
        Any extractor or view.
    chunk_samples : int, optional
        Samples per chunk along time; by default as many whole samples as fill
        :data:`DASK_CHUNK_BYTES` (about 10 MiB: ten NWB chunks). Chunks always hold whole samples: a chunk
        is one ``get_series(start, stop)`` of the extractor.

    Returns
    -------
    dask.array.Array
        Shape ``(samples, rows, columns)`` for planar data, ``(samples, rows, columns, planes)`` for
        volumetric data, with the extractor's dtype. Each call gives an array with a new dask name.

    Raises
    ------
    MissingExtraError
        dask is not installed (``pip install "ophysio[dask]"``).
    """
    da = _require("dask.array", "dask", "to_dask()")
    num_samples = extractor.get_num_samples()
    if chunk_samples is None:
        chunk_samples = chunk_samples_for(extractor)
    else:
        if isinstance(chunk_samples, bool):
            raise TypeError("chunk_samples must be an integer, not a bool")
        chunk_samples = operator.index(chunk_samples)
        if chunk_samples < 1:
            raise ValueError(f"chunk_samples must be at least 1, got {chunk_samples}")
    source = _LazySeries(extractor)
    chunks = (_time_chunks(num_samples, chunk_samples), *((size,) for size in source.shape[1:]))
    # A random name: the extractor's state (its files, a view's selection, in-memory data) is not hashed,
    # which could cost as much as reading it; two calls thus give two names for the same values.
    name = f"ophysio-{extractor.format_id}-{uuid.uuid4().hex}"
    meta = np.empty((0,) * source.ndim, dtype=source.dtype)
    return da.from_array(source, chunks=chunks, name=name, lock=False, asarray=False, fancy=True, meta=meta,
                         inline_array=False)


# ---------------------------------------------------------------------- xarray
def _json_value(value: Any) -> Any:
    """``value`` as JSON-able Python values (tuples become lists, times ISO 8601 text)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json_value(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None}
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def facts_attrs(facts) -> dict[str, Any]:
    """The acquisition facts as JSON-able attributes: each recorded fact under its field's name.

    Facts that were not recorded (None) are left out; the source's whole header is not copied (it is
    :meth:`~ophysio.extractors.ImagingExtractor.get_metadata`).
    """
    attrs = {}
    for field in dataclasses.fields(facts):
        if field.name == "source_header":
            continue
        value = getattr(facts, field.name)
        if value is not None:
            attrs[field.name] = _json_value(value)
    return attrs


def _time_coordinate(extractor) -> tuple[np.ndarray, dict[str, str], str]:
    """Values and attributes of the time coordinate, and a sentence on where they come from."""
    rate = extractor.get_sampling_frequency()
    if extractor.has_time_vector():
        how = "times set with set_times(), in seconds"
    elif extractor.has_recorded_times():
        how = "the times the source recorded for each sample, in seconds"
    elif rate is not None:
        how = f"sample index / sampling frequency ({float(rate):.6g} Hz), in seconds"
    else:
        how = ("the sample index: the source states no sampling rate and records no times (pass "
               "sampling_frequency= when opening, or set_times(), for times in seconds)")
        values = np.arange(extractor.get_num_samples(), dtype=np.int64)
        return values, {"units": "sample", "long_name": "sample index"}, how
    values = np.asarray(extractor.get_timestamps(), dtype=np.float64)
    return values, {"units": "s", "long_name": "time"}, how


def _spatial_coordinates(extractor, facts) -> dict[str, tuple]:
    """``y``, ``x`` (and ``z``) coordinates: micrometers where the source records the spacing, else indices."""
    rows, columns = extractor.get_image_shape()
    coords: dict[str, tuple] = {}
    size = facts.pixel_size_um
    for dim, count, axis in (("y", rows, 0), ("x", columns, 1)):
        if size is not None:
            values = np.arange(count, dtype=np.float64) * float(size[axis])
            attrs = {"units": "um", "long_name": f"{dim}: distance from the first pixel's centre"}
        else:
            values = np.arange(count, dtype=np.int64)
            attrs = {"units": "pixel", "long_name": f"{dim}: pixel index (the source records no pixel size)"}
        coords[dim] = (dim, values, attrs)
    if extractor.is_volumetric:
        planes = extractor.get_num_planes()
        depths, spacing = facts.plane_depths_um, facts.plane_spacing_um
        if depths is not None and len(depths) == planes:
            values = np.asarray(depths, dtype=np.float64)
            attrs = {"units": "um", "long_name": "z: depth of each plane as recorded"}
        elif spacing is not None:
            values = np.arange(planes, dtype=np.float64) * float(spacing)
            attrs = {"units": "um", "long_name": "z: distance from the first plane"}
        else:
            values = np.arange(planes, dtype=np.int64)
            attrs = {"units": "plane", "long_name": "z: plane index (the source records no plane spacing)"}
        coords["z"] = ("z", values, attrs)
    return coords


def to_xarray(extractor, chunk_samples: int | None = None):
    """The extractor's series as a lazy, labelled :class:`xarray.DataArray` backed by :func:`to_dask`.

    Dimensions are ``(time, y, x)``, and ``(time, y, x, z)`` for volumetric data. Coordinates:

    - ``time``: seconds; the times set with ``set_times``, else those the source recorded, else
      ``index / sampling frequency``. A source that states no rate and records no times has the sample
      index instead (``units: "sample"``), and the ``time_coordinate`` attribute says so.
    - ``y``, ``x``: micrometers from the first pixel (pixel index × pixel size); pixel indices when the
      source records no pixel size (``units: "pixel"``).
    - ``z``: the recorded depth of each plane in micrometers, else plane index × plane spacing, else the
      plane index.
    - ``channel``: the channel's name (a scalar coordinate); the array's name is the channel's name too.

    ``attrs`` hold the acquisition facts (:func:`facts_attrs`: device, pixel size, plane depths, start
    time, wavelengths... whatever the source records), the format id, the files read, and
    ``time_coordinate`` saying where the times come from; all are JSON-able.

    Raises
    ------
    MissingExtraError
        xarray (or dask) is not installed (``pip install "ophysio[xarray]"``).
    """
    xr = _require("xarray", "xarray", "to_xarray()")
    data = to_dask(extractor, chunk_samples)
    facts = extractor.get_acquisition_facts()
    times, time_attrs, how = _time_coordinate(extractor)
    coords: dict[str, Any] = {"time": ("time", times, time_attrs)}
    coords.update(_spatial_coordinates(extractor, facts))
    channel = extractor.channel_name
    coords["channel"] = ((), channel, {"long_name": "channel this stream reads"})
    dims = ("time", "y", "x", "z") if extractor.is_volumetric else ("time", "y", "x")
    attrs = facts_attrs(facts)
    rate = extractor.get_sampling_frequency()
    if rate is not None:
        attrs["sampling_frequency_hz"] = float(rate)
    attrs["format"] = extractor.format_id
    attrs["file_paths"] = [str(path) for path in extractor.get_file_paths()]
    attrs["time_coordinate"] = how
    return xr.DataArray(data, dims=dims, coords=coords, name=channel, attrs=attrs)
