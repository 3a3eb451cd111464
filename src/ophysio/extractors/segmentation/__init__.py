"""The contract every segmentation format implements: :class:`SegmentationExtractor`.

A segmentation is what a pipeline (suite2p, CaImAn, EXTRACT...) found in a movie: regions of interest
(ROIs) with their masks, the traces read through them (``raw``, ``neuropil``, ``deconvolved``, ``dff``...),
summary images, and, for some pipelines, background components kept apart from the cells. The public
names are roiextractors' (``get_roi_ids``, ``get_roi_image_masks``, ``get_traces``...), so that a script
ports by its import.

A format implements a few facts and reads (see :class:`SegmentationExtractor`); everything else lives
here once: ROI ids to positions, dense and sparse masks from whichever the source stores, centroids, lazy
trace dictionaries, accepted and rejected lists, properties, times (shared with imaging:
:class:`~ophysio.extractors.timing.SampleTimes`), lazy views (``slice_samples``, ``select_rois``,
``select_plane``), pickling and closing files.

Volumetric segmentations (ROIs of voxels with a plane index) are part of the contract: their sparse
masks are ``(n, 4)`` arrays ``[row, column, plane, weight]``, their dense masks ``(rows, columns, planes,
n)``, their summary images ``(rows, columns, planes)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import SelectionError
from .._resources import HeldResources
from ..facts import AcquisitionFacts
from ..timing import SampleTimes
from .masks import dense_to_pixel_masks, mask_centroids, mask_planes, pixel_masks_to_dense
from .traces import BACKGROUND_TRACES, TRACE_NAMES, TraceArray

__all__ = ["SegmentationExtractor", "TraceArray", "TRACE_NAMES", "BACKGROUND_TRACES"]


_CENTROIDS = "roi_centroids"

#: The lazy view class behind each view method (slice_samples, select_rois, select_plane). The views are
#: segmentation extractors built on this class, so :mod:`ophysio.extractors.segmentation.views` imports this
#: module and registers them here, never the other way round; ``ophysio.extractors`` imports both.
_VIEWS: dict[str, type] = {}


def register_view(method: str):
    """Class decorator: make the decorated view the one that ``SegmentationExtractor.<method>`` returns."""

    def register(cls: type) -> type:
        _VIEWS[method] = cls
        return cls

    return register


class SegmentationExtractor(HeldResources, SampleTimes, ABC):
    """ROIs, their traces and summary images, read lazily from one segmentation.

    A format implements:

    - the facts: :meth:`get_image_shape`, :meth:`get_num_samples`, :meth:`get_sampling_frequency`,
      :meth:`get_roi_ids`, and when they apply :meth:`get_num_planes`, :meth:`get_background_ids`;
    - the masks, in the form the source stores them (:attr:`native_mask_type`): ``_read_pixel_masks``
      (sparse) or ``_read_image_masks`` (dense), for ROI positions (0-based indices into
      :meth:`get_roi_ids`, or into :meth:`get_background_ids` with ``background=True``); the other form is
      derived here;
    - the traces: :meth:`get_trace_names` and ``_read_traces(name, start, stop, positions)`` returning
      samples ``start:stop`` of the ROIs at ``positions`` as ``(stop - start, len(positions))``; read only
      those (a file cut short is an ophysio error naming it);
    - ``_read_images()``: the summary images by name (``mean``, ``correlation``, ``max``...);
    - what the source records: ``_get_native_timestamps``, :meth:`get_metadata`,
      :meth:`get_file_paths`, :meth:`get_acquisition_facts`, ROI properties with :meth:`set_property` in
      its ``__init__`` (``is_accepted`` / ``is_rejected`` booleans give the accepted and rejected lists).

    File handles are held through :class:`~ophysio.extractors._handles.CachedFile`, as for imaging.
    """

    #: Short name of the format this extractor reads (the registry id).
    format_id: str = "abstract"
    extractor_name: str = "SegmentationExtractor"
    #: How the source stores masks: ``"pixel"`` (sparse lists of pixels or voxels) or ``"image"`` (dense).
    native_mask_type: str = "pixel"

    _times: np.ndarray | None = None
    _native_timestamps_cache: tuple | None = None
    _channel_name: str | None = None
    _channel_names: Sequence[str] = ("OpticalChannel",)

    def __init__(self) -> None:
        self._times = None
        self._native_timestamps_cache = None
        self._properties: dict[str, tuple[np.ndarray, str]] = {}

    # ------------------------------------------------------------------ facts a format provides
    @abstractmethod
    def get_image_shape(self) -> tuple[int, int]:
        """(rows, columns) of the field of view the masks and images cover."""

    @abstractmethod
    def get_num_samples(self) -> int:
        """Number of samples (frames, or volumes for a volumetric segmentation) of the traces."""

    @abstractmethod
    def get_sampling_frequency(self) -> float | None:
        """Samples per second of the traces; None when the source states none (see ``_rate_unknown``)."""

    @abstractmethod
    def get_roi_ids(self) -> list:
        """The ids of the ROIs (cells and candidates, not background components), in the source's order."""

    def get_num_planes(self) -> int:
        """Number of planes of the field of view; 1 for a planar segmentation."""
        return 1

    def get_background_ids(self) -> list:
        """The ids of the background components (none for most pipelines)."""
        return []

    def get_trace_names(self) -> list[str]:
        """Names of the traces the source has (``raw``, ``neuropil``, ``deconvolved``, ``dff``...)."""
        return []

    def _read_traces(self, name: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        """Samples ``start:stop`` of trace ``name`` for the ROIs at ``positions``: ``(stop - start, len)``."""
        raise NotImplementedError(f"{type(self).__name__} reads no traces")

    def _trace_dtype(self, name: str) -> np.dtype:
        """The dtype of trace ``name`` (by default, of an empty read)."""
        return np.asarray(self._read_traces(name, 0, 0, np.zeros(0, dtype=np.int64))).dtype

    def _read_pixel_masks(self, positions: np.ndarray, background: bool = False) -> list[np.ndarray]:
        """Sparse masks of the ROIs (or background components) at ``positions``."""
        if self.native_mask_type == "pixel":
            raise NotImplementedError(f"{type(self).__name__} must implement _read_pixel_masks")
        return dense_to_pixel_masks(self._read_image_masks(positions, background))

    def _read_image_masks(self, positions: np.ndarray, background: bool = False) -> np.ndarray:
        """Dense masks ``(*volume, len(positions))`` of the ROIs (or background components) at ``positions``."""
        if self.native_mask_type == "image":
            raise NotImplementedError(f"{type(self).__name__} must implement _read_image_masks")
        return pixel_masks_to_dense(self._read_pixel_masks(positions, background), self._mask_shape())

    def _read_images(self) -> dict[str, np.ndarray]:
        """Summary images by name, each ``(rows, columns)`` (``(rows, columns, planes)`` volumetric)."""
        return {}

    def _get_native_timestamps(self) -> np.ndarray | None:
        """Per-sample times in seconds recorded by the source, or None."""
        return None

    def _roi_planes(self) -> np.ndarray:
        """Plane of each ROI (-1 when it spans several); formats that know it without the masks override."""
        if not self.is_volumetric:
            return np.zeros(self.get_num_rois(), dtype=np.int64)
        return mask_planes(self._read_pixel_masks(np.arange(self.get_num_rois())))

    def get_metadata(self) -> dict:
        """The source's own metadata, whole (suite2p's ops, CaImAn's params...)."""
        return {}

    def get_file_paths(self) -> list[str]:
        """The files this extractor reads (empty for arrays in memory)."""
        return []

    def get_acquisition_facts(self) -> AcquisitionFacts:
        """What the source records about the acquisition, in NWB-neutral terms (see
        :class:`~ophysio.extractors.facts.AcquisitionFacts`): the base gives the channel, the rate and the
        whole source header; formats add device, software, pixel size, start time where recorded."""
        rate = self.get_sampling_frequency()
        rate = None if rate is None else float(rate)
        return AcquisitionFacts(
            channel_name=self.channel_name, channel_names=tuple(self.get_channel_names()),
            frame_rate_hz=None if self.is_volumetric else rate, volume_rate_hz=rate if self.is_volumetric else None,
            source_header=self.get_metadata(),
        )

    # ------------------------------------------------------------------ derived facts
    @property
    def is_volumetric(self) -> bool:
        """Whether the ROIs live in a volume (voxel masks with a plane index)."""
        return bool(self.get_num_planes() > 1)

    def get_frame_shape(self) -> tuple[int, int]:
        """(rows, columns): roiextractors' name of :meth:`get_image_shape`."""
        return tuple(self.get_image_shape())

    def get_volume_shape(self) -> tuple[int, int, int]:
        """(rows, columns, planes)."""
        return (*self.get_image_shape(), self.get_num_planes())

    def _mask_shape(self) -> tuple[int, ...]:
        return self.get_volume_shape() if self.is_volumetric else tuple(self.get_image_shape())

    def get_num_frames(self) -> int:
        """Alias of :meth:`get_num_samples` (older roiextractors name)."""
        return self.get_num_samples()

    def get_num_rois(self) -> int:
        """Number of ROIs (background components not counted)."""
        return len(self.get_roi_ids())

    def get_num_background_components(self) -> int:
        """Number of background components."""
        return len(self.get_background_ids())

    @property
    def channel_name(self) -> str:
        """The channel whose traces this extractor reads."""
        return self._channel_name if self._channel_name is not None else self.get_channel_names()[0]

    def get_channel_names(self) -> list[str]:
        """The channels of the source."""
        return list(self._channel_names)

    def _positions(self, ids: Sequence | None, background: bool = False) -> np.ndarray:
        """Positions of ``ids`` (all when None) among the ROI (or background) ids; unknown ids are an error."""
        known = self.get_background_ids() if background else self.get_roi_ids()
        if ids is None:
            return np.arange(len(known), dtype=np.int64)
        cache = "_background_index" if background else "_roi_index"
        index = self.__dict__.get(cache)
        if index is None or len(index) != len(known):
            index = {_key(roi_id): i for i, roi_id in enumerate(known)}
            self.__dict__[cache] = index
        ids = [ids] if isinstance(ids, (str, int, np.integer)) else list(ids)
        missing = [roi_id for roi_id in ids if _key(roi_id) not in index]
        if missing:
            what = "background components" if background else "ROIs"
            shown = known if len(known) <= 12 else [*known[:5], "...", *known[-5:]]
            raise SelectionError(f"{type(self).__name__}: id {missing[0]!r} is not one of the {len(known)} {what} "
                                 f"(ids {shown})" + (f"; {len(missing)} ids are unknown" if len(missing) > 1 else ""))
        return np.array([index[_key(roi_id)] for roi_id in ids], dtype=np.int64)

    # ------------------------------------------------------------------ masks
    def get_roi_image_masks(self, roi_ids: Sequence | None = None) -> np.ndarray:
        """Dense masks ``(rows, columns, n)`` (``(rows, columns, planes, n)`` volumetric) of ``roi_ids``
        (all ROIs when None), each pixel holding its weight."""
        return self._read_image_masks(self._positions(roi_ids))

    def get_roi_pixel_masks(self, roi_ids: Sequence | None = None) -> list[np.ndarray]:
        """Sparse masks of ``roi_ids``: one ``(n_pixels, 3)`` array ``[row, column, weight]`` per ROI
        (``(n_voxels, 4)``, ``[row, column, plane, weight]``, volumetric)."""
        return self._read_pixel_masks(self._positions(roi_ids))

    def get_background_image_masks(self, background_ids: Sequence | None = None) -> np.ndarray:
        """Dense masks of the background components (as :meth:`get_roi_image_masks`)."""
        return self._read_image_masks(self._positions(background_ids, background=True), background=True)

    def get_background_pixel_masks(self, background_ids: Sequence | None = None) -> list[np.ndarray]:
        """Sparse masks of the background components (as :meth:`get_roi_pixel_masks`)."""
        return self._read_pixel_masks(self._positions(background_ids, background=True), background=True)

    def get_roi_planes(self, roi_ids: Sequence | None = None) -> np.ndarray:
        """Plane index of each ROI (0 for planar data; -1 for a ROI whose voxels span several planes)."""
        planes = self.__dict__.get("_planes_cache")
        if planes is None:
            planes = np.asarray(self._roi_planes(), dtype=np.int64)
            self.__dict__["_planes_cache"] = planes
        return planes[self._positions(roi_ids)]

    # ------------------------------------------------------------------ accepted, rejected, properties
    def get_accepted_list(self) -> list:
        """Ids of the accepted ROIs: ``is_accepted`` when the source classifies, else every ROI not rejected."""
        ids = self.get_roi_ids()
        if "is_accepted" in self._properties:
            flags = self._properties["is_accepted"][0]
        elif "is_rejected" in self._properties:
            flags = ~self._properties["is_rejected"][0]
        else:
            return list(ids)
        return [roi_id for roi_id, flag in zip(ids, flags) if flag]

    def get_rejected_list(self) -> list:
        """Ids of the rejected ROIs: ``is_rejected`` when the source says so, else those not accepted (a
        source with an undecided state, such as Inscopix's, sets both properties)."""
        ids = self.get_roi_ids()
        if "is_rejected" in self._properties:
            flags = self._properties["is_rejected"][0]
        elif "is_accepted" in self._properties:
            flags = ~self._properties["is_accepted"][0]
        else:
            return []
        return [roi_id for roi_id, flag in zip(ids, flags) if flag]

    def set_property(self, key: str, values: Any, ids: Sequence | None = None, description: str = "") -> None:
        """Set a value per ROI (one per id of ``ids``, every ROI; None: the ROIs in order)."""
        values = np.asarray(values)
        n = self.get_num_rois()
        if ids is None:
            if len(values) != n:
                raise SelectionError(f"set_property({key!r}): {len(values)} values for {n} ROIs")
            self._properties[key] = (values, description)
            return
        positions = self._positions(ids)
        if len(values) != len(positions) or len(set(positions.tolist())) != n:
            raise SelectionError(f"set_property({key!r}) needs one value for each of the {n} ROIs "
                                 f"(got {len(values)} values for {len(set(positions.tolist()))} distinct ROIs)")
        ordered = np.empty_like(values)
        ordered[positions] = values
        self._properties[key] = (ordered, description)

    def get_property(self, key: str, ids: Sequence | None = None) -> np.ndarray:
        """The values of property ``key`` for ``ids`` (all ROIs when None). ``roi_centroids`` (row, column[,
        plane] of each ROI, its mask's weighted mean) is computed from the masks unless it was set."""
        if key in self._properties:
            values = self._properties[key][0]
        elif key == _CENTROIDS:
            values = self._centroids()
        else:
            raise KeyError(f"property {key!r} not found; properties: {self.get_property_keys()}")
        return values[self._positions(ids)]

    def get_property_keys(self) -> list[str]:
        """Names of the ROI properties (``roi_centroids`` included)."""
        keys = list(self._properties)
        return keys + ([_CENTROIDS] if _CENTROIDS not in keys and self.get_num_rois() else [])

    def get_property_description(self, key: str) -> str:
        """The description of property ``key`` ("" when none was given)."""
        if key == _CENTROIDS and key not in self._properties:
            axes = "row, column, plane" if self.is_volumetric else "row, column"
            return f"Centroid of each ROI ({axes}, in pixels): the mean of its mask's coordinates weighted by the mask."
        return self._properties[key][1] if key in self._properties else ""

    def _centroids(self) -> np.ndarray:
        cached = self.__dict__.get("_centroid_cache")
        if cached is None:
            ndim = 3 if self.is_volumetric else 2
            cached = mask_centroids(self._read_pixel_masks(np.arange(self.get_num_rois())), ndim)
            self.__dict__["_centroid_cache"] = cached
        return cached

    def get_roi_locations(self, roi_ids: Sequence | None = None) -> np.ndarray:
        """roiextractors' ``(2, n)`` integer (row, column) locations: the rounded centroids (kept for scripts;
        ``get_property("roi_centroids")`` gives them unrounded)."""
        centroids = self.get_property(_CENTROIDS, roi_ids)
        return np.rint(np.nan_to_num(centroids[:, :2])).astype(int).T

    # ------------------------------------------------------------------ traces and images
    def get_traces(self, roi_ids: Sequence | None = None, start_frame: int | None = None, end_frame: int | None = None,
                   name: str = "raw", *, start_sample: int | None = None, end_sample: int | None = None) -> np.ndarray:
        """Samples ``start:end`` (slice semantics) of trace ``name`` for ``roi_ids`` (all when None), as
        ``(samples, ROIs)``. ``start_frame``/``end_frame`` (roiextractors) and ``start_sample``/``end_sample``
        name the same bounds."""
        if start_sample is not None or end_sample is not None:
            if start_frame is not None or end_frame is not None:
                raise SelectionError("give start_sample/end_sample or start_frame/end_frame, not both")
            start_frame, end_frame = start_sample, end_sample
        self._check_trace(name)
        positions = self._positions(roi_ids, background=name in BACKGROUND_TRACES)
        start, stop, _ = slice(start_frame, end_frame).indices(self.get_num_samples())
        stop = max(start, stop)
        if stop == start or not len(positions):
            return np.empty((stop - start, len(positions)), dtype=self._trace_dtype(name))
        return np.asarray(self._read_traces(name, start, stop, positions))

    def _check_trace(self, name: str) -> None:
        if name not in self.get_trace_names():
            raise SelectionError(f"{type(self).__name__} has no {name!r} trace; traces: {self.get_trace_names()}")

    def get_traces_dict(self) -> dict[str, TraceArray]:
        """Every trace the source has, by name, as lazy ``(samples, ROIs)`` arrays (:class:`TraceArray`):
        nothing is read until one is indexed."""
        result = {}
        for name in self.get_trace_names():
            positions = np.arange(self.get_num_background_components() if name in BACKGROUND_TRACES
                                  else self.get_num_rois())
            result[name] = TraceArray(self, name, positions)
        return result

    def get_images_dict(self) -> dict[str, np.ndarray]:
        """The summary images by name (``mean``, ``correlation``, ``max``...)."""
        return {name: np.array(image) for name, image in self._read_images().items()}

    def get_image(self, name: str = "correlation") -> np.ndarray:
        """One summary image."""
        images = self._read_images()
        if name not in images:
            raise SelectionError(f"{type(self).__name__} has no {name!r} image; images: {list(images)}")
        return np.array(images[name])

    # ------------------------------------------------------------------ arrays (dask, xarray)
    def to_dask(self, name: str = "raw", chunk_samples: int | None = None):
        """Trace ``name`` as a lazy ``(samples, ROIs)`` dask array: chunks of samples of every ROI, each one
        ``get_traces`` of this (pickled) extractor; needs ``ophysio[dask]``.
        See :func:`ophysio.extractors.segmentation.arrays.traces_to_dask`."""
        from .arrays import traces_to_dask

        return traces_to_dask(self, name, chunk_samples)

    def to_xarray(self, name: str | None = None, chunk_samples: int | None = None):
        """The traces as lazy xarray: a ``Dataset`` of every trace (``name=None``) or one ``DataArray``, dims
        (time, roi), times in seconds, ROI ids with their accepted flag, plane, centroid and properties along
        ``roi``; needs ``ophysio[xarray]``. See :func:`ophysio.extractors.segmentation.arrays.traces_to_xarray`."""
        from .arrays import traces_to_xarray

        return traces_to_xarray(self, name, chunk_samples)

    def masks_to_xarray(self, background: bool = False, chunk_rois: int | None = None):
        """The masks as a lazy xarray ``DataArray`` (roi, y, x[, z]); needs ``ophysio[xarray]``.
        See :func:`ophysio.extractors.segmentation.arrays.masks_to_xarray`."""
        from .arrays import masks_to_xarray

        return masks_to_xarray(self, background, chunk_rois)

    def images_to_xarray(self) -> dict:
        """The summary images as xarray ``DataArray``s (y, x[, z]) by name; needs ``ophysio[xarray]``.
        See :func:`ophysio.extractors.segmentation.arrays.images_to_xarray`."""
        from .arrays import images_to_xarray

        return images_to_xarray(self)

    def get_label_image(self, roi_ids: Sequence | None = None) -> np.ndarray:
        """The ROIs as one integer image (rows, columns[, planes]): each pixel the 1 + position of the ROI
        that weighs it most, 0 elsewhere. See :func:`ophysio.extractors.segmentation.arrays.roi_label_image`."""
        from .arrays import roi_label_image

        return roi_label_image(self, roi_ids)

    # ------------------------------------------------------------------ views
    def slice_samples(self, start_sample: int | None = None, end_sample: int | None = None) -> SegmentationExtractor:
        """A lazy view of samples ``start_sample:end_sample`` (slice semantics) of the traces and times."""
        return _VIEWS['slice_samples'](self, start_sample, end_sample)

    def select_rois(self, roi_ids: Sequence) -> SegmentationExtractor:
        """A lazy view of some ROIs (and background components, whose ids may be listed too), in the order given."""
        return _VIEWS['select_rois'](self, roi_ids)

    def select_plane(self, plane_index: int) -> SegmentationExtractor:
        """A lazy planar view of the ROIs of one plane of a volumetric segmentation (their masks in that
        plane, the images' plane); ``plane_index`` as a Python index of the planes."""
        return _VIEWS['select_plane'](self, plane_index)

    def split_planes(self) -> list[SegmentationExtractor]:
        """One planar extractor per plane (``[self]`` for a planar segmentation)."""
        if not self.is_volumetric:
            return [self]
        return [self.select_plane(p) for p in range(self.get_num_planes())]

    def __repr__(self) -> str:
        try:
            rate = self.get_sampling_frequency()
            rate = "rate unknown" if rate is None else f"{rate:.6g} Hz"
        except Exception:  # a rate that cannot be known must not break repr
            rate = "rate unknown"
        background = self.get_num_background_components()
        volume = "x".join(str(s) for s in self._mask_shape())
        return (f"{type(self).__name__}({self.get_num_rois()} ROIs"
                + (f" + {background} background components" if background else "")
                + f" in {volume}, {self.get_num_samples()} samples, {rate}, traces {self.get_trace_names()})")


def _key(roi_id: Any) -> Any:
    """A ROI id as a dictionary key (numpy integers as Python ints)."""
    return int(roi_id) if isinstance(roi_id, np.integer) else roi_id
