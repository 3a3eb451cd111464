"""suite2p binary output: ``plane<i>/data.bin`` + ``ops.npy`` for each plane, as suite2p lays them out.

The output path is the folder suite2p calls ``save_path0/save_folder`` (usually ``.../suite2p``). Each
plane folder holds the movie as headerless little-endian int16 frames of ``Ly x Lx`` in C order
(``data.bin``; the second channel in ``data_chan2.bin``) and ``ops.npy`` with ``Ly``, ``Lx``,
``nframes``, ``fs`` (the volume rate), ``nplanes``, ``nchannels``, ``reg_file`` and the other keys
suite2p reads, so that suite2p (GUI or ``run_plane``) and ophysio's suite2p extractor open it.

suite2p needs int16. int16, int8 and uint8 movies are stored as they are. Other dtypes follow the
``int16`` policy, never a silent clip: ``"exact"`` (default) stores values that are whole numbers within
int16's range and raises at the first one that is not (nothing is left at the output path);
``"scale"`` maps ``value_range`` (found by a first pass over the source with
:func:`ophysio.write_imaging`) linearly onto -32768..32767 and records the mapping in
``ops["ophysio_int16"]`` (``value = (stored + 32768) / scale + offset``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ._base import ImagingWriter, WriterError
from .tiff import _warn_irregular

__all__ = ["Suite2pWriter"]

_INT16 = np.dtype("<i2")
_LOSSLESS = ("int16", "int8", "uint8", "bool")


class Suite2pWriter(ImagingWriter):
    """Write a movie as a suite2p output folder (one or two channels, one folder per plane).

    Parameters
    ----------
    int16 : {"exact", "scale"}
        What to do with dtypes that are not int16, int8 or uint8 (see the module text).
    value_range : (float, float), optional
        The source's (min, max) for ``int16="scale"``; :func:`ophysio.write_imaging` scans the source
        for it when not given, :func:`ophysio.open_writer` requires it.
    **kwargs
        The common writer options.
    """

    format_id = "suite2p"
    output_is_folder = True

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        int16: str = "exact",
        value_range: tuple[float, float] | None = None,
        **kwargs: Any,
    ):
        if int16 not in ("exact", "scale"):
            raise WriterError(f"int16 must be 'exact' or 'scale', not {int16!r}")
        self.int16_policy = int16
        self.value_range = None if value_range is None else (float(value_range[0]), float(value_range[1]))
        self._files: list[list[Any]] = []
        self._sums: np.ndarray | None = None
        self._buffer: np.ndarray | None = None
        super().__init__(path, **kwargs)

    def _check_dtype(self, dtype: np.dtype) -> None:
        if dtype.kind not in "iufb":
            raise WriterError(f"suite2p stores int16 movies; {dtype} cannot be converted")

    def _prepare_source(self, source) -> None:
        if self.int16_policy != "scale" or self.value_range is not None or source.dtype.name in _LOSSLESS:
            return
        lo, hi = np.inf, -np.inf
        for _, chunk in source.iter_chunks(source.chunk_samples(32)):
            for data in chunk:
                lo, hi = min(lo, float(data.min())), max(hi, float(data.max()))
        self.value_range = (lo, hi)

    @property
    def _scaling(self) -> tuple[float, float] | None:
        """(offset, scale) of the int16 mapping, or None when values are stored as they are."""
        if self.dtype.name in _LOSSLESS or self.int16_policy == "exact":
            return None
        lo, hi = self.value_range
        return lo, (65535.0 / (hi - lo) if hi > lo else 1.0)

    def _configure(self) -> None:
        if self.num_channels > 2:
            raise WriterError(f"suite2p holds one or two channels, not {self.num_channels}; select channels=")
        if self.int16_policy == "scale" and self.dtype.name not in _LOSSLESS and self.value_range is None:
            raise WriterError("int16='scale' needs value_range=(min, max) when frames are written over time")
        self.temp_path.mkdir()
        for z in range(self.num_planes):
            folder = self.temp_path / f"plane{z}"
            folder.mkdir()
            names = ["data.bin", "data_chan2.bin"][: self.num_channels]
            self._files.append([open(folder / name, "wb") for name in names])  # noqa: SIM115
        rows, cols = self.image_shape
        self._sums = np.zeros((self.num_planes, self.num_channels, rows, cols), dtype=np.float64)

    def _to_int16(self, data: np.ndarray, out: np.ndarray) -> np.ndarray:
        if self.dtype.name in _LOSSLESS:
            out[...] = data
            return out
        scaling = self._scaling
        if scaling is not None:
            offset, scale = scaling
            values = np.rint((data.astype(np.float64) - offset) * scale - 32768.0)
            np.clip(values, -32768, 32767, out=values)  # only rounding at the ends: the range maps inside
            out[...] = values
            return out
        bad = (data < -32768) | (data > 32767)
        if data.dtype.kind == "f":
            bad |= ~np.isfinite(data) | (data != np.round(data))
        if bad.any():
            where = np.argwhere(bad)[0]
            value = data[tuple(where)]
            raise WriterError(
                f"sample {self.num_samples + int(where[0])} holds {value!r}, which int16 cannot store exactly; "
                "suite2p needs int16: write with int16='scale' to map the value range onto int16, "
                "or convert the movie yourself"
            )
        out[...] = data
        return out

    def _write(self, channels, timestamps, frame_metadata) -> None:
        n = channels[0].shape[0]
        rows, cols = self.image_shape
        if self._buffer is None or self._buffer.shape[0] < n:
            self._buffer = np.empty((n, rows, cols), dtype=_INT16)
        buffer = self._buffer[:n]
        for c, data in enumerate(channels):
            for z in range(self.num_planes):
                plane = data[..., z] if self.volumetric else data
                stored = self._to_int16(plane, buffer)
                self._sums[z, c] += stored.sum(axis=0, dtype=np.float64)
                self._files[z][c].write(stored.data)

    def _finish(self) -> None:
        for handles in self._files:
            for fh in handles:
                fh.close()
        self._files = []
        _warn_irregular(self)
        rows, cols = self.image_shape
        final = self.path.resolve()
        scaling = self._scaling
        for z in range(self.num_planes):
            folder = final / f"plane{z}"
            ops: dict[str, Any] = {
                "Ly": rows,
                "Lx": cols,
                "nframes": self.num_samples,
                "fs": float(self.sampling_frequency),
                "nplanes": self.num_planes,
                "nchannels": self.num_channels,
                "functional_chan": 1,
                "align_by_chan": 1,
                "save_path0": str(final.parent),
                "save_folder": final.name,
                "save_path": str(folder),
                "fast_disk": str(folder),
                "reg_file": str(folder / "data.bin"),
                "yrange": [0, rows],
                "xrange": [0, cols],
                "meanImg": (self._sums[z, 0] / self.num_samples).astype(np.float32),
                "frames_per_folder": np.array([self.num_samples], dtype=np.int32),
                "filelist": list(self.source_metadata.get("source_files", [])),
                "ophysio_channel_names": list(self.channel_names),
                "ophysio_int16": {
                    "policy": "scale" if scaling else "exact",
                    "source_dtype": self.dtype.name,
                    "offset": scaling[0] if scaling else 0.0,
                    "scale": scaling[1] if scaling else 1.0,
                },
            }
            if self.num_channels == 2:
                ops["reg_file_chan2"] = str(folder / "data_chan2.bin")
                ops["meanImg_chan2"] = (self._sums[z, 1] / self.num_samples).astype(np.float32)
            np.save(Path(self.temp_path) / f"plane{z}" / "ops.npy", ops, allow_pickle=True)
        self._sums = None
        self._buffer = None

    def _cleanup(self) -> None:
        for handles in self._files:
            for fh in handles:
                fh.close()
        self._files = []
