"""What :func:`ophysio.write_imaging` writes: the channels of a source, with samples and planes selected."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ...errors import MetadataError, SelectionError
from ...extractors.imaging import ImagingExtractor

__all__ = ["Source", "as_source"]


class Source:
    """One or more channel extractors of the same movie, with a sample range and a plane selection.

    Chunks are read into buffers that are reused from chunk to chunk, so that streaming a movie costs
    a bounded amount of memory whatever its length.
    """

    def __init__(
        self,
        channels: list[ImagingExtractor],
        names: list[str],
        samples: slice,
        planes: list[int] | None,
        per_channel_times: bool = False,
    ):
        self.channels = channels
        self.names = names
        first = channels[0]
        for name, ext in zip(names, channels):
            for fact, a, b in (
                ("number of samples", ext.get_num_samples(), first.get_num_samples()),
                ("sample shape", ext.get_sample_shape(), first.get_sample_shape()),
                ("dtype", ext.dtype, first.dtype),
            ):
                if a != b:
                    raise MetadataError(f"channel {name!r} has {fact} {a}; channel {names[0]!r} has {b}")
            if per_channel_times:
                continue
            rate, first_rate = ext.get_sampling_frequency(), first.get_sampling_frequency()
            if (rate is None) != (first_rate is None) or (
                    rate is not None and not math.isclose(rate, first_rate, rel_tol=1e-9)):
                raise MetadataError(
                    f"channel {name!r} is sampled at {ext.get_sampling_frequency()} Hz; "
                    f"channel {names[0]!r} at {first.get_sampling_frequency()} Hz: write with split='channels' "
                    "to keep each channel's rate and times"
                )
        for ext in channels:  # said before anything is written, not when the output is finished
            if ext.get_sampling_frequency() is None and not ext.has_recorded_times():
                ext._required_rate()
        self.start, self.stop, step = samples.indices(first.get_num_samples())
        if step != 1:
            raise SelectionError("samples must be a contiguous range (a slice without step)")
        self.stop = max(self.start, self.stop)
        num_planes = first.get_num_planes()
        if planes is not None:
            for p in planes:
                if not -num_planes <= p < num_planes:
                    raise SelectionError(f"plane {p} does not exist; the source has {num_planes} plane(s)")
            planes = [p % num_planes for p in planes]
            if not first.is_volumetric:
                planes = None  # plane 0 of planar data: nothing to select
        self.planes = planes
        self.dtype = first.dtype
        self.per_channel_times = per_channel_times
        if not per_channel_times and len(channels) > 1:
            reference = self.timestamps(0)
            for c in range(1, len(channels)):
                other = self.timestamps(c)
                if (reference is None) != (other is None) or reference is not None and not np.array_equal(
                    reference, other
                ):
                    raise MetadataError(
                        f"channels {names[0]!r} and {names[c]!r} have different timestamps; one output keeps one "
                        "time per sample: write with split='channels' to keep each channel's times"
                    )

    @property
    def num_samples(self) -> int:
        return self.stop - self.start

    @property
    def sample_shape(self) -> tuple[int, ...]:
        shape = self.channels[0].get_sample_shape()
        if self.planes is None:
            return tuple(shape)
        if len(self.planes) == 1:
            return tuple(shape[:2])
        return (*shape[:2], len(self.planes))

    @property
    def sample_nbytes(self) -> int:
        return math.prod(self.sample_shape) * self.dtype.itemsize * len(self.channels)

    @property
    def sampling_frequency(self) -> float | None:
        """The rate of the first channel; None when it states none (its times then give the writer one)."""
        rate = self.channels[0].get_sampling_frequency()
        return None if rate is None else float(rate)

    def sampling_frequencies(self) -> list[float | None]:
        return [None if (rate := ext.get_sampling_frequency()) is None else float(rate) for ext in self.channels]

    def timestamps(self, channel: int = 0) -> np.ndarray | None:
        """Times of the selected samples; None when they are ``index / rate`` from the first sample."""
        ext = self.channels[channel]
        if not ext.has_recorded_times() and self.start == 0:
            return None
        return np.asarray(ext.get_timestamps(self.start, self.stop), dtype=np.float64)

    def metadata(self) -> dict[str, Any]:
        """Facts some formats keep (channel names, the source format and files)."""
        first = self.channels[0]
        return {
            "source_format": getattr(first, "format_id", type(first).__name__),
            "source_files": [str(p) for p in first.get_file_paths()],
        }

    def chunk_samples(self, target_chunk_mb: float) -> int:
        return max(1, int(target_chunk_mb * 1024**2) // max(self.sample_nbytes, 1))

    def iter_chunks(self, chunk_samples: int) -> Iterator[tuple[int, list[np.ndarray]]]:
        """Yield ``(offset, [array per channel])``; the arrays are reused for the next chunk."""
        chunk_samples = max(1, min(chunk_samples, self.num_samples))
        full = (chunk_samples, *self.channels[0].get_sample_shape())
        buffers = [np.empty(full, dtype=self.dtype) for _ in self.channels]
        picked = None
        if self.planes is not None:
            shape = (chunk_samples, *self.sample_shape)
            picked = [np.empty(shape, dtype=self.dtype) for _ in self.channels]
        for a in range(self.start, self.stop, chunk_samples):
            b = min(a + chunk_samples, self.stop)
            out = []
            for i, ext in enumerate(self.channels):
                view = buffers[i][: b - a]
                ext.get_series(a, b, out=view)
                if picked is not None:
                    target = picked[i][: b - a]
                    if len(self.planes) == 1:
                        target[...] = view[..., self.planes[0]]
                    else:
                        np.take(view, self.planes, axis=3, out=target)
                    view = target
                out.append(view)
            yield a - self.start, out


def as_source(
    source: Any,
    *,
    sampling_frequency: float | None = None,
    samples: slice | tuple[int | None, int | None] | None = None,
    planes: int | Sequence[int] | None = None,
    channels: str | int | Sequence[str | int] | None = None,
    per_channel_times: bool = False,
) -> Source:
    """Turn what :func:`ophysio.write_imaging` accepts into a :class:`Source`.

    ``source`` is an extractor, a list of extractors (one per channel), a mapping name -> extractor,
    or a numpy array of shape (samples, rows, columns[, planes]) with ``sampling_frequency``.
    """
    from ...extractors.numpy.reader import NumpyImagingExtractor

    def _one(value: Any, name: str | None = None) -> ImagingExtractor:
        if isinstance(value, ImagingExtractor):
            return value
        if isinstance(value, np.ndarray):
            if sampling_frequency is None:
                raise MetadataError("writing a numpy array needs sampling_frequency=")
            return NumpyImagingExtractor(value, sampling_frequency, channel_name=name)
        raise TypeError(
            f"cannot write {type(value).__name__}: give an extractor, a list or mapping of extractors "
            "(one per channel), or a numpy array with sampling_frequency"
        )

    if isinstance(source, Mapping):
        names = [str(k) for k in source]
        exts = [_one(v, n) for n, v in zip(names, source.values())]
    elif isinstance(source, (list, tuple)):
        exts = [_one(v) for v in source]
        names = [e.channel_name for e in exts]
    else:
        exts = [_one(source)]
        names = [exts[0].channel_name]
    if not exts:
        raise SelectionError("the source has no channels")
    if len(set(names)) != len(names):  # e.g. two extractors both called channel_0
        names = [f"{n}_{i}" if names.count(n) > 1 else n for i, n in enumerate(names)]
    if channels is not None:
        wanted = [channels] if isinstance(channels, (str, int)) else list(channels)
        picked = []
        for w in wanted:
            if isinstance(w, str):
                if w not in names:
                    raise SelectionError(f"channel {w!r} is not in the source; channels: {names}")
                picked.append(names.index(w))
            else:
                if not -len(names) <= w < len(names):
                    raise SelectionError(f"channel {w} does not exist; the source has {len(names)} channel(s)")
                picked.append(w % len(names))
        exts, names = [exts[i] for i in picked], [names[i] for i in picked]
    if samples is None:
        samples = slice(None)
    elif isinstance(samples, tuple):
        samples = slice(*samples)
    elif not isinstance(samples, slice):
        raise TypeError("samples must be a slice or a (start, stop) tuple")
    if planes is not None and not isinstance(planes, (list, tuple)):
        planes = [int(planes)]
    return Source(exts, names, samples, None if planes is None else [int(p) for p in planes], per_channel_times)
