"""The one contract every imaging format implements: :class:`ImagingExtractor`.

An extractor is one stream of samples: one channel of one acquisition, the unit that becomes one NWB
photon series. A sample is a frame (rows, columns) for planar data or a volume (rows, columns, planes)
for volumetric data.

A format implements a handful of facts (number of samples, image shape, planes, dtype, rate) and one
raw read of a contiguous range of samples into a caller's buffer (:meth:`ImagingExtractor._read_series`).
Everything else lives here once: slicing with Python semantics, reading selected samples, numpy-style
indexing, chunk iteration with a reused buffer, timestamps and their fallbacks, lazy views, pickling.
"""

from __future__ import annotations

import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import SampleIndexError
from ._indexing import DEFAULT_CHUNK_BYTES, SeriesIndexing
from ._resources import HeldResources
from .checks import allocate_output, checked_dtype, checked_rate
from .facts import AcquisitionFacts
from .timing import SampleTimes

__all__ = ["ImagingExtractor", "AcquisitionFacts", "DEFAULT_CHUNK_BYTES", "register_view", "checked_rate",
           "checked_dtype"]

#: The lazy view class behind each view method (slice_samples, slice_field_of_view, select_plane,
#: bin_samples, correct_scan_phase, register_planes). The views are extractors built on this class, so
#: :mod:`ophysio.extractors.views` and :mod:`ophysio.extractors.views.corrections` import this module and register
#: them here, never the other way round; ``ophysio.extractors`` imports them.
_VIEWS: dict[str, type] = {}


def register_view(method: str):
    """Class decorator: make the decorated view the one that ``ImagingExtractor.<method>`` returns."""

    def register(cls: type) -> type:
        _VIEWS[method] = cls
        return cls

    return register

