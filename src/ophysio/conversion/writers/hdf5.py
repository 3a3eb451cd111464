"""HDF5 output: one movie dataset (``mov`` for CaImAn by default), its axes named, its rate attached.

The dataset has our axis order, time first: ``(T, Y, X)``, ``(T, Y, X, Z)`` for volumes, with a last
``C`` axis when there are several channels. The order is stored as ``DIMENSION_LABELS`` (HDF5
dimension-scale labels, set through ``h5py``'s ``dims[i].label``), so readers need not guess it. The
rate is stored as ``fr`` (CaImAn's name) and ``sampling_frequency`` attributes; per-sample times go to
a ``timestamps`` dataset beside the movie (named by the movie's ``timestamps`` attribute) and channel
names to a ``channel_names`` attribute.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .._h5discard import discard_h5file
from ._base import ImagingWriter, WriterError

__all__ = ["Hdf5Writer"]


class Hdf5Writer(ImagingWriter):
    """Write a movie to an HDF5 dataset, chunk by chunk.

    Parameters
    ----------
    dataset : str
        Path of the movie dataset inside the file (default ``"mov"``; ``"data"`` or ``"group/name"``
        work as well).
    chunks : tuple of int, True or None
        HDF5 chunk shape; by default about 1 MB chunks of whole frames (``True`` lets h5py choose,
        ``None`` asks for contiguous storage, which needs a known number of samples and no compression).
    compression : {None, "gzip", "lzf"} or int
        HDF5 filter; ``compression_level`` sets gzip's level (default: the fast level 1). ``shuffle``
        adds the byte shuffle (default: on with compression, which makes imaging data compress better
        and faster).
    max_workers : int, optional
        Threads compressing gzip chunks (default: the cores this process may use).
    timestamps : bool
        Write the ``timestamps`` dataset (default True).
    attributes : dict, optional
        Extra attributes for the movie dataset.
    **kwargs
        The common writer options.
    """

    format_id = "hdf5"
    keeps_timestamps = True

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        dataset: str = "mov",
        chunks: tuple[int, ...] | bool | None = (),
        compression: str | int | None = None,
        compression_level: int | None = None,
        shuffle: bool | None = None,
        timestamps: bool = True,
        attributes: dict[str, Any] | None = None,
        max_workers: int | None = None,
        **kwargs: Any,
    ):
        self.max_workers = max_workers
        self._chunks: Any = None  # the pipeline's ChunkWriter while gzip chunks are encoded in threads
        self._block: np.ndarray | None = None
        self._block_count = 0
        self._block_start = 0
        self._free: list[np.ndarray] = []
        self.dataset_name = str(dataset).strip("/") or "mov"
        self.chunks = chunks
        self._codec = None  # the pipeline's Compression for gzip and lzf (an int is an HDF5 filter id)
        if isinstance(compression, int) and not isinstance(compression, bool):
            self.compression = compression
        elif compression is None or str(compression).split(":")[0].lower() in ("gzip", "lzf"):
            from ..pipeline import Compression

            try:
                self._codec = Compression.from_writer_options(compression, compression_level, shuffle)
            except ValueError as exc:
                raise WriterError(f"HDF5 {exc}") from None
            self.compression = self._codec.method
        else:
            raise WriterError(f"HDF5 compression must be None, 'gzip', 'gzip:LEVEL', 'lzf' or a filter id, "
                              f"not {compression!r}")
        self.compression_level = compression_level if self._codec is None else self._codec.level
        self.shuffle = (compression is not None if shuffle is None else bool(shuffle)) if self._codec is None \
            else self._codec.shuffle
        self.write_timestamps = bool(timestamps)
        self.attributes = dict(attributes or {})
        self._file = None
        self._dset = None
        super().__init__(path, **kwargs)
        if self.dataset_name == "timestamps" and self.write_timestamps:
            raise WriterError("the movie dataset cannot be called 'timestamps' while timestamps are written")

    def _check_dtype(self, dtype: np.dtype) -> None:
        if dtype.kind not in "iufb" or dtype.itemsize > 8:
            raise WriterError(f"the HDF5 writer stores integer, boolean and float pixels, not {dtype}")

    @property
    def labels(self) -> tuple[str, ...]:
        labels = ("T", "Y", "X") + (("Z",) if self.volumetric else ())
        return labels + (("C",) if self.num_channels > 1 else ())

    def _item_shape(self) -> tuple[int, ...]:
        shape = self.sample_shape
        return (*shape, self.num_channels) if self.num_channels > 1 else tuple(shape)

    def _configure(self) -> None:
        import h5py

        self._file = h5py.File(self.temp_path, "w")
        item = self._item_shape()
        known = self.expected_samples
        chunks = self.chunks
        if chunks == ():
            frame_bytes = math.prod(item) * self.dtype.itemsize
            per_chunk = max(1, (1 << 20) // max(frame_bytes, 1))
            if known is not None:
                per_chunk = min(per_chunk, known)
            chunks = (per_chunk, *item)
        if chunks is None and (known is None or self.compression is not None):
            raise WriterError("contiguous HDF5 storage (chunks=None) needs num_samples and no compression")
        options: dict[str, Any] = {}
        direct = (self._codec is not None and self._codec.direct and chunks not in (None, True)
                  and tuple(chunks[1:]) == item)
        if self._codec is not None and self._codec.method is not None:
            options = self._codec.h5py_kwargs()
            if not self.shuffle:
                options.pop("shuffle", None)
        elif self.compression is not None:
            options["compression"] = self.compression
            if self.compression_level is not None:
                options["compression_opts"] = int(self.compression_level)
        if self.shuffle:
            options["shuffle"] = True
        shape = (known if known is not None else 0, *item)
        maxshape = None if known is not None else (None, *item)
        self._dset = self._file.create_dataset(
            self.dataset_name, shape=shape, maxshape=maxshape, dtype=self.dtype, chunks=chunks, **options
        )
        for i, label in enumerate(self.labels):
            self._dset.dims[i].label = label
        if direct:
            from ..pipeline import ChunkWriter, default_workers

            pipeline = self._codec.pipeline(self.dtype)
            self._chunks = ChunkWriter(self._dset, pipeline, self.max_workers or default_workers())
            self._block = self._new_block()

    def _new_block(self) -> np.ndarray:
        return self._free.pop() if self._free else np.zeros(self._dset.chunks, dtype=self.dtype)

    def _submit_block(self) -> None:
        block, count, start = self._block, self._block_count, self._block_start
        if count < block.shape[0]:
            block[count:] = 0  # an edge chunk is stored whole
        self._chunks.submit(start, block, count, release=lambda: self._free.append(block))
        self._block_start += block.shape[0]
        self._block_count = 0
        self._block = self._new_block()

    def _write_direct(self, data: np.ndarray) -> None:
        n, done = data.shape[0], 0
        per_chunk = self._block.shape[0]
        while done < n:
            take = min(per_chunk - self._block_count, n - done)
            self._block[self._block_count : self._block_count + take] = data[done : done + take]
            self._block_count += take
            done += take
            if self._block_count == per_chunk:
                self._submit_block()

    def _write(self, channels, timestamps, frame_metadata) -> None:
        n = channels[0].shape[0]
        a, b = self.num_samples, self.num_samples + n
        if self._dset.shape[0] < b:
            self._dset.resize(b, axis=0)
        if self._chunks is not None:
            self._write_direct(channels[0] if self.num_channels == 1 else np.stack(channels, axis=-1))
            return
        if self.num_channels == 1:
            self._dset.write_direct(np.ascontiguousarray(channels[0]), dest_sel=np.s_[a:b])
        else:
            self._dset[a:b] = np.stack(channels, axis=-1)

    def _finish(self) -> None:
        if self._chunks is not None:
            if self._block_count:
                self._submit_block()
            self._chunks.close()
            self._chunks = None
            self._free = []
        dset = self._dset
        rate = float(self.sampling_frequency)
        dset.attrs["fr"] = rate
        dset.attrs["sampling_frequency"] = rate
        dset.attrs["channel_names"] = np.array(self.channel_names, dtype=object)
        for key, value in self.attributes.items():
            dset.attrs[key] = value
        if self.write_timestamps:
            parent = dset.parent
            times = parent.create_dataset("timestamps", data=self.timestamps())
            times.attrs["unit"] = "s"
            times.dims[0].label = "T"
            dset.attrs["timestamps"] = times.name  # where the per-sample times are
        self._file.flush()  # a full disk fails here, while the file can still be discarded (see _h5discard)
        self._file.close()
        self._file = self._dset = None

    def _cleanup(self) -> None:
        if self._chunks is not None:
            self._chunks.cancel()
            self._chunks = None
        if self._file is not None:
            discard_h5file(self._file)  # the file is removed: a full disk must not fail (or crash) the close
            self._file = self._dset = None
