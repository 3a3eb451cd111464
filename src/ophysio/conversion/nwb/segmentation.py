"""Segmentations in an NWB file: ROI tables, their traces and summary images, in the ``ophys`` module.

::

    processing/ophys/                      ProcessingModule "ophys"
      ImageSegmentation/                   one PlaneSegmentation per plane (or one for a volume)
        PlaneSegmentation[Plane0]          id, roi_name, image_mask | pixel_mask | voxel_mask, Accepted,
                                           Rejected, ROICentroids, one column per ROI property;
                                           imaging_plane -> the raw movie's ImagingPlane when both are written
        BackgroundPlaneSegmentation[...]   the background components, kept apart from the cells
      Fluorescence/                        RoiResponseSeries (raw), Neuropil, Deconvolved, Denoised,
                                           Baseline, Background: (samples, ROIs), rois -> the table's rows
      DfOverF/DfOverF                      dF/F
      SegmentationImages/                  GrayscaleImage per summary image: mean_image, correlation_image...

Orientation follows the photon series, which ophysio writes (time, x = column, y = row): image masks are
stored (ROI, x, y[, z]), pixel masks as (x = column, y = row, weight), voxel masks as (x, y, z, weight),
images as (x, y) and ``ROICentroids`` as (x, y[, z]), so that masks overlay the movie (neuroconv stores
image masks the same way). Traces are chunked in tiles of time and ROIs (about 1 MiB) and, for NWB HDF5,
filled after the file is written by the chunk pipeline's threads; masks, images and columns are
written by pynwb.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import MetadataError
from ...extractors.segmentation import BACKGROUND_TRACES
from ..metadata import Metadata
from .build import ensure_imaging_plane, series_timing

__all__ = [
    "SegmentationEntry",
    "TraceEntry",
    "TRACE_SERIES",
    "IMAGE_MASK_LIMIT",
    "TRACE_CHUNK_BYTES",
    "resolve_mask_type",
    "trace_chunks",
    "add_segmentation",
    "TraceChunkIterator",
    "fill_traces",
]

#: Default series name of each trace (the names neuroconv gives them).
TRACE_SERIES = {"raw": "RoiResponseSeries", "neuropil": "Neuropil", "deconvolved": "Deconvolved",
                "denoised": "Denoised", "baseline": "Baseline", "dff": "DfOverF", "background": "Background"}
#: ``mask_type="auto"`` writes image masks up to this many bytes, else pixel (voxel) masks.
IMAGE_MASK_LIMIT = 64 * 1024**2
#: Target size of a chunk of traces.
TRACE_CHUNK_BYTES = 1024**2

_DESCRIPTIONS = {
    "raw": "Fluorescence of each ROI", "neuropil": "Neuropil fluorescence around each ROI",
    "deconvolved": "Deconvolved activity of each ROI", "denoised": "Denoised fluorescence of each ROI",
    "baseline": "Baseline fluorescence of each ROI", "dff": "dF/F of each ROI",
    "background": "Temporal components of the background",
}


def resolve_mask_type(extractor, requested: str = "auto") -> str:
    """``image``, ``pixel`` or ``voxel`` for ``requested`` (``auto``: image masks when the dense stack takes at
    most :data:`IMAGE_MASK_LIMIT` bytes, else sparse ones; ``pixel`` and ``voxel`` follow the data's
    dimensions)."""
    sparse = "voxel" if extractor.is_volumetric else "pixel"
    if requested in ("pixel", "voxel"):
        return sparse
    if requested == "image":
        return "image"
    if requested != "auto":
        raise MetadataError(f"mask_type must be auto, image, pixel or voxel, not {requested!r}")
    count = max(extractor.get_num_rois(), extractor.get_num_background_components())
    dense = math.prod(extractor._mask_shape()) * count * 4
    return "image" if dense <= IMAGE_MASK_LIMIT else sparse


def trace_chunks(samples: int, columns: int, itemsize: int, target: int = TRACE_CHUNK_BYTES) -> tuple[int, int]:
    """Chunk shape of a ``(samples, columns)`` trace: about ``target`` bytes, both sides shrunk in proportion
    (a whole trace of a few ROIs is one chunk; a ROI's trace over time is a few chunks, as is every ROI
    over a short time)."""
    samples, columns = max(samples, 1), max(columns, 1)
    total = samples * columns * itemsize
    if total <= target:
        return (samples, columns)
    scale = math.sqrt(target / total)
    rows = max(1, min(samples, math.ceil(samples * scale)))
    cols = max(1, min(columns, target // max(rows * itemsize, 1)))
    return (rows, int(cols))


# ---------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class TraceEntry:
    """One trace to write: entry ``index`` of ``metadata.Ophys.RoiResponseSeries``, samples ``start:stop`` of
    trace ``trace`` of ``extractor``, chunks of shape ``chunks``."""

    index: int
    name: str
    trace: str
    extractor: Any
    start: int
    stop: int
    chunks: tuple

    @property
    def background(self) -> bool:
        return self.trace in BACKGROUND_TRACES

    @property
    def columns(self) -> int:
        ex = self.extractor
        return ex.get_num_background_components() if self.background else ex.get_num_rois()

    @property
    def num_samples(self) -> int:
        return self.stop - self.start

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_samples, self.columns)

    @property
    def dtype(self) -> np.dtype:
        dtype = np.dtype(self.extractor._trace_dtype(self.trace))
        return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype

    @property
    def container(self) -> str:
        return "DfOverF" if self.trace == "dff" else "Fluorescence"

    @property
    def path(self) -> str:
        """Where the series' data are in the HDF5 file."""
        return f"processing/ophys/{self.container}/{self.name}/data"

    def read(self, start: int, stop: int, columns: slice = slice(None)) -> np.ndarray:
        """Samples ``start:stop`` (of this entry) of the ROIs ``columns``."""
        positions = np.arange(self.columns)[columns]
        return self.extractor._read_traces(self.trace, self.start + start, self.start + stop, positions)


