"""MATLAB .mat movies (v5/v7 and v7.3).

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_mat

SPEC = FormatSpec(
    "mat",
    (".mat",),
    sniff_mat,
    "ophysio.extractors.mat.reader:MatImagingExtractor",
    "MATLAB .mat movie (v5/v7 and v7.3)",
    writer="mat",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "MatImagingExtractor": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
