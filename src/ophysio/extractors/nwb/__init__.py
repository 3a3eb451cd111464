"""NWB files: the photon series (TwoPhotonSeries, OnePhotonSeries) of NWB HDF5 files and NWB-Zarr stores,
local or streamed from a URL (HTTP(S), S3, DANDI).

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap. It comes before the generic ``hdf5`` format
in the registry, whose sniff leaves an NWB file to this one.

The folder holds what any NWB reader needs: :mod:`.source` (the file opened locally, at a URL or as
NWB-Zarr, its root node on demand, times, closing and pickling: what both extractors share), :mod:`.tree`
(NWB objects seen the same way in HDF5 and NWB-Zarr), :mod:`.series` (finding photon series, their layout
and times), :mod:`.facts` (imaging plane, device and session facts); the segmentation half
(:data:`SEGMENTATION_SPEC`, ``NwbSegmentationExtractor``: PlaneSegmentation, traces and images) builds on
the same modules in :mod:`.segmentation`, with :mod:`.planes` (finding the tables) and :mod:`.plane_scan`
(reading a table's structure, traces and images at opening).
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_nwb, sniff_nwb_segmentation

SPEC = FormatSpec(
    "nwb",
    (".nwb", ".nwb.zarr"),
    sniff_nwb,
    "ophysio.extractors.nwb.reader:NwbImagingExtractor",
    "NWB photon series (TwoPhotonSeries, OnePhotonSeries; HDF5 or NWB-Zarr, local or a URL)",
    name="Nwb",
    remote=True,
)

SEGMENTATION_SPEC = FormatSpec(
    "nwb",
    (".nwb", ".nwb.zarr"),
    sniff_nwb_segmentation,
    "ophysio.extractors.nwb.segmentation:NwbSegmentationExtractor",
    "NWB segmentation (PlaneSegmentation with its RoiResponseSeries and summary images; HDF5 or NWB-Zarr, local "
    "or a URL)",
    name="Nwb",
    kind="segmentation",
    remote=True,
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "NwbImagingExtractor": ".reader",
    "NwbSegmentationExtractor": ".segmentation",
}

__all__ = ["SPEC", "SEGMENTATION_SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
