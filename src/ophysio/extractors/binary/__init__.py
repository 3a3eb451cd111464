"""Raw binary movies read through a memory map.

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes

SPEC = FormatSpec(
    "binary",
    (".bin", ".raw", ".dat"),
    None,
    "ophysio.extractors.binary.reader:NumpyMemmapImagingExtractor",
    "raw binary movie read through a memory map (needs its structure, dtype and rate)",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "VideoStructure": ".reader",
    "NumpyMemmapImagingExtractor": ".reader",
    "pread_into": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
