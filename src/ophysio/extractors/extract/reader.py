"""EXTRACT's segmentation: :class:`ExtractSegmentationExtractor`.

EXTRACT (Inan et al., the Schnitzer lab's robust cell extraction, MATLAB) returns a struct, by convention
named ``output`` and saved to a v7.3 MAT-file, with:

- ``spatial_weights``: the cells' images, ``h x w x K`` in MATLAB (stored ``(K, w, h)``): ROI ``k`` is
  ``spatial_weights(:, :, k)``, rows down, columns across, as the movie it came from;
- ``temporal_weights``: the traces, ``T x K`` in MATLAB (stored ``(K, T)``). With ``config.preprocess`` on
  (the default) EXTRACT works on the movie in units of dF/F, so the traces are named ``dff``; otherwise ``raw``
  (roiextractors' choice too);
- ``info``: ``summary_image`` (cell finding's summary image: at each pixel, the mean of its neighbours at the
  frame where the pixel peaks), ``max_image`` (the maximum projection of the
  preprocessed movie), ``F_per_pixel`` (the per-pixel baseline the movie was divided by), ``version``,
  ``runtime``, ``cellcheck`` (``is_bad``, ``is_attr_bad``, ``metrics`` per cell) and the run's ``summary``;
- ``config``: the settings of the run.

CIAtah saves older runs as ``extractAnalysisOutput`` with ``filters`` (= ``spatial_weights``), ``traces``
(``K x T`` in MATLAB, stored ``(T, K)``), ``info``, ``config``, and ``time.totalTime`` (seconds of the movie).

The frame rate is not in the file (EXTRACT never sees it): pass ``sampling_frequency``; for the older layout
it is otherwise the frames over ``time.totalTime`` (as roiextractors computes it).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ...errors import MetadataError
from .._hdf5.reads import h5_read_errors
from .._matlab.segmentation import MatLayout, MatStructSegmentation, Traces
from .._matlab.v73 import is_empty, read_char, read_scalar, to_python
from ..checks import checked_rate
from .sniff import extract_struct

__all__ = ["ExtractSegmentationExtractor"]

#: ophysio image name -> the field of ``info`` that holds it (EXTRACT's name)
IMAGE_FIELDS = {
    "summary": "summary_image",
    "max": "max_image",
    "baseline": "F_per_pixel",
}


class ExtractSegmentationExtractor(MatStructSegmentation):
    """The cells, traces and summary images of an EXTRACT run saved to a MATLAB v7.3 MAT-file.

    Parameters
    ----------
    file_path : str or os.PathLike
        The ``.mat`` file.
    sampling_frequency : float, optional
        Frames per second of the movie EXTRACT ran on (the file does not record it). Without it, the rate
        of the older layout is its frames over ``time.totalTime``; otherwise it is unknown (needed to convert).
    output_struct_name : str, optional
        The variable holding EXTRACT's struct; by default ``output``, else ``extractAnalysisOutput``, else the
        one struct with EXTRACT's fields.

    Notes
    -----
    ROI ids are ``0..K-1``. Masks are dense, as EXTRACT stores them (``native_mask_type`` ``"image"``).
    Images: ``summary`` (``info.summary_image``), ``max`` (``info.max_image``), ``baseline``
    (``info.F_per_pixel``), those stored (:attr:`image_fields` gives EXTRACT's name of each). The rejected
    cells are those ``info.cellcheck.is_bad`` flags, when it is stored with one flag per cell; otherwise all
    are accepted.
    """

    format_id = "extract"
    extractor_name = "ExtractSegmentation"
    native_mask_type = "image"

    def __init__(self, file_path: str | os.PathLike, sampling_frequency: float | None = None,
                 output_struct_name: str | None = None):
        super().__init__()
        self._requested_struct = output_struct_name
        self._open(file_path)
        self.output_struct_name = self._struct
        self.file_path = self._file_path
        with h5_read_errors(f"{self._file_path}: {self._struct}"), self._file.open() as h5:
            self._rate = self._find_rate(h5, sampling_frequency)
            self._version = read_char(h5[f"{self._struct}/info/version"]) if f"{self._struct}/info/version" in h5 \
                else None
            self._set_cellcheck(h5)

    # ------------------------------------------------------------------ layout
    def _layout(self, h5) -> MatLayout:
        found = extract_struct(h5, self._requested_struct)
        if isinstance(found, str):
            raise self._format_error(found)
        self._struct, self._kind = found
        s = self._struct
        masks = f"{s}/spatial_weights" if self._kind == "new" else f"{s}/filters"
        traces = f"{s}/temporal_weights" if self._kind == "new" else f"{s}/traces"
        # new: T x K in MATLAB, stored (K, T); legacy: K x T, stored (T, K). Which axis is the cells is checked
        # against the footprints' count, since CIAtah's readers accept either orientation of ``traces``.
        roi_axis = 0 if self._kind == "new" else 1
        mask_dset, trace_dset = h5.get(masks), h5.get(traces)
        if (mask_dset is not None and trace_dset is not None and hasattr(trace_dset, "shape")
                and hasattr(mask_dset, "shape") and not is_empty(mask_dset) and trace_dset.ndim == 2):
            count = 1 if mask_dset.ndim == 2 else int(mask_dset.shape[0])
            if trace_dset.shape[roi_axis] != count and trace_dset.shape[1 - roi_axis] == count:
                roi_axis = 1 - roi_axis
        preprocess = read_scalar(h5[f"{s}/config/preprocess"]) if f"{s}/config/preprocess" in h5 else None
        self._trace_name = "dff" if preprocess else "raw"
        images = {}
        for name, key in IMAGE_FIELDS.items():
            where = f"{s}/info/{key}"
            if where in h5 and hasattr(h5[where], "shape") and not is_empty(h5[where]):
                images[name] = where
        shape = None
        if is_empty(mask_dset):  # no cells: the images give the field of view
            for where in images.values():
                shape = tuple(int(n) for n in h5[where].shape[::-1])
                break
        return MatLayout(masks=masks, mask_form="images", traces={self._trace_name: Traces(traces, roi_axis)},
                         images=images, image_shape=shape)

    def _find_rate(self, h5, sampling_frequency) -> float | None:
        if sampling_frequency is not None:
            return checked_rate(sampling_frequency)
        where = f"{self._struct}/time/totalTime"
        total = read_scalar(h5[where]) if where in h5 else None
        if total is not None:
            try:
                return checked_rate(self.get_num_samples() / total if total else float("nan"),
                                    f"the frames over {where} ({total} s) in {self._file_path}")
            except MetadataError as exc:
                return self._rate_unknown(str(exc))
        return self._rate_unknown(f"{self._file_path}: EXTRACT does not record the frame rate")

    def _set_cellcheck(self, h5) -> None:
        where = f"{self._struct}/info/cellcheck/is_bad"
        dset = h5.get(where)
        if dset is None or not hasattr(dset, "shape") or is_empty(dset) or dset.dtype.kind not in "fiub":
            return
        flags = np.asarray(dset[()]).ravel()
        if len(flags) != self._num_rois:
            return
        self.set_property("is_rejected", flags != 0, description="Whether EXTRACT's cell check marked the cell bad "
                                                                 "(info.cellcheck.is_bad).")

    # ------------------------------------------------------------------ facts
    @property
    def image_fields(self) -> dict[str, str]:
        """EXTRACT's name (the field of ``info``) of each image :meth:`get_images_dict` gives."""
        return {name: IMAGE_FIELDS[name] for name in self._mat_layout.images}

    @property
    def layout(self) -> str:
        """``"new"`` (EXTRACT's ``output`` struct) or ``"legacy"`` (CIAtah's ``extractAnalysisOutput``)."""
        return self._kind

    def get_sampling_frequency(self) -> float | None:
        return self._rate

    def get_metadata(self) -> dict[str, Any]:
        """``{"config": {...}, "info": {"version", "runtime"}}``: the run's settings (``config`` of the struct)
        and EXTRACT's version and run time; arrays of more than 10000 values are described, not read."""
        with h5_read_errors(f"{self._file_path}: {self._struct}/config"), self._file.open() as h5:
            group = h5[self._struct]
            meta: dict[str, Any] = {"config": to_python(group["config"]) if "config" in group else {}}
            info = {}
            if "info" in group:
                for key in ("version", "runtime"):
                    if key in group["info"]:
                        info[key] = to_python(group["info"][key])
            meta["info"] = info
        return meta

    def get_acquisition_facts(self):
        """The channel, rate and settings; EXTRACT records the analysis, not the microscope."""
        facts = super().get_acquisition_facts()
        return facts.replace(software="EXTRACT", software_version=self._version or None)
