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


class _NWBStream(_Stream):
    """A photon series of an NWB HDF5 file (NWB stores (samples, x, y[, z]); read back as rows, columns)."""

    def __init__(self, path: Path, series_path: str):
        import h5py

        self.path = path
        self.series_path = series_path
        self.name = series_path.rsplit("/", 1)[-1]
        with h5py.File(path, "r") as f:
            data = f[series_path]["data"]
            shape = data.shape
            self.num_samples = shape[0]
            self.sample_shape = (shape[2], shape[1], *shape[3:])
            self.dtype = data.dtype
            self.chunks = str(data.chunks) + " in NWB layout (samples, x, y[, z])" if data.chunks else "contiguous"
            opts = [data.compression or "none"]
            if data.compression_opts is not None:
                opts[0] += f" (level {data.compression_opts})"
            if data.shuffle:
                opts.append("shuffle")
            self.compression = " + ".join(opts)

    def _data(self, f):
        return f[self.series_path]["data"]

    def read(self, start: int, stop: int) -> np.ndarray:
        import h5py

        with h5py.File(self.path, "r") as f:
            return np.ascontiguousarray(self._data(f)[start:stop].swapaxes(1, 2))

    def read_samples(self, indices: np.ndarray) -> np.ndarray:
        import h5py

        with h5py.File(self.path, "r") as f:
            return np.ascontiguousarray(self._data(f)[np.asarray(indices)].swapaxes(1, 2))

    def timestamps(self) -> np.ndarray:
        import h5py

        with h5py.File(self.path, "r") as f:
            group = f[self.series_path]
            if "timestamps" in group:
                return np.asarray(group["timestamps"][()], dtype=float)
            start = group["starting_time"]
            return float(start[()]) + np.arange(self.num_samples) / float(start.attrs["rate"])


def _nwb_series_paths(path: Path) -> list[str]:
    import h5py

    found = []
    with h5py.File(path, "r") as f:
        acquisition = f.get("acquisition")
        if acquisition is not None:
            for key, obj in acquisition.items():
                kind = obj.attrs.get("neurodata_type", b"")
                kind = kind.decode() if isinstance(kind, bytes) else str(kind)
                if kind in ("TwoPhotonSeries", "OnePhotonSeries") and "data" in obj:
                    found.append(f"/acquisition/{key}")
    return found


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
    path = Path(paths[0])
    if len(paths) == 1 and path.suffix.lower() == ".nwb" and path.is_file():
        from ..conversion.batch.dandi import nwb_dandi_fields

        series = _nwb_series_paths(path)
        if not series:
            raise ValueError(f"{path} holds no TwoPhotonSeries or OnePhotonSeries in /acquisition")
        return [_NWBStream(path, s) for s in series], str(path), nwb_dandi_fields(path), {}
    interface = _open_interface(paths, format, dict(options or {}))
    try:
        defaults = interface.get_metadata()
    except Exception:  # defaults are a help for the checklist, not a requirement
        defaults = {}
    label = paths[0] + (f" (+{len(paths) - 1} files)" if len(paths) > 1 else "")
    return [_ExtractorStream(ex, ex.channel_name) for ex in interface.extractors], label, {}, defaults
