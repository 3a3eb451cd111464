"""The writer contract shared by every output format: :class:`ImagingWriter`.

A writer receives batches of samples over time (:meth:`ImagingWriter.write_frames`), is configured from
the first batch (channels, sample shape, dtype), writes under a hidden temporary name beside the output
and moves it into place only in :meth:`ImagingWriter.close`, so that the output path never holds a
partial file. :func:`ophysio.write_imaging` streams an extractor through the same writers.

A batch is one array per channel, each shaped like an extractor's series: (samples, rows, columns) for
planar data or (samples, rows, columns, planes) for volumetric data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ...errors import MetadataError, WriterError
from .._atomic import atomic_output
from .._h5discard import hdf5_os_error

__all__ = ["ImagingWriter", "WriterError"]


class ImagingWriter:
    """Base class of the format writers; use :func:`ophysio.open_writer` to create one.

    Parameters
    ----------
    path : str or os.PathLike
        The output (a file, or a folder for suite2p and Zarr).
    overwrite : bool
        Replace an existing output (it is replaced only when the new one is complete).
    sampling_frequency : float, optional
        Samples per second. Without it, the rate is derived from the timestamps at :meth:`close`.
    channel_names : sequence of str, optional
        Names of the channels (default ``channel_0``, ``channel_1``... or the keys of a mapping batch).
    num_samples : int, optional
        The number of samples that will be written, when known (lets formats allocate once).
    source_metadata : dict, optional
        Facts about the source that some formats keep (e.g. ``pixel_size_um``, ``plane_spacing_um``).
    """

    #: Registry id of the format this writer writes.
    format_id: str = "abstract"
    #: Whether the output is a folder rather than a file.
    output_is_folder: bool = False
    #: Whether the format stores per-sample timestamps (otherwise only the rate).
    keeps_timestamps: bool = False
    #: Whether the format stores a time per sample *and channel* (timestamps of shape (samples, channels)).
    keeps_channel_times: bool = False

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        overwrite: bool = False,
        sampling_frequency: float | None = None,
        channel_names: Sequence[str] | None = None,
        num_samples: int | None = None,
        source_metadata: Mapping[str, Any] | None = None,
    ):
        self.path = Path(path)
        self.overwrite = overwrite
        if sampling_frequency is not None:
            sampling_frequency = float(sampling_frequency)
            if not np.isfinite(sampling_frequency) or sampling_frequency <= 0:
                raise MetadataError(f"sampling_frequency must be a positive number, got {sampling_frequency}")
        self.sampling_frequency = sampling_frequency
        self.channel_names: list[str] | None = list(channel_names) if channel_names is not None else None
        self.expected_samples = None if num_samples is None else int(num_samples)
        self.source_metadata = dict(source_metadata or {})
        self.num_samples = 0
        self.image_shape: tuple[int, int] | None = None
        self.num_planes = 1
        self.volumetric = False
        self.num_channels = 0
        self.dtype: np.dtype | None = None
        self._timestamps: list[np.ndarray] = []
        self._explicit_times: bool | None = None
        self._closed = False
        self._context = atomic_output(self.path, overwrite)
        self.temp_path: Path = self._context.__enter__()

    # ------------------------------------------------------------------ public
    def write_frames(
        self,
        frames: np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray],
        timestamps: Sequence[float] | np.ndarray | None = None,
        frame_metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Append a batch of samples.

        Parameters
        ----------
        frames : numpy.ndarray, or a list of arrays (one per channel), or a mapping name -> array
            Each array is (samples, rows, columns) or (samples, rows, columns, planes), the same for
            every channel and every batch; a single frame (rows, columns) is also accepted for
            planar data with one channel.
        timestamps : array-like, optional
            Time in seconds of each sample of the batch. Give them for every batch or for none
            (then sample ``i`` is at ``i / sampling_frequency``). OME-TIFF also takes one time per
            sample and channel, shape (samples, channels).
        frame_metadata : sequence of dict, optional
            One dict of extra fields per sample (kept by OME-TIFF's per-frame sidecar only).
        """
        if self._closed:
            raise WriterError(f"the writer of {self.path} is closed")
        try:
            channels = self._normalize(frames)
            count = channels[0].shape[0]
            times = self._batch_times(timestamps, count)
            if frame_metadata is not None:
                frame_metadata = list(frame_metadata)
                if len(frame_metadata) != count:
                    raise WriterError(f"{len(frame_metadata)} frame_metadata entries for {count} samples")
                if not self._accepts_frame_metadata():
                    raise WriterError(
                        f"the {self.format_id} writer cannot store frame_metadata; write OME-TIFF to keep it"
                    )
            if count:
                self._write(channels, times, frame_metadata)
                self.num_samples += count
        except BaseException as exc:
            self._fail(exc)

    def close(self) -> Path:
        """Finish the file, move it into place and return its path (nothing written is an error)."""
        if self._closed:
            return self.path
        self._complete()
        return self._publish()

    def _complete(self) -> None:
        """Check what was written and finish the temporary output (aborting on failure)."""
        try:
            if self.num_samples == 0:
                raise WriterError(f"no samples were written to {self.path}; nothing to save")
            if self.expected_samples is not None and self.num_samples != self.expected_samples:
                raise WriterError(
                    f"{self.num_samples} samples were written to {self.path}; {self.expected_samples} were announced"
                )
            if self.sampling_frequency is None:
                self.sampling_frequency = self._rate_from_timestamps()
            self._finish()
        except BaseException as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> NoReturn:
        """Abort, then raise ``exc`` (an OSError when libhdf5 hid one in a RuntimeError, e.g. a full disk)."""
        self.abort(exc)
        os_error = hdf5_os_error(exc, self.temp_path)
        if os_error is not None:
            raise os_error from exc
        raise exc

    def _publish(self) -> Path:
        """Move the finished output into place."""
        self._closed = True
        self._context.__exit__(None, None, None)
        self._after_close()
        return self.path

    def abort(self, exc: BaseException | None = None) -> None:
        """Stop writing and remove the partial output (nothing appears at the output path)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._cleanup()
        finally:
            exc = exc if exc is not None else WriterError("write aborted")
            try:
                self._context.__exit__(type(exc), exc, exc.__traceback__)
            except BaseException as raised:  # the context re-raises what it was given
                if raised is not exc:
                    raise

    def __enter__(self) -> ImagingWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.close()
        else:
            self.abort(exc)

    def timestamps(self) -> np.ndarray:
        """Times in seconds of every sample written so far."""
        if self._explicit_times:
            return np.concatenate(self._timestamps) if self._timestamps else np.empty(0)
        if self.sampling_frequency is None:
            raise MetadataError("neither timestamps nor sampling_frequency were given")
        return np.arange(self.num_samples, dtype=np.float64) / self.sampling_frequency

    @property
    def sample_shape(self) -> tuple[int, ...]:
        assert self.image_shape is not None
        return (*self.image_shape, self.num_planes) if self.volumetric else tuple(self.image_shape)

    # ------------------------------------------------------------------ hooks for formats
    def _prepare_source(self, source) -> None:
        """Called by :func:`ophysio.write_imaging` before streaming (e.g. to scan value ranges)."""

    def _configure(self) -> None:
        """Called once, after the first batch fixed channels, shape and dtype; open the output here."""

    def _write(self, channels: list[np.ndarray], timestamps: np.ndarray | None, frame_metadata) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Write the metadata and close every file (the output is then moved into place)."""

    def _cleanup(self) -> None:
        """Close open files after a failure (the temporary output is then removed)."""

    def _after_close(self) -> None:
        """Anything to do once the output is in place (e.g. move a sidecar)."""

    def _accepts_frame_metadata(self) -> bool:
        return False

    def _check_dtype(self, dtype: np.dtype) -> None:
        """Raise :class:`WriterError` when the format cannot store ``dtype`` exactly."""
        if dtype.kind not in "iuf" or dtype.itemsize > 8 or dtype.kind == "f" and dtype.itemsize < 4:
            raise WriterError(f"the {self.format_id} writer stores integer and float32/float64 pixels, not {dtype}")

    # ------------------------------------------------------------------ internals
    def _normalize(self, frames) -> list[np.ndarray]:
        if isinstance(frames, Mapping):
            names, arrays = list(frames.keys()), list(frames.values())
        elif isinstance(frames, (list, tuple)):
            names, arrays = None, list(frames)
        else:
            names, arrays = None, [frames]
        if not arrays:
            raise WriterError("a batch needs at least one channel")
        arrays = [np.asarray(a) for a in arrays]
        first = arrays[0]
        if self.image_shape is None:
            if first.ndim == 2:
                arrays = [a[None] for a in arrays]
                first = arrays[0]
            if first.ndim not in (3, 4):
                raise WriterError(
                    f"a batch must be (samples, rows, columns) or (samples, rows, columns, planes); got {first.shape}"
                )
            dtype = first.dtype
            if dtype.byteorder == ">" or dtype.byteorder == "=" and not np.little_endian:
                dtype = dtype.newbyteorder("<")
            self._check_dtype(np.dtype(dtype))
            self.dtype = np.dtype(dtype)
            self.image_shape = (int(first.shape[1]), int(first.shape[2]))
            self.volumetric = first.ndim == 4
            self.num_planes = int(first.shape[3]) if self.volumetric else 1
            self.num_channels = len(arrays)
            if names is not None:
                names = [str(n) for n in names]
                if self.channel_names is not None and list(self.channel_names) != names:
                    raise WriterError(f"batch channels {names} differ from channel_names {self.channel_names}")
                self.channel_names = names
            if self.channel_names is None:
                self.channel_names = [f"channel_{i}" for i in range(self.num_channels)]
            if len(self.channel_names) != self.num_channels:
                raise WriterError(f"{len(self.channel_names)} channel names for {self.num_channels} channels")
            self._configure()
        elif first.ndim == 2 and not self.volumetric:
            arrays = [a[None] for a in arrays]
        if names is not None and names != self.channel_names:
            raise WriterError(f"batch channels {names} differ from the first batch's {self.channel_names}")
        if len(arrays) != self.num_channels:
            raise WriterError(f"a batch has {len(arrays)} channels; the first batch had {self.num_channels}")
        count = arrays[0].shape[0] if arrays[0].ndim else 0
        for i, a in enumerate(arrays):
            if a.shape != (count, *self.sample_shape):
                raise WriterError(
                    f"channel {i} of a batch has shape {a.shape}; expected ({count}, "
                    f"{', '.join(map(str, self.sample_shape))}) like the first batch"
                )
            if a.dtype != self.dtype:
                if a.dtype.newbyteorder("<") != self.dtype.newbyteorder("<"):
                    raise WriterError(f"channel {i} of a batch has dtype {a.dtype}; the first batch had {self.dtype}")
                arrays[i] = a.astype(self.dtype)
        if self.expected_samples is not None and self.num_samples + count > self.expected_samples:
            raise WriterError(f"more than the announced {self.expected_samples} samples were written")
        return arrays

    def _batch_times(self, timestamps, count: int) -> np.ndarray | None:
        given = timestamps is not None
        if self._explicit_times is None and count:
            self._explicit_times = given
        elif count and given != self._explicit_times:
            raise WriterError("give timestamps with every batch or with none")
        if not given:
            if count and self.sampling_frequency is None:
                raise MetadataError("give sampling_frequency when creating the writer, or timestamps with every batch")
            return None
        times = np.asarray(timestamps, dtype=np.float64)
        if times.ndim == 2 and times.shape == (count, self.num_channels) and self.num_channels > 1:
            if not self.keeps_channel_times:
                raise WriterError(
                    f"the {self.format_id} writer keeps one time per sample, not one per channel; "
                    "write OME-TIFF, or one output per channel (split='channels')"
                )
        else:
            times = times.reshape(-1)
            if times.shape != (count,):
                raise WriterError(f"{times.size} timestamps for a batch of {count} samples")
        if self._timestamps and self._timestamps[-1].ndim != times.ndim:
            raise WriterError("give per-channel timestamps (samples, channels) with every batch or with none")
        if not np.all(np.isfinite(times)):
            raise MetadataError("timestamps must be finite numbers")
        previous = self._timestamps[-1][-1:] if self._timestamps else times[:0]
        if np.any(np.diff(np.concatenate([previous, times]), axis=0) < 0):
            raise MetadataError("timestamps must not decrease")
        self._timestamps.append(times.copy())
        return times

    def _rate_from_timestamps(self) -> float:
        times = self.timestamps()
        if times.ndim == 2:  # per-channel times: the first channel's rate
            times = times[:, 0]
        if times.size < 2:
            raise MetadataError("sampling_frequency is required when fewer than two samples have timestamps")
        interval = float(np.median(np.diff(times)))
        if interval <= 0:
            raise MetadataError("timestamps must increase to derive a sampling frequency")
        return 1.0 / interval