@dataclass(frozen=True)
class SegmentationEntry:
    """One PlaneSegmentation to write: entry ``index`` of ``metadata.Ophys.PlaneSegmentation`` from
    ``extractor`` (its masks, properties and images), with masks of ``mask_type`` and ``traces``."""

    index: int
    name: str
    extractor: Any
    mask_type: str
    traces: tuple
    image_suffix: str = ""

    @property
    def num_samples(self) -> int:
        return 0  # progress counts photon series samples

    @property
    def background_name(self) -> str | None:
        return f"Background{self.name}" if self.extractor.get_num_background_components() else None

    def add_to_nwbfile(self, nwbfile, metadata: Metadata, data_for: Callable, wrap: Callable | None = None):
        """Add this segmentation to ``nwbfile`` (see :func:`add_segmentation`)."""
        return add_segmentation(nwbfile, metadata, self, data_for, wrap)


# ---------------------------------------------------------------------- NWB objects
def _ophys_module(nwbfile):
    if "ophys" in nwbfile.processing:
        return nwbfile.processing["ophys"]
    return nwbfile.create_processing_module("ophys", "optical physiology processed data: ROIs, their traces and "
                                            "summary images")


def _container(module, cls, name: str):
    if name in module.data_interfaces:
        return module[name]
    container = cls(name=name)
    module.add(container)
    return container


def _nwb_ids(ids: list) -> list[int]:
    """The table's ids: the ROI ids when they are distinct non-negative integers, else positions."""
    if all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) and i >= 0 for i in ids) and \
            len(set(ids)) == len(ids):
        return [int(i) for i in ids]
    return list(range(len(ids)))


