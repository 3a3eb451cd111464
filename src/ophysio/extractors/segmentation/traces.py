"""Lazy traces: :class:`TraceArray`, one trace of a segmentation as a (samples, ROIs) array-like.

:meth:`~ophysio.extractors.segmentation.SegmentationExtractor.get_traces_dict` hands these out instead of
arrays, so that a dictionary of every trace of a 100,000-sample, 5,000-ROI run costs nothing until it is
indexed: ``trace[1000:2000, :10]`` reads those samples of those ROIs only; ``numpy.asarray(trace)`` reads
it whole. It has what numpy-minded code and hdmf's chunk iterators look at: ``shape``, ``dtype``,
``ndim``, ``len()``, ``__getitem__`` and ``__array__``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["TraceArray", "TRACE_NAMES", "BACKGROUND_TRACES"]

#: The usual trace names, in the order they are listed (a source may have others).
TRACE_NAMES = ("raw", "dff", "neuropil", "deconvolved", "denoised", "baseline", "background")
#: Traces whose columns are the background components, not the ROIs.
BACKGROUND_TRACES = frozenset({"background"})


def _time_range(key: Any, n: int) -> tuple[int, int, Any]:
    """The contiguous range of samples to read for the time key, and the key into that range."""
    if isinstance(key, slice):
        start, stop, step = key.indices(n)
        if step > 0:
            stop = max(start, stop)
            return start, stop, slice(None, None, step)
        # a backward slice: read what it covers, then index it backward
        indices = np.arange(n)[key]
        if indices.size == 0:
            return 0, 0, slice(None)
        low, high = int(indices.min()), int(indices.max()) + 1
        return low, high, indices - low
    if isinstance(key, numbers.Integral) and not isinstance(key, (bool, np.bool_)):
        index = int(key)
        if not -n <= index < n:
            raise IndexError(f"sample index {index} is out of range for {n} samples")
        index %= n
        return index, index + 1, 0
    indices = np.asarray(key)
    if indices.dtype == bool:
        if indices.shape != (n,):
            raise IndexError(f"boolean index along time has shape {indices.shape}; it must be ({n},)")
        indices = np.flatnonzero(indices)
    elif indices.dtype.kind not in "iu" and indices.size:
        raise IndexError("only integers, slices (`:`), ellipsis (`...`) and integer or boolean arrays are valid "
                         "indices")
    indices = indices.astype(np.int64)
    if indices.size == 0:
        return 0, 0, indices
    if np.any((indices < -n) | (indices >= n)):
        raise IndexError(f"a sample index is out of range for {n} samples")
    indices = np.where(indices < 0, indices + n, indices)
    low, high = int(indices.min()), int(indices.max()) + 1
    return low, high, indices - low


class TraceArray:
    """One trace (``raw``, ``neuropil``, ``dff``...) of a segmentation extractor, read when indexed.

    Shape ``(samples, ROIs)``; the ROIs are those of the extractor (its background components for the
    ``background`` trace), in order.
    """

    ndim = 2

    def __init__(self, extractor, name: str, positions: np.ndarray):
        self._extractor = extractor
        self.name = name
        self._positions = np.asarray(positions, dtype=np.int64)
        self.shape = (int(extractor.get_num_samples()), int(len(self._positions)))
        self.dtype = np.dtype(extractor._trace_dtype(name))

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def _normalize(self, key: Any) -> tuple[Any, Any]:
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:at] + (slice(None),) * (2 - len(key) + 1) + key[at + 1:]
        if len(key) > 2:
            raise IndexError(f"too many indices for a trace of 2 dimensions: {len(key)} were given")
        key = key + (slice(None),) * (2 - len(key))
        return key[0], key[1]

    def __getitem__(self, key: Any) -> np.ndarray:
        time_key, roi_key = self._normalize(key)
        positions = self._positions[roi_key]
        scalar_roi = np.ndim(positions) == 0
        positions = np.atleast_1d(positions)
        start, stop, inner = _time_range(time_key, self.shape[0])
        if stop > start and positions.size:
            block = np.asarray(self._extractor._read_traces(self.name, start, stop, positions))
        else:
            block = np.empty((stop - start, positions.size), dtype=self.dtype)
        result = block[inner]
        return result[..., 0] if scalar_roi else result

    def __array__(self, dtype=None, copy=None):
        data = self[:, :]
        return data if dtype is None else data.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"TraceArray({self.name!r}, shape={self.shape}, dtype={self.dtype})"
