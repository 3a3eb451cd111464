"""Lazy views of a segmentation: samples (``slice_samples``), ROIs (``select_rois``), one plane
(``select_plane``).

Each view is itself a :class:`~ophysio.extractors.segmentation.SegmentationExtractor` that answers the
format-side reads by asking its parent for the samples, ROIs or plane it shows, so views compose
(``extractor.select_rois([3, 1]).slice_samples(100, 200)``) and nothing is read when a view is made. A
view starts with its parent's properties (those of its ROIs); setting one on the view leaves the parent's
alone, as in roiextractors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...errors import SampleIndexError, SelectionError
from .._parent import ParentDelegation
from ..facts import AcquisitionFacts, plane_facts
from . import BACKGROUND_TRACES, SegmentationExtractor, _key, register_view
from .masks import pixel_masks_to_dense

__all__ = ["SegmentationSampleSliceView", "RoiSelectionView", "SegmentationPlaneView"]


class _ParentView(ParentDelegation, SegmentationExtractor):
    """A view that answers what its parent answers unless it overrides it."""

    def __init__(self, parent: SegmentationExtractor):
        super().__init__()
        self._adopt_parent(parent, SegmentationExtractor, "a segmentation view")
        self.native_mask_type = parent.native_mask_type
        self._properties = dict(parent._properties)

    def get_roi_ids(self) -> list:
        return self._parent.get_roi_ids()

    def get_background_ids(self) -> list:
        return self._parent.get_background_ids()

    def get_trace_names(self) -> list[str]:
        return self._parent.get_trace_names()

    def _trace_dtype(self, name: str) -> np.dtype:
        return self._parent._trace_dtype(name)

    def _read_traces(self, name: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        return self._parent._read_traces(name, start, stop, positions)

    def _read_pixel_masks(self, positions: np.ndarray, background: bool = False) -> list[np.ndarray]:
        return self._parent._read_pixel_masks(positions, background)

    def _read_image_masks(self, positions: np.ndarray, background: bool = False) -> np.ndarray:
        return self._parent._read_image_masks(positions, background)

    def _read_images(self) -> dict[str, np.ndarray]:
        return self._parent._read_images()

    def _roi_planes(self) -> np.ndarray:
        return self._parent.get_roi_planes()


@register_view("slice_samples")
class SegmentationSampleSliceView(_ParentView):
    """Samples ``start_sample:end_sample`` of a parent's traces and times (slice semantics); masks, images
    and properties are the parent's."""

    def __init__(self, parent: SegmentationExtractor, start_sample: int | None = None,
                 end_sample: int | None = None):
        super().__init__(parent)
        start, stop, _ = slice(start_sample, end_sample).indices(parent.get_num_samples())
        self._start, self._stop = start, max(start, stop)

    def get_num_samples(self) -> int:
        return self._stop - self._start

    def _read_traces(self, name: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        return self._parent._read_traces(name, self._start + start, self._start + stop, positions)

    def _get_native_timestamps(self) -> np.ndarray | None:
        if not self._parent.has_recorded_times():
            return None
        return self._parent.get_timestamps(self._start, self._stop)

    def _regular_timestamps(self, start: int, stop: int) -> np.ndarray:
        return self._parent._regular_timestamps(self._start + start, self._start + stop)


@register_view("select_rois")
class RoiSelectionView(_ParentView):
    """Some ROIs (and background components) of a parent, in the order given."""

    def __init__(self, parent: SegmentationExtractor, roi_ids: Sequence):
        super().__init__(parent)
        ids = [roi_ids] if isinstance(roi_ids, (str, int, np.integer)) else list(roi_ids)
        if not ids:
            raise SelectionError("select_rois needs at least one ROI id")
        cells = {_key(roi_id): i for i, roi_id in enumerate(parent.get_roi_ids())}
        backgrounds = {_key(roi_id): i for i, roi_id in enumerate(parent.get_background_ids())}
        self._cell_ids, self._background_ids, cell_positions, background_positions = [], [], [], []
        for roi_id in ids:
            key = _key(roi_id)
            if key in cells:
                self._cell_ids.append(roi_id)
                cell_positions.append(cells[key])
            elif key in backgrounds:
                self._background_ids.append(roi_id)
                background_positions.append(backgrounds[key])
            else:
                parent._positions([roi_id])  # raises, naming the ids there are
        self._cells = np.asarray(cell_positions, dtype=np.int64)
        self._backgrounds = np.asarray(background_positions, dtype=np.int64)
        self._properties = {key: (values[self._cells], description)
                            for key, (values, description) in parent._properties.items()}

    def get_roi_ids(self) -> list:
        return list(self._cell_ids)

    def get_background_ids(self) -> list:
        return list(self._background_ids)

    def _parent_positions(self, positions: np.ndarray, background: bool) -> np.ndarray:
        return (self._backgrounds if background else self._cells)[np.asarray(positions, dtype=np.int64)]

    def _read_traces(self, name: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        return self._parent._read_traces(name, start, stop,
                                         self._parent_positions(positions, name in BACKGROUND_TRACES))

    def _read_pixel_masks(self, positions: np.ndarray, background: bool = False) -> list[np.ndarray]:
        return self._parent._read_pixel_masks(self._parent_positions(positions, background), background)

    def _read_image_masks(self, positions: np.ndarray, background: bool = False) -> np.ndarray:
        return self._parent._read_image_masks(self._parent_positions(positions, background), background)

    def _roi_planes(self) -> np.ndarray:
        return self._parent.get_roi_planes()[self._cells]


@register_view("select_plane")
class SegmentationPlaneView(_ParentView):
    """The ROIs of one plane of a volumetric segmentation, as a planar segmentation.

    A ROI belongs to the plane when any of its voxels lies in it; its mask here is the part in that plane
    (for ROIs that lie in one plane, as suite2p's do, the whole mask). The images are the plane's.
    """

    def __init__(self, parent: SegmentationExtractor, plane_index: int):
        super().__init__(parent)
        planes = parent.get_num_planes()
        if not -planes <= int(plane_index) < planes:
            raise SampleIndexError(f"plane index {plane_index} is out of range for {planes} planes "
                                   f"(0 to {planes - 1}, or -1 to -{planes} from the end)")
        self.plane_index = int(plane_index) % planes
        self._volumetric = parent.is_volumetric
        if self._volumetric:
            self._cells = self._members(parent, background=False)
            self._backgrounds = self._members(parent, background=True)
        else:
            self._cells = np.arange(parent.get_num_rois())
            self._backgrounds = np.arange(parent.get_num_background_components())
        self._properties = {key: (values[self._cells], description)
                            for key, (values, description) in parent._properties.items()}

    def _members(self, parent: SegmentationExtractor, background: bool) -> np.ndarray:
        """Positions of the parent's ROIs (or background components) with voxels in this plane."""
        if not background:
            planes = parent.get_roi_planes()
            whole = np.flatnonzero(planes == self.plane_index)
            spanning = np.flatnonzero(planes < 0)
        else:
            whole = np.zeros(0, dtype=np.int64)
            spanning = np.arange(parent.get_num_background_components())
        if spanning.size:
            masks = parent._read_pixel_masks(spanning, background)
            touching = [p for p, mask in zip(spanning, masks) if np.any(np.asarray(mask)[:, 2] == self.plane_index)]
            whole = np.union1d(whole, np.asarray(touching, dtype=np.int64))
        return np.asarray(whole, dtype=np.int64)

    def get_num_planes(self) -> int:
        return 1

    def get_roi_ids(self) -> list:
        ids = self._parent.get_roi_ids()
        return [ids[i] for i in self._cells]

    def get_background_ids(self) -> list:
        ids = self._parent.get_background_ids()
        return [ids[i] for i in self._backgrounds]

    def _parent_positions(self, positions: np.ndarray, background: bool) -> np.ndarray:
        return (self._backgrounds if background else self._cells)[np.asarray(positions, dtype=np.int64)]

    def _read_traces(self, name: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        return self._parent._read_traces(name, start, stop,
                                         self._parent_positions(positions, name in BACKGROUND_TRACES))

    def _read_pixel_masks(self, positions: np.ndarray, background: bool = False) -> list[np.ndarray]:
        masks = self._parent._read_pixel_masks(self._parent_positions(positions, background), background)
        if not self._volumetric:
            return masks
        result = []
        for mask in masks:
            mask = np.asarray(mask)
            inside = mask[mask[:, 2] == self.plane_index] if len(mask) else mask.reshape(0, 4)
            result.append(np.delete(inside, 2, axis=1))
        return result

    def _read_image_masks(self, positions: np.ndarray, background: bool = False) -> np.ndarray:
        if self._parent.native_mask_type == "image":
            dense = self._parent._read_image_masks(self._parent_positions(positions, background), background)
            return dense[:, :, self.plane_index, :] if self._volumetric else dense
        return pixel_masks_to_dense(self._read_pixel_masks(positions, background), tuple(self.get_image_shape()))

    def _read_images(self) -> dict[str, np.ndarray]:
        images = self._parent._read_images()
        if not self._volumetric:
            return images
        return {name: image[..., self.plane_index] if np.ndim(image) == 3 else image for name, image in images.items()}

    def _roi_planes(self) -> np.ndarray:
        return np.zeros(len(self._cells), dtype=np.int64)

    def get_acquisition_facts(self) -> AcquisitionFacts:
        """The parent's facts for this plane: one depth, and the volume rate as the rate of its frames."""
        facts = self._parent.get_acquisition_facts()
        if not self._volumetric:
            return facts
        facts = plane_facts(facts, self.plane_index)
        return facts.replace(frame_rate_hz=facts.volume_rate_hz or facts.frame_rate_hz, volume_rate_hz=None)
