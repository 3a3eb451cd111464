"""EXTRACT segmentation: the MATLAB v7.3 MAT-file holding the ``output`` struct of EXTRACT's ``extractor``
(``spatial_weights``, ``temporal_weights``, ``info``, ``config``), or the older ``extractAnalysisOutput``
struct (``filters``, ``traces``, ``info``, ``time``) that CIAtah saves around an EXTRACT run.

The format is declared here once (:data:`SEGMENTATION_SPEC`); the reader (:mod:`.reader`) is imported on
first use of its name, so that importing this package stays cheap. It comes before the generic ``mat``
format in the registry.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_extract

SEGMENTATION_SPEC = FormatSpec(
    "extract",
    (".mat",),
    sniff_extract,
    "ophysio.extractors.extract.reader:ExtractSegmentationExtractor",
    "EXTRACT segmentation (MAT v7.3: output.spatial_weights, temporal_weights, info; or extractAnalysisOutput)",
    kind="segmentation",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {"ExtractSegmentationExtractor": ".reader"}

__all__ = ["SEGMENTATION_SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
