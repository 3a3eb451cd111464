"""MATLAB ``.mat`` output: v7.3 (HDF5-based, streamed) and v5 (small movies).

MATLAB stores arrays column-major, and a v7.3 file is an HDF5 file whose datasets list MATLAB's
dimensions in reverse. For MATLAB to see the movie as ``Y x X x T`` (``Y x X x Z x T`` for volumes,
``Y x X x C x T`` / ``Y x X x Z x C x T`` with channels), the HDF5 dataset is ``(T, X, Y)``
(``(T, [C,] [Z,] X, Y)``): each frame is stored transposed. The file starts with MATLAB's 512-byte
user block (the ``MATLAB 7.3 MAT-file`` text, version ``0x0200`` and the ``IM`` endian mark) and each
variable carries its ``MATLAB_class`` attribute. Next to the movie: ``fs`` (rate, double scalar),
``timestamps`` (``1 x T`` double, seconds), ``dims`` (the MATLAB axis order as text, e.g.
``'YXT'``) and ``channel_names``: always written, one row per channel (a single row for one channel),
a ``C x L`` char matrix whose rows are space-padded to the longest name, as MATLAB's
``char({'GCaMP', 'tdTomato'})`` builds it (``cellstr(channel_names)`` gives the names back). MATLAB chars
are UTF-16 code units; names of no characters are stored as one space, and trailing spaces of a name
are not kept (the padding cannot be told from them).

v5 files are streamed too (:mod:`ophysio.conversion.writers._mat5` writes the elements, the sizes being
patched at the end), so neither version holds the movie in memory. A v5 variable cannot reach 2 GB:
that is checked before anything is read when the length is known, else before the batch that would
cross it.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from .._h5discard import discard_h5file
from ._base import ImagingWriter, WriterError

__all__ = ["MatWriter", "MAT_V5_LIMIT"]

#: Names of the small variables written beside the movie.
_RESERVED = ("fs", "timestamps", "dims", "channel_names")

#: Largest variable a v5 MAT file can hold (bytes of data).
MAT_V5_LIMIT = 2**31 - 1

_MATLAB_CLASS = {
    "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64", "uint8": "uint8",
    "uint16": "uint16", "uint32": "uint32", "uint64": "uint64", "float32": "single", "float64": "double",
    "bool": "logical",
}


def matlab_header(version: str = "7.3") -> bytes:
    """The 128 header bytes of a MAT file (text, subsystem offset, version, endian mark)."""
    text = (
        f"MATLAB {version} MAT-file, Platform: GLNXA64, Created on: "
        f"{time.strftime('%a %b %d %H:%M:%S %Y', time.gmtime())} HDF5 schema 1.00 ."
    )
    header = text.encode("ascii").ljust(116, b" ")[:116]
    header += b" " * 8  # no subsystem data
    header += (0x0200).to_bytes(2, "little") + b"IM"
    return header


class MatWriter(ImagingWriter):
    """Write a movie to a MATLAB ``.mat`` file.

    Parameters
    ----------
    version : {"7.3", "5"}
        ``"7.3"`` (default, HDF5-based) has no size limit; ``"5"`` is read by ``scipy.io.loadmat`` and
        old MATLAB versions but is limited to variables under 2 GB. Both are streamed.
    variable : str
        Name of the movie variable (default ``"mov"``).
    compression : {None, "gzip"}
        HDF5 compression of v7.3 variables (MATLAB reads gzip); v5 files are written uncompressed.
    **kwargs
        The common writer options.
    """

    format_id = "mat"
    keeps_timestamps = True

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        version: str | int | float = "7.3",
        variable: str = "mov",
        compression: str | None = None,
        compression_level: int | None = None,
        **kwargs: Any,
    ):
        version = str(version)
        if version in ("7", "6", "v5", "5.0"):
            version = "5"
        if version not in ("7.3", "5"):
            raise WriterError(f"MAT version must be '7.3' or '5', not {version!r}")
        if not variable.isidentifier() or len(variable) > 63:
            raise WriterError(f"{variable!r} is not a valid MATLAB variable name")
        if variable in _RESERVED:
            raise WriterError(
                f"the movie variable cannot be called {variable!r} (used for the rate, times, axes or channel names)")
        self.version = version
        self.variable = variable
        if compression not in (None, "gzip"):
            raise WriterError(f"MAT compression must be None or 'gzip', not {compression!r}")
        self.compression = compression
        self.compression_level = compression_level
        self._file = None
        self._dset = None
        self._v5_file = None
        self._v5_movie = None
        if version == "5" and compression is not None:
            raise WriterError("MAT v5 files are written uncompressed; use version='7.3' with compression='gzip'")
        super().__init__(path, **kwargs)

    def _check_dtype(self, dtype: np.dtype) -> None:
        if dtype.name not in _MATLAB_CLASS:
            raise WriterError(f"MATLAB has no class for {dtype}")

    @property
    def dims(self) -> str:
        """MATLAB's axis order of the movie variable."""
        return "YX" + ("Z" if self.volumetric else "") + ("C" if self.num_channels > 1 else "") + "T"

    def _stored_item_shape(self) -> tuple[int, ...]:
        """HDF5 shape of one sample: MATLAB's dims reversed, without T."""
        rows, cols = self.image_shape
        shape = (cols, rows)
        if self.volumetric:
            shape = (self.num_planes, *shape)
        if self.num_channels > 1:
            shape = (self.num_channels, *shape)
        return shape

    def _to_stored(self, channels: list[np.ndarray]) -> np.ndarray:
        """Batch in stored order (n, [C,] [Z,] X, Y)."""
        per_channel = [a.transpose(0, 3, 2, 1) if self.volumetric else a.transpose(0, 2, 1) for a in channels]
        return per_channel[0] if self.num_channels == 1 else np.stack(per_channel, axis=1)

    def _prepare_source(self, source) -> None:
        if self.version == "5":  # refuse before reading anything
            _check_v5_size(source.sample_nbytes * source.num_samples)

    def _configure(self) -> None:
        item = self._stored_item_shape()
        if self.version == "5":
            from ._mat5 import MatrixElement, v5_header

            if self.expected_samples is not None:
                _check_v5_size(math.prod(item) * self.expected_samples * self.dtype.itemsize)
            self._v5_file = open(self.temp_path, "wb")  # noqa: SIM115 (closed in _finish/_cleanup)
            self._v5_file.write(v5_header())
            # MATLAB dims (Y, X, [Z,] [C,] T), column-major == stored order (T, [C,] [Z,] X, Y) in C order
            self._v5_movie = MatrixElement(self._v5_file, self.variable, self.dtype, (*item[::-1], 0))
            return
        import h5py

        self._file = h5py.File(self.temp_path, "w", userblock_size=512, libver="earliest")
        known = self.expected_samples
        frame_bytes = math.prod(item) * self.dtype.itemsize
        per_chunk = max(1, (1 << 20) // max(frame_bytes, 1))
        if known is not None:
            per_chunk = min(per_chunk, known)
        options: dict[str, Any] = {}
        if self.compression:
            options["compression"] = "gzip"
            if self.compression_level is not None:
                options["compression_opts"] = int(self.compression_level)
        stored_dtype = np.dtype("uint8") if self.dtype.kind == "b" else self.dtype
        self._dset = self._file.create_dataset(
            self.variable,
            shape=(known or 0, *item),
            maxshape=None if known is not None else (None, *item),
            dtype=stored_dtype,
            chunks=(per_chunk, *item),
            **options,
        )
        _matlab_class(self._dset, _MATLAB_CLASS[self.dtype.name])
        if self.dtype.kind == "b":
            self._dset.attrs.create("MATLAB_int_decode", np.int32(1))

    def _write(self, channels, timestamps, frame_metadata) -> None:
        n = channels[0].shape[0]
        a, b = self.num_samples, self.num_samples + n
        data = self._to_stored(channels)
        if self._v5_movie is not None:
            _check_v5_size(self._v5_movie.data_bytes + data.nbytes)
            self._v5_movie.append(data)
            return
        if self._dset.shape[0] < b:
            self._dset.resize(b, axis=0)
        self._dset[a:b] = data.view(np.uint8) if self.dtype.kind == "b" else data

    def _finish(self) -> None:
        times = self.timestamps()
        rate = float(self.sampling_frequency)
        if self._v5_movie is not None:
            from ._mat5 import write_small_variable

            self._v5_movie.finish((*self._stored_item_shape()[::-1], self.num_samples))
            write_small_variable(self._v5_file, "fs", np.array([[rate]]))
            write_small_variable(self._v5_file, "timestamps", times.reshape(1, -1))
            write_small_variable(self._v5_file, "dims", self.dims)
            _write_v5_char_matrix(self._v5_file, "channel_names", self._name_codes())
            self._v5_file.close()
            self._v5_file = self._v5_movie = None
            return
        f = self._file
        fs = f.create_dataset("fs", data=np.array([[rate]]))
        _matlab_class(fs, "double")
        ts = f.create_dataset("timestamps", data=times.reshape(-1, 1))  # MATLAB sees 1 x T
        _matlab_class(ts, "double")
        # MATLAB stores char arrays as uint16 code units; a 1 x N char is HDF5 shape (N, 1).
        codes = np.frombuffer(self.dims.encode("ascii"), np.uint8).astype(np.uint16)
        dims = f.create_dataset("dims", data=codes[:, None])
        _matlab_class(dims, "char")
        dims.attrs.create("MATLAB_int_decode", np.int32(2))
        # a C x L char matrix is HDF5 shape (L, C), the same reversal
        names = f.create_dataset("channel_names", data=np.ascontiguousarray(self._name_codes().T))
        _matlab_class(names, "char")
        names.attrs.create("MATLAB_int_decode", np.int32(2))
        f.flush()  # a full disk fails here, while the file can still be discarded (see _h5discard)
        f.close()
        self._file = self._dset = None
        with open(self.temp_path, "r+b") as fh:
            fh.write(matlab_header("7.3"))

    def _name_codes(self) -> np.ndarray:
        """The channel names as MATLAB's ``char()`` of a cell array: C x L UTF-16 codes, rows space-padded."""
        return char_matrix(self.channel_names or [f"channel_{i}" for i in range(self.num_channels)])

    def _cleanup(self) -> None:
        if self._v5_file is not None:
            try:
                self._v5_file.close()
            except OSError:  # flushing the buffer failed (a full disk, say); the file is removed anyway
                pass
            self._v5_file = self._v5_movie = None
        if self._file is not None:
            discard_h5file(self._file)  # the file is removed: a full disk must not fail (or crash) the close
            self._file = self._dset = None


def char_matrix(rows: list[str]) -> np.ndarray:
    """``rows`` as a ``len(rows) x L`` uint16 array of UTF-16 code units, padded with spaces (at least 1 wide)."""
    codes = [np.frombuffer(row.encode("utf-16-le"), "<u2") for row in rows]
    width = max([1, *(len(c) for c in codes)])
    out = np.full((len(rows), width), ord(" "), dtype=np.uint16)
    for i, c in enumerate(codes):
        out[i, : len(c)] = c
    return out


def _write_v5_char_matrix(fh, name: str, codes: np.ndarray) -> None:
    """A v5 ``miMATRIX`` of class char holding the 2-D ``codes`` (miUINT16, column-major)."""
    import struct

    from ._mat5 import MI_INT8, MI_INT32, MI_MATRIX, MI_UINT32, MX_CHAR, _element

    body = _element(MI_UINT32, struct.pack("<II", MX_CHAR, 0))
    body += _element(MI_INT32, struct.pack("<2i", *codes.shape))
    body += _element(MI_INT8, name.encode("ascii"))
    body += _element(_MI_UINT16, codes.astype("<u2").tobytes(order="F"))
    fh.write(struct.pack("<II", MI_MATRIX, len(body)) + body)


_MI_UINT16 = 4


def _check_v5_size(nbytes: int) -> None:
    if nbytes > MAT_V5_LIMIT:
        raise WriterError(
            f"the movie is {nbytes / 2**30:.2f} GiB; a MAT v5 variable must stay under 2 GiB: "
            "write version='7.3' (streamed, no size limit) instead"
        )


def _matlab_class(dataset: Any, name: str) -> None:
    """Set MATLAB's class attribute as the fixed-length ASCII string MATLAB writes."""
    dataset.attrs.create("MATLAB_class", np.bytes_(name))
