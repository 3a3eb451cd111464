"""Plain movie files (AVI, Matroska/MKV, MP4/MOV) read through the video layer (PyAV).

The format is declared here once (:data:`SPEC`); the reader (:mod:`.reader`) is imported on first use of
one of its names, so that importing this package (and ophysio) stays cheap: PyAV is imported only when a
video is opened or written (``pip install "ophysio[video]"``).
"""

from __future__ import annotations

from ..spec import FormatSpec, lazy_attributes
from .sniff import sniff_video

SPEC = FormatSpec(
    "video",
    (".avi", ".mkv", ".mp4", ".mov"),
    sniff_video,
    "ophysio.extractors.video.reader:VideoImagingExtractor",
    "movie file: AVI, Matroska/MKV, MP4/MOV (FFV1, raw, MJPEG, H.264... through PyAV)",
    writer="video",
    extras=("video",),
    photon_series_type="OnePhotonSeries",
)

#: public name -> module of this package that defines it (imported on first use)
_LAZY = {
    "VideoImagingExtractor": ".reader",
}

__all__ = ["SPEC", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
