"""Corrections as lazy recorded views: bidirectional scan phase, and registration of the planes of a volume.

Both are :class:`~ophysio.extractors.ImagingExtractor` views over a parent (any extractor or view), made
by :meth:`~ophysio.extractors.ImagingExtractor.correct_scan_phase` and
:meth:`~ophysio.extractors.ImagingExtractor.register_planes`. The correction is decided once, when the
view is made (estimated from a sample of the data, or given), and applied to every read in bounded
blocks; the source is never touched. What was applied is recorded three ways: the view's properties
(``offsets``, ``shifts``), a record appended to ``get_metadata()["ophysio_processing"]``, and a
:class:`~ophysio.extractors.facts.ProcessingStep` in its acquisition facts, which conversion writes into
the NWB series description and comments (the data are then no longer raw).

Shifts follow one convention: the shift is what is applied to the pixels, positive towards higher
column (x) or row (y) indices: ``corrected[x] = recorded[x - shift]``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import FormatError, SampleIndexError
from ..facts import AcquisitionFacts, ProcessingStep, processed_facts
from ..imaging import ImagingExtractor, register_view
from . import _ParentView
from .phasecorr import LineSpectrum, estimate_shift_2d, shift_columns, shift_image

__all__ = ["ScanPhaseView", "PlaneRegistrationView", "PROCESSING_KEY", "sample_indices_for"]

#: Key of ``get_metadata()`` under which views list what they did to the pixels.
PROCESSING_KEY = "ophysio_processing"


def sample_indices_for(extractor: ImagingExtractor, num_samples: int | None,
                       sample_indices: Sequence[int] | None) -> np.ndarray:
    """The samples an estimate reads: ``sample_indices`` as given, else ``num_samples`` spread evenly
    over the series (all of them when there are fewer)."""
    n = extractor.get_num_samples()
    if n == 0:
        raise SampleIndexError("the extractor has no samples to estimate a correction from")
    if sample_indices is not None:
        idx = extractor._normalize_indices(np.asarray(sample_indices))
        if idx.size == 0:
            raise SampleIndexError("sample_indices is empty")
        return np.unique(idx.ravel())
    count = n if num_samples is None else int(num_samples)
    if count < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples!r}")
    return np.unique(np.linspace(0, n - 1, min(count, n)).round().astype(np.int64))


#: Size of the blocks of samples an estimate reads (each becomes several float64 copies on the way).
_ESTIMATE_BLOCK_BYTES = 8 * 1024**2


def _iter_sample_blocks(extractor: ImagingExtractor, indices: np.ndarray):
    """The samples at ``indices`` in blocks of about 8 MB (bounded memory)."""
    per = max(1, _ESTIMATE_BLOCK_BYTES // max(extractor.sample_nbytes, 1))
    for a in range(0, len(indices), per):
        yield extractor.get_samples(indices[a : a + per])


def _planes_of(block: np.ndarray, volumetric: bool) -> list[np.ndarray]:
    """Per plane (n, rows, columns) views of a block of samples."""
    return [block[..., p] for p in range(block.shape[-1])] if volumetric else [block]


def _with_record(parent: ImagingExtractor, record: dict) -> dict:
    metadata = dict(parent.get_metadata())
    metadata[PROCESSING_KEY] = [*metadata.get(PROCESSING_KEY, []), record]
    return metadata


def _per_plane(value: Any, planes: int, what: str, width: int = 1) -> list:
    """A value given once for all planes or once per plane, as a list of one entry per plane."""
    array = np.asarray(value, dtype=np.float64)
    single = array.ndim == (0 if width == 1 else 1)
    if single:
        array = np.broadcast_to(array, (planes,) if width == 1 else (planes, width))
    expected = (planes,) if width == 1 else (planes, width)
    if array.shape != expected:
        raise ValueError(f"{what} must be one value for all planes or one per plane ({planes}), got shape "
                         f"{np.shape(value)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return [float(v) for v in array] if width == 1 else [tuple(float(x) for x in row) for row in array]


def _check_upsample(upsample: int) -> int:
    if isinstance(upsample, bool) or not isinstance(upsample, (int, np.integer)) or upsample < 1:
        raise ValueError(f"upsample must be a positive integer, got {upsample!r}")
    return int(upsample)


@register_view("correct_scan_phase")
class ScanPhaseView(_ParentView):
    """A parent with the bidirectional scan-phase offset corrected: odd scan lines shifted along x.

    In bidirectional (resonant) scanning every other line is scanned backwards, and a delay between the
    mirror and the sampling displaces those lines by a fraction of a pixel to a few pixels against the
    forward ones. The view shifts the odd scan lines (rows 1, 3, 5... of each piece of scan lines, see
    below) by ``offset`` pixels along x and leaves the even lines as recorded.

    Parameters
    ----------
    parent : ImagingExtractor
        The data to correct (planar or volumetric; any view).
    offset : float or sequence of float, optional
        The shift applied to the odd lines (pixels, positive towards higher columns), one value or one per
        plane. None (default): estimated from the data.
    num_samples : int
        How many samples, spread evenly over the series, the estimate reads (default 200).
    sample_indices : sequence of int, optional
        The samples to estimate from, instead of ``num_samples``.
    upsample : int
        The estimate's resolution is ``1 / upsample`` pixel (default 100); 1 gives whole pixels.
    max_offset : float
        Largest offset searched (pixels, default 8).
    per_plane : bool
        For volumes, estimate each plane's offset on its own (default); False pools every plane into one.
    normalization : {None, "phase"}
        None (default) correlates the lines as they are; ``"phase"`` whitens the spectrum first (phase
        correlation in the strict sense), which sharpens the peak on images with a lot of fine detail but
        makes the estimate noisy on smooth or dim ones.

    Notes
    -----
    **The estimate.** The sampled frames are averaged (the offset does not change from frame to frame,
    and the mean has far less noise than any frame); every odd scan line of the mean image is compared
    with the mean of the even lines above and below it (so that how the image changes from line to line
    does not pass for a shift): each line's mean is removed and the cross-power spectra of all the pairs
    are summed (one line of each pair tapered by a Tukey window, the two ways summed so the taper biases
    neither way); the integer peak of the inverse transform is refined on a grid of ``1 / upsample``
    pixel by evaluating that transform directly around it. **The correction.** A whole-pixel offset moves
    the odd lines' pixels unchanged; a fractional one interpolates linearly between the two nearest
    columns (integer data rounded to nearest). Pixels that would come from beyond the edge of a line take
    the value of the line's edge pixel. **Pieces of scan lines.** Lines are shifted within each piece of
    the image that the parent says was scanned as whole lines (``_line_regions``): the whole image for
    most sources, each ROI's visible part of a ScanImage multi-ROI canvas (with the parity of the page row
    it came from). A crop before the correction keeps the parity of the recorded lines.
    """

    def __init__(self, parent: ImagingExtractor, offset: float | Sequence[float] | None = None, *,
                 num_samples: int | None = 200, sample_indices: Sequence[int] | None = None, upsample: int = 100,
                 max_offset: float = 8.0, per_plane: bool = True, normalization: str | None = None):
        super().__init__(parent)
        if normalization not in (None, "phase"):
            raise ValueError(f"normalization must be None or 'phase', not {normalization!r}")
        upsample = _check_upsample(upsample)
        if not (isinstance(max_offset, (int, float)) and math.isfinite(max_offset) and max_offset > 0):
            raise ValueError(f"max_offset must be a positive number of pixels, got {max_offset!r}")
        planes = parent.get_num_planes() if parent.is_volumetric else 1
        self._regions = list(parent._line_regions())
        if offset is None:
            indices = sample_indices_for(parent, num_samples, sample_indices)
            offsets = self._estimate(indices, planes, upsample, float(max_offset), per_plane, normalization)
            at_limit = [p for p, v in enumerate(offsets) if abs(v) >= max_offset - 0.5 / upsample]
            if at_limit:
                warnings.warn(
                    f"the scan-phase estimate of plane(s) {at_limit} reached max_offset={max_offset:g} pixels "
                    f"({[offsets[p] for p in at_limit]}): the sampled frames show no clear line offset (dark or "
                    "noise-only data?); pass offset= to give it, or a larger max_offset", UserWarning, stacklevel=3)
            self._estimate_record = {"estimated": True, "planes_at_search_limit": at_limit,
                                     "samples": int(len(indices)),
                                     "sample_indices": [int(i) for i in indices[:1000]],
                                     "upsample": upsample, "max_offset_px": float(max_offset),
                                     "per_plane": bool(per_plane), "normalization": normalization}
        else:
            offsets = _per_plane(offset, planes, "offset")
            self._estimate_record = {"estimated": False}
        self._offsets = tuple(offsets)

    # ------------------------------------------------------------------ the estimate
    def _estimate(self, indices: np.ndarray, planes: int, upsample: int, max_offset: float, per_plane: bool,
                  normalization: str | None) -> list[float]:
        parent = self._parent
        widest = max((d - c for _, _, c, d, _ in self._regions), default=2)
        rows, columns = parent.get_image_shape()
        total = np.zeros((planes, rows, columns), np.float64)
        for block in _iter_sample_blocks(parent, indices):
            for p, plane in enumerate(_planes_of(block, parent.is_volumetric)):
                total[p] += plane.sum(axis=0, dtype=np.float64)
        spectra = [LineSpectrum(widest) for _ in range(planes)]
        for spectrum, mean in zip(spectra, total / len(indices)):
            for r0, r1, c0, c1, parity in self._regions:
                spectrum.add_lines(mean[None, r0:r1, c0:c1], parity)
        if not per_plane and planes > 1:
            for other in spectra[1:]:
                spectra[0].merge(other)
            value = spectra[0].shift(upsample, max_offset, normalization)
            return [value] * planes
        return [s.shift(upsample, max_offset, normalization) for s in spectra]

    @property
    def offsets(self) -> tuple[float, ...]:
        """The shift applied to the odd scan lines of each plane (pixels, positive towards higher columns)."""
        return self._offsets

    @property
    def offset(self) -> float | tuple[float, ...]:
        """The offset: one number when every plane has the same, else one per plane."""
        return self._offsets[0] if len(set(self._offsets)) == 1 else self._offsets

    def _record(self) -> dict:
        return {"name": "scan_phase", "offsets_px": list(self._offsets), "applied_to": "odd scan lines",
                "axis": "x (columns)", "interpolation": "linear (whole-pixel offsets move pixels unchanged)",
                "edges": "nearest pixel of the line", **self._estimate_record}

    def _description(self) -> str:
        same = len(set(self._offsets)) == 1
        values = f"{self._offsets[0]:+g}" if same else ", ".join(f"{v:+g}" for v in self._offsets)
        planes = "" if same else " (per plane)"
        how = (f"estimated by cross-correlating odd against interpolated even scan lines of the mean of "
               f"{self._estimate_record['samples']} samples, to 1/{self._estimate_record['upsample']} pixel"
               if self._estimate_record["estimated"] else "given")
        return (f"bidirectional scan phase corrected by ophysio: odd scan lines shifted by {values} pixels{planes} "
                f"along x ({how}; linear interpolation, edge pixels repeated)")

    def get_metadata(self) -> dict:
        """The parent's metadata with this correction appended to ``metadata["ophysio_processing"]``."""
        return _with_record(self._parent, self._record())

    def get_acquisition_facts(self) -> AcquisitionFacts:
        """The parent's facts with a ``scan_phase`` processing step."""
        step = ProcessingStep("scan_phase", self._description(), self._record(), changes_values=True)
        return processed_facts(self._parent.get_acquisition_facts(), step).replace(source_header=self.get_metadata())

    # ------------------------------------------------------------------ reading
    def _correct(self, block: np.ndarray) -> np.ndarray:
        planes = _planes_of(block, self._parent.is_volumetric)
        for plane, offset in zip(planes, self._offsets):
            if offset == 0:
                continue
            for r0, r1, c0, c1, parity in self._regions:
                odd = np.arange(r0 + (1 - parity % 2), r1, 2)
                if odd.size == 0:
                    continue
                lines = plane[:, odd, c0:c1]
                shifted = np.empty_like(lines)
                shift_columns(lines, offset, shifted)
                plane[:, odd, c0:c1] = shifted
        return block

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        self._read_parent_blocks(start, stop, out, self._correct)