def _mask_columns(extractor, mask_type: str, background: bool, wrap: Callable) -> list:
    """The mask column (and its index) of the ROIs or background components, in NWB orientation."""
    from hdmf.common import VectorData, VectorIndex

    count = extractor.get_num_background_components() if background else extractor.get_num_rois()
    positions = np.arange(count)
    if mask_type == "image":
        shape = extractor._mask_shape()
        nwb_shape = (count, shape[1], shape[0], *shape[2:])
        if count:
            data = wrap(_image_mask_iterator(extractor, positions, background, nwb_shape), (1, *nwb_shape[1:]))
        else:
            data = np.zeros(nwb_shape, dtype=np.float32)
        return [VectorData(name="image_mask", description="Weight of each pixel of each ROI, (ROI, x = column, "
                           "y = row[, z = plane]) as the photon series' frames", data=data)]
    masks = extractor._read_pixel_masks(positions, background)
    volumetric = mask_type == "voxel"
    names = ("x", "y", "z", "weight") if volumetric else ("x", "y", "weight")
    dtype = np.dtype([(n, "<f4" if n == "weight" else "<u4") for n in names])
    lengths = np.array([len(m) for m in masks], dtype=np.int64)
    flat = np.zeros(int(lengths.sum()), dtype=dtype)
    if len(flat):
        stacked = np.concatenate([np.asarray(m, dtype=np.float64) for m in masks if len(m)])
        flat["x"], flat["y"] = stacked[:, 1], stacked[:, 0]
        if volumetric:
            flat["z"] = stacked[:, 2]
        flat["weight"] = stacked[:, -1]
    column = VectorData(name=f"{mask_type}_mask", description=f"The {'voxels' if volumetric else 'pixels'} of each "
                        f"ROI as (x = column, y = row{', z = plane' if volumetric else ''}, weight)",
                        data=wrap(flat, (min(max(len(flat), 1), 1 << 16),)) if len(flat) else flat)
    index = VectorIndex(name=f"{mask_type}_mask_index", data=np.cumsum(lengths).astype(np.uint64), target=column)
    return [column, index]


def _property_columns(extractor) -> list:
    from hdmf.common import VectorData

    columns = []
    keys = extractor.get_property_keys()
    if "is_accepted" in keys or "is_rejected" in keys:
        accepted = set(map(repr, extractor.get_accepted_list()))
        rejected = set(map(repr, extractor.get_rejected_list()))
        ids = extractor.get_roi_ids()
        columns.append(VectorData(name="Accepted", description="Whether the ROI was accepted (a cell) by the "
                                  "segmentation's classifier or curation",
                                  data=np.array([repr(i) in accepted for i in ids], dtype=bool)))
        columns.append(VectorData(name="Rejected", description="Whether the ROI was rejected (not a cell) by the "
                                  "segmentation's classifier or curation",
                                  data=np.array([repr(i) in rejected for i in ids], dtype=bool)))
    if extractor.get_num_rois():
        centroids = np.asarray(extractor.get_property("roi_centroids"), dtype=np.float64)
        order = [1, 0, 2][: centroids.shape[1]]
        columns.append(VectorData(name="ROICentroids", description="Centroid of each ROI (x = column, y = row"
                                  + (", z = plane" if centroids.shape[1] > 2 else "") + ") in pixels: the mean of "
                                  "its mask's coordinates weighted by the mask", data=centroids[:, order]))
    for key in keys:
        if key in ("is_accepted", "is_rejected", "roi_centroids"):
            continue
        values = np.asarray(extractor.get_property(key))
        if values.dtype.kind not in "biuf":
            values = values.astype(str)
        description = extractor.get_property_description(key) or f"ROI property {key!r} of the source"
        columns.append(VectorData(name=key, description=description, data=values))
    return columns


def _table(name: str, description: str, plane, extractor, mask_type: str, background: bool, wrap: Callable):
    from hdmf.common import VectorData
    from pynwb.ophys import PlaneSegmentation

    ids = extractor.get_background_ids() if background else extractor.get_roi_ids()
    columns = [VectorData(name="roi_name", description="The ROI's id in the source", data=[str(i) for i in ids])]
    columns += _mask_columns(extractor, mask_type, background, wrap)
    if not background:
        columns += _property_columns(extractor)
    return PlaneSegmentation(name=name, description=description, imaging_plane=plane, id=_nwb_ids(ids),
                             columns=columns)


