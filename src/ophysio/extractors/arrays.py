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

A segmentation is reached the same way: :func:`traces_to_dask` and :func:`traces_to_xarray` give its traces
as ``(time, roi)`` arrays whose chunks are ranges of samples, each one read of those samples of every ROI
(``get_traces``); :func:`masks_to_xarray` its ROI masks as a lazy ``(roi, y, x[, z])`` array chunked by ROI,
:func:`images_to_xarray` its summary images, and :func:`roi_label_image` its masks as one integer image
(the napari labels layer).
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

__all__ = ["DASK_CHUNK_BYTES", "chunk_samples_for", "to_dask", "to_xarray", "facts_attrs", "MissingExtraError",
           "traces_to_dask", "traces_to_xarray", "masks_to_xarray", "images_to_xarray", "roi_label_image"]

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



# ---------------------------------------------------------------------- segmentation
#: The dimension of the background components (CaImAn's, Minian's), whose ids are not the ROIs'.
BACKGROUND_DIM = "background_component"

def _checked_count(value: int | None, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an integer, not a bool")
    value = operator.index(value)
    if value < 1:
        raise ValueError(f"{what} must be at least 1, got {value}")
    return value


def _per_chunk(item_nbytes: int, count: int, chunk_bytes: int = DASK_CHUNK_BYTES) -> int:
    """Items of ``item_nbytes`` in a chunk of about ``chunk_bytes`` (at least one, at most ``count``)."""
    return max(1, min(chunk_bytes // max(int(item_nbytes), 1), count))


def _trace_source(extractor, name: str):
    from .segmentation.traces import BACKGROUND_TRACES, TraceArray

    extractor._check_trace(name)
    background = name in BACKGROUND_TRACES
    count = extractor.get_num_background_components() if background else extractor.get_num_rois()
    return TraceArray(extractor, name, np.arange(count, dtype=np.int64)), background


def traces_to_dask(extractor, name: str = "raw", chunk_samples: int | None = None):
    """Trace ``name`` of a segmentation as a lazy ``(samples, ROIs)`` :class:`dask.array.Array`.

    Each chunk is a range of samples of every ROI (of every background component for ``background``),
    read when computed as one ``get_traces(start_sample=..., end_sample=..., name=name)`` of the (pickled)
    extractor; a selection straight from the array (``traces[100:200, :5]``) reads only what it selects.
    By default a chunk holds about :data:`DASK_CHUNK_BYTES` of samples; ``chunk_samples`` sets another size.

    Raises
    ------
    SelectionError
        The segmentation has no trace ``name``.
    MissingExtraError
        dask is not installed (``pip install "ophysio[dask]"``).
    """
    da = _require("dask.array", "dask", "to_dask()")
    source, _ = _trace_source(extractor, name)
    samples, rois = source.shape
    chunk_samples = _checked_count(chunk_samples, "chunk_samples")
    if chunk_samples is None:
        chunk_samples = _per_chunk(rois * source.dtype.itemsize, samples)
    chunks = (_time_chunks(samples, chunk_samples), (rois,))
    dask_name = f"ophysio-{extractor.format_id}-{name}-{uuid.uuid4().hex}"
    # fancy: TraceArray indexes each axis on its own (an integer array selects samples or ROIs), so dask
    # may fold a selection into the chunk's read, which then reads only what is selected
    return da.from_array(source, chunks=chunks, name=dask_name, lock=False, asarray=False, fancy=True,
                         meta=np.empty((0, 0), dtype=source.dtype), inline_array=False)


def _id_values(ids: list) -> np.ndarray:
    values = np.asarray(ids)
    if values.dtype == object:  # mixed ids: as text
        values = np.asarray([str(i) for i in ids])
    return values


def _key(roi_id: Any) -> Any:
    """A ROI id as a set member (numpy integers as Python ints), as the segmentation contract keys them."""
    return int(roi_id) if isinstance(roi_id, np.integer) else roi_id


def _roi_coordinates(extractor) -> dict[str, tuple]:
    """The ``roi`` coordinate (the ids) and what is known of each ROI as coordinates along it: ``accepted``,
    ``plane``, ``centroid_y``/``centroid_x`` (``centroid_z``), and every property of one value per ROI."""
    ids = extractor.get_roi_ids()
    n = len(ids)
    coords: dict[str, tuple] = {"roi": ("roi", _id_values(ids), {"long_name": "ROI id"})}
    accepted = {_key(i) for i in extractor.get_accepted_list()}
    coords["accepted"] = ("roi", np.array([_key(i) in accepted for i in ids], dtype=bool),
                          {"long_name": "whether the ROI is accepted (get_accepted_list)"})
    coords["plane"] = ("roi", np.asarray(extractor.get_roi_planes(), dtype=np.int64).reshape(n),
                       {"long_name": "plane of the ROI (-1: it spans several)"})
    axes = ("y", "x", "z") if extractor.is_volumetric else ("y", "x")
    if n:
        centroids = np.asarray(extractor.get_property("roi_centroids"), dtype=np.float64).reshape(n, -1)
    else:
        centroids = np.zeros((0, len(axes)))
    for axis, dim in enumerate(axes[:centroids.shape[1]]):
        coords[f"centroid_{dim}"] = ("roi", centroids[:, axis], {
            "units": "pixel", "long_name": f"{dim} of the ROI's weighted centroid, in pixels"})
    for key in extractor.get_property_keys():
        if key == "roi_centroids" or key in coords or key in ("time", "channel", BACKGROUND_DIM):
            continue
        values = np.asarray(extractor.get_property(key))
        if values.shape == (n,) and values.dtype.kind in "biufUS":
            coords[key] = ("roi", values, {"long_name": extractor.get_property_description(key)})
    return coords


def _segmentation_attrs(extractor, how: str) -> dict[str, Any]:
    attrs = facts_attrs(extractor.get_acquisition_facts())
    rate = extractor.get_sampling_frequency()
    if rate is not None:
        attrs["sampling_frequency_hz"] = float(rate)
    attrs["format"] = extractor.format_id
    attrs["file_paths"] = [str(path) for path in extractor.get_file_paths()]
    if how:
        attrs["time_coordinate"] = how
    return attrs


def traces_to_xarray(extractor, name: str | None = None, chunk_samples: int | None = None):
    """A segmentation's traces as lazy, labelled xarray objects backed by :func:`traces_to_dask`.

    With ``name``, that trace as a :class:`xarray.DataArray` of dims ``(time, roi)`` (``(time,
    background_component)`` for the ``background`` trace); without, a :class:`xarray.Dataset` of every
    trace the source has (``raw``, ``dff``, ``neuropil``, ``deconvolved``, ``denoised``...), sharing the
    coordinates:

    - ``time``: seconds, as for imaging (:func:`to_xarray`): times set with ``set_times``, else recorded,
      else ``index / sampling frequency``, else the sample index (``units: "sample"``);
    - ``roi``: the ROI ids, with, along it, ``accepted`` (bool), ``plane``, ``centroid_y``, ``centroid_x``
      (``centroid_z``; pixels, weighted by the mask) and every property of one value per ROI (suite2p's
      ``iscell_probability``, CaImAn's ``snr``...);
    - ``background_component``: the background components' ids (the dim of the ``background`` trace);
    - ``channel`` (scalar): the channel whose traces these are.

    ``attrs`` hold the acquisition facts, the rate, the format, the files and ``time_coordinate``.

    Raises
    ------
    SelectionError
        The segmentation has no trace ``name``.
    MissingExtraError
        xarray (or dask) is not installed (``pip install "ophysio[xarray]"``).
    """
    xr = _require("xarray", "xarray", "to_xarray()")
    _require("dask.array", "xarray", "to_xarray()")
    names = extractor.get_trace_names() if name is None else [name]
    for trace in names:
        extractor._check_trace(trace)
    times, time_attrs, how = _time_coordinate(extractor)
    coords: dict[str, Any] = {"time": ("time", times, time_attrs)}
    coords.update(_roi_coordinates(extractor))
    from .segmentation.traces import BACKGROUND_TRACES

    if any(trace in BACKGROUND_TRACES for trace in names):
        coords[BACKGROUND_DIM] = (BACKGROUND_DIM, _id_values(extractor.get_background_ids()),
                                  {"long_name": "background component id"})
    coords["channel"] = ((), extractor.channel_name, {"long_name": "channel whose traces these are"})
    attrs = _segmentation_attrs(extractor, how)
    arrays = {}
    for trace in names:
        dim = BACKGROUND_DIM if trace in BACKGROUND_TRACES else "roi"
        arrays[trace] = xr.DataArray(traces_to_dask(extractor, trace, chunk_samples), dims=("time", dim),
                                     name=trace, attrs={"long_name": f"{trace} trace"})
    if name is not None:
        dim = arrays[name].dims[1]
        own = {key: value for key, value in coords.items() if value[0] in ((), "time", dim)}
        return xr.DataArray(arrays[name].data, dims=arrays[name].dims, coords=own, name=name,
                            attrs={**attrs, "long_name": f"{name} trace"})
    return xr.Dataset(arrays, coords=coords, attrs=attrs)


class _LazyMasks:
    """What :func:`dask.array.from_array` reads masks from: ``(roi, *volume)``, a chunk of ROIs one read."""

    def __init__(self, extractor, background: bool, dtype: np.dtype):
        self.extractor = extractor
        self.background = background
        count = extractor.get_num_background_components() if background else extractor.get_num_rois()
        self.shape = (count, *extractor._mask_shape())
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        positions = np.arange(self.shape[0], dtype=np.int64)[key[0]]
        scalar = np.ndim(positions) == 0
        positions = np.atleast_1d(positions)
        if positions.size:
            dense = np.asarray(self.extractor._read_image_masks(positions, self.background))
            block = np.moveaxis(dense, -1, 0).astype(self.dtype, copy=False)
        else:
            block = np.zeros((0, *self.shape[1:]), dtype=self.dtype)
        block = block[(slice(None), *key[1:])]
        return block[0] if scalar else block


def masks_to_xarray(extractor, background: bool = False, chunk_rois: int | None = None):
    """A segmentation's masks as a lazy :class:`xarray.DataArray` of dims ``(roi, y, x)`` (``(roi, y, x,
    z)`` volumetric), each pixel holding the ROI's weight; ``background=True`` gives the background
    components' (dim ``background_component``).

    Chunks are groups of whole ROIs (about :data:`DASK_CHUNK_BYTES` each, or ``chunk_rois`` ROIs), each one
    ``get_roi_image_masks`` of the extractor when computed. Coordinates: ``roi`` as in
    :func:`traces_to_xarray`, and ``y``, ``x`` (``z``) as in :func:`to_xarray`: micrometers where the source
    records the pixel size, else pixel indices.
    """
    xr = _require("xarray", "xarray", "masks_to_xarray()")
    da = _require("dask.array", "xarray", "masks_to_xarray()")
    chunk_rois = _checked_count(chunk_rois, "chunk_rois")
    count = extractor.get_num_background_components() if background else extractor.get_num_rois()
    if count:
        dtype = np.asarray(extractor._read_image_masks(np.zeros(1, dtype=np.int64), background)).dtype
    else:
        dtype = np.dtype(np.float32)
    source = _LazyMasks(extractor, background, dtype)
    pixels = int(np.prod(source.shape[1:]))
    if chunk_rois is None:
        chunk_rois = _per_chunk(pixels * source.dtype.itemsize, max(count, 1))
    chunks = (_time_chunks(count, chunk_rois), *((size,) for size in source.shape[1:]))
    data = da.from_array(source, chunks=chunks, name=f"ophysio-{extractor.format_id}-masks-{uuid.uuid4().hex}",
                         lock=False, asarray=False, fancy=False, meta=np.empty((0,) * source.ndim, dtype=dtype),
                         inline_array=False)
    facts = extractor.get_acquisition_facts()
    coords: dict[str, Any] = dict(_spatial_coordinates(extractor, facts))
    dim = BACKGROUND_DIM if background else "roi"
    if background:
        coords[BACKGROUND_DIM] = (BACKGROUND_DIM, _id_values(extractor.get_background_ids()),
                                  {"long_name": "background component id"})
    else:
        coords.update(_roi_coordinates(extractor))
    dims = (dim, "y", "x", "z") if extractor.is_volumetric else (dim, "y", "x")
    attrs = _segmentation_attrs(extractor, "")
    attrs["long_name"] = "background masks" if background else "ROI masks"
    return xr.DataArray(data, dims=dims, coords=coords, name="background_masks" if background else "masks",
                        attrs=attrs)


def images_to_xarray(extractor) -> dict[str, Any]:
    """A segmentation's summary images (``mean``, ``correlation``, ``max``...) by name, each an xarray
    ``DataArray`` of dims ``(y, x)`` (``(y, x, z)`` volumetric) with the coordinates of :func:`to_xarray` (pixel
    indices for an image whose shape is not the field of view's)."""
    xr = _require("xarray", "xarray", "images_to_xarray()")
    facts = extractor.get_acquisition_facts()
    spatial = _spatial_coordinates(extractor, facts)
    volume = tuple(extractor._mask_shape())
    result = {}
    for name, image in extractor.get_images_dict().items():
        dims = ("y", "x", "z")[:image.ndim]
        if image.shape == volume:
            coords = {dim: spatial[dim] for dim in dims}
        else:
            coords = {dim: (dim, np.arange(size), {"units": "pixel"}) for dim, size in zip(dims, image.shape)}
        result[name] = xr.DataArray(image, dims=dims, coords=coords, name=name,
                                    attrs={"format": extractor.format_id, "long_name": f"{name} image"})
    return result


def roi_label_image(extractor, roi_ids=None) -> np.ndarray:
    """The ROIs' masks as one integer image ``(rows, columns)`` (``(rows, columns, planes)`` volumetric): each
    pixel holds 1 + the position (in ``get_roi_ids()``) of the ROI that weighs it most, 0 where no ROI
    does (:func:`~ophysio.extractors.segmentation.masks.label_image`). ``roi_ids`` limits it to some ROIs,
    their labels unchanged; background components are never in it. Reads every mask it shows."""
    from .segmentation.masks import label_image

    positions = extractor._positions(roi_ids)
    masks = extractor._read_pixel_masks(positions) if len(positions) else []
    return label_image(masks, tuple(extractor._mask_shape()), positions + 1)
