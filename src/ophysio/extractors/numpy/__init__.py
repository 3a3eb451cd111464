"""numpy arrays in memory and .npy files.

The format is declared here once (:data:`SPEC`); the readers (:mod:`.reader` for movies,
:mod:`.segmentation` for segmentations held in arrays) are imported on first use of one of their names,
so that importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_npy

SPEC = FormatSpec(
    "numpy",
    (".npy",),
    sniff_npy,
    "ophysio.extractors.numpy.reader:NumpyImagingExtractor",
    "numpy .npy array of shape (samples, rows, columns[, planes])",
    path_argument="timeseries",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "NumpyImagingExtractor": ".reader",
    "NumpySegmentationExtractor": ".segmentation",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
