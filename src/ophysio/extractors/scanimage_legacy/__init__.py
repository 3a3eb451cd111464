"""ScanImage 3.x, 4.x and 5.0/5.1 TIFF files.

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_scanimage_legacy

SPEC = FormatSpec(
    "scanimage_legacy",
    (".tif", ".tiff"),
    sniff_scanimage_legacy,
    "ophysio.extractors.scanimage_legacy.reader:ScanImageLegacyImagingExtractor",
    "ScanImage 3.x, 4.x and 5.0/5.1 TIFF",
    name="ScanImageLegacy",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "ScanImageLegacyImagingExtractor": ".reader",
    "parse_scanimage_legacy_header": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
