"""The streams of a source: an extractor, the channels a file or series opens to, an NWB file's photon series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class _Stream:
    """One photon series seen through a minimal reading interface (rows, columns[, planes] layout)."""

    name: str
    num_samples: int
    sample_shape: tuple[int, ...]
    dtype: np.dtype
    chunks: str
    compression: str

    def read(self, start: int, stop: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def read_samples(self, indices: np.ndarray) -> np.ndarray:
        return np.stack([self.read(int(i), int(i) + 1)[0] for i in indices])

    def timestamps(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class _ExtractorStream(_Stream):
    def __init__(self, extractor, name: str):
        self.extractor = extractor
        self.name = name
        self.num_samples = extractor.get_num_samples()
        self.sample_shape = tuple(extractor.get_sample_shape())
        self.dtype = np.dtype(extractor.get_dtype())
        try:
            from ..conversion.chunks import chunk_shape_for

            self.chunks = f"{chunk_shape_for(extractor)} planned in NWB layout (samples, x, y[, z])"
        except ImportError:  # pragma: no cover - conversion module not present
            self.chunks = "n/a"
        self.compression = "source as recorded; NWB output: gzip + shuffle (ophysio default)"

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.extractor.get_series(start, stop)

    def read_samples(self, indices: np.ndarray) -> np.ndarray:
        return self.extractor.get_samples(indices)

    def timestamps(self) -> np.ndarray:
        return np.asarray(self.extractor.get_timestamps(), dtype=float)


def _is_nwb(path: str, format: str | None) -> bool:
    """Whether ``path`` is an NWB file (HDF5 or NWB-Zarr, local or a URL), as detection says."""
    if format is not None:
        return format == "nwb"
    from ..errors import OphysioError
    from ..extractors.registry import resolve_source

    try:
        return resolve_source(path)[0].id == "nwb"
    except (OphysioError, OSError):
        return False


def _nwb_streams(path: str, options: dict) -> tuple[list[_Stream], str, dict, dict]:
    """Every photon series of an NWB file (acquisition and processing), read through the NWB extractor, and the
    DANDI fields the file holds (local NWB HDF5 files)."""
    from ..extractors.nwb.reader import NwbImagingExtractor

    names = [options.pop("optical_series_name")] if "optical_series_name" in options else \
        NwbImagingExtractor.get_available_series(path, options.get("storage_options"))
    if not names:
        raise ValueError(f"{path} holds no TwoPhotonSeries or OnePhotonSeries (in /acquisition or /processing)")
    streams = []
    for name in names:
        extractor = NwbImagingExtractor(path, name, **options)
        streams.append(_ExtractorStream(extractor, extractor.photon_series_name))
    fields: dict = {}
    if Path(path).is_file():
        from ..conversion.batch.dandi import nwb_dandi_fields

        fields = nwb_dandi_fields(path)
    return streams, str(path), fields, {}


def _open_interface(paths: list[str], format: str | None, options: dict):
    """The format's conversion interface for ``paths``: every channel, plus the defaults read from the source."""
    from ..conversion.interfaces import interface_for_format
    from ..extractors.registry import resolve_source

    # the source resolution of `info`, `convert` and open_imaging: a folder of TIFF files, a glob pattern
    spec, keywords = resolve_source(paths[0] if len(paths) == 1 else paths, format)
    first = next(iter(keywords.values()))
    first = first[0] if isinstance(first, list) else first
    from ..errors import SelectionError

    try:
        return interface_for_format(spec.id)(**keywords, **options)
    except SelectionError:
        # a multi-channel source that wants one channel named: open each channel the format lists
        cls = spec.load_class()
        lister = getattr(cls, "get_available_channel_names", None)
        if lister is None or "channel_name" in options:
            raise
        from ..conversion.interfaces import interface_for_extractor

        names = lister(first)
        return interface_for_extractor([cls(**keywords, **options, channel_name=name) for name in names])


def _open_streams(source: Any, format: str | None = None,
                  options: dict | None = None) -> tuple[list[_Stream], str, dict, dict]:
    """Streams of a source, a label, the DANDI fields an NWB file holds, and the source's default metadata."""
    from ..extractors import ImagingExtractor

    if isinstance(source, ImagingExtractor):
        return [_ExtractorStream(source, source.channel_name)], repr(source), {}, {}
    if isinstance(source, (list, tuple)) and source and all(isinstance(s, ImagingExtractor) for s in source):
        return [_ExtractorStream(s, s.channel_name) for s in source], repr(source[0]), {}, {}
    paths = [str(p) for p in source] if isinstance(source, (list, tuple)) else [str(source)]
    if len(paths) == 1 and _is_nwb(paths[0], format):
        return _nwb_streams(paths[0], dict(options or {}))
    interface = _open_interface(paths, format, dict(options or {}))
    try:
        defaults = interface.get_metadata()
    except Exception:  # defaults are a help for the checklist, not a requirement
        defaults = {}
    label = paths[0] + (f" (+{len(paths) - 1} files)" if len(paths) > 1 else "")
    return [_ExtractorStream(ex, ex.channel_name) for ex in interface.extractors], label, {}, defaults
