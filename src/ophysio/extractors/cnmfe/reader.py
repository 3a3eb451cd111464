"""CNMF-E's segmentation: :class:`CnmfeSegmentationExtractor`.

CNMF-E (Zhou et al. 2018; Pengcheng Zhou's MATLAB package) keeps a run in a ``Sources2D`` object. Its
results reach a MAT-file as a struct: ``neuron.save_results(file)`` saves ``neuron_results = struct(neuron)``
(every property), the demos save ``results = neuron.obj2struct()``. Saved with ``-v7.3``, the struct holds
(MATLAB sizes; stored with the axes reversed):

- ``A``: the footprints, ``d x K`` with ``d = d1 * d2`` pixels in MATLAB's column-major order
  (``pixel = row + column * d1``); ``obj2struct`` makes it sparse (``data``/``ir``/``jc``), ``struct(neuron)``
  keeps whatever the object held (usually dense);
- ``C`` (``K x T``): the denoised traces (``denoised``); ``C_raw``: the traces before denoising (``raw``);
  ``S``: the deconvolved activity (``deconvolved``; sparse from ``obj2struct``);
- ``Cn`` (``d1 x d2``): the local correlation image (``correlation``); ``PNR``: the peak-to-noise ratio
  image (``pnr``), when ``struct(neuron)`` saved it;
- ``options``: the settings, ``d1`` (rows) and ``d2`` (columns) among them; ``Fs``: the frame rate (NaN
  until set); ``tags``: CNMF-E's bit flags of suspect neurons (ROI property ``tags``, 0 = no flag); ``ids``.

CIAtah's wrapper saves ``cnmfeAnalysisOutput`` instead: ``extractedImages`` (``d1 x d2 x K``, the footprints
reshaped), ``extractedSignals`` (``C``), ``extractedSignalsEst`` (``C_raw``), ``extractedPeaks`` (``S``), ``Cn``
and, in some versions, ``time.totalTime`` (seconds of the movie); it is read too (roiextractors reads that
layout and names ``extractedSignals`` "raw"; here the names follow what each array is).

A ``Sources2D`` object saved as such (``save_workspace``) is stored through MATLAB's opaque class store,
which only MATLAB reads: opening it says how to save a struct instead. MAT v5/v7 files (MATLAB's default
``save`` without ``-v7.3``) are refused with the same advice.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ...errors import MetadataError
from .._hdf5.reads import h5_read_errors
from .._matlab.segmentation import MatLayout, MatStructSegmentation, Traces
from .._matlab.v73 import is_empty, is_sparse, read_scalar, to_python
from ..checks import checked_rate
from .sniff import cnmfe_struct

__all__ = ["CnmfeSegmentationExtractor"]

#: layout -> ophysio trace name -> field of the struct
TRACE_FIELDS = {
    "cnmfe": {"raw": "C_raw", "deconvolved": "S", "denoised": "C"},
    "ciatah": {"raw": "extractedSignalsEst", "deconvolved": "extractedPeaks", "denoised": "extractedSignals"},
}
#: layout -> ophysio image name -> field of the struct
IMAGE_FIELDS = {
    "cnmfe": {"correlation": "Cn", "pnr": "PNR"},
    "ciatah": {"correlation": "Cn"},
}
#: Metadata fields read whole (small ones; ``P`` and the arrays are not metadata).
_META_FIELDS = ("options", "Fs", "frame_range", "file", "params", "inputOptions", "movieList", "time")


def _present(obj) -> bool:
    """Whether a field holds a value (not an empty array, not a placeholder struct)."""
    return obj is not None and (is_sparse(obj) or (hasattr(obj, "shape") and not is_empty(obj) and obj.size > 0))


class CnmfeSegmentationExtractor(MatStructSegmentation):
    """The neurons, traces and images of a CNMF-E run saved to a MATLAB v7.3 MAT-file.

    Parameters
    ----------
    file_path : str or os.PathLike
        The ``.mat`` file.
    sampling_frequency : float, optional
        Frames per second, when the file's ``Fs`` is not set (CNMF-E's default is NaN) or to override it.

    Notes
    -----
    ROI ids are the neurons' indices ``0..K-1``. Masks are sparse when ``A`` is a MATLAB sparse matrix
    (``native_mask_type`` ``"pixel"``), dense otherwise. Traces: ``raw`` (``C_raw``), ``deconvolved`` (``S``),
    ``denoised`` (``C``), those stored. Every neuron is accepted (CNMF-E deletes the neurons it rejects);
    ``tags`` is a ROI property when stored. The ring-model background (``W``, ``b0``) and ``b``/``f`` are not
    read.
    """

    format_id = "cnmfe"
    extractor_name = "CnmfeSegmentation"
    native_mask_type = "pixel"

    def __init__(self, file_path: str | os.PathLike, sampling_frequency: float | None = None):
        super().__init__()
        self._open(file_path)
        self.file_path = self._file_path
        with h5_read_errors(f"{self._file_path}: {self._struct}"), self._file.open() as h5:
            self._rate = self._find_rate(h5, sampling_frequency)
            self._set_tags(h5)

    # ------------------------------------------------------------------ layout
    def _layout(self, h5) -> MatLayout:
        found = cnmfe_struct(h5)
        if isinstance(found, str):
            raise self._format_error(found)
        self._struct, self._kind = found
        if self._kind == "object":
            raise self._format_error(
                f"{self._struct!r} is a saved Sources2D object (neuron.save_workspace), kept in MATLAB's opaque class "
                f"storage that only MATLAB reads; in MATLAB, load it and save a struct: neuron_results = "
                f"{self._struct}.obj2struct(); save(file, 'neuron_results', '-v7.3') (or {self._struct}.save_results)")
        group = h5[self._struct]
        s = self._struct
        shape = self._field_of_view(h5, group)
        traces = {}
        count = self._footprint_count(group)
        for name, key in TRACE_FIELDS[self._kind].items():
            obj = group.get(key)
            if not _present(obj):
                continue
            if is_sparse(obj):
                traces[name] = Traces(f"{s}/{key}", "sparse")
            else:  # K x T in MATLAB, stored (T, K); a single neuron is 1 x T, stored (T, 1)
                axis = 1
                if obj.ndim == 2 and count is not None and obj.shape[1] != count and obj.shape[0] == count:
                    axis = 0
                traces[name] = Traces(f"{s}/{key}", axis)
        if "denoised" not in traces and "raw" not in traces:
            what = "C" if self._kind == "cnmfe" else "extractedSignals"
            raise self._format_error(f"{s}/{what} (the traces) is empty")
        images = {name: f"{s}/{key}" for name, key in IMAGE_FIELDS[self._kind].items()
                  if _present(group.get(key)) and not is_sparse(group.get(key))}
        if self._kind == "ciatah":
            return MatLayout(masks=f"{s}/extractedImages", mask_form="images", traces=traces, images=images,
                             image_shape=shape)
        a = group["A"]
        if shape is None:
            raise self._format_error(f"{s}/options has no d1 and d2 and there is no Cn: the field of view of the "
                                     "footprints A is unknown")
        return MatLayout(masks=f"{s}/A", mask_form="sparse" if is_sparse(a) else "columns", traces=traces,
                         images=images, image_shape=shape)

    def _footprint_count(self, group) -> int | None:
        key = "A" if self._kind == "cnmfe" else "extractedImages"
        obj = group.get(key)
        if is_sparse(obj) and "jc" in obj:
            return int(obj["jc"].shape[0]) - 1
        if obj is None or not hasattr(obj, "shape") or is_empty(obj):
            return None
        if self._kind == "ciatah":
            return 1 if obj.ndim == 2 else int(obj.shape[0])
        return int(obj.shape[0]) if obj.ndim == 2 else None

    def _field_of_view(self, h5, group) -> tuple[int, int] | None:
        """(rows, columns): ``options.d1`` and ``d2``, else the shape of ``Cn``."""
        options = group.get("options")
        if options is not None and hasattr(options, "keys") and "d1" in options and "d2" in options:
            d1, d2 = read_scalar(options["d1"]), read_scalar(options["d2"])
            if d1 is None or d2 is None or not (d1 > 0 and d2 > 0) or d1 != int(d1) or d2 != int(d2):
                raise self._format_error(f"{self._struct}/options d1 = {d1}, d2 = {d2} are not a field of view")
            return int(d1), int(d2)
        cn = group.get("Cn")
        if _present(cn) and not is_sparse(cn) and cn.ndim == 2:
            return int(cn.shape[1]), int(cn.shape[0])
        return None

    def _find_rate(self, h5, sampling_frequency) -> float | None:
        if sampling_frequency is not None:
            return checked_rate(sampling_frequency)
        group = h5[self._struct]
        fs = read_scalar(group["Fs"]) if "Fs" in group else None
        if fs is not None and math.isfinite(fs):
            try:
                return checked_rate(fs, f"{self._struct}.Fs in {self._file_path}")
            except MetadataError as exc:
                return self._rate_unknown(str(exc))
        where = f"{self._struct}/time/totalTime"
        total = read_scalar(h5[where]) if where in h5 else None
        if total is not None and math.isfinite(total) and total > 0:
            return checked_rate(self.get_num_samples() / total, f"the frames over {where} in {self._file_path}")
        why = "is NaN (never set)" if fs is not None else "is not stored"
        return self._rate_unknown(f"{self._file_path}: the frame rate {self._struct}.Fs {why}")

    def _set_tags(self, h5) -> None:
        tags = h5[self._struct].get("tags")
        if not _present(tags) or is_sparse(tags) or tags.dtype.kind not in "fiu":
            return
        values = np.asarray(tags[()]).ravel()
        if len(values) == self._num_rois:
            self.set_property("tags", values, description="CNMF-E's tags: bit flags of suspect neurons (0: none; bit "
                                                          "1 too few pixels, 2 silent, 3 noisy residual, 4 failed "
                                                          "deconvolution...).")

    # ------------------------------------------------------------------ facts
    @property
    def layout(self) -> str:
        """``"cnmfe"`` (the ``Sources2D`` results as a struct) or ``"ciatah"`` (``cnmfeAnalysisOutput``)."""
        return self._kind

    @property
    def struct_name(self) -> str:
        """The variable of the file that holds the results."""
        return self._struct

    def get_sampling_frequency(self) -> float | None:
        return self._rate

    def get_metadata(self) -> dict[str, Any]:
        """The small fields of the struct: ``options`` (the settings), ``Fs``, ``frame_range``, ``file``
        (``params``, ``movieList``, ``time`` for CIAtah's struct); arrays over 10000 values are described."""
        with h5_read_errors(f"{self._file_path}: {self._struct}"), self._file.open() as h5:
            group = h5[self._struct]
            return {key: to_python(group[key]) for key in _META_FIELDS if key in group}

    def get_acquisition_facts(self):
        """The channel, rate and settings; CNMF-E records the analysis, not the microscope."""
        return super().get_acquisition_facts().replace(software="CNMF-E")
