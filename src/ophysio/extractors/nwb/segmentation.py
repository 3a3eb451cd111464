"""NWB segmentations (PlaneSegmentation, RoiResponseSeries, summary images): :class:`NwbSegmentationExtractor`.

One extractor reads one ``PlaneSegmentation`` of an NWB file (HDF5 on disk or at a URL, or an NWB-Zarr
store), with the traces that point at it and the summary images named after it, the way NWB stores them
and ophysio writes them (:mod:`ophysio.conversion.nwb.segmentation` draws the layout):

- the table: ``id`` (the ROI ids; when ophysio wrote row positions because the source's ids were not
  distinct non-negative integers, its ``roi_name`` column holds them and gives the ids), one mask column,
  ``Accepted`` / ``Rejected`` (the accepted and rejected lists) and any other column of one value per ROI as a
  ROI property (``ROICentroids`` is not: centroids are computed from the masks);
- masks in NWB's orientation undone into ophysio's: ``image_mask`` is (ROI, x, y[, z]) with x the column
  (as the photon series' frames); ``pixel_mask`` rows are (x, y, weight) and ``voxel_mask`` rows (x, y, z,
  weight), so a sparse mask comes back as ``[row = y, column = x, (plane = z,) weight]``;
- a table named ``Background<name>`` beside it (as ophysio writes CaImAn's and Minian's backgrounds) holds
  the background components, and its trace is ``background``;
- traces: every ``RoiResponseSeries`` of a ``Fluorescence`` or ``DfOverF`` container whose ``rois`` point at
  the table (rows in any order): ophysio's and neuroconv's names map back to ``raw`` (RoiResponseSeries),
  ``neuropil``, ``deconvolved``, ``denoised``, ``baseline``, ``dff`` (DfOverF, and the only series of a
  DfOverF whatever its name), a channel part left in the name (``RoiResponseSeriesChan2Plane0`` of
  ``PlaneSegmentationPlane0`` is ``raw_chan2``), other names kept;
  each is read a time range and some ROIs at a time (h5py slicing locally, whole chunks fetched into a
  bounded cache for a URL or a Zarr store);
- times: the first trace's ``timestamps`` (read a slice at a time) or ``starting_time`` and ``rate``;
- images: the ``GrayscaleImage`` s of the ``Images`` containers (ophysio's ``SegmentationImages``),
  ``mean_image`` -> ``mean``, stored (x, y) and given as (rows, columns); with several tables, those named
  after another table are left out; per-plane images (``_plane<p>``) of a volume stacked;
- the field of view: the image masks' shape; for pixel and voxel masks the photon series of the same
  imaging plane, else the summary images, else the size ophysio writes into the table's description,
  else the masks' extent;
- facts: the linked ``ImagingPlane`` (grid spacing, origin, indicator, device...) as for a photon series;
  the channels are its optical channels (named as the source named them when ophysio wrote the file).
"""

from __future__ import annotations

import os

import numpy as np

from ...errors import FormatError
from .._remote.chunks import CHUNK_CACHE_BYTES
from ..facts import AcquisitionFacts
from ..segmentation import SegmentationExtractor
from ..segmentation.masks import check_pixel_mask, dense_to_pixel_masks, pixel_masks_to_dense
from .facts import facts_from_header
from .plane_scan import PlaneScan
from .planes import _array, _node_at, _Table, _Trace, find_plane_segmentations
from .source import NwbSource, list_in_file
from .tree import number

__all__ = ["NwbSegmentationExtractor", "find_plane_segmentations"]


