"""Thorlabs ThorImageLS acquisitions: ``Experiment.xml`` with TIFF files (one per frame, or multipage) or a ``.raw``.

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_thor

SPEC = FormatSpec(
    "thor",
    (".tif", ".tiff", ".raw"),
    sniff_thor,
    "ophysio.extractors.thor.reader:ThorTiffImagingExtractor",
    "Thorlabs ThorImageLS (Experiment.xml with OME-TIFF files or Image_*.raw)",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "ThorTiffImagingExtractor": ".reader",
    "ThorExperiment": ".experiment",
    "read_experiment": ".experiment",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