def add_segmentation(nwbfile, metadata: Metadata, entry: SegmentationEntry, data_for: Callable,
                     wrap: Callable | None = None):
    """Add the PlaneSegmentation of ``entry`` (its background table, traces and images) to ``nwbfile``.

    ``data_for(trace_entry)`` gives each series' data (an empty dataset to fill, or a chunk iterator);
    ``wrap(data, chunks)`` the storage of masks and images (HDF5's ``H5DataIO`` with the conversion's
    compression, by default none).
    """
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, RoiResponseSeries

    wrap = wrap or (lambda data, chunks: data)
    meta = metadata.Ophys.PlaneSegmentation[entry.index]
    extractor = entry.extractor
    plane = ensure_imaging_plane(nwbfile, metadata, meta.imaging_plane)
    module = _ophys_module(nwbfile)
    segmentation = _container(module, ImageSegmentation, "ImageSegmentation")
    for name in (entry.name, entry.background_name):
        if name is not None and name in segmentation.plane_segmentations:
            raise MetadataError(f"the NWB file already has a PlaneSegmentation named {name!r}; rename it")
    description = meta.description or f"ROIs found by {extractor.format_id}"
    tables = {False: _table(entry.name, description, plane, extractor, entry.mask_type, False, wrap)}
    segmentation.add_plane_segmentation(tables[False])
    if entry.background_name is not None:
        tables[True] = _table(entry.background_name, f"Background components of {entry.name} (not cells)", plane,
                              extractor, entry.mask_type, True, wrap)
        segmentation.add_plane_segmentation(tables[True])
    for trace in entry.traces:
        series_meta = metadata.Ophys.RoiResponseSeries[trace.index]
        container = _container(module, DfOverF if trace.container == "DfOverF" else Fluorescence, trace.container)
        if series_meta.name in container.roi_response_series:
            raise MetadataError(f"{trace.container} already has a series named {series_meta.name!r}; rename it")
        table = tables.get(trace.background)
        if table is None:
            raise MetadataError(f"{series_meta.name}: the segmentation has no background components for its "
                                "background trace")
        region = table.create_roi_table_region(region=list(range(trace.columns)),
                                               description=f"every row of {table.name}")
        starting_time, rate, timestamps = series_timing(trace.extractor, trace.start, trace.stop)
        kwargs: dict[str, Any] = {"timestamps": timestamps} if timestamps is not None else {
            "starting_time": starting_time, "rate": rate}
        channel = f", channel {trace.extractor.channel_name}" if len(trace.extractor.get_channel_names()) > 1 else ""
        container.add_roi_response_series(RoiResponseSeries(
            name=series_meta.name, data=data_for(trace), rois=region, unit=series_meta.unit,
            description=series_meta.description or f"{_DESCRIPTIONS.get(trace.trace, trace.trace)} "
            f"({trace.trace}{channel}) of {table.name}", **kwargs))
    images = extractor.get_images_dict()
    if images:
        collection = _container(module, lambda name: Images(name=name, description="Summary images of the "
                                "segmentations (x = column, y = row)"), "SegmentationImages")
        for key, image in images.items():
            planes = [(image, "")] if image.ndim == 2 else [(image[..., p], f"_plane{p}")
                                                            for p in range(image.shape[2])]
            for data, plane_part in planes:
                name = f"{key}_image{entry.image_suffix}{plane_part}"
                if name in collection.images:  # another segmentation's image: name this table's after it
                    name = f"{key}_image_{entry.name}{plane_part}"
                if name in collection.images:
                    raise MetadataError(f"SegmentationImages already has an image named {name!r}")
                collection.add_image(GrayscaleImage(name=name, data=wrap(np.ascontiguousarray(data.T), data.T.shape),
                                                    description=f"{key} image of {entry.name}{plane_part}"))
    return tables[False]


