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
import numbers
import operator
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import MetadataError, ReadTooLargeError, SampleIndexError

__all__ = ["ImagingExtractor", "DEFAULT_CHUNK_BYTES", "register_view", "checked_rate", "checked_dtype"]

#: The lazy view class behind each view method (slice_samples, slice_field_of_view, select_plane,
#: bin_samples). The views are extractors built on this class, so :mod:`ophysio.extractors.views`
#: imports this module and registers them here, never the other way round;
#: ``ophysio.extractors`` imports both.
_VIEWS: dict[str, type] = {}


def register_view(method: str):
    """Class decorator: make the decorated view the one that ``ImagingExtractor.<method>`` returns."""

    def register(cls: type) -> type:
        _VIEWS[method] = cls
        return cls

    return register

#: Default size of the blocks that chunked reads and views work in.
DEFAULT_CHUNK_BYTES = 64 * 1024**2

def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def checked_rate(value: Any, what: str = "sampling_frequency") -> float:
    """A rate (samples per second) as a float, after checking that it is one positive finite real number.

    Every extractor passes the rate it was given, or found in a header (``what`` then names the header
    field and the file), through here, so that text, lists, NaN, infinities and zero are refused the same
    way everywhere.

    Raises
    ------
    MetadataError
        ``value`` is not a real number (text, a list, an array, a bool, a complex number), or is not
        finite and positive.
    """
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise MetadataError(f"{what} must be a positive number of samples per second, not {type(value).__name__} "
                            f"{_short_repr(value)}")
    try:
        rate = float(value)
    except (OverflowError, ValueError):
        rate = math.inf
    if not math.isfinite(rate) or rate <= 0:
        raise MetadataError(f"{what} must be a positive finite number of samples per second, got {_short_repr(value)}")
    return rate


def checked_dtype(value: Any, what: str = "dtype") -> np.dtype:
    """``value`` as a numpy dtype of numbers (integers, floats or bools); anything else is a MetadataError."""
    try:
        dtype = np.dtype(value)
    except (TypeError, ValueError, SyntaxError) as exc:  # np.dtype("xyz") is a TypeError, np.dtype("i3") too
        raise MetadataError(f"{what}={_short_repr(value)} is not a numpy data type ({exc})") from None
    if dtype.kind not in "iufb" or dtype.itemsize == 0 or dtype.shape:
        raise MetadataError(f"{what}={_short_repr(value)} is {dtype}, not a numeric data type (e.g. 'uint16', '<i2')")
    return dtype


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - platforms without sysconf
        return 1 << 62


