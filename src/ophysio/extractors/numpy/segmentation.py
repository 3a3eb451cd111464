"""A segmentation held in numpy arrays (or ``.npy`` files): :class:`NumpySegmentationExtractor`.

For a pipeline ophysio does not read, or for tests: masks, traces and images given as arrays, written
to NWB like any other segmentation. ``.npy`` paths are read lazily with positional reads
(:class:`~ophysio.extractors._filearray.FileArray`), as the numpy imaging reader reads them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...errors import FileSetError, FormatError, MetadataError
from .._filearray import FileArray
from .._handles import CachedFile
from ..imaging import checked_rate
from ..segmentation import BACKGROUND_TRACES, SegmentationExtractor
from ..segmentation.masks import check_pixel_mask, dense_to_pixel_masks, pixel_masks_to_dense

__all__ = ["NumpySegmentationExtractor"]

ArrayOrPath = np.ndarray | str | os.PathLike


def _array(value: Any, what: str) -> np.ndarray | FileArray:
    """An array, or a C-order ``.npy`` file read lazily."""
    if not isinstance(value, (str, os.PathLike)):
        return np.asarray(value)
    path = os.fspath(value)
    if not os.path.isfile(path):
        raise FileSetError(f"{path} ({what}) does not exist")
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # numpy raises many types for a damaged header
        raise FormatError(f"{path} ({what}) is not a readable .npy file: {type(exc).__name__}: {exc}") from exc
    if mapped.ndim > 1 and not mapped.flags.c_contiguous:
        raise FormatError(f"{path} ({what}) is stored in Fortran order; save it with numpy.ascontiguousarray")
    return FileArray(CachedFile(path), mapped.offset, mapped.dtype, mapped.shape,
                     f"the {what} in {os.path.basename(path)}")


class NumpySegmentationExtractor(SegmentationExtractor):
    """ROIs, traces and images given as arrays (roiextractors' keywords, plus sparse masks and times).

    Parameters
    ----------
    image_masks : array or .npy path, optional
        Dense masks ``(rows, columns, n)`` or ``(rows, columns, planes, n)``.
    raw, dff, deconvolved, neuropil, denoised, baseline : array or .npy path, optional
        Traces ``(samples, n)``.
    mean_image, correlation_image : array, optional
        Summary images (also accepted in ``images``).
    roi_ids : list, optional
        Ids of the ROIs (default 0..n-1).
    roi_locations : array, optional
        ``(2, n)`` (row, column) of each ROI (roiextractors' layout), kept as the ``roi_centroids`` property.
    sampling_frequency : float, optional
        Samples per second; derived from ``timestamps`` when they are given instead.
    rejected_list, accepted_list : list, optional
        ROI ids rejected / accepted (the ``is_rejected`` / ``is_accepted`` properties).
    channel_names : list of str, optional
        One channel name.
    movie_dims : tuple, optional
        (rows, columns) or (rows, columns, planes) of the field of view; required with ``pixel_masks``.
    pixel_masks : list of arrays, optional
        Sparse masks instead of ``image_masks``: ``(n_pixels, 3)`` ``[row, column, weight]`` or
        ``(n_voxels, 4)`` ``[row, column, plane, weight]`` each.
    traces : dict, optional
        More traces by name (``{"raw": ..., "my_trace": ...}``).
    images : dict, optional
        Summary images by name.
    timestamps : array, optional
        Time in seconds of each sample.
    background_image_masks, background_pixel_masks : optional
        Masks of background components (as the ROI masks); their traces go in ``background``.
    background : array, optional
        Traces of the background components ``(samples, n_background)``.
    background_ids : list, optional
        Ids of the background components (default ``background0``, ``background1``...).
    """

    format_id = "numpy"
    extractor_name = "NumpySegmentation"

    def __init__(
        self,
        image_masks: ArrayOrPath | None = None,
        raw: ArrayOrPath | None = None,
        dff: ArrayOrPath | None = None,
        deconvolved: ArrayOrPath | None = None,
        neuropil: ArrayOrPath | None = None,
        mean_image: np.ndarray | None = None,
        correlation_image: np.ndarray | None = None,
        roi_ids: Sequence | None = None,
        roi_locations: np.ndarray | None = None,
        sampling_frequency: float | None = None,
        rejected_list: Sequence | None = None,
        channel_names: Sequence[str] | None = None,
        movie_dims: Sequence[int] | None = None,
        accepted_list: Sequence | None = None,
        *,
        pixel_masks: Sequence[np.ndarray] | None = None,
        denoised: ArrayOrPath | None = None,
        baseline: ArrayOrPath | None = None,
        traces: Mapping[str, ArrayOrPath] | None = None,
        images: Mapping[str, np.ndarray] | None = None,
        timestamps: Sequence[float] | np.ndarray | None = None,
        background_image_masks: ArrayOrPath | None = None,
        background_pixel_masks: Sequence[np.ndarray] | None = None,
        background: ArrayOrPath | None = None,
        background_ids: Sequence | None = None,
    ):
        super().__init__()
        if (image_masks is None) == (pixel_masks is None):
            raise FormatError("give the ROI masks as image_masks (dense) or pixel_masks (sparse), one of the two")
        self._paths: list[str] = []
        self._image_masks = None if image_masks is None else _array(image_masks, "image masks")
        if image_masks is not None and isinstance(image_masks, (str, os.PathLike)):
            self._paths.append(os.fspath(image_masks))
        self.native_mask_type = "image" if image_masks is not None else "pixel"
        shape = self._field_of_view(movie_dims, pixel_masks)
        self._shape = shape
        where = "the pixel masks"
        self._pixel_masks = None if pixel_masks is None else [
            check_pixel_mask(m, shape, f"{where}[{i}]") for i, m in enumerate(pixel_masks)]
        n = self._image_masks.shape[-1] if self._image_masks is not None else len(self._pixel_masks)
        self._roi_ids = list(range(n)) if roi_ids is None else list(roi_ids)
        if len(self._roi_ids) != n or len(set(map(str, self._roi_ids))) != n:
            raise FormatError(f"roi_ids must give {n} distinct ids (one per mask); got {len(self._roi_ids)}")

        self._background_dense = None if background_image_masks is None else _array(background_image_masks,
                                                                                     "background masks")
        self._background_sparse = None if background_pixel_masks is None else [
            check_pixel_mask(m, shape, f"the background pixel masks[{i}]")
            for i, m in enumerate(background_pixel_masks)]
        nb = (self._background_dense.shape[-1] if self._background_dense is not None
              else len(self._background_sparse) if self._background_sparse is not None else 0)
        self._background_ids = [f"background{i}" for i in range(nb)] if background_ids is None else list(background_ids)
        if len(self._background_ids) != nb:
            raise FormatError(f"background_ids must give {nb} ids (one per background mask)")

        named = {"raw": raw, "dff": dff, "neuropil": neuropil, "deconvolved": deconvolved, "denoised": denoised,
                 "baseline": baseline, "background": background, **dict(traces or {})}
        self._traces: dict[str, Any] = {}
        for name, value in named.items():
            if value is None:
                continue
            array = _array(value, f"{name} traces")
            if isinstance(value, (str, os.PathLike)):
                self._paths.append(os.fspath(value))
            columns = nb if name in BACKGROUND_TRACES else n
            if array.ndim != 2 or array.shape[1] != columns:
                raise FormatError(f"the {name} traces must have shape (samples, {columns}); got {array.shape}")
            self._traces[name] = array
        lengths = {name: a.shape[0] for name, a in self._traces.items()}
        if len(set(lengths.values())) > 1:
            raise FormatError(f"the traces have different numbers of samples: {lengths}")
        self._num_samples = next(iter(lengths.values()), 0)

        self._images = {}
        if mean_image is not None:
            self._images["mean"] = np.asarray(mean_image)
        if correlation_image is not None:
            self._images["correlation"] = np.asarray(correlation_image)
        self._images.update({name: np.asarray(image) for name, image in dict(images or {}).items()})
        for name, image in self._images.items():
            if image.shape != shape:
                raise FormatError(f"the {name} image has shape {image.shape}; the field of view is {shape}")

        self._timestamps = None
        if timestamps is not None:
            ts = np.asarray(timestamps, dtype=np.float64)
            if ts.shape != (self._num_samples,):
                raise MetadataError(f"{ts.size} timestamps given for {self._num_samples} samples")
            self._timestamps = ts
            if sampling_frequency is None and len(ts) >= 2 and np.median(np.diff(ts)) > 0:
                sampling_frequency = 1.0 / float(np.median(np.diff(ts)))
        if sampling_frequency is None:
            self._rate = self._rate_unknown("the arrays come with no sampling rate")
        else:
            self._rate = checked_rate(sampling_frequency)
        if channel_names is not None:
            names = list(channel_names)
            if len(names) != 1:
                raise MetadataError(f"one extractor reads one channel; got channel_names={names}")
            self._channel_names = (str(names[0]),)

        if roi_locations is not None:
            locations = np.asarray(roi_locations, dtype=np.float64)
            if locations.shape[-1] != n and locations.shape[0] == n:
                locations = locations.T
            self.set_property("roi_centroids", locations.T, description="ROI locations given with the arrays")
        if accepted_list is not None:
            accepted = {str(i) for i in accepted_list}
            self.set_property("is_accepted", np.array([str(i) in accepted for i in self._roi_ids]),
                              description="Whether the ROI was accepted")
        if rejected_list is not None:
            rejected = {str(i) for i in rejected_list}
            self.set_property("is_rejected", np.array([str(i) in rejected for i in self._roi_ids]),
                              description="Whether the ROI was rejected")

    def _field_of_view(self, movie_dims, pixel_masks) -> tuple[int, ...]:
        if self._image_masks is not None:
            if self._image_masks.ndim not in (3, 4):
                raise FormatError(f"image_masks must be (rows, columns, n) or (rows, columns, planes, n); got "
                                  f"{self._image_masks.shape}")
            shape = tuple(int(s) for s in self._image_masks.shape[:-1])
            if movie_dims is not None and tuple(movie_dims) != shape:
                raise FormatError(f"movie_dims {tuple(movie_dims)} contradict the image masks' {shape}")
            return shape
        if movie_dims is None:
            raise FormatError("pixel_masks need movie_dims: the (rows, columns) or (rows, columns, planes) they are in")
        shape = tuple(int(s) for s in movie_dims)
        if len(shape) not in (2, 3) or min(shape) < 1:
            raise FormatError(f"movie_dims must be (rows, columns) or (rows, columns, planes); got {movie_dims}")
        return shape

    # ------------------------------------------------------------------ facts
    def get_image_shape(self) -> tuple[int, int]:
        return self._shape[:2]

    def get_num_planes(self) -> int:
        return self._shape[2] if len(self._shape) == 3 else 1

    @property
    def is_volumetric(self) -> bool:
        return len(self._shape) == 3

    def get_num_samples(self) -> int:
        return int(self._num_samples)

    def get_sampling_frequency(self) -> float | None:
        return self._rate

    def get_roi_ids(self) -> list:
        return list(self._roi_ids)

    def get_background_ids(self) -> list:
        return list(self._background_ids)

    def get_trace_names(self) -> list[str]:
        return list(self._traces)

    def get_file_paths(self) -> list[str]:
        return list(self._paths)

    def _get_native_timestamps(self) -> np.ndarray | None:
        return self._timestamps

    # ------------------------------------------------------------------ reads
    def _trace_dtype(self, name: str) -> np.dtype:
        return np.dtype(self._traces[name].dtype)

    def _read_traces(self, name: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        data = self._traces[name]
        if isinstance(data, FileArray):
            return data[start:stop][:, positions]
        return np.array(data[start:stop, positions])

    def _read_pixel_masks(self, positions: np.ndarray, background: bool = False) -> list[np.ndarray]:
        sparse = self._background_sparse if background else self._pixel_masks
        if sparse is not None:
            return [sparse[i].copy() for i in positions]
        return dense_to_pixel_masks(self._read_image_masks(positions, background))

    def _read_image_masks(self, positions: np.ndarray, background: bool = False) -> np.ndarray:
        dense = self._background_dense if background else self._image_masks
        if dense is not None:
            return np.array(dense[..., np.asarray(positions, dtype=np.int64)])
        sparse = self._background_sparse if background else self._pixel_masks
        return pixel_masks_to_dense([sparse[i] for i in positions] if sparse is not None else [], self._shape)

    def _read_images(self) -> dict[str, np.ndarray]:
        return {name: image.copy() for name, image in self._images.items()}
