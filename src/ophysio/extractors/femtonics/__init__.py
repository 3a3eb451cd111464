"""Femtonics MESc (``.mesc``) files: HDF5 with ``MSession_<i>/MUnit_<j>/Channel_<k>`` datasets.

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap. It comes before the generic ``hdf5``
format in the registry, whose sniff leaves a file with the MESc layout to this one.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_femtonics

SPEC = FormatSpec(
    "femtonics",
    (".mesc",),
    sniff_femtonics,
    "ophysio.extractors.femtonics.reader:FemtonicsImagingExtractor",
    "Femtonics MESc (HDF5: MSession/MUnit/Channel datasets)",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "FemtonicsImagingExtractor": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
