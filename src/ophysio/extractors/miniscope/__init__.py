"""UCLA Miniscope recordings written by the Miniscope DAQ software (V3 and V4 devices).

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package stays cheap (the videos are read through PyAV:
``pip install "ophysio[video]"``).
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_miniscope

SPEC = FormatSpec(
    "miniscope",
    (".avi",),
    sniff_miniscope,
    "ophysio.extractors.miniscope.reader:MiniscopeImagingExtractor",
    "UCLA Miniscope recording (Miniscope DAQ software, V3/V4): a device, recording or session folder",
    path_argument="folder_path",
    paths_argument="file_paths",
    extras=("video",),
    photon_series_type="OnePhotonSeries",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "MiniscopeImagingExtractor": ".reader",
    "MiniscopeMultiRecordingImagingExtractor": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
