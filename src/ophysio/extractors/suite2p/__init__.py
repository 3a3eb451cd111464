"""suite2p output: the binary movies (data.bin / data_raw.bin beside ops.npy) and the segmentation
(stat.npy, F.npy, iscell.npy... beside ops.npy).

Both formats are declared here once (:data:`SPEC` for the movie, :data:`SEGMENTATION_SPEC` for the
segmentation); the readers (:mod:`.reader`, :mod:`.segmentation`) are imported on first use of one of
their names, so that importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_suite2p, sniff_suite2p_segmentation

SPEC = FormatSpec(
    "suite2p",
    (".npy", ".bin"),
    sniff_suite2p,
    "ophysio.extractors.suite2p.reader:Suite2pImagingExtractor",
    "suite2p binary (data.bin / data_raw.bin beside ops.npy)",
    path_argument="folder_path",
    writer="suite2p",
)

SEGMENTATION_SPEC = FormatSpec(
    "suite2p",
    (".npy",),
    sniff_suite2p_segmentation,
    "ophysio.extractors.suite2p.segmentation:Suite2pSegmentationExtractor",
    "suite2p segmentation (stat.npy, F.npy, iscell.npy... beside ops.npy)",
    path_argument="folder_path",
    kind="segmentation",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "Suite2pImagingExtractor": ".reader",
    "Suite2pSegmentationExtractor": ".segmentation",
}

__all__ = ["SPEC", "SEGMENTATION_SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
