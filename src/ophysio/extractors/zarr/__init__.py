"""Zarr stores (v2 and v3) holding a movie: OME-Zarr (OME-NGFF 0.4 and 0.5, as ome-zarr-py and ophysio's
``--to zarr`` write them) and plain Zarr arrays, local or streamed from a URL.

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap. An NWB-Zarr store is left to the ``nwb``
format, which comes first in the registry.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_zarr

SPEC = FormatSpec(
    "zarr",
    (".zarr", ".ome.zarr"),
    sniff_zarr,
    "ophysio.extractors.zarr.reader:ZarrImagingExtractor",
    "Zarr v2/v3 movie (OME-Zarr / OME-NGFF 0.4-0.5, ophysio's Zarr output; local or a URL)",
    writer="zarr",
    remote=True,
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "ZarrImagingExtractor": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
