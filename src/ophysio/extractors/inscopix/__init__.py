"""Inscopix ``.isxd`` movies (nVista, nVoke, nVue), read with numpy alone.

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_isxd

SPEC = FormatSpec(
    "inscopix",
    (".isxd",),
    sniff_isxd,
    "ophysio.extractors.inscopix.reader:InscopixImagingExtractor",
    "Inscopix .isxd movie (nVista, nVoke, nVue; dropped frames, multiplane, dual colour)",
    photon_series_type="OnePhotonSeries",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "InscopixImagingExtractor": ".reader",
    "read_isxd_footer": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
