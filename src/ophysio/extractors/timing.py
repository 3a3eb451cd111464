"""Time for extractors: recorded timestamps, times set by the user, and the regular fallback.

:class:`SampleTimes` is the part of the :class:`~ophysio.extractors.imaging.ImagingExtractor` contract
that deals with time, kept in its own module: times set with ``set_times`` come first, then the source's
own timestamps (checked once: one finite time per sample), then ``index / sampling_frequency``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import MetadataError, RateUnknownError

__all__ = ["SampleTimes"]


class SampleTimes:
    """Timestamp methods of the extractor contract; the class using it provides ``get_num_samples``,
    ``get_sampling_frequency``, ``get_file_paths``, ``_get_native_timestamps`` and the attributes
    ``_times`` and ``_native_timestamps_cache`` (set in its ``__init__``)."""

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
        return np.arange(start, stop, dtype=np.float64) / self._required_rate()

    # ------------------------------------------------------------------ a source without a rate
    def _rate_unknown(self, reason: str) -> None:
        """What a reader answers for the rate when its source states none and none was given: None.

        Opening for pixels needs no rate; ``reason`` (which file, where it looked) is told when a rate is
        needed (regular times, conversion), see :meth:`_required_rate`.
        """
        self._rate_unknown_reason = reason
        return None

    def _rate_unknown_message(self) -> str:
        reason = self.__dict__.get("_rate_unknown_reason")
        parent = self.__dict__.get("_parent")
        if reason is None and parent is not None and hasattr(parent, "_rate_unknown_message"):
            return parent._rate_unknown_message()
        if reason is None:
            files = self.get_file_paths() or [type(self).__name__]
            reason = f"{files[0]} states no sampling rate"
        return (f"{reason}; pass sampling_frequency= (volumes per second for volumetric data), or set_times() "
                f"with the times you measured")

    def _required_rate(self) -> float:
        """The sampling rate, or :class:`~ophysio.errors.RateUnknownError` saying why there is none."""
        rate = self.get_sampling_frequency()
        if rate is None:
            raise RateUnknownError(self._rate_unknown_message())
        return float(rate)

    #: Tolerance between a header's rate and the rate of the recorded times before the times win.
    RATE_TOLERANCE = 0.01

    def _rate_agreeing_with_times(self, stated: float, source: str) -> float:
        """``stated`` (a header's rate), or the rate of evenly spaced recorded times when it differs by more than 1%.

        The recorded times say when each sample was taken; a header's rate is the configured one. When
        they disagree the times are used, so that the rate, the timestamps and the NWB file say the same,
        and a warning naming both values says so once per extractor. Damaged times leave ``stated`` (the
        error comes when the times are read). Times given with ``set_times`` do not count: the rate is the
        source's, the same whether or not (and before or after) a caller aligned its times, as neuroconv's
        ScanImage interface does first thing (``set_times(get_times())``).
        """
        checked = self.__dict__.get("_checked_rate")
        if checked is not None and checked[0] == stated:
            return checked[1]
        rate = stated
        try:
            times = self.get_native_timestamps()
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

    def has_recorded_times(self) -> bool:
        """Whether times were set or the source recorded them (rather than derived from the rate)."""
        return self._times is not None or self.get_native_timestamps() is not None

    def get_times(self) -> np.ndarray:
        """All timestamps (alias of ``get_timestamps()``, as in roiextractors)."""
        return self.get_timestamps()

    def set_times(self, times: Sequence[float] | np.ndarray) -> None:
        """Set the time in seconds of every sample (e.g. aligned to a behaviour clock).

        One finite time per sample is required. Times that go backwards are accepted, as roiextractors
        accepts them, with a ``UserWarning`` naming the first pair: NWB best practice wants increasing
        times (nwbinspector reports them), but the aligned times are the user's to give.
        """
        arr = np.array(times, dtype=np.float64)
        n = self.get_num_samples()
        if arr.shape != (n,):
            raise MetadataError(f"set_times needs one time per sample: got shape {arr.shape}, expected ({n},)")
        if not np.all(np.isfinite(arr)):
            raise MetadataError("set_times: times must be finite numbers")
        if n > 1 and np.any(np.diff(arr) < 0):
            import warnings

            backwards = np.flatnonzero(np.diff(arr) < 0)
            first = int(backwards[0])
            warnings.warn(
                f"set_times: times decrease between samples {first} and {first + 1} ({arr[first]:.6g} s, then "
                f"{arr[first + 1]:.6g} s; {backwards.size} such steps); kept as given, but NWB expects "
                "increasing times (nwbinspector will report them)",
                UserWarning, stacklevel=2,
            )
        arr.flags.writeable = False
        self._times = arr

    def copy_times(self, extractor) -> None:
        """Give this extractor the times set on ``extractor`` with ``set_times`` (as roiextractors does).

        Nothing changes when ``extractor`` has no set times; both must have the same number of samples.
        """
        if extractor.has_time_vector():
            self.set_times(np.array(extractor.get_timestamps(), dtype=np.float64))

    def has_time_vector(self) -> bool:
        """Whether times were set with :meth:`set_times`."""
        return self._times is not None

    def sample_indices_to_time(self, sample_indices: int | Sequence[int] | np.ndarray) -> float | np.ndarray:
        """Times in seconds of the given sample indices."""
        return self.get_timestamps()[sample_indices]

    def time_to_sample_indices(self, times: float | Sequence[float] | np.ndarray) -> int | np.ndarray:
        """Index of the sample each time falls in, as roiextractors answers it.

        With recorded or set times: the last sample at or before each time
        (``numpy.searchsorted(timestamps, t, side="right") - 1``), clipped to 0 for times before the first
        sample; of repeated times, the last sample carrying it. Without them: the nearest sample,
        ``round(t * sampling_frequency)``.
        """
        times = np.asarray(times, dtype=np.float64)
        if not self.has_recorded_times():
            result = np.round(times * self._required_rate()).astype(np.int64)
        else:
            result = np.searchsorted(self.get_timestamps(), times, side="right").astype(np.int64) - 1
            result = np.maximum(result, 0)
        return int(result) if result.ndim == 0 else result
