"""ophysio: lazy readers for optical-physiology imaging files, and conversion to NWB for DANDI.

>>> import ophysio
>>> extractor = ophysio.open_imaging("session_00001_00001.tif")   # doctest: +SKIP
>>> extractor.get_series(0, 100).shape                            # doctest: +SKIP

Heavy libraries (pynwb, hdmf, h5py, tifffile) are imported only when a feature needs them.
"""

from __future__ import annotations

import importlib

from . import errors
from ._version import __version__
from .extractors import ImagingExtractor, open_imaging

# public name -> module that defines it (imported on first use)
_LAZY = {
    "NumpyImagingExtractor": "ophysio.extractors",
    "NumpySegmentationExtractor": "ophysio.extractors",
    "SegmentationExtractor": "ophysio.extractors",
    "open_segmentation": "ophysio.extractors",
    "MultiImagingExtractor": "ophysio.extractors",
    "open_channels": "ophysio.extractors",
    "ChannelSet": "ophysio.extractors",
    "FORMATS": "ophysio.extractors",
    "write_nwb": "ophysio.conversion.nwb",
    "write_imaging": "ophysio.conversion.writers",
    "open_writer": "ophysio.conversion.writers",
    "convert_sessions": "ophysio.conversion.batch",
}

__all__ = ["__version__", "errors", "ImagingExtractor", "open_imaging", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ophysio' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