def _allocate(shape: tuple[int, ...], dtype: np.dtype, source: Any) -> np.ndarray:
    """An output array for a read, or a ReadTooLargeError when it cannot be had.

    An array larger than the machine's memory is refused before it is allocated: with overcommit it
    would be granted and then fill until the kernel kills the process. That is what a one-frame read of
    a damaged header (a 100000 x 100000 frame) would otherwise do.
    """
    nbytes = math.prod(shape) * dtype.itemsize
    files = getattr(source, "get_file_paths", lambda: [])() or ["this source"]
    if nbytes > _physical_memory():
        raise ReadTooLargeError(
            f"{files[0]}: reading {'x'.join(map(str, shape))} {dtype} needs {nbytes / 2**30:.1f} GiB, more than this "
            f"machine's {_physical_memory() / 2**30:.1f} GiB of memory; read fewer samples at a time, or check the "
            "sizes the file declares"
        )
    try:
        return np.empty(shape, dtype=dtype)
    except MemoryError:
        raise ReadTooLargeError(
            f"{files[0]}: reading {'x'.join(map(str, shape))} {dtype} needs {nbytes / 2**30:.1f} GiB, which could "
            "not be allocated; read fewer samples at a time"
        ) from None


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ImagingExtractor(ABC):
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
    def get_sampling_frequency(self) -> float:
        """Samples per second (volumes per second for volumetric data)."""

    @abstractmethod
    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        """Read samples ``start:stop`` (0 <= start < stop <= num_samples) into ``out``.

        ``out`` is C-contiguous with shape ``(stop - start, *self.get_sample_shape())`` and
        ``self.get_dtype()``; the method fills every element of it.
        """

    def get_num_planes(self) -> int:
        """Number of planes (depths) in each sample; 1 for planar data."""
        return 1

    def is_volumetric(self) -> bool:
        """Whether each sample is a volume (rows, columns, planes) rather than a frame."""
        return self.get_num_planes() > 1

    def _get_native_timestamps(self) -> np.ndarray | None:
        """Per-sample times in seconds recorded by the source, or None (override in formats)."""
        return None

    def get_metadata(self) -> dict:
        """The source's own metadata, whole (header, OME-XML, attributes...), as Python values."""
        return {}

    def get_file_paths(self) -> list[str]:
        """The files this extractor reads, in reading order (empty for in-memory data)."""
        return []

    # ------------------------------------------------------------------ derived facts
    def get_sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample: (rows, columns) planar, (rows, columns, planes) volumetric."""
        if self.is_volumetric():
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
                raise SelectionError(f"{where} holds {len(names)} {what} {names}: pass channel_name= with one of them")
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
            return _allocate(shape, dtype, self)
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

    def __getitem__(self, key: Any) -> np.ndarray:
        """numpy indexing of the series, reading only the samples the key selects.

        ``extractor[t, y, x]`` (``extractor[t, y, x, z]`` for volumes) gives exactly what
        ``numpy.asarray(extractor)[t, y, x]`` would, integer and boolean arrays included.
        """
        key = key if isinstance(key, tuple) else (key,)
        if any(k is None for k in key):
            raise IndexError("newaxis (None) is not supported when indexing an extractor; index the result")
        ndim = self.ndim
        ellipses = [i for i, k in enumerate(key) if k is Ellipsis]
        if len(ellipses) > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        if ellipses:
            i = ellipses[0]
            key = key[:i] + (slice(None),) * (ndim - len(key) + 1) + key[i + 1 :]
        if len(key) > ndim:
            raise IndexError(f"too many indices: the extractor is {ndim}-dimensional, but {len(key)} were indexed")
        if not key:
            key = (slice(None),)
        tkey, rest = key[0], key[1:]
        n = self.get_num_samples()

        if _is_integer(tkey):
            t = int(tkey)
            if not -n <= t < n:
                raise SampleIndexError(f"index {t} is out of bounds for axis 0 with size {n}")
            t %= n
            return self.get_series(t, t + 1)[(0, *rest)]
        if isinstance(tkey, slice):
            start, stop, step = tkey.indices(n)
            if step == 1:
                return self._get_cropped_range(start, max(start, stop), rest)
            indices = np.arange(start, stop, step)
            if step > 0:
                return self.get_samples(indices)[(slice(None), *rest)]
            return self.get_samples(indices[::-1])[(slice(None, None, -1), *rest)]
        arr = np.asarray(tkey)
        if arr.dtype == bool:
            if arr.shape != (n,):
                raise IndexError(f"boolean index along time has shape {arr.shape}; it must be ({n},)")
            arr = np.flatnonzero(arr)
        elif arr.dtype.kind not in "iu" and arr.size:
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`) and integer or boolean arrays are valid indices"
            )
        arr = self._normalize_indices(arr)
        unique, inverse = np.unique(arr.ravel(), return_inverse=True)
        buffer = self.get_samples(unique)
        return buffer[(inverse.reshape(arr.shape), *rest)]

    def _get_cropped_range(self, start: int, stop: int, rest: tuple) -> np.ndarray:
        """Samples start:stop indexed by the spatial key ``rest``, in bounded blocks when it crops."""
        count = stop - start
        full_key = (slice(None), *rest)
        basic = all(isinstance(k, slice) or _is_integer(k) for k in rest)
        if not rest or not basic or count * self.sample_nbytes <= DEFAULT_CHUNK_BYTES:
            return self.get_series(start, stop)[full_key]
        template = np.broadcast_to(np.empty((), dtype=self.dtype), (count, *self.get_sample_shape()))
        result = np.empty(template[full_key].shape, dtype=self.dtype)
        block = max(1, DEFAULT_CHUNK_BYTES // self.sample_nbytes)
        for a, chunk in zip(range(0, count, block), self.iter_series(block, start, stop)):
            result[a : a + len(chunk)] = chunk[full_key]
        return result

    # ------------------------------------------------------------------ time
    def get_native_timestamps(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> np.ndarray | None:
        """Per-sample times in seconds as recorded by the source, or None when it records none."""
        if self._native_timestamps_cache is None:
            native = self._get_native_timestamps()
            if native is not None:
                native = np.asarray(native, dtype=np.float64)
                if native.shape != (self.get_num_samples(),):
                    raise MetadataError(
                        f"{type(self).__name__}: the source gives {native.shape[0] if native.ndim else 0} "
                        f"timestamps for {self.get_num_samples()} samples"
                    )
                bad = np.flatnonzero(~np.isfinite(native))
                if bad.size:  # Inf/NaN in a sidecar or header: every format's recorded times pass here
                    files = self.get_file_paths() or [type(self).__name__]
                    raise MetadataError(
                        f"{files[0]}: the recorded time of sample {int(bad[0])} is {native[bad[0]]}, not a finite "
                        f"number of seconds ({bad.size} such samples); the time records are damaged"
                    )
            self._native_timestamps_cache = (native,)
        native = self._native_timestamps_cache[0]
        if native is None:
            return None
        return native[slice(start_sample, end_sample)]

    def get_timestamps(self, start_sample: int | None = None, end_sample: int | None = None) -> np.ndarray:
        """Times in seconds of samples ``start_sample:end_sample`` (slice semantics).

        Times set with :meth:`set_times` come first, then the source's own timestamps, then a regular
        series ``index / sampling_frequency``.
        """
        if self._times is not None:
            return self._times[slice(start_sample, end_sample)]
        native = self.get_native_timestamps(start_sample, end_sample)
        if native is not None:
            return native
        start, stop, _ = slice(start_sample, end_sample).indices(self.get_num_samples())
        return self._regular_timestamps(start, max(start, stop))

    def _regular_timestamps(self, start: int, stop: int) -> np.ndarray:
        """Times of samples start:stop when nothing recorded them: ``index / sampling_frequency``."""
        return np.arange(start, stop, dtype=np.float64) / float(self.get_sampling_frequency())

    #: Tolerance between a header's rate and the rate of the recorded times before the times win.
    RATE_TOLERANCE = 0.01

    def _rate_agreeing_with_times(self, stated: float, source: str) -> float:
        """``stated`` (a header's rate), or the rate of evenly spaced recorded times when it differs by more than 1%.

        The recorded times say when each sample was taken; a header's rate is the configured one. When
        they disagree the times are used, so that the rate, the timestamps and the NWB file say the same,
        and a warning naming both values says so once per extractor. Damaged times leave ``stated`` (the
        error comes when the times are read).
        """
        checked = self.__dict__.get("_checked_rate")
        if checked is not None and checked[0] == stated:
            return checked[1]
        rate = stated
        try:
            times = self.get_native_timestamps() if self._times is None else None
        except MetadataError:
            times = None
        steps = np.diff(times) if times is not None and len(times) > 1 else np.empty(0)
        step = float(np.median(steps)) if steps.size else 0.0
        # only evenly spaced times have one rate to compare (gaps, interleaved repeats are left alone)
        if step > 0 and np.all(np.abs(steps - step) <= self.RATE_TOLERANCE * step):
            recorded = 1.0 / step
            if abs(recorded - stated) > self.RATE_TOLERANCE * stated:
                import warnings

                where = (self.get_file_paths() or [type(self).__name__])[0]
                warnings.warn(
                    f"{where}: {source} says {stated:.6g} Hz but the recorded times are {step:.6g} s apart "
                    f"({recorded:.6g} Hz); using {recorded:.6g} Hz, the rate of the recorded times",
                    UserWarning, stacklevel=3,
                )
                rate = recorded
        self._checked_rate = (stated, rate)
        return rate

    def _has_recorded_times(self) -> bool:
        """Whether times were set or the source recorded them (rather than derived from the rate)."""
        return self._times is not None or self.get_native_timestamps() is not None

    def get_times(self) -> np.ndarray:
        """All timestamps (alias of ``get_timestamps()``, as in roiextractors)."""
        return self.get_timestamps()

    def set_times(self, times: Sequence[float] | np.ndarray) -> None:
        """Set the time in seconds of every sample (e.g. aligned to a behaviour clock)."""
        arr = np.array(times, dtype=np.float64)
        n = self.get_num_samples()
        if arr.shape != (n,):
            raise MetadataError(f"set_times needs one time per sample: got shape {arr.shape}, expected ({n},)")
        if not np.all(np.isfinite(arr)):
            raise MetadataError("set_times: times must be finite numbers")
        if n > 1 and np.any(np.diff(arr) < 0):
            first = int(np.flatnonzero(np.diff(arr) < 0)[0])
            raise MetadataError(f"set_times: times decrease between samples {first} and {first + 1}")
        arr.flags.writeable = False
        self._times = arr

    def has_time_vector(self) -> bool:
        """Whether times were set with :meth:`set_times`."""
        return self._times is not None

    def sample_indices_to_time(self, sample_indices: int | Sequence[int] | np.ndarray) -> float | np.ndarray:
        """Times in seconds of the given sample indices."""
        return self.get_timestamps()[sample_indices]

    def time_to_sample_indices(self, times: float | Sequence[float] | np.ndarray) -> int | np.ndarray:
        """Index of the first sample at or after each time (nearest sample for a regular series)."""
        times = np.asarray(times, dtype=np.float64)
        if not self._has_recorded_times():
            result = np.round(times * self.get_sampling_frequency()).astype(np.int64)
        else:
            result = np.searchsorted(self.get_timestamps(), times).astype(np.int64)
        return int(result) if result.ndim == 0 else result

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
        """A lazy planar view (a ``PlaneView``) of one plane of a volumetric extractor."""
        return _VIEWS['select_plane'](self, plane_index)

    def bin_samples(self, bin_size: int) -> ImagingExtractor:
        """A lazy view (a ``BinnedSamplesView``) averaging each run of ``bin_size`` samples (an incomplete last
        bin is dropped)."""
        return _VIEWS['bin_samples'](self, bin_size)

    # ------------------------------------------------------------------ resources
    def close(self) -> None:
        """Close every file this extractor holds open; it reopens them if used again."""
        from ._handles import CachedFile

        def _close(value: Any) -> None:
            if isinstance(value, (CachedFile, ImagingExtractor)):
                value.close()
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, (CachedFile, ImagingExtractor)):
                        item.close()
            elif isinstance(value, dict):
                for item in value.values():
                    if isinstance(item, (CachedFile, ImagingExtractor)):
                        item.close()

        for value in vars(self).values():
            _close(value)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.get_sample_shape())
        try:
            rate = f"{self.get_sampling_frequency():.6g} Hz"
        except Exception:  # a rate that cannot be known must not break repr
            rate = "rate unknown"
        return (
            f"{type(self).__name__}({self.get_num_samples()} samples of {shape} {self.dtype}, {rate}, "
            f"channel {self.channel_name!r})"
        )
