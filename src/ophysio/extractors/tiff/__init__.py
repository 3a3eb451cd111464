"""Plain multi-page TIFF files, ImageJ hyperstacks and multi-file TIFF series.

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_tiff

SPEC = FormatSpec(
    "tiff",
    (".tif", ".tiff", ".btf", ".tf8"),
    sniff_tiff,
    "ophysio.extractors.tiff.reader:TiffImagingExtractor",
    "plain multi-page TIFF, ImageJ hyperstack, or a multi-file TIFF series",
    paths_argument="file_paths",
    writer="tiff",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "TiffImagingExtractor": ".reader",
    "resolve_tiff_paths": ".reader",
    "parse_imagej_description": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
