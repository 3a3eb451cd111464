"""CaImAn segmentation: the HDF5 file ``CNMF.save()`` writes (``estimates`` and ``params`` groups).

The format is declared here once (:data:`SEGMENTATION_SPEC`); the reader (:mod:`.reader`) is imported on
first use of its name, so that importing this package stays cheap. It comes before the generic ``hdf5``
format in the registry; its sniff keeps its verdict in the detection memo, which the ``hdf5`` sniff reads.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_caiman

SEGMENTATION_SPEC = FormatSpec(
    "caiman",
    (".hdf5", ".h5"),
    sniff_caiman,
    "ophysio.extractors.caiman.reader:CaimanSegmentationExtractor",
    "CaImAn segmentation (HDF5 from CNMF.save: estimates/A, C, S, YrA, b, f and params)",
    kind="segmentation",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "CaimanSegmentationExtractor": ".reader",
}

__all__ = ["SEGMENTATION_SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