@register_view("register_planes")
class PlaneRegistrationView(_ParentView):
    """A volume with each plane shifted (rigid, x and y) onto a reference plane.

    Parameters
    ----------
    parent : ImagingExtractor
        A volumetric extractor (or view).
    shifts : sequence of (dy, dx), optional
        The shift applied to each plane (pixels, positive towards higher rows / columns). None (default):
        estimated from the data.
    reference_plane : int, optional
        The plane the others are registered to (default: the middle plane, ``planes // 2``); its shift
        is (0, 0).
    num_samples, sample_indices :
        The samples whose mean image per plane the estimate uses (default: 200 spread evenly).
    upsample : int
        1 (default): whole-pixel shifts, which move pixels unchanged; larger values estimate to
        ``1 / upsample`` pixel and interpolate bilinearly.
    max_shift : float, optional
        Largest shift searched in each axis (default: a quarter of the image side).
    fill_value : number
        The value of pixels that no recorded pixel maps to (default 0).
    normalization : {None, "phase"}
        None (default) correlates the mean images as they are; ``"phase"`` whitens their cross-power
        spectrum first (phase correlation in the strict sense: sharper on finely textured images, noisier
        on smooth or dim ones).

    Notes
    -----
    Each plane's mean image over the sampled samples is correlated with the reference plane's mean image
    through their cross-power spectrum (means removed, zero-padded so nothing wraps around, one image of
    each pair tapered by a Tukey window and the two ways summed so the taper biases neither way); the
    integer peak is refined to ``1 / upsample`` pixel by evaluating the inverse transform around it. The
    estimate is deterministic: the same samples give the same shifts, and the shifts (given or estimated)
    are recorded.
    """

    def __init__(self, parent: ImagingExtractor, shifts: Sequence[Sequence[float]] | None = None, *,
                 reference_plane: int | None = None, num_samples: int | None = 200,
                 sample_indices: Sequence[int] | None = None, upsample: int = 1, max_shift: float | None = None,
                 fill_value: float = 0, normalization: str | None = None):
        super().__init__(parent)
        if not parent.is_volumetric:
            raise FormatError("register_planes needs a volumetric extractor; this one is planar")
        planes = parent.get_num_planes()
        upsample = _check_upsample(upsample)
        if normalization not in (None, "phase"):
            raise ValueError(f"normalization must be None or 'phase', not {normalization!r}")
        reference = planes // 2 if reference_plane is None else int(reference_plane)
        if not -planes <= reference < planes:
            raise SampleIndexError(f"reference_plane {reference_plane} is out of range for {planes} planes")
        reference %= planes
        dtype = parent.dtype
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            if not (float(fill_value) == int(fill_value) and info.min <= int(fill_value) <= info.max):
                raise ValueError(f"fill_value {fill_value!r} is not a value of the data's dtype {dtype}")
        self._fill = int(fill_value) if dtype.kind in "iub" else float(fill_value)
        if shifts is None:
            indices = sample_indices_for(parent, num_samples, sample_indices)
            means = self._mean_images(indices, planes)
            found = [estimate_shift_2d(means[reference], means[p], upsample, max_shift, normalization) if p != reference
                     else (0.0, 0.0) for p in range(planes)]
            self._estimate_record = {"estimated": True, "reference_plane": reference, "samples": int(len(indices)),
                                     "sample_indices": [int(i) for i in indices[:1000]], "upsample": upsample,
                                     "max_shift_px": None if max_shift is None else float(max_shift),
                                     "normalization": normalization,
                                     "method": "cross-correlation of the planes' mean images"}
        else:
            found = _per_plane(shifts, planes, "shifts", width=2)
            self._estimate_record = {"estimated": False, "reference_plane": reference}
        self._shifts = tuple((float(dy), float(dx)) for dy, dx in found)

    def _mean_images(self, indices: np.ndarray, planes: int) -> np.ndarray:
        rows, columns = self._parent.get_image_shape()
        total = np.zeros((planes, rows, columns), np.float64)
        for block in _iter_sample_blocks(self._parent, indices):
            total += np.moveaxis(block, -1, 1).sum(axis=0, dtype=np.float64)
        return total / len(indices)

    @property
    def shifts(self) -> tuple[tuple[float, float], ...]:
        """``(dy, dx)`` applied to each plane (pixels, positive towards higher rows / columns)."""
        return self._shifts

    @property
    def fill_value(self):
        """The value of pixels that no recorded pixel maps to."""
        return self._fill

    def _record(self) -> dict:
        return {"name": "plane_registration", "shifts_px": [list(s) for s in self._shifts],
                "fill_value": self._fill, "interpolation": "bilinear (whole-pixel shifts move pixels unchanged)",
                **self._estimate_record}

    def _description(self) -> str:
        shifts = "; ".join(f"plane {p}: ({dy:+g}, {dx:+g})" for p, (dy, dx) in enumerate(self._shifts))
        how = ("estimated by correlating mean images" if self._estimate_record["estimated"] else "given")
        return (f"planes registered by ophysio to plane {self._estimate_record['reference_plane']} with rigid "
                f"shifts (dy, dx) in pixels {shifts} ({how}; fill value {self._fill})")

    def get_metadata(self) -> dict:
        """The parent's metadata with this registration appended to ``metadata["ophysio_processing"]``."""
        return _with_record(self._parent, self._record())

    def get_acquisition_facts(self) -> AcquisitionFacts:
        """The parent's facts with a ``plane_registration`` processing step."""
        step = ProcessingStep("plane_registration", self._description(), self._record(), changes_values=True)
        return processed_facts(self._parent.get_acquisition_facts(), step).replace(source_header=self.get_metadata())

    def _line_regions(self) -> list[tuple[int, int, int, int, int]]:
        rows, columns = self.get_image_shape()
        return [(0, rows, 0, columns, 0)]  # planes moved by different amounts: no common line parity

    def _register(self, block: np.ndarray) -> np.ndarray:
        for p, (dy, dx) in enumerate(self._shifts):
            if dy == 0 and dx == 0:
                continue
            plane = block[..., p]
            moved = np.empty(plane.shape, dtype=block.dtype)
            shift_image(plane, dy, dx, self._fill, moved)
            block[..., p] = moved
        return block

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        self._read_parent_blocks(start, stop, out, self._register)
