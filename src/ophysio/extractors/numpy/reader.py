"""In-memory arrays and ``.npy`` files as extractors.

A ``.npy`` file is read with positional reads (:class:`~ophysio.extractors._filearray.FileArray`), not
through a memory map, so that a file cut short while open is a CorruptFileError rather than SIGBUS.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ...errors import FileSetError, FormatError, MetadataError
from .._filearray import FileArray
from .._handles import CachedFile
from ..imaging import ImagingExtractor, checked_rate

__all__ = ["NumpyImagingExtractor"]


class NumpyImagingExtractor(ImagingExtractor):
    """A movie held in a numpy array, or in a ``.npy`` file read through a read-only memory map.

    Parameters
    ----------
    timeseries : numpy.ndarray or str or os.PathLike
        Shape (samples, rows, columns) for planar data or (samples, rows, columns, planes) for
        volumetric data; a path to a ``.npy`` file of that shape is read lazily, not loaded.
    sampling_frequency : float, optional
        Samples per second. Required unless ``timestamps`` are given (the rate is then their median
        interval's inverse).
    timestamps : array-like, optional
        Time in seconds of each sample.
    channel_name : str, optional
        Name of the channel (default ``"channel_0"``).
    channel_names : list of str, optional
        roiextractors' spelling: a one-element list naming the channel.
    """

    format_id = "numpy"
    extractor_name = "NumpyImaging"

    def __init__(
        self,
        timeseries: np.ndarray | str | os.PathLike,
        sampling_frequency: float | None = None,
        timestamps: Sequence[float] | np.ndarray | None = None,
        channel_name: str | None = None,
        channel_names: Sequence[str] | None = None,
    ):
        super().__init__()
        self._file_path: str | None = None
        self._values: FileArray | None = None
        self._fortran = False
        if isinstance(timeseries, (str, os.PathLike)):
            self._file_path = os.fspath(timeseries)
            if not os.path.isfile(self._file_path):
                raise FileSetError(f"{self._file_path} does not exist")
            array = self._open_memmap()  # only its facts are kept (no page is touched); the map goes with it
            self._fortran = not array.flags.c_contiguous and array.ndim > 1
            stored = array.shape[::-1] if self._fortran else array.shape
            self._values = FileArray(CachedFile(self._file_path), array.offset, array.dtype, stored,
                                     f"the array of {os.path.basename(self._file_path)}")
            self._array = None
        else:
            array = np.asarray(timeseries)
            self._array = array
        if array.ndim not in (3, 4):
            raise FormatError(
                f"timeseries must have shape (samples, rows, columns) or (samples, rows, columns, planes); "
                f"got {array.ndim} dimensions {array.shape}"
            )
        if array.dtype.kind not in "iufb":
            raise FormatError(f"timeseries must hold numbers, not {array.dtype}")
        self._shape = array.shape
        self._dtype = array.dtype
        if timestamps is not None:
            ts = np.asarray(timestamps, dtype=np.float64)
            if ts.shape != (array.shape[0],):
                raise MetadataError(f"{ts.shape[0] if ts.ndim else 0} timestamps given for {array.shape[0]} samples")
            self._timestamps = ts
        else:
            self._timestamps = None
        if sampling_frequency is None and self._timestamps is not None and len(self._timestamps) >= 2:
            interval = float(np.median(np.diff(self._timestamps)))
            if interval <= 0:
                raise MetadataError("timestamps must increase to derive a sampling frequency from them")
            sampling_frequency = 1.0 / interval
        if sampling_frequency is None:
            self._sampling_frequency = self._rate_unknown(
                f"{self._file_path or 'the array'} comes with no sampling rate "
                f"(fewer than two timestamps given)")
        else:
            self._sampling_frequency = checked_rate(sampling_frequency)
        if channel_names is not None:
            names = list(channel_names)
            if len(names) != 1:
                raise MetadataError(f"one extractor reads one channel; got channel_names={names}")
            channel_name = channel_name or names[0]
        self._channel_name = channel_name or "channel_0"
        self._channel_names = (self._channel_name,)

    def _open_memmap(self) -> np.ndarray:
        from tokenize import TokenError

        try:
            return np.load(self._file_path, mmap_mode="r", allow_pickle=False)
        except (ValueError, TypeError, SyntaxError, TokenError, EOFError, OverflowError) as exc:
            # numpy parses the header dict with Python's tokenizer and ast: a damaged header (negative or
            # huge shape, unterminated dict, a dtype that is not one) raises any of these
            raise FormatError(f"{self._file_path} is not a readable .npy file: its header is damaged "
                              f"({type(exc).__name__}: {exc})") from exc

    def get_num_samples(self) -> int:
        return int(self._shape[0])

    def get_image_shape(self) -> tuple[int, int]:
        return (int(self._shape[1]), int(self._shape[2]))

    def get_num_planes(self) -> int:
        return int(self._shape[3]) if len(self._shape) == 4 else 1

    @property
    def is_volumetric(self) -> bool:
        return bool(len(self._shape) == 4)

    def get_dtype(self) -> np.dtype:
        return self._dtype

    def get_sampling_frequency(self) -> float | None:
        return self._sampling_frequency

    def get_file_paths(self) -> list[str]:
        return [self._file_path] if self._file_path else []

    def _get_native_timestamps(self) -> np.ndarray | None:
        return self._timestamps

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        if self._array is not None:
            out[...] = self._array[start:stop]
        elif self._fortran:  # time is the fastest stored axis: through the size-checked map
            out[...] = self._values[(Ellipsis, slice(start, stop))].T
        else:  # out is C-contiguous (the base makes sure): the file's bytes straight into it
            self._values.read_rows(start, stop, out)

    def _read_samples(self, indices: np.ndarray, out: np.ndarray) -> None:
        if self._array is not None:
            np.take(self._array, indices, axis=0, out=out)
        else:
            super()._read_samples(indices, out)

    def close(self) -> None:
        if self._file_path:
            self._values.close()
            self._values.file.close()
