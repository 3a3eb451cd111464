"""Several single-channel sources as the channels of one acquisition: :func:`open_channels`.

Some acquisitions save each channel to its own file (a green and a red TIFF, one HDF5 file per channel).
:func:`open_channels` takes them together, ``open_channels({"green": "a.tif", "red": "b.tif"})``, checks
that they can be one acquisition (the same number of samples, sample shape, data type, rate and
timestamps, or a :class:`~ophysio.errors.MetadataError` naming the two channels and what differs) and
gives a :class:`ChannelSet`: a mapping channel name -> extractor, each extractor named after its channel.
:func:`ophysio.write_nwb` writes one photon series per channel from it, and
:func:`ophysio.write_imaging` writes it as the channels of one output (or one output per channel with
``split="channels"``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MetadataError, SelectionError
from .facts import AcquisitionFacts
from .imaging import ImagingExtractor
from .views import _ParentView

__all__ = ["ChannelSet", "ChannelView", "open_channels"]

Source = ImagingExtractor | str | os.PathLike | Sequence[str | os.PathLike]


class ChannelView(_ParentView):
    """A single-channel source read as channel ``name`` of a :class:`ChannelSet` (pixels unchanged)."""

    def __init__(self, parent: ImagingExtractor, name: str, names: Sequence[str],
                 emissions: Sequence[float | None] | None = None):
        super().__init__(parent)
        self._channel_name = str(name)
        self._channel_names = tuple(str(n) for n in names)
        self._emissions = None if emissions is None or all(e is None for e in emissions) else tuple(emissions)

    @property
    def channel_name(self) -> str:
        return self._channel_name

    def get_channel_names(self) -> list[str]:
        return list(self._channel_names)

    def get_acquisition_facts(self) -> AcquisitionFacts:
        """The source's facts, as channel ``name`` of the set (with each channel's emission wavelength)."""
        return self._parent.get_acquisition_facts().replace(
            channel_name=self._channel_name, channel_names=self._channel_names, emission_wavelengths_nm=self._emissions)

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        self._parent._read_into(start, stop, out)

    def _read_samples(self, indices: np.ndarray, out: np.ndarray) -> None:
        self._parent._read_samples(indices, out)

    def _get_native_timestamps(self) -> np.ndarray | None:
        return self._parent.get_timestamps() if self._parent.has_recorded_times() else None


def _describe(source: Any) -> str:
    if isinstance(source, ImagingExtractor):
        paths = source.get_file_paths()
        return Path(paths[0]).name if paths else repr(source)
    if isinstance(source, (list, tuple)):
        return f"{Path(source[0]).name} (+{len(source) - 1} files)" if source else "[]"
    return Path(source).name


class ChannelSet(Mapping):
    """The channels of one acquisition, each from its own source: a mapping name -> extractor.

    Parameters
    ----------
    channels : mapping or sequence
        ``{name: source}`` or a list of sources (named after their files, else ``channel_0``...). A source
        is an extractor, a path, or the list of paths of one multi-file series.
    format : str, optional
        The format of the sources given as paths (default: detected for each).
    time_tolerance_s : float, optional
        How far two channels' timestamps may differ (default: a tenth of a sample interval, or 1 us when
        the rate is unknown).
    **options
        Keywords for opening the sources given as paths (e.g. ``sampling_frequency=30.0``).

    Raises
    ------
    MetadataError
        Two channels differ in number of samples, sample shape, data type, rate or timestamps (the
        message names both channels, their sources and the values).
    """

    def __init__(self, channels: Mapping[str, Source] | Sequence[Source], *, format: str | None = None,
                 time_tolerance_s: float | None = None, **options: Any):
        if isinstance(channels, Mapping):
            names = [str(k) for k in channels]
            sources = list(channels.values())
        elif isinstance(channels, (list, tuple)):
            sources = list(channels)
            names = [self._default_name(s, i) for i, s in enumerate(sources)]
        else:
            raise TypeError("channels must be a mapping name -> source or a list of sources")
        if not sources:
            raise SelectionError("open_channels needs at least one channel")
        if len(set(names)) != len(names):
            names = [f"{n}_{i}" if names.count(n) > 1 else n for i, n in enumerate(names)]
        opened = [self._open(s, format, options) for s in sources]
        self._sources = [_describe(s) for s in sources]
        self._check(names, opened, time_tolerance_s)
        emissions = [ex.get_acquisition_facts().emission_wavelength_nm for ex in opened]
        self._channels = {name: ChannelView(ex, name, names, emissions) for name, ex in zip(names, opened)}

    @staticmethod
    def _default_name(source: Any, index: int) -> str:
        if isinstance(source, ImagingExtractor):
            paths = source.get_file_paths()
            return Path(paths[0]).stem if paths else f"channel_{index}"
        if isinstance(source, (list, tuple)):
            return Path(source[0]).stem if source else f"channel_{index}"
        return Path(source).stem.removesuffix(".ome")

    @staticmethod
    def _open(source: Any, format: str | None, options: dict) -> ImagingExtractor:
        if isinstance(source, ImagingExtractor):
            return source
        if isinstance(source, (str, os.PathLike, list, tuple)):
            from .registry import open_imaging

            return open_imaging(source, format=format, **options)
        raise TypeError(f"a channel's source must be an extractor or a path, not {type(source).__name__}")

    def _check(self, names: list[str], extractors: list[ImagingExtractor], tolerance: float | None) -> None:
        first, name0, src0 = extractors[0], names[0], self._sources[0]
        for name, ex, src in zip(names[1:], extractors[1:], self._sources[1:]):
            def differ(what: str, a: Any, b: Any, name: str = name, src: str = src) -> MetadataError:
                return MetadataError(f"channel {name!r} ({src}) has {what} {b}; channel {name0!r} ({src0}) has {a}: "
                                     "they cannot be the channels of one acquisition")

            for what, a, b in (("number of samples", first.get_num_samples(), ex.get_num_samples()),
                               ("sample shape", first.get_sample_shape(), ex.get_sample_shape()),
                               ("data type", first.dtype, ex.dtype)):
                if a != b:
                    raise differ(what, a, b)
            r0, r1 = first.get_sampling_frequency(), ex.get_sampling_frequency()
            if (r0 is None) != (r1 is None) or (r0 is not None and not math.isclose(r0, r1, rel_tol=1e-6)):
                raise differ("a rate of", f"{r0} Hz", f"{r1} Hz")
            if first.has_recorded_times() or ex.has_recorded_times():
                t0 = np.asarray(first.get_timestamps(), dtype=np.float64)
                t1 = np.asarray(ex.get_timestamps(), dtype=np.float64)
                limit = tolerance if tolerance is not None else (0.1 / r0 if r0 else 1e-6)
                gap = np.abs(t1 - t0)
                if gap.size and gap.max() > limit:
                    k = int(np.argmax(gap > limit))
                    raise MetadataError(
                        f"channel {name!r} ({src}) has sample {k} at {t1[k]:.6f} s; channel {name0!r} ({src0}) at "
                        f"{t0[k]:.6f} s (tolerance {limit:.3g} s): they cannot be the channels of one acquisition "
                        "(pass time_tolerance_s= to allow more)")

    # ------------------------------------------------------------------ mapping
    def __getitem__(self, name: str) -> ImagingExtractor:
        try:
            return self._channels[name]
        except KeyError:
            raise SelectionError(f"no channel {name!r}; channels: {list(self._channels)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)

    @property
    def names(self) -> list[str]:
        """The channel names, in order."""
        return list(self._channels)

    @property
    def extractors(self) -> list[ImagingExtractor]:
        """One extractor per channel, in order (each named after its channel)."""
        return list(self._channels.values())

    def get_num_samples(self) -> int:
        return self.extractors[0].get_num_samples()

    def get_sample_shape(self) -> tuple[int, ...]:
        return self.extractors[0].get_sample_shape()

    def get_series(self, start_sample: int | None = None, end_sample: int | None = None) -> np.ndarray:
        """Samples ``start_sample:end_sample`` of every channel, channels last: (samples, rows, columns[,
        planes], channels), as pyflowreg's multichannel reader gives them."""
        return np.stack([ex.get_series(start_sample, end_sample) for ex in self.extractors], axis=-1)

    def close(self) -> None:
        for ex in self.extractors:
            ex.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        inner = ", ".join(f"{name!r}: {src}" for name, src in zip(self._channels, self._sources))
        return f"ChannelSet({{{inner}}})"


def open_channels(channels: Mapping[str, Source] | Sequence[Source], *, format: str | None = None,
                  time_tolerance_s: float | None = None, **options: Any) -> ChannelSet:
    """Several single-channel sources as the channels of one acquisition (see :class:`ChannelSet`).

    >>> channels = open_channels({"green": "green.tif", "red": "red.tif"})  # doctest: +SKIP
    >>> ophysio.write_nwb(channels, "session.nwb", metadata)                # one series per channel  # doctest: +SKIP
    """
    return ChannelSet(channels, format=format, time_tolerance_s=time_tolerance_s, **options)
