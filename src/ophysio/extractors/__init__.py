"""Extractors: one lazy reader per format behind the :class:`ImagingExtractor` contract (and, for
segmentations, :class:`~ophysio.extractors.segmentation.SegmentationExtractor`).

Format classes are imported on first use, so that ``import ophysio`` stays fast.
"""

from __future__ import annotations

import importlib

from . import views as _views  # noqa: F401 - registers the lazy views behind ImagingExtractor's view methods
from .imaging import ImagingExtractor
from .registry import FORMATS, FormatSpec, detect_format, get_format, open_imaging
from .segmentation import views as _segmentation_views  # noqa: F401 - registers SegmentationExtractor's views
from .views import corrections as _corrections  # noqa: F401 - registers the correction views

# public name -> module (relative to this package) that defines it
_LAZY = {
    "NumpyImagingExtractor": ".numpy",
    "CaimanSegmentationExtractor": ".caiman",
    "NumpySegmentationExtractor": ".numpy",
    "SegmentationExtractor": ".segmentation",
    "TraceArray": ".segmentation",
    "Suite2pSegmentationExtractor": ".suite2p",
    "MinianSegmentationExtractor": ".minian",
    "InscopixSegmentationExtractor": ".inscopix",
    "ExtractSegmentationExtractor": ".extract",
    "CnmfeSegmentationExtractor": ".cnmfe",
    "NwbSegmentationExtractor": ".nwb",
    "open_segmentation": ".registry",
    "SEGMENTATION_FORMATS": ".registry",
    "SampleSliceView": ".views",
    "FieldOfViewView": ".views",
    "PlaneView": ".views",
    "BinnedSamplesView": ".views",
    "MultiImagingExtractor": ".views",
    "ScanPhaseView": ".views.corrections",
    "PlaneRegistrationView": ".views.corrections",
    "ChannelSet": ".channels",
    "open_channels": ".channels",
    "ScanImageImagingExtractor": ".scanimage",
    "ScanImageLegacyImagingExtractor": ".scanimage_legacy",
    "TiffImagingExtractor": ".tiff",
    "OMETiffImagingExtractor": ".ome_tiff",
    "ThorTiffImagingExtractor": ".thor",
    "MicroManagerTiffImagingExtractor": ".micromanager",
    "BrukerTiffImagingExtractor": ".bruker",
    "NumpyMemmapImagingExtractor": ".binary",
    "VideoStructure": ".binary",
    "Suite2pImagingExtractor": ".suite2p",
    "Hdf5ImagingExtractor": ".hdf5",
    "MatImagingExtractor": ".mat",
    "FemtonicsImagingExtractor": ".femtonics",
    "SbxImagingExtractor": ".scanbox",
    "InscopixImagingExtractor": ".inscopix",
    "HCImageImagingExtractor": ".hcimage",
    "CxdImagingExtractor": ".hcimage",
    "NwbImagingExtractor": ".nwb",
    "ZarrImagingExtractor": ".zarr",
    "VideoImagingExtractor": ".video",
    "MiniscopeImagingExtractor": ".miniscope",
    "MiniscopeMultiRecordingImagingExtractor": ".miniscope",
}

__all__ = ["ImagingExtractor", "FORMATS", "FormatSpec", "detect_format", "get_format", "open_imaging", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
