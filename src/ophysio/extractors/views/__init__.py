"""Lazy views over extractors: sample slice, field-of-view crop, plane selection, concatenation, binning.

Every view is itself an :class:`~ophysio.extractors.ImagingExtractor`, so views compose and each one
passes the same conformance tests as a format. A view answers its parent's acquisition facts
(:meth:`~ophysio.extractors.ImagingExtractor.get_acquisition_facts`), adjusted to what it shows: a sample
slice keeps them; a field-of-view crop moves the origin by the crop's first row and column times the
pixel size and gives the crop's field of view; a plane keeps its own depth (and the origin's z becomes
it) and drops the plane spacing; binning divides the rate of its samples; a concatenation answers its
first part's facts with the header of every part. Views that transform pixels read their parent in bounded
blocks, so memory stays near one block whatever the size of the read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ...errors import FormatError, SampleIndexError
from .._parent import ParentDelegation
from ..facts import AcquisitionFacts, binned_facts, crop_facts, plane_facts
from ..imaging import DEFAULT_CHUNK_BYTES, ImagingExtractor, register_view

__all__ = [
    "SampleSliceView",
    "FieldOfViewView",
    "PlaneView",
    "BinnedSamplesView",
    "MultiImagingExtractor",
]


class _ParentView(ParentDelegation, ImagingExtractor):
    """A view that keeps its parent's facts unless it overrides them."""

    def __init__(self, parent: ImagingExtractor):
        super().__init__()
        self._adopt_parent(parent, ImagingExtractor, "a view")

    @property
    def is_volumetric(self) -> bool:
        return bool(self._parent.is_volumetric)

    def get_dtype(self) -> np.dtype:
        return self._parent.get_dtype()

    def _line_regions(self) -> list[tuple[int, int, int, int, int]]:
        return self._parent._line_regions()

    def _read_parent_blocks(
        self,
        parent_start: int,
        parent_stop: int,
        out: np.ndarray,
        transform: Callable[[np.ndarray], np.ndarray],
        align: int = 1,
    ) -> None:
        """Read parent samples in bounded blocks and write ``transform(block)`` into ``out`` in order.

        ``align`` makes every block a multiple of that many parent samples (for binning).
        """
        parent = self._parent
        per_block = max(align, (DEFAULT_CHUNK_BYTES // max(parent.sample_nbytes, 1)) // align * align)
        per_block = min(per_block, parent_stop - parent_start)
        buffer = np.empty((per_block, *parent.get_sample_shape()), dtype=parent.dtype)
        pos = 0
        for a in range(parent_start, parent_stop, per_block):
            b = min(a + per_block, parent_stop)
            block = buffer[: b - a]
            parent._read_into(a, b, block)
            result = transform(block)
            out[pos : pos + len(result)] = result
            pos += len(result)


@register_view("slice_samples")
class SampleSliceView(_ParentView):
    """Samples ``start_sample:end_sample`` of a parent extractor, with its times."""

    def __init__(self, parent: ImagingExtractor, start_sample: int | None = None, end_sample: int | None = None):
        super().__init__(parent)
        start, stop, _ = slice(start_sample, end_sample).indices(parent.get_num_samples())
        self._start = start
        self._stop = max(start, stop)

    def get_num_samples(self) -> int:
        return self._stop - self._start

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        self._parent._read_into(self._start + start, self._start + stop, out)

    def _read_samples(self, indices: np.ndarray, out: np.ndarray) -> None:
        self._parent._read_samples(indices + self._start, out)

    def _get_native_timestamps(self) -> np.ndarray | None:
        if not self._parent.has_recorded_times():
            return None
        return self._parent.get_timestamps(self._start, self._stop)

    def _regular_timestamps(self, start: int, stop: int) -> np.ndarray:
        return self._parent._regular_timestamps(self._start + start, self._start + stop)

    def get_original_frame_indices(self, *args, **kwargs) -> np.ndarray:
        """The parent's original frame indices of the samples in this slice (where the parent has them)."""
        return np.asarray(self._parent.get_original_frame_indices(*args, **kwargs))[self._start : self._stop]


@register_view("slice_field_of_view")
class FieldOfViewView(_ParentView):
    """Rows ``row_start:row_end`` and columns ``column_start:column_end`` of a parent extractor."""

    def __init__(
        self,
        parent: ImagingExtractor,
        row_start: int | None = None,
        row_end: int | None = None,
        column_start: int | None = None,
        column_end: int | None = None,
    ):
        super().__init__(parent)
        rows, columns = parent.get_image_shape()
        r0, r1, _ = slice(row_start, row_end).indices(rows)
        c0, c1, _ = slice(column_start, column_end).indices(columns)
        if r1 <= r0 or c1 <= c0:
            raise SampleIndexError(
                f"the field of view rows {row_start}:{row_end}, columns {column_start}:{column_end} "
                f"is empty for images of {rows}x{columns}"
            )
        self._rows = slice(r0, r1)
        self._columns = slice(c0, c1)

    def get_image_shape(self) -> tuple[int, int]:
        return (self._rows.stop - self._rows.start, self._columns.stop - self._columns.start)

    def get_acquisition_facts(self) -> AcquisitionFacts:
        """The parent's facts with the origin moved to the crop's first pixel and the crop's field of view."""
        rows, columns = self.get_image_shape()
        return crop_facts(self._parent.get_acquisition_facts(), self._rows.start, self._columns.start, rows, columns)

    def _line_regions(self) -> list[tuple[int, int, int, int, int]]:
        """The parent's pieces of scan lines, cut to the crop (a crop from an odd row flips their parity)."""
        r0, r1, c0, c1 = self._rows.start, self._rows.stop, self._columns.start, self._columns.stop
        regions = []
        for a, b, c, d, parity in self._parent._line_regions():
            top, bottom, left, right = max(a, r0), min(b, r1), max(c, c0), min(d, c1)
            if top < bottom and left < right:
                regions.append((top - r0, bottom - r0, left - c0, right - c0, (parity + top - a) % 2))
        return regions

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        key = (slice(None), self._rows, self._columns)
        self._read_parent_blocks(start, stop, out, lambda block: block[key])


@register_view("select_plane")
class PlaneView(_ParentView):
    """One plane of a volumetric parent, as a planar extractor."""

    def __init__(self, parent: ImagingExtractor, plane_index: int):
        super().__init__(parent)
        planes = parent.get_num_planes()
        if not parent.is_volumetric:
            raise FormatError("select_plane needs a volumetric extractor; this one is planar")
        if isinstance(plane_index, bool) or not isinstance(plane_index, (int, np.integer)):
            raise TypeError(f"plane_index must be an integer, not {type(plane_index).__name__}")
        plane_index = int(plane_index)
        if not -planes <= plane_index < planes:
            raise SampleIndexError(
                f"plane_index {plane_index} is out of range for {planes} planes: give 0 to {planes - 1}, "
                f"or -{planes} to -1 counting from the last plane"
            )
        self._plane = plane_index % planes

    @property
    def plane_index(self) -> int:
        return self._plane

    def get_num_planes(self) -> int:
        return 1

    @property
    def is_volumetric(self) -> bool:
        return False

    def get_acquisition_facts(self) -> AcquisitionFacts:
        """The parent's facts for this plane: its depth, the origin at that depth, no plane spacing."""
        return plane_facts(self._parent.get_acquisition_facts(), self._plane)

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        plane = self._plane
        self._read_parent_blocks(start, stop, out, lambda block: block[..., plane])


@register_view("bin_samples")
class BinnedSamplesView(_ParentView):
    """The mean of each run of ``bin_size`` consecutive samples of a parent.

    Integer data are summed exactly and divided with rounding to the nearest value (ties to even),
    never truncated; floating data are averaged in float64. Timestamps are the mean of each bin's
    timestamps and the rate is the parent's divided by ``bin_size``. An incomplete last bin is dropped.
    """

    def __init__(self, parent: ImagingExtractor, bin_size: int):
        super().__init__(parent)
        if isinstance(bin_size, bool) or not isinstance(bin_size, (int, np.integer)) or bin_size < 1:
            raise ValueError(f"bin_size must be a positive integer, got {bin_size!r}")
        self._bin = int(bin_size)

    @property
    def bin_size(self) -> int:
        return self._bin

    def get_num_samples(self) -> int:
        return self._parent.get_num_samples() // self._bin

    def get_sampling_frequency(self) -> float | None:
        rate = self._parent.get_sampling_frequency()
        return None if rate is None else rate / self._bin

    def get_acquisition_facts(self) -> AcquisitionFacts:
        """The parent's facts with the rate of its samples divided by the bin size."""
        return binned_facts(self._parent.get_acquisition_facts(), self._bin, self.is_volumetric)

    def _get_native_timestamps(self) -> np.ndarray | None:
        if not self._parent.has_recorded_times():
            return None
        n = self.get_num_samples()
        return self._parent.get_timestamps(0, n * self._bin).reshape(n, self._bin).mean(axis=1)

    def _regular_timestamps(self, start: int, stop: int) -> np.ndarray:
        k = self._bin
        return self._parent._regular_timestamps(start * k, stop * k).reshape(stop - start, k).mean(axis=1)

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        k = self._bin
        dtype = self.dtype

        def mean(block: np.ndarray) -> np.ndarray:
            grouped = block.reshape(len(block) // k, k, *block.shape[1:])
            if dtype.kind in "iub":
                total = grouped.sum(axis=1, dtype=np.int64 if dtype.kind != "u" else np.uint64)
                return np.rint(total / k).astype(dtype)
            return grouped.mean(axis=1, dtype=np.float64).astype(dtype)

        self._read_parent_blocks(start * k, stop * k, out, mean, align=k)


class MultiImagingExtractor(ImagingExtractor):
    """Several extractors concatenated in time, in the order given.

    They must share sample shape and dtype, and their rates must agree to 1 part in 1e6. Timestamps are
    the concatenation of each part's timestamps when any part has its own times; otherwise a regular
    series over the whole.
    """

    def __init__(self, imaging_extractors: Sequence[ImagingExtractor]):
        super().__init__()
        parts = list(imaging_extractors)
        if not parts:
            raise ValueError("MultiImagingExtractor needs at least one extractor")
        first = parts[0]
        for i, part in enumerate(parts[1:], start=1):
            if part.get_sample_shape() != first.get_sample_shape():
                raise FormatError(
                    f"extractor {i} has samples of shape {part.get_sample_shape()}; extractor 0 has "
                    f"{first.get_sample_shape()}"
                )
            if part.dtype != first.dtype:
                raise FormatError(f"extractor {i} has dtype {part.dtype}; extractor 0 has {first.dtype}")
            f0, fi = first.get_sampling_frequency(), part.get_sampling_frequency()
            if (f0 is None) != (fi is None) or (f0 is not None and abs(fi - f0) > 1e-6 * abs(f0)):
                raise FormatError(f"extractor {i} samples at {fi} Hz; extractor 0 at {f0} Hz")
        self._parts = parts
        self._starts = np.cumsum([0] + [p.get_num_samples() for p in parts])
        self.format_id = first.format_id

    @property
    def extractors(self) -> list[ImagingExtractor]:
        return list(self._parts)

    def get_num_samples(self) -> int:
        return int(self._starts[-1])

    def get_image_shape(self) -> tuple[int, int]:
        return self._parts[0].get_image_shape()

    def get_num_planes(self) -> int:
        return self._parts[0].get_num_planes()

    @property
    def is_volumetric(self) -> bool:
        return bool(self._parts[0].is_volumetric)

    def get_dtype(self) -> np.dtype:
        return self._parts[0].get_dtype()

    def get_sampling_frequency(self) -> float | None:
        return self._parts[0].get_sampling_frequency()

    def _rate_unknown_message(self) -> str:
        return self._parts[0]._rate_unknown_message()

    @property
    def channel_name(self) -> str:
        return self._parts[0].channel_name

    def get_channel_names(self) -> list[str]:
        return self._parts[0].get_channel_names()

    def get_file_paths(self) -> list[str]:
        return [path for part in self._parts for path in part.get_file_paths()]

    def get_metadata(self) -> dict:
        return {"parts": [part.get_metadata() for part in self._parts]}

    def _line_regions(self) -> list[tuple[int, int, int, int, int]]:
        return self._parts[0]._line_regions()

    def get_acquisition_facts(self) -> AcquisitionFacts:
        """The first part's facts (the acquisition starts with it), with the header of every part."""
        return self._parts[0].get_acquisition_facts().replace(source_header=self.get_metadata())

    def has_time_vector(self) -> bool:
        """Whether times were set with ``set_times`` on this extractor or on any of its parts."""
        return self._times is not None or any(p.has_time_vector() for p in self._parts)

    def _get_native_timestamps(self) -> np.ndarray | None:
        if not any(p.has_recorded_times() for p in self._parts):
            return None
        return np.concatenate([p.get_timestamps() for p in self._parts])

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        first = int(np.searchsorted(self._starts, start, side="right")) - 1
        pos = start
        for i in range(first, len(self._parts)):
            if pos >= stop:
                break
            a, b = int(self._starts[i]), int(self._starts[i + 1])
            end = min(stop, b)
            if end > pos:
                self._parts[i]._read_into(pos - a, end - a, out[pos - start : end - start])
            pos = end
