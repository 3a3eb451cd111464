"""Scanbox (Neurolabware) recordings: a ``.sbx`` movie and its ``.mat`` info struct.

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_scanbox

SPEC = FormatSpec(
    "scanbox",
    (".sbx", ".mat"),
    sniff_scanbox,
    "ophysio.extractors.scanbox.reader:SbxImagingExtractor",
    "Scanbox (Neurolabware) .sbx movie with its .mat info struct (channels, bidirectional, optotune volumes)",
    name="Sbx",  # SbxImagingInterface, neuroconv's name
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "SbxImagingExtractor": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
