"""Bruker Prairie View datasets: a folder of OME-TIFF files and the PVScan XML that describes them.

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_bruker

SPEC = FormatSpec(
    "bruker",
    (".xml", ".ome.tif"),
    sniff_bruker,
    "ophysio.extractors.bruker.reader:BrukerTiffImagingExtractor",
    "Bruker Prairie View (PVScan XML + OME-TIFF per frame or multi-page; channels, volumes, bidirectional Z)",
    path_argument="folder_path",
    name="BrukerTiff",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "BrukerTiffImagingExtractor": ".reader",
    "read_pvscan": ".pvscan",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
