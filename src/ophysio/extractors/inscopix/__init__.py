"""Inscopix ``.isxd`` data sets, read with numpy alone: movies (nVista, nVoke, nVue) and cell sets (the cells
that Inscopix software extracted from a movie: images, traces, names and statuses).

Both formats are declared here once (:data:`SPEC` for movies, :data:`SEGMENTATION_SPEC` for cell sets); the
readers (:mod:`.reader`, :mod:`.segmentation`) are imported on first use of one of their names, so that
importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_isxd, sniff_isxd_cellset

SPEC = FormatSpec(
    "inscopix",
    (".isxd",),
    sniff_isxd,
    "ophysio.extractors.inscopix.reader:InscopixImagingExtractor",
    "Inscopix .isxd movie (nVista, nVoke, nVue; dropped frames, multiplane, dual colour)",
    photon_series_type="OnePhotonSeries",
)

SEGMENTATION_SPEC = FormatSpec(
    "inscopix",
    (".isxd",),
    sniff_isxd_cellset,
    "ophysio.extractors.inscopix.segmentation:InscopixSegmentationExtractor",
    "Inscopix .isxd cell set (cell images, traces, names, accepted/undecided/rejected statuses)",
    kind="segmentation",
    photon_series_type="OnePhotonSeries",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "InscopixImagingExtractor": ".reader",
    "read_isxd_footer": ".reader",
    "InscopixSegmentationExtractor": ".segmentation",
}

__all__ = ["SPEC", "SEGMENTATION_SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
