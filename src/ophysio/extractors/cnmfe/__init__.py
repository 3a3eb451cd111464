"""CNMF-E segmentation: the MATLAB v7.3 MAT-file of a CNMF-E run (Pengcheng Zhou's MATLAB package): the
``Sources2D`` results as a struct (``neuron_results`` of ``save_results``, ``results`` of ``obj2struct``...)
with ``A``, ``C``, ``C_raw``, ``S``, ``Cn`` and ``options``; or CIAtah's ``cnmfeAnalysisOutput`` struct
(``extractedImages``, ``extractedSignals``...) that roiextractors reads.

The format is declared here once (:data:`SEGMENTATION_SPEC`); the reader (:mod:`.reader`) is imported on
first use of its name, so that importing this package stays cheap. It comes before the generic ``mat``
format in the registry.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_cnmfe

SEGMENTATION_SPEC = FormatSpec(
    "cnmfe",
    (".mat",),
    sniff_cnmfe,
    "ophysio.extractors.cnmfe.reader:CnmfeSegmentationExtractor",
    "CNMF-E segmentation (MAT v7.3: a struct of A, C, C_raw, S, Cn, options; or CIAtah's cnmfeAnalysisOutput)",
    name="Cnmfe",
    kind="segmentation",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {"CnmfeSegmentationExtractor": ".reader"}

__all__ = ["SEGMENTATION_SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
