"""ScanImage 2016 and later TIFF files.

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_scanimage

SPEC = FormatSpec(
    "scanimage",
    (".tif", ".tiff"),
    sniff_scanimage,
    "ophysio.extractors.scanimage.reader:ScanImageImagingExtractor",
    "ScanImage 2016 and later TIFF (single or multi-file series, channels, volumes, mROI)",
    paths_argument="file_paths",
    name="ScanImage",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "ScanImageImagingExtractor": ".reader",
    "read_header_of": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
