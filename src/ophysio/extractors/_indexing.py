"""numpy indexing of an imaging series (``extractor[t, y, x]``), for
:class:`~ophysio.extractors.imaging.ImagingExtractor`.

The key's time part decides what is read: an integer or a slice reads that range (a cropping slice of a
long range reads it in bounded blocks), a strided slice or an integer or boolean array reads only the
samples it names, each once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SampleIndexError
from .checks import is_integer

#: Bytes of samples read at once when a range is read in blocks (here, by a cropping slice; re-exported by
#: :mod:`ophysio.extractors.imaging` for ``iter_series`` and the views).
DEFAULT_CHUNK_BYTES = 64 * 1024**2


class SeriesIndexing:
    """``__getitem__`` over the contract's ``get_series``, ``get_samples`` and ``iter_series``."""

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

        if is_integer(tkey):
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
        basic = all(isinstance(k, slice) or is_integer(k) for k in rest)
        if not rest or not basic or count * self.sample_nbytes <= DEFAULT_CHUNK_BYTES:
            return self.get_series(start, stop)[full_key]
        template = np.broadcast_to(np.empty((), dtype=self.dtype), (count, *self.get_sample_shape()))
        result = np.empty(template[full_key].shape, dtype=self.dtype)
        block = max(1, DEFAULT_CHUNK_BYTES // self.sample_nbytes)
        for a, chunk in zip(range(0, count, block), self.iter_series(block, start, stop)):
            result[a : a + len(chunk)] = chunk[full_key]
        return result