class ImagingExtractor(SeriesIndexing, HeldResources, SampleTimes, ABC):
    """A lazy reader of one stream of imaging samples.

    Subclasses implement :meth:`get_num_samples`, :meth:`get_image_shape`, :meth:`get_dtype`,
    :meth:`get_sampling_frequency` and :meth:`_read_series`; volumetric formats also override
    :meth:`get_num_planes`. Formats with recorded per-sample times override
    :meth:`_get_native_timestamps`, and formats that keep a header override :meth:`get_metadata`.

    File handles must be held through :class:`ophysio.extractors._handles.CachedFile` (or reopened on
    demand some other way) so that extractors pickle and share the process-wide limit on open files.
    """

    #: Short name of the format this extractor reads (the registry id).
    format_id: str = "abstract"
    extractor_name: str = "ImagingExtractor"

    _times: np.ndarray | None = None
    _native_timestamps_cache: tuple | None = None  # (timestamps or None,) once read
    _channel_name: str | None = None
    _channel_names: Sequence[str] = ("channel_0",)

    def __init__(self) -> None:
        self._times = None
        self._native_timestamps_cache = None

    # ------------------------------------------------------------------ facts a format provides
    @abstractmethod
    def get_num_samples(self) -> int:
        """Number of samples (frames for planar data, volumes for volumetric data)."""

    @abstractmethod
    def get_image_shape(self) -> tuple[int, int]:
        """(rows, columns) of one image."""

    @abstractmethod
    def get_dtype(self) -> np.dtype:
        """Data type of the pixels, byte order included; answered without reading pixels."""

    @abstractmethod
    def get_sampling_frequency(self) -> float | None:
        """Samples per second (volumes per second for volumetric data).

        None when the source states no rate and none was given (a plain TIFF, a ``.npy``): the pixels read
        as ever, and what needs a rate (regular timestamps, conversion) raises
        :class:`~ophysio.errors.RateUnknownError` saying how to give one.
        """

    @abstractmethod
    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        """Read samples ``start:stop`` (0 <= start < stop <= num_samples) into ``out``.

        ``out`` is C-contiguous with shape ``(stop - start, *self.get_sample_shape())`` and
        ``self.get_dtype()``; the method fills every element of it.
        """

    def get_num_planes(self) -> int:
        """Number of planes (depths) in each sample; 1 for planar data."""
        return 1

    @property
    def is_volumetric(self) -> bool:
        """Whether each sample is a volume (rows, columns, planes) rather than a frame.

        A read-only attribute holding a ``bool`` (``if extractor.is_volumetric:``), as in roiextractors and
        as neuroconv reads it; not a method. Formats and views override the property, never call it.
        """
        return bool(self.get_num_planes() > 1)

    def _get_native_timestamps(self) -> np.ndarray | None:
        """Per-sample times in seconds recorded by the source, or None (override in formats)."""
        return None

    def get_metadata(self) -> dict:
        """The source's own metadata, whole (header, OME-XML, attributes...), as Python values."""
        return {}

    def get_file_paths(self) -> list[str]:
        """The files this extractor reads, in reading order (empty for in-memory data)."""
        return []

    def get_acquisition_facts(self) -> AcquisitionFacts:
        """What the acquisition recorded about this stream, in NWB-neutral terms (micrometers, hertz...).

        The base answers what any extractor knows: the channel it reads and the source's channels, the
        rate of its samples (``frame_rate_hz`` for planar data, ``volume_rate_hz`` for volumetric data) and
        the whole source header (:meth:`get_metadata`). A format answers what its files record (device,
        software, start time, pixel size, plane depths, origin, line rate, wavelengths...) in its
        ``facts.py``; a view adjusts its parent's facts (a crop moves the origin, a plane has one depth).
        See :class:`~ophysio.extractors.facts.AcquisitionFacts`.
        """
        rate = self.get_sampling_frequency()
        rate = None if rate is None else float(rate)
        volumetric = self.is_volumetric
        return AcquisitionFacts(
            channel_name=self.channel_name,
            channel_names=tuple(self.get_channel_names()),
            frame_rate_hz=None if volumetric else rate,
            volume_rate_hz=rate if volumetric else None,
            source_header=self.get_metadata(),
        )

    def split_streams(self) -> list[ImagingExtractor]:
        """The streams this extractor holds that are each one photon series: ``[self]`` for most sources.

        A source that reads several separately placed fields together (a multi-ROI ScanImage page read
        whole) returns one extractor per field, so that each gets its own geometry.
        """
        return [self]

    # ------------------------------------------------------------------ derived facts
    def get_sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample: (rows, columns) planar, (rows, columns, planes) volumetric."""
        if self.is_volumetric:
            return (*self.get_image_shape(), self.get_num_planes())
        return tuple(self.get_image_shape())

    def get_volume_shape(self) -> tuple[int, int, int]:
        """(rows, columns, planes); planes is 1 for planar data."""
        return (*self.get_image_shape(), self.get_num_planes())

    def get_frame_shape(self) -> tuple[int, int]:
        """Alias of :meth:`get_image_shape` (older roiextractors name)."""
        return self.get_image_shape()

    @property
    def shape(self) -> tuple[int, ...]:
        """``(samples, *sample_shape)``, as numpy would report it for the full series."""
        return (self.get_num_samples(), *self.get_sample_shape())

    @property
    def ndim(self) -> int:
        return 1 + len(self.get_sample_shape())

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.get_dtype())

    @property
    def sample_nbytes(self) -> int:
        """Bytes of one sample."""
        return math.prod(self.get_sample_shape()) * self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes of the whole series."""
        return self.sample_nbytes * self.get_num_samples()

    def __len__(self) -> int:
        return self.get_num_samples()

    @property
    def channel_name(self) -> str:
        """Name of the channel this extractor reads."""
        if self._channel_name is not None:
            return self._channel_name
        return self.get_channel_names()[0]

    def get_channel_names(self) -> list[str]:
        """Names of the channels the source holds (this extractor reads :attr:`channel_name`)."""
        return list(self._channel_names)

    def get_num_channels(self) -> int:
        """Number of channels the source holds."""
        return len(self.get_channel_names())

    def _choose_channel(self, names: Sequence[str], channel_name: str | None, where: str,
                        what: str = "channels") -> int:
        """Record the source's channel ``names`` and the one this extractor reads; return its index.

        ``channel_name`` may be None only when the source holds one channel: a multi-channel source
        must be told which one (as in roiextractors), and an unknown name lists the ones there are.
        """
        from ..errors import SelectionError

        names = [str(name) for name in names]
        if channel_name is None:
            if len(names) > 1:
                raise SelectionError(f"{where} holds {len(names)} {what} {names}: pass channel_name= with one of them",
                                     keyword="channel_name", choices=names)
            channel_name = names[0]
        channel_name = str(channel_name)
        if channel_name not in names:
            raise SelectionError(f"channel {channel_name!r} is not in {where}; {what}: {names}")
        self._channel_names = tuple(names)
        self._channel_name = channel_name
        return names.index(channel_name)

    # ------------------------------------------------------------------ reading
    def _prepare_out(self, out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
        dtype = self.dtype
        if out is None:
            return allocate_output(shape, dtype, self)
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy array, not {type(out).__name__}")
        if out.shape != shape:
            raise ValueError(f"out has shape {out.shape}; this read needs {shape}")
        if out.dtype != dtype:
            raise ValueError(f"out has dtype {out.dtype}; this extractor gives {dtype}")
        if not out.flags.writeable:
            raise ValueError("out is read-only")
        return out

    def _read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        """Call the raw read, going through a contiguous buffer when ``out`` is not one."""
        if stop <= start:
            return
        if out.flags.c_contiguous:
            self._read_series(start, stop, out)
        else:
            tmp = np.empty(out.shape, dtype=out.dtype)
            self._read_series(start, stop, tmp)
            out[...] = tmp

    def get_series(
        self, start_sample: int | None = None, end_sample: int | None = None, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Read samples ``start_sample:end_sample``, exactly as a Python slice along time.

        Parameters
        ----------
        start_sample, end_sample : int or None
            Bounds of the half-open range; None, negative values and clipping behave as in
            ``sequence[start_sample:end_sample]``.
        out : numpy.ndarray, optional
            A buffer of the result's shape and dtype to read into (it is returned).

        Returns
        -------
        numpy.ndarray
            (samples, rows, columns) for planar data, (samples, rows, columns, planes) for volumetric.
        """
        start, stop, _ = slice(start_sample, end_sample).indices(self.get_num_samples())
        count = max(stop - start, 0)
        out = self._prepare_out(out, (count, *self.get_sample_shape()))
        self._read_into(start, start + count, out)
        return out

    def _normalize_indices(self, sample_indices: Any) -> np.ndarray:
        idx = np.asarray(sample_indices)
        if idx.size == 0:
            return idx.astype(np.int64).reshape(idx.shape)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"sample indices must be integers, not {idx.dtype}")
        n = self.get_num_samples()
        idx = idx.astype(np.int64)
        bad = (idx < -n) | (idx >= n)
        if bad.any():
            raise SampleIndexError(
                f"sample index {int(idx[bad].flat[0])} is out of range for {n} samples"
            )
        return np.where(idx < 0, idx + n, idx)

    def _read_samples(self, indices: np.ndarray, out: np.ndarray) -> None:
        """Read the samples at sorted, unique ``indices`` into ``out`` (override for a faster path)."""
        if len(indices) == 0:
            return
        breaks = np.flatnonzero(np.diff(indices) != 1) + 1
        bounds = np.concatenate(([0], breaks, [len(indices)]))
        for a, b in zip(bounds[:-1], bounds[1:]):
            self._read_into(int(indices[a]), int(indices[b - 1]) + 1, out[a:b])

    def get_samples(self, sample_indices: Sequence[int] | np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Read the samples at ``sample_indices`` (any order, repeats allowed, negatives from the end).

        Only the samples asked for are read, each once. The result has shape
        ``(*numpy.shape(sample_indices), *sample_shape)``.
        """
        idx = self._normalize_indices(sample_indices)
        sample_shape = self.get_sample_shape()
        out = self._prepare_out(out, (*idx.shape, *sample_shape))
        flat = idx.ravel()
        if flat.size == 0:
            return out
        work = out if out.flags.c_contiguous else np.empty(out.shape, dtype=out.dtype)
        target = work.reshape((flat.size, *sample_shape))  # a view: work is C-contiguous
        if flat.size == 1 or np.all(flat[1:] > flat[:-1]):
            self._read_samples(flat, target)
        else:
            unique, inverse = np.unique(flat, return_inverse=True)
            buffer = np.empty((unique.size, *sample_shape), dtype=self.dtype)
            self._read_samples(unique, buffer)
            np.take(buffer, inverse.ravel(), axis=0, out=target)
        if work is not out:
            out[...] = work
        return out

    def iter_series(
        self,
        chunk_samples: int | None = None,
        start_sample: int | None = None,
        end_sample: int | None = None,
        out: np.ndarray | None = None,
    ) -> Iterator[np.ndarray]:
        """Iterate over ``start_sample:end_sample`` in chunks of ``chunk_samples`` samples.

        Every chunk is a view into one buffer that is reused for the next chunk: copy a chunk you want
        to keep. ``out`` may be given as that buffer (shape ``(chunk_samples, *sample_shape)``). Without
        ``chunk_samples``, chunks of about 64 MB are used.
        """
        start, stop, _ = slice(start_sample, end_sample).indices(self.get_num_samples())
        if chunk_samples is None:
            default = max(1, DEFAULT_CHUNK_BYTES // max(self.sample_nbytes, 1))
            chunk_samples = out.shape[0] if out is not None else default
        chunk_samples = operator.index(chunk_samples)
        if chunk_samples < 1:
            raise ValueError(f"chunk_samples must be at least 1, got {chunk_samples}")
        if stop <= start:
            return
        chunk_samples = min(chunk_samples, stop - start) if out is None else chunk_samples
        buffer = self._prepare_out(out, (chunk_samples, *self.get_sample_shape()))
        for a in range(start, stop, chunk_samples):
            b = min(a + chunk_samples, stop)
            view = buffer[: b - a]
            self._read_into(a, b, view)
            yield view

    def __array__(self, dtype=None, copy=None):
        data = self.get_series()
        return data if dtype is None else data.astype(dtype, copy=False)

    # ------------------------------------------------------------------ views
    def slice_samples(self, start_sample: int | None = None, end_sample: int | None = None) -> ImagingExtractor:
        """A lazy view (a ``SampleSliceView``) of samples ``start_sample:end_sample`` (slice semantics)."""
        return _VIEWS['slice_samples'](self, start_sample, end_sample)

    def slice_field_of_view(
        self,
        row_start: int | None = None,
        row_end: int | None = None,
        column_start: int | None = None,
        column_end: int | None = None,
    ) -> ImagingExtractor:
        """A lazy view (a ``FieldOfViewView``) of rows ``row_start:row_end`` and columns ``column_start:column_end``."""
        return _VIEWS['slice_field_of_view'](self, row_start, row_end, column_start, column_end)

    def select_plane(self, plane_index: int) -> ImagingExtractor:
        """A lazy planar view (a ``PlaneView``) of one plane of a volumetric extractor.

        ``plane_index`` follows Python's indexing of a sequence of ``n`` planes: 0 to ``n - 1`` from the
        first plane, -1 (the last plane) to ``-n`` (the first) from the end; any other value raises
        :class:`~ophysio.errors.SampleIndexError` naming the valid range. The view's ``plane_index`` is the
        non-negative index.
        """
        return _VIEWS['select_plane'](self, plane_index)

    def bin_samples(self, bin_size: int) -> ImagingExtractor:
        """A lazy view (a ``BinnedSamplesView``) averaging each run of ``bin_size`` samples (an incomplete last
        bin is dropped)."""
        return _VIEWS['bin_samples'](self, bin_size)

    def correct_scan_phase(self, offset: float | Sequence[float] | None = None, **options: Any) -> ImagingExtractor:
        """A lazy view (a ``ScanPhaseView``) with the bidirectional scan-phase offset corrected.

        ``offset`` (pixels, per plane or one for all) is the shift applied to the odd scan lines; None
        estimates it from a sample of the data (see :class:`~ophysio.extractors.views.corrections.ScanPhaseView`
        for ``num_samples``, ``upsample``, ``max_offset``, ``per_plane``...). The estimate and its method are
        in the view's ``get_metadata()`` and acquisition facts, and go into the NWB series description.
        """
        return _VIEWS['correct_scan_phase'](self, offset, **options)

    def register_planes(self, shifts: Sequence[Sequence[float]] | None = None, **options: Any) -> ImagingExtractor:
        """A lazy view (a ``PlaneRegistrationView``) of a volume with each plane shifted (rigid x/y) onto a
        reference plane; ``shifts`` gives ``(dy, dx)`` per plane, None estimates them by phase correlation of
        the planes' mean images (see :class:`~ophysio.extractors.views.corrections.PlaneRegistrationView`)."""
        return _VIEWS['register_planes'](self, shifts, **options)

    def _line_regions(self) -> list[tuple[int, int, int, int, int]]:
        """Rectangles of the image made of whole pieces of scan lines: ``(row_start, row_stop, column_start,
        column_stop, parity)``, row ``r`` of a rectangle being an odd scan line when ``(r - row_start + parity)``
        is odd. One rectangle over the whole image for most sources; a canvas of several scanned fields
        gives one per visible piece of a field, so that a scan-phase correction shifts each field's lines
        on their own and with their own parity."""
        rows, columns = self.get_image_shape()
        return [(0, rows, 0, columns, 0)]

    # ------------------------------------------------------------------ arrays (dask, xarray)
    def to_dask(self, chunk_samples: int | None = None):
        """The series as a lazy dask array: chunks of whole samples (about 10 MiB: ten NWB chunks, or
        ``chunk_samples`` each), each one ``get_series`` of this (pickled) extractor; needs ``ophysio[dask]``.
        See :func:`ophysio.extractors.arrays.to_dask`."""
        from .arrays import to_dask

        return to_dask(self, chunk_samples)

    def to_xarray(self, chunk_samples: int | None = None):
        """The series as a lazy xarray ``DataArray`` with dims (time, y, x[, z]), coordinates in seconds and
        micrometers and the acquisition facts as attributes; needs ``ophysio[xarray]``.
        See :func:`ophysio.extractors.arrays.to_xarray`."""
        from .arrays import to_xarray

        return to_xarray(self, chunk_samples)

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.get_sample_shape())
        try:
            rate = self.get_sampling_frequency()
            rate = "rate unknown" if rate is None else f"{rate:.6g} Hz"
        except Exception:  # a rate that cannot be known must not break repr
            rate = "rate unknown"
        return (
            f"{type(self).__name__}({self.get_num_samples()} samples of {shape} {self.dtype}, {rate}, "
            f"channel {self.channel_name!r})"
        )
