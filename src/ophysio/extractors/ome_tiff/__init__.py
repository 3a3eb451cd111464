"""OME-TIFF files, with pymmcore-plus/mesofield per-frame sidecars.

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_ome_tiff

SPEC = FormatSpec(
    "ome_tiff",
    (".ome.tif", ".ome.tiff", ".ome.tf2", ".ome.tf8", ".ome.btf"),
    sniff_ome_tiff,
    "ophysio.extractors.ome_tiff.reader:OMETiffImagingExtractor",
    "OME-TIFF (with pymmcore-plus/mesofield per-frame sidecars)",
    writer="ome_tiff",
    name="OMETiff",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "OMETiffImagingExtractor": ".reader",
    "read_frame_metadata": ".reader",
    "frame_times": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
