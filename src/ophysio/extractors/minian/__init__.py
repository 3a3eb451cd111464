"""Minian output: the Zarr groups a Minian pipeline saves (``A.zarr``, ``C.zarr``, ``S.zarr``, ``b.zarr``,
``f.zarr``, ``b0.zarr``, ``c0.zarr``, ``max_proj.zarr``) with Miniscope's ``timeStamps.csv``.

The format is declared here (:data:`SEGMENTATION_SPEC`); the reader (:mod:`.reader`) is imported
on first use of its name, so that importing this package stays cheap (and needs no zarr).
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_minian

SEGMENTATION_SPEC = FormatSpec(
    "minian",
    (".zarr",),
    sniff_minian,
    "ophysio.extractors.minian.reader:MinianSegmentationExtractor",
    "Minian segmentation (A.zarr, C.zarr... Zarr groups, with Miniscope's timeStamps.csv)",
    path_argument="folder_path",
    kind="segmentation",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {"MinianSegmentationExtractor": ".reader"}

__all__ = ["SEGMENTATION_SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