# ---------------------------------------------------------------------- streaming
def _image_mask_iterator(extractor, positions: np.ndarray, background: bool, nwb_shape: tuple):
    """An hdmf ``DataChunkIterator`` of image masks in NWB orientation, read some ROIs at a time."""
    from hdmf.data_utils import DataChunkIterator

    dtype = np.dtype(np.float32 if extractor.native_mask_type == "pixel" else
                     extractor._read_image_masks(positions[:0], background).dtype)
    per_block = max(1, (16 << 20) // max(math.prod(nwb_shape[1:]) * dtype.itemsize, 1))

    def blocks():
        for a in range(0, len(positions), per_block):
            dense = extractor._read_image_masks(positions[a : a + per_block], background)
            for mask in np.moveaxis(np.asarray(dense, dtype=dtype), -1, 0):  # (rows, columns[, planes])
                yield np.ascontiguousarray(mask.swapaxes(0, 1))

    return DataChunkIterator(blocks(), maxshape=nwb_shape, dtype=dtype, buffer_size=per_block)


def _make_trace_iterator():
    from hdmf.data_utils import GenericDataChunkIterator

    class _TraceChunkIterator(GenericDataChunkIterator):
        def __init__(self, entry: TraceEntry, on_samples: Callable[[int], Any] | None = None):
            self._entry = entry
            super().__init__(chunk_shape=entry.chunks, buffer_shape=entry.chunks, display_progress=False)

        def _get_data(self, selection: tuple) -> np.ndarray:
            rows, columns = selection
            return self._entry.read(rows.start or 0, rows.stop, columns)

        def _get_maxshape(self) -> tuple:
            return self._entry.shape

        def _get_dtype(self) -> np.dtype:
            return self._entry.dtype

    return _TraceChunkIterator


def TraceChunkIterator(entry: TraceEntry):  # noqa: N802 - a class made on first use (hdmf is imported late)
    """An hdmf chunk iterator over the entry's trace (for NWB-Zarr, or a caller's own ``NWBHDF5IO``)."""
    cls = globals().get("_TraceChunkIteratorClass")
    if cls is None:
        cls = globals()["_TraceChunkIteratorClass"] = _make_trace_iterator()
    return cls(entry)


def fill_traces(h5file, entry: TraceEntry, compression=None, max_workers: int | None = None) -> None:
    """Fill the empty dataset of ``entry`` tile by tile: gzip chunks encoded in threads and stored directly
    (as photon series are), other filters through HDF5."""
    from ..compression import default_workers
    from ..pipeline import ChunkWriter, _dataset_compression

    dataset = h5file[entry.path]
    samples, columns = entry.shape
    if samples == 0 or columns == 0:
        return
    rows, cols = dataset.chunks
    filters = _dataset_compression(dataset)
    if filters is not None and compression is not None and compression.direct:
        from ..compression import Compression

        filters = Compression("gzip", compression.level, filters.shuffle, compression.engine)
    workers = default_workers() if max_workers is None else max(1, int(max_workers))
    writer = None if filters is None else ChunkWriter(dataset, filters.pipeline(entry.dtype), workers)
    try:
        for a in range(0, samples, rows):
            b = min(a + rows, samples)
            block = np.asarray(entry.read(a, b), dtype=entry.dtype)
            if writer is None:
                dataset[a:b] = block
                continue
            for c in range(0, columns, cols):
                d = min(c + cols, columns)
                tile = block[:, c:d]
                if tile.shape != (rows, cols):
                    padded = np.zeros((rows, cols), dtype=entry.dtype)
                    padded[: b - a, : d - c] = tile
                    tile = padded
                writer.submit((a, c), np.ascontiguousarray(tile), b - a if c == 0 else 0)
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.cancel()
        raise
