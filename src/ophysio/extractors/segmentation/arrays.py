"""A segmentation as lazy arrays of the scientific-Python stack, as :mod:`ophysio.extractors.arrays` makes
an imaging extractor one: :func:`traces_to_dask` and :func:`traces_to_xarray` give its traces as
``(time, roi)`` arrays whose chunks are ranges of samples, each one read of those samples of every ROI
(``get_traces``); :func:`masks_to_xarray` its ROI masks as a lazy ``(roi, y, x[, z])`` array chunked by ROI,
:func:`images_to_xarray` its summary images, and :func:`roi_label_image` its masks as one integer image
(the napari labels layer). Reached as methods of every segmentation extractor.
"""

from __future__ import annotations

import operator
import uuid
from typing import Any

import numpy as np

from ..arrays import DASK_CHUNK_BYTES, _require, _spatial_coordinates, _time_chunks, _time_coordinate, facts_attrs

__all__ = ["traces_to_dask", "traces_to_xarray", "masks_to_xarray", "images_to_xarray", "roi_label_image"]

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
    from .traces import BACKGROUND_TRACES, TraceArray

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
    from .traces import BACKGROUND_TRACES

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
    from .masks import label_image

    positions = extractor._positions(roi_ids)
    masks = extractor._read_pixel_masks(positions) if len(positions) else []
    return label_image(masks, tuple(extractor._mask_shape()), positions + 1)
