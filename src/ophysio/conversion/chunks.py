"""Where ophysio's layout becomes NWB's: sample shapes, chunk shapes, and hdmf's chunk iterator.

ophysio reads samples as (samples, rows, columns[, planes]); NWB stores photon series as
(frames, x, y[, z]), x being the column. The NWB shapes are defined here; chunks are transposed by
:class:`ImagingChunkIterator` here and by :class:`ophysio.conversion.pipeline.TransposeToNWB`.

Chunks hold whole frames (viewers fetch whole frames) and about 1 MiB (:data:`DEFAULT_CHUNK_BYTES`): a
reader streaming the file fetches whole chunks, so a frame read remotely costs its chunk; measured on a
512 x 512 int16 series, 1 MiB chunks (2 frames) against 10 MiB ones (20 frames) take the first frame for
0.8 MB instead of 5.6 MB and 100 scattered frames for 53 MB instead of 382 MB, with the same bytes for
consecutive frames, the same file size and no slower a conversion (docs: streaming).
:class:`ImagingChunkIterator`, an hdmf ``GenericDataChunkIterator``, serves callers who add a photon
series to their own ``NWBFile`` and write it with their own ``NWBHDF5IO`` (HDF5 compresses, one core)
and the NWB-Zarr backend; :func:`ophysio.write_nwb` fills NWB HDF5 datasets through the chunk pipeline
(:mod:`ophysio.conversion.pipeline`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "nwb_sample_shape",
    "to_nwb_layout",
    "chunk_shape_for",
    "ImagingChunkIterator",
]

#: Target size of one chunk of a photon series (whole frames: at least one).
DEFAULT_CHUNK_BYTES = 1024**2


def nwb_sample_shape(extractor) -> tuple[int, ...]:
    """Shape of one sample in NWB layout: (columns, rows) or (columns, rows, planes)."""
    shape = extractor.get_sample_shape()
    return (shape[1], shape[0], *shape[2:])


def to_nwb_layout(samples: np.ndarray) -> np.ndarray:
    """View (samples, rows, columns[, planes]) as NWB's (samples, x=columns, y=rows[, z]) (no copy)."""
    return samples.swapaxes(1, 2)


def chunk_shape_for(extractor, chunk_bytes: int = DEFAULT_CHUNK_BYTES, num_samples: int | None = None) -> tuple:
    """Chunk shape in NWB layout: whole samples, about ``chunk_bytes`` per chunk."""
    n = extractor.get_num_samples() if num_samples is None else num_samples
    per_chunk = max(1, int(chunk_bytes) // max(extractor.sample_nbytes, 1))
    return (max(1, min(per_chunk, n)), *nwb_sample_shape(extractor))


def _storage_dtype(dtype: np.dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype


# ---------------------------------------------------------------------- hdmf iterator
def _make_iterator_class():
    from hdmf.data_utils import GenericDataChunkIterator

    class _ImagingChunkIterator(GenericDataChunkIterator):
        """hdmf chunk iterator over an extractor's samples in NWB layout (see :class:`ImagingChunkIterator`)."""

        def __init__(self, extractor, start: int = 0, stop: int | None = None,
                     chunk_bytes: int = DEFAULT_CHUNK_BYTES, on_samples: Callable[[int], Any] | None = None,
                     **kwargs):
            self.extractor = extractor
            self._on_samples = on_samples
            self._start = start
            self._stop = extractor.get_num_samples() if stop is None else stop
            chunk = chunk_shape_for(extractor, chunk_bytes, self._stop - self._start)
            kwargs.setdefault("chunk_shape", chunk)
            kwargs.setdefault("buffer_shape", chunk)
            super().__init__(**kwargs)

        def _get_data(self, selection: tuple) -> np.ndarray:
            t = selection[0]
            first, last, _ = t.indices(self._stop - self._start)
            samples = self.extractor.get_series(self._start + first, self._start + last)
            data = to_nwb_layout(samples)[(slice(None), *selection[1:])]
            data = np.ascontiguousarray(data, dtype=_storage_dtype(data.dtype))
            if self._on_samples is not None:
                self._on_samples(last - first)
            return data

        def _get_maxshape(self) -> tuple:
            return (self._stop - self._start, *nwb_sample_shape(self.extractor))

        def _get_dtype(self) -> np.dtype:
            return _storage_dtype(self.extractor.dtype)

    return _ImagingChunkIterator


_iterator_class = None


def ImagingChunkIterator(extractor, start: int = 0, stop: int | None = None,
                         chunk_bytes: int = DEFAULT_CHUNK_BYTES, on_samples: Callable[[int], Any] | None = None,
                         **kwargs):
    """An hdmf ``GenericDataChunkIterator`` over samples ``start:stop`` of ``extractor`` in NWB layout.

    Chunks and buffers are whole samples of about ``chunk_bytes``; ``on_samples(count)``, when given, is
    called after each buffer is read; other keywords go to hdmf (``display_progress``, ...). Wrap it in
    ``H5DataIO(..., compression="gzip", shuffle=True)`` (or hdmf-zarr's ``ZarrDataIO``).
    """
    global _iterator_class
    if _iterator_class is None:
        _iterator_class = _make_iterator_class()
    return _iterator_class(extractor, start=start, stop=stop, chunk_bytes=chunk_bytes, on_samples=on_samples,
                           **kwargs)
