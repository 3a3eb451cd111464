"""suite2p binary movies (data.bin / data_raw.bin beside ops.npy).

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap.
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_suite2p

SPEC = FormatSpec(
    "suite2p",
    (".npy", ".bin"),
    sniff_suite2p,
    "ophysio.extractors.suite2p.reader:Suite2pImagingExtractor",
    "suite2p binary (data.bin / data_raw.bin beside ops.npy)",
    path_argument="folder_path",
    writer="suite2p",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "Suite2pImagingExtractor": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
