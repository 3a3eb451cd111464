"""Hamamatsu HCImage ``.cxd`` files (OLE2 compound documents in Compix SimplePCI's layout).

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap. The compound document is read with numpy
(:mod:`.ole`); olefile is not needed.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_cxd

SPEC = FormatSpec(
    "hcimage",
    (".cxd",),
    sniff_cxd,
    "ophysio.extractors.hcimage.reader:HCImageImagingExtractor",
    "Hamamatsu HCImage .cxd (OLE2 compound document: frames, bit depth, frame times)",
    name="HCImage",
    photon_series_type="OnePhotonSeries",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "HCImageImagingExtractor": ".reader",
    "CxdImagingExtractor": ".reader",
    "read_cxd_metadata": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
