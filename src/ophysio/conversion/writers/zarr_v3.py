"""Zarr v3 output with OME-NGFF 0.5 metadata (needs the ``zarr`` extra: ``pip install ophysio[zarr]``).

The output is a Zarr v3 group (a folder) holding the movie as the single multiscale level ``0`` with
axes ``t, [c,] [z,] y, x`` (OME-NGFF order: channel and plane axes only when there are several),
and the ``ome`` attribute: ``multiscales`` (axes with types and units, a scale transform with the
frame interval in seconds and the pixel and plane sizes in micrometres) and ``omero`` channel labels.
Per-sample times are kept in the ``timestamps`` array, the rate and channel names under the ``ophysio``
attribute.

Writes are aligned to whole chunks (whole shards with ``shards=``) along time: samples are gathered
until a block of chunks is complete, so no chunk is rewritten and memory stays at one block.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..._version import __version__
from ._base import ImagingWriter, WriterError

__all__ = ["ZarrWriter"]


class ZarrWriter(ImagingWriter):
    """Write a movie to a Zarr v3 store with OME-NGFF 0.5 multiscale metadata.

    Parameters
    ----------
    chunks : tuple of int, optional
        Chunk shape over the stored axes; by default whole frames, about 4 MB per chunk.
    shards : tuple of int, optional
        Shard shape (a multiple of ``chunks``), to keep the number of files small.
    compression : {"zstd", "gzip", "blosc", None}
        Codec of the chunks (default ``"zstd"``); ``compression_level`` sets its level.
    pixel_size_um : float or (float, float), optional
        Pixel size (rows, columns) in micrometres, for the scale transform.
    plane_spacing_um : float, optional
        Distance between planes in micrometres.
    **kwargs
        The common writer options.
    """

    format_id = "zarr"
    output_is_folder = True
    keeps_timestamps = True

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        chunks: tuple[int, ...] | None = None,
        shards: tuple[int, ...] | None = None,
        compression: str | None = "zstd",
        compression_level: int | None = None,
        pixel_size_um: float | tuple[float, float] | None = None,
        plane_spacing_um: float | None = None,
        **kwargs: Any,
    ):
        try:
            import zarr  # noqa: F401
        except ImportError as exc:
            raise WriterError("writing Zarr needs the zarr package: pip install 'ophysio[zarr]'") from exc
        if compression not in ("zstd", "gzip", "blosc", None):
            raise WriterError(f"Zarr compression must be 'zstd', 'gzip', 'blosc' or None, not {compression!r}")
        self.chunks = None if chunks is None else tuple(int(c) for c in chunks)
        self.shards = None if shards is None else tuple(int(s) for s in shards)
        self.compression = compression
        self.compression_level = compression_level
        if pixel_size_um is not None and np.ndim(pixel_size_um) == 0:
            pixel_size_um = (float(pixel_size_um), float(pixel_size_um))
        self.pixel_size_um = None if pixel_size_um is None else tuple(float(v) for v in pixel_size_um)
        self.plane_spacing_um = None if plane_spacing_um is None else float(plane_spacing_um)
        self._group = None
        self._array = None
        self._pending: np.ndarray | None = None
        self._pending_count = 0
        self._stored = 0
        super().__init__(path, **kwargs)

    def _check_dtype(self, dtype: np.dtype) -> None:
        if dtype.kind not in "iufb" or dtype.itemsize > 8:
            raise WriterError(f"the Zarr writer stores integer, boolean and float pixels, not {dtype}")

    @property
    def axes(self) -> list[str]:
        return ["t"] + (["c"] if self.num_channels > 1 else []) + (["z"] if self.volumetric else []) + ["y", "x"]

    def _item_shape(self) -> tuple[int, ...]:
        shape = tuple(self.image_shape)
        if self.volumetric:
            shape = (self.num_planes, *shape)
        if self.num_channels > 1:
            shape = (self.num_channels, *shape)
        return shape

    def _codecs(self) -> Any:
        from zarr import codecs

        level = self.compression_level
        if self.compression is None:
            return None
        if self.compression == "zstd":
            return codecs.ZstdCodec(level=3 if level is None else level)
        if self.compression == "gzip":
            return codecs.GzipCodec(level=5 if level is None else level)
        return codecs.BloscCodec(cname="zstd", clevel=5 if level is None else level, shuffle="bitshuffle")

    def _configure(self) -> None:
        import zarr

        item = self._item_shape()
        ndim = 1 + len(item)
        if self.chunks is None:
            frame_bytes = math.prod(item) * self.dtype.itemsize
            per_chunk = max(1, (4 << 20) // max(frame_bytes, 1))
            if self.expected_samples is not None:
                per_chunk = min(per_chunk, self.expected_samples)
            self.chunks = (per_chunk, *item)
        for name, shape in (("chunks", self.chunks), ("shards", self.shards)):
            if shape is not None and len(shape) != ndim:
                raise WriterError(f"{name} {shape} must have {ndim} entries for axes {''.join(self.axes)}")
        if self.shards is not None and any(s % c for s, c in zip(self.shards, self.chunks)):
            raise WriterError(f"shards {self.shards} must be multiples of chunks {self.chunks}")
        self._group = zarr.open_group(self.temp_path, mode="w", zarr_format=3)
        self._array = self._group.create_array(
            "0",
            shape=(self.expected_samples or 0, *item),
            dtype=self.dtype,
            chunks=self.chunks,
            shards=self.shards,
            compressors=self._codecs(),
            fill_value=0,
            dimension_names=self.axes,
        )
        block = (self.shards or self.chunks)[0]
        self._pending = np.empty((block, *item), dtype=self.dtype)

    def _to_stored(self, data: np.ndarray) -> np.ndarray:
        """One channel (n, Y, X[, Z]) as (n, [Z,] Y, X)."""
        return data.transpose(0, 3, 1, 2) if self.volumetric else data

    def _flush(self, count: int) -> None:
        a, b = self._stored, self._stored + count
        if self._array.shape[0] < b:
            self._array.resize((b, *self._array.shape[1:]))
        self._array[a:b] = self._pending[:count]
        self._stored = b
        self._pending_count = 0

    def _write(self, channels, timestamps, frame_metadata) -> None:
        n = channels[0].shape[0]
        block = self._pending.shape[0]
        done = 0
        while done < n:
            take = min(block - self._pending_count, n - done)
            target = self._pending[self._pending_count : self._pending_count + take]
            for c, data in enumerate(channels):
                part = self._to_stored(data[done : done + take])
                if self.num_channels > 1:
                    target[:, c] = part
                else:
                    target[...] = part
            self._pending_count += take
            done += take
            if self._pending_count == block:
                self._flush(block)

    def _finish(self) -> None:
        if self._pending_count:
            self._flush(self._pending_count)
        rate = float(self.sampling_frequency)
        space = self.pixel_size_um or (1.0, 1.0)
        axes: list[dict[str, Any]] = [{"name": "t", "type": "time", "unit": "second"}]
        scale = [1.0 / rate]
        if self.num_channels > 1:
            axes.append({"name": "c", "type": "channel"})
            scale.append(1.0)
        if self.volumetric:
            axes.append({"name": "z", "type": "space", "unit": "micrometer"})
            scale.append(self.plane_spacing_um or 1.0)
        axes += [{"name": name, "type": "space", "unit": "micrometer"} for name in ("y", "x")]
        scale += [space[0], space[1]]
        times = self.timestamps()
        ts = self._group.create_array("timestamps", shape=times.shape, dtype="float64", chunks=(max(1, times.size),))
        ts[:] = times
        self._group.attrs.update(
            {
                "ome": {
                    "version": "0.5",
                    "multiscales": [
                        {
                            "name": self.path.name,
                            "axes": axes,
                            "datasets": [
                                {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}
                            ],
                        }
                    ],
                    "omero": {"channels": [{"label": name, "active": True} for name in self.channel_names]},
                },
                "ophysio": {
                    "version": __version__,
                    "sampling_frequency": rate,
                    "channel_names": list(self.channel_names),
                    "timestamps": "timestamps",
                    "axes": "".join(self.axes),
                },
            }
        )
        self._array = self._group = self._pending = None

    def _cleanup(self) -> None:
        self._array = self._group = self._pending = None
