"""Micro-Manager image file stacks (MMStack): ``*_MMStack_<position>.ome.tif`` series with their index maps.

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap. It is detected before OME-TIFF: Micro-Manager's
stack files are OME-TIFF files too, recognised by the stack header at byte 8.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_micromanager

SPEC = FormatSpec(
    "micromanager",
    (".ome.tif", ".ome.tiff", ".tif", ".tiff"),
    sniff_micromanager,
    "ophysio.extractors.micromanager.reader:MicroManagerTiffImagingExtractor",
    "Micro-Manager image file stacks (MMStack .ome.tif series, index map, per-image JSON)",
    path_argument="folder_path",
    name="MicroManagerTiff",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "MicroManagerTiffImagingExtractor": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
