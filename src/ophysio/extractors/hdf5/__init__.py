"""Movies stored as an HDF5 dataset.

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_hdf5

SPEC = FormatSpec(
    "hdf5",
    (".h5", ".hdf5", ".hdf", ".he5"),
    sniff_hdf5,
    "ophysio.extractors.hdf5.reader:Hdf5ImagingExtractor",
    "HDF5 movie dataset (CaImAn mov, PySight, any 3-D/4-D dataset)",
    writer="hdf5",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "Hdf5ImagingExtractor": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