class NwbSegmentationExtractor(NwbSource, PlaneScan, SegmentationExtractor):
    """A PlaneSegmentation of an NWB file with its traces and summary images (HDF5 or NWB-Zarr, local or
    streamed from a URL), read lazily.

    Parameters
    ----------
    file_path : str or os.PathLike
        The NWB file: a local ``.nwb`` (HDF5) file, a local NWB-Zarr folder, or a URL (``https://...``,
        ``s3://...``, ``dandi://...``, a DANDI asset URL) of either.
    plane_segmentation_name : str, optional
        Name (or path in the file) of the PlaneSegmentation; by default the only one (background tables
        aside); several are an error that lists them.
    cache_dir : path, optional
        For a URL: keep fetched bytes in this folder.
    cache_bytes : int
        Most bytes of decoded trace chunks kept in memory for a URL or an NWB-Zarr store.
    storage_options : dict, optional
        For URLs read through fsspec: its options.

    Notes
    -----
    See the module documentation for how the table, masks, traces, times and images are read.
    """

    format_id = "nwb"
    extractor_name = "NwbSegmentation"

    def __init__(self, file_path: str | os.PathLike, plane_segmentation_name: str | None = None, *,
                 cache_dir: str | os.PathLike | None = None, cache_bytes: int = CHUNK_CACHE_BYTES,
                 storage_options: dict | None = None):
        super().__init__()
        self._remote_data: dict[str, object] = {}
        self._notes: list[str] = []
        self._open_source(file_path, plane_segmentation_name, cache_dir, cache_bytes, storage_options)

    def _opened_local(self, h5):
        """The stored extent of every trace, checked by each read (a file cut short while open)."""
        from .._hdf5.storage import stored_extent_at_open

        for trace in self._traces.values():
            trace.extent = stored_extent_at_open(h5, h5[trace.data], self._file_path, trace.data, 0,
                                                 f"{self._file_path}: dataset {trace.data}")
        return None

    # ------------------------------------------------------------------ rate
    def _find_rate(self, header: dict) -> float | None:
        lead = self._lead
        stated = number((header.get("imaging_plane") or {}).get("imaging_rate"))
        stated = stated if stated is not None and stated > 0 else None
        if lead is not None and lead["rate"] is not None:
            return float(lead["rate"])
        if lead is None:
            return stated if stated is not None else self._rate_unknown(
                f"{self._file_path}: {self._table.path} has no traces and its imaging plane states no imaging_rate")
        return self._rate_of_timestamps(stated, f"{self._file_path}: the timestamps of {self._table.path}'s traces "
                                               "do not advance and its imaging plane states no imaging_rate")

    # ------------------------------------------------------------------ facts
    def get_image_shape(self) -> tuple[int, int]:
        return tuple(self._shape)

    def get_num_planes(self) -> int:
        return self._planes

    def get_num_samples(self) -> int:
        return self._num_samples

    def get_sampling_frequency(self) -> float | None:
        if self._rate_memo is None:
            self._rate_memo = (self._find_rate(self._header),)
        return self._rate_memo[0]

    def get_roi_ids(self) -> list:
        return list(self._table.ids)

    def get_background_ids(self) -> list:
        return [] if self._background is None else list(self._background.ids)

    def get_trace_names(self) -> list[str]:
        return list(self._traces)

    def get_file_paths(self) -> list[str]:
        return [self._file_path]

    @property
    def native_mask_type(self) -> str:  # noqa: D401 - the contract's attribute, per file
        return "image" if self._table.mask == "image" else "pixel"

    @property
    def plane_segmentation_path(self) -> str:
        """Path of the PlaneSegmentation read (``/processing/ophys/ImageSegmentation/PlaneSegmentation``)."""
        return self._table.path

    @property
    def plane_segmentation_name(self) -> str:
        """Name of the PlaneSegmentation read."""
        return self._table.name

    def get_metadata(self) -> dict:
        """The table's NWB facts: its path, description, mask type, the series of its traces, timing, the imaging
        plane (optical channels, device) and session, and what was left out and why (``"notes"``)."""
        return {**self._header, **({"notes": list(self._notes)} if self._notes else {})}

    def get_acquisition_facts(self) -> AcquisitionFacts:
        base = super().get_acquisition_facts()
        found = facts_from_header(self._header, self.channel_name, self._planes, self._volumetric)
        return base.replace(**{k: v for k, v in found.items() if v is not None})

    @staticmethod
    def get_available_plane_segmentations(file_path: str | os.PathLike,
                                          storage_options: dict | None = None) -> list[str]:
        """Paths of the PlaneSegmentations of an NWB file (background tables included), in file order."""
        return list_in_file(file_path, storage_options, find_plane_segmentations)

    # ------------------------------------------------------------------ time
    def _times_path(self) -> str:
        return self._lead["timestamps"]

    def _times_slice(self, path: str, start: int, stop: int) -> np.ndarray:
        return self._with_root(lambda root: _node_at(root, path).slice(start, stop))

    def get_native_timestamps(self, start_sample: int | None = None, end_sample: int | None = None):
        """The traces' ``timestamps`` (only the samples asked for are read), or ``starting_time + index / rate``
        when they start at a time other than 0; None when they start at 0 with a rate."""
        lead = self._lead
        if lead is None:
            return None
        start, stop, _ = slice(start_sample, end_sample).indices(self._num_samples)
        stop = max(start, stop)
        if lead["timestamps"] is not None:
            return self._read_timestamps(start, stop)
        if lead["starting_time"]:
            return lead["starting_time"] + np.arange(start, stop, dtype=np.float64) / lead["rate"]
        return None

    def has_recorded_times(self) -> bool:
        lead = self._lead
        return self._times is not None or (lead is not None and (lead["timestamps"] is not None
                                                                 or bool(lead["starting_time"])))

    # ------------------------------------------------------------------ reads
    def _trace_dtype(self, name: str) -> np.dtype:
        return self._traces[name].dtype

    def _read_traces(self, name: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        trace = self._traces[name]
        positions = np.asarray(positions, dtype=np.int64)
        columns = positions if trace.columns is None else trace.columns[positions]
        if stop <= start or not len(columns):
            return np.empty((max(stop - start, 0), len(columns)), dtype=trace.dtype)
        unique, inverse = np.unique(columns, return_inverse=True)
        lo = int(unique[0])
        where = f"{self._file_path}: samples {start}:{stop} of {trace.data}"
        if self._kind == "hdf5":
            block = self._read_local_trace(trace, start, stop, unique, where)
        else:
            block = self._read_chunked_trace(trace, start, stop, unique, where)
            if block.shape[1] != len(unique):
                block = block[:, unique - lo]
        out = block[:, inverse]
        return np.ascontiguousarray(out, dtype=trace.dtype)

    def _read_local_trace(self, trace: _Trace, start: int, stop: int, unique: np.ndarray, where: str) -> np.ndarray:
        from .._hdf5.reads import h5_read_errors

        lo, hi = int(unique[0]), int(unique[-1]) + 1
        def read(h5) -> np.ndarray:
            dset = h5[trace.data]
            if dset.ndim == 1:
                return np.asarray(dset[start:stop]).reshape(-1, 1)
            if hi - lo <= 2 * len(unique):  # one block: faster than h5py's point selection
                return np.asarray(dset[start:stop, lo:hi])[:, unique - lo]
            return np.asarray(dset[start:stop, unique.tolist()])

        with h5_read_errors(where), self._file.open() as h5:
            return trace.extent.guarded_read(h5, start, stop, read)

    def _chunked(self, trace: _Trace):
        """The trace's data as a chunked array read through the extractor's cache (None: read by h5py)."""
        chunked = self._remote_data.get(trace.data)
        if chunked is None:
            if self._kind == "zarr":
                from .._zarr.array import ZarrArray

                chunked = ZarrArray(self._store, self._tree.node(trace.data.strip("/")))
            else:
                from .._hdf5.reads import h5_read_errors
                from .._hdf5.remote import RemoteDataset

                with h5_read_errors(f"{self._file_path}: dataset {trace.data}"):
                    chunked = RemoteDataset(self._file, self._source, trace.data, self._file_path)
            with self._lock:
                self._remote_data[trace.data] = chunked
        return chunked.chunked(self._cache)

    def _read_chunked_trace(self, trace: _Trace, start: int, stop: int, unique: np.ndarray,
                            where: str) -> np.ndarray:
        from .._hdf5.reads import h5_read_errors

        lo, hi = int(unique[0]), int(unique[-1]) + 1
        with h5_read_errors(where):
            chunked = self._chunked(trace)
            if chunked is None:  # filters only HDF5 decodes: through h5py over the block file
                data = self._remote_data[trace.data].read_h5py(start, stop)
                return np.asarray(data).reshape(stop - start, -1)[:, lo:hi]
            if len(chunked.shape) == 1:
                out = np.empty(stop - start, dtype=trace.dtype)
                chunked.read_box([(start, stop)], out)
                return out.reshape(-1, 1)
            step = chunked.chunks[1]
            needed = np.unique(unique // step)
            if hi - lo <= 2 * len(unique) or len(needed) == (hi - 1) // step - lo // step + 1:
                out = np.empty((stop - start, hi - lo), dtype=trace.dtype)
                chunked.read_box([(start, stop), (lo, hi)], out)
                return out
            out = np.empty((stop - start, len(unique)), dtype=trace.dtype)
            for c in needed.tolist():  # column chunks far apart: each read alone
                a, b = c * step, min((c + 1) * step, trace.shape[1])
                block = np.empty((stop - start, b - a), dtype=trace.dtype)
                chunked.read_box([(start, stop), (a, b)], block)
                inside = np.flatnonzero((unique >= a) & (unique < b))
                out[:, inside] = block[:, unique[inside] - a]
            return out

    def _table_of(self, background: bool) -> _Table:
        table = self._background if background else self._table
        if table is None:
            return _Table("", [], self._table.mask, "", self._table.mask_shape)
        return table

    def _read_pixel_masks(self, positions: np.ndarray, background: bool = False) -> list[np.ndarray]:
        table = self._table_of(background)
        positions = np.asarray(positions, dtype=np.int64)
        if table.mask == "image":
            return dense_to_pixel_masks(self._read_image_masks(positions, background))
        shape = self._mask_shape()
        masks = self._raw_masks(positions, table)
        if table.mask == "voxel" and not self._volumetric:
            masks = [m[:, [0, 1, 3]] if not len(m) or np.all(m[:, 2] == 0) else m for m in masks]
        return [check_pixel_mask(m, shape, f"{self._file_path}: {table.mask_path}, ROI {table.ids[p]!r}")
                for m, p in zip(masks, positions)]

    def _read_image_masks(self, positions: np.ndarray, background: bool = False) -> np.ndarray:
        table = self._table_of(background)
        positions = np.asarray(positions, dtype=np.int64)
        if table.mask != "image":
            return pixel_masks_to_dense(self._read_pixel_masks(positions, background), self._mask_shape())
        stored = table.mask_shape
        if not len(positions) or not table.count:
            return np.zeros((*self._mask_shape(), len(positions)), dtype=np.float32)
        unique, inverse = np.unique(positions, return_inverse=True)
        lo, hi = int(unique[0]), int(unique[-1]) + 1
        if tuple(stored[1:]) != ((self._shape[1], self._shape[0], self._planes) if self._volumetric
                                 else (self._shape[1], self._shape[0])):
            raise FormatError(f"{self._file_path}: {table.mask_path} is {stored}, not masks of the field of view")

        def read(root):
            node = _node_at(root, table.mask_path)
            if hi - lo <= 2 * len(unique):
                return np.asarray(node.slice(lo, hi))[unique - lo]
            return np.stack([np.asarray(node.slice(int(p), int(p) + 1))[0] for p in unique])

        block = self._with_root(read)[inverse]  # (n, x, y[, z])
        return np.ascontiguousarray(np.moveaxis(block.swapaxes(1, 2), 0, -1))

    def _read_images(self) -> dict[str, np.ndarray]:
        cached = self.__dict__.get("_images_cache")
        if cached is not None:
            return cached

        def read(root):
            images = {}
            for key, entry in self._images_found.items():
                planes = [np.asarray(_array(_node_at(root, entry["paths"][p]))).T
                          for p in (range(self._planes) if self._volumetric else [None])]
                images[key] = np.stack(planes, axis=-1) if self._volumetric else planes[0]
            return images

        images = self._with_root(read)
        for image in images.values():
            image.flags.writeable = False
        self.__dict__["_images_cache"] = images
        return images

    # ------------------------------------------------------------------ resources
    def _forget(self) -> None:
        for data in list(self._remote_data.values()):
            if hasattr(data, "forget"):
                data.forget()
