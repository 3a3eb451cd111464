"""MATLAB movies in .mat files: :class:`MatImagingExtractor`.

MATLAB stores arrays column-major. ``dims`` is given in MATLAB's order (``size(movie)`` of a
``Y x X x T`` movie is ``"YXT"``); the reader undoes the column-major layout, so MATLAB's ``Y x X x T``
arrives as our (T, Y, X) and ``movie(y, x, t)`` in MATLAB is ``extractor.get_series()[t-1, y-1, x-1]``.

- **v7.3** files are HDF5 behind a 512-byte header: each variable is a dataset with a ``MATLAB_class``
  attribute and its axes reversed. They are read lazily through h5py, like
  :class:`~ophysio.extractors.hdf5.reader.Hdf5ImagingExtractor`.
- **v5/v7** files are read without loading what is not asked for: their element headers are walked
  (:mod:`ophysio.extractors._matlab.v5`); an uncompressed variable stored in its class's type is read with
  positional reads (``_filearray.FileArray``), never loaded; a compressed variable (MATLAB's default
  since v7) is a single zlib stream, read from its start up to the samples asked for
  (``_matlab.v5.CompressedValues``: reading on from the last read is free, a read further back restarts from
  a saved decompressor state at most 64 MiB of output before it), so memory stays at the samples read.
  Only when time is not MATLAB's last axis (samples are then not contiguous in the stream) is a
  compressed variable decompressed whole, by :func:`scipy.io.loadmat` on first read (dropped again by
  :meth:`close`).

Which variable: ``variable`` (a struct field as ``"s.movie"`` in v7.3 files), else the first that fits
among conventional names (``mov``, ``data``, ``imaging``), then per-channel variables (``ch1``,
``ch2``...), then the largest numeric 3-D or higher array; ties are an error that lists them. The rate
is ``sampling_frequency``, else a scalar variable ``fr``, ``fs``, ``rate``, ``sampling_frequency``,
``frame_rate``, ``frameRate``.

What ophysio's own MAT writer stores next to the movie is read back (only these small variables are
read): a char variable ``dims`` (MATLAB axis order, e.g. ``'YXCT'``) is the axis order when ``dims=``
is not given, a numeric ``1 x T`` variable ``timestamps`` gives the native timestamps (checked:
length, finite, non-decreasing), and a ``C x L`` char matrix ``channel_names`` (one space-padded row per
channel of the C axis, as MATLAB's ``char()`` of a cell array) names the channels; one of another shape
or class, or whose names are empty or repeated, is ignored (channels are then ``channel_<i>``).
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CorruptFileError, FileSetError, FormatError, MetadataError, OphysioError, SelectionError
from .._contain import AllowOutside, ReferencePolicy
from .._filearray import FileArray
from .._handles import CachedFile
from .._hdf5.reads import (
    CHUNK_CACHE_BYTES,
    MAX_CHUNK_CACHE_BYTES,
    _open_h5,
    chunk_row_bytes,
    h5_read_errors,
    read_checked,
)
from .._hdf5.refs import check_dataset, check_object
from .._hdf5.storage import stored_extent_at_open
from .._matlab.v5 import CompressedValues, MatVariable, read_v5_variables
from ..axes import (
    RATE_KEYS,
    ArrayLayout,
    Candidate,
    LayoutFacts,
    channel_count,
    channel_names_from,
    checked_timestamps,
    choose_stream,
    parse_dims,
)
from ..imaging import ImagingExtractor, checked_rate

__all__ = ["MatImagingExtractor"]

_V73_NUMERIC = {"double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
                "logical"}
#: Small variables our MAT writer stores beside the movie, read back when present.
_EXTRAS = ("dims", "timestamps", "channel_names")
#: Most characters of a ``channel_names`` char matrix read (a larger one is someone else's variable).
_MAX_NAME_CHARS = 1 << 16
#: Longest char variable read as an axis order.
_MAX_DIMS_CHARS = 16


def _matlab_class(obj) -> str:
    value = obj.attrs.get("MATLAB_class", b"")
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


class MatImagingExtractor(LayoutFacts, ImagingExtractor):
    """A movie stored as a variable of a MATLAB .mat file (v5/v7 or v7.3).

    Parameters
    ----------
    file_path : str or os.PathLike
        The .mat file.
    variable : str, optional
        Name of the variable; discovered when omitted.
    dims : str, optional
        Axis order in MATLAB's order (``"YXT"``, ``"YXCT"``, ``"YXZT"``...; letters T time, Y rows,
        X columns, Z planes, C channels). Default: the file's char variable ``dims`` (as ophysio's
        writer stores it), else ``"YXT"`` for 3-D variables; 4-D and 5-D need one of them.
    sampling_frequency : float, optional
        Frames per second; required when the file holds no rate variable.
    channel_name : str, optional
        A name from the file's ``channel_names`` char matrix (as ophysio's writer stores it), else
        ``"channel_<i>"`` of a C axis; or the variable name of per-channel variables.
    channel_index : int, optional
        The channel by position.
    plane_index : int, optional
        Read one plane of a Z axis as planar data.
    allow_outside : bool, folder or list of folders
        Where the HDF5 part of a v7.3 file may refer to other files (external links, virtual dataset
        sources, external raw storage): by default only inside the folder of ``file_path``; True allows
        any file, folders allow those too. A reference elsewhere is a
        :class:`~ophysio.errors.ContainmentError`.
    """

    format_id = "mat"
    extractor_name = "MatImaging"

    def __init__(
        self,
        file_path: str | os.PathLike,
        variable: str | None = None,
        dims: str | None = None,
        sampling_frequency: float | None = None,
        channel_name: str | None = None,
        channel_index: int | None = None,
        plane_index: int | None = None,
        allow_outside: AllowOutside = False,
    ):
        super().__init__()
        self._file_path = os.fspath(file_path)
        path = Path(self._file_path)
        if not path.is_file():
            raise FileSetError(f"{self._file_path} does not exist or is not a file")
        self._references = ReferencePolicy.for_dataset(path.parent, allow_outside, path)
        with open(path, "rb") as fh:
            header = fh.read(128)
        if header.startswith(b"MATLAB 7.3"):
            self._version = "7.3"
        elif header.startswith(b"MATLAB 5.0"):
            self._version = "5.0"
        else:
            raise FormatError(
                f"{self._file_path} has no 'MATLAB 5.0' or 'MATLAB 7.3' MAT-file header (MATLAB v4 files and "
                f"other formats are not read; save with -v7 or -v7.3)"
            )
        self._header = header[:116].rstrip(b" \x00").decode("latin-1")
        # v5 chars stored as miUINT16 are UTF-16 code units in the file's byte order ('MI': big-endian)
        self._utf16 = "utf-16-be" if header[126:128] == b"MI" else "utf-16-le"
        self._file: CachedFile | None = None
        self._memmap: FileArray | None = None
        self._array: np.ndarray | None = None
        self._values: CompressedValues | None = None
        self._extras: dict[str, tuple[str, tuple[int, ...], bool]] = {}  # name -> (class, MATLAB shape, numeric)
        self._native_times: np.ndarray | None = None
        if channel_name is not None and channel_index is not None:
            raise SelectionError("give channel_name or channel_index, not both")
        if self._version == "7.3":
            self._file = CachedFile(self._file_path, _open_h5)
            try:
                with self._file.open() as h5, h5_read_errors(f"{self._file_path}: its HDF5 part"):
                    found, variables, rate = self._setup_v73(h5, variable)
            except OphysioError:  # a ContainmentError is an OSError too: not to be taken for a damaged file
                self._file.close()
                raise
            except OSError as exc:
                self._file.close()
                raise FormatError(f"{self._file_path}: MAT v7.3 file whose HDF5 part cannot be read: {exc}") from exc
            except Exception:
                self._file.close()
                raise
        else:
            found, variables, rate = self._setup_v5(variable)
        self._finish(found, variables, rate, dims, sampling_frequency, channel_name, channel_index, plane_index)

    # ------------------------------------------------------------------ set-up
    def _choose(self, candidates: list[Candidate], variable: str | None, listing: list[str]) -> dict[str, Candidate]:
        if variable is not None:
            match = [c for c in candidates if c.path == variable]
            if not match:
                raise SelectionError(
                    f"{self._file_path} has no numeric 3-D or higher variable {variable!r}; variables: "
                    + (", ".join(listing) or "none")
                )
            return {"": match[0]}
        return choose_stream(candidates, self._file_path, "variable").channels

    def _setup_v73(self, h5, variable: str | None):
        import h5py

        candidates: list[Candidate] = []
        listing: list[str] = []
        rate = None

        def visit(name: str, obj: Any) -> None:
            nonlocal rate
            # h5py gives names that are not UTF-8 as bytes: no MATLAB variable has one, and none can be asked for
            if isinstance(name, bytes) or name.startswith("#") or not isinstance(obj, h5py.Dataset):
                return
            cls = _matlab_class(obj)
            matlab_name = name.replace("/", ".")
            listing.append(f"{matlab_name} {'x'.join(map(str, obj.shape[::-1]))} {cls}")
            if name in _EXTRAS:
                numeric = cls in _V73_NUMERIC and cls != "logical" and obj.dtype.kind in "iuf"
                self._extras[name] = (cls, tuple(obj.shape[::-1]), numeric)
            if cls not in _V73_NUMERIC or obj.dtype.kind not in "iufb":
                return
            if obj.ndim >= 3:
                candidates.append(Candidate(matlab_name, tuple(obj.shape[::-1]), obj.dtype))
            elif rate is None and obj.size == 1 and name in RATE_KEYS:
                check_dataset(obj, self._references, self._file_path)
                rate = (float(np.asarray(obj[()]).ravel()[0]), f"variable {name}")

        h5.visititems(visit)  # in the constructor's h5_read_errors: damage there is a CorruptFileError
        variable = variable.replace("/", ".") if variable is not None else None
        chosen = self._choose(candidates, variable, listing)
        for candidate in chosen.values():  # before any of their values is read
            check_object(h5, candidate.path.replace(".", "/"), self._references, self._file_path)
        return chosen, listing, rate

    def _setup_v5(self, variable: str | None):
        order, variables = read_v5_variables(self._file_path)
        self._v5 = {v.name: v for v in variables}
        listing = [f"{v.name} {'x'.join(map(str, v.shape))} {v.matlab_class}" for v in variables]
        self._extras = {v.name: (v.matlab_class, tuple(v.shape), v.numeric and v.matlab_class != "logical")
                        for v in variables if v.name in _EXTRAS}
        candidates = [Candidate(v.name, v.shape, v.dtype) for v in variables if v.numeric and len(v.shape) >= 3]
        rate = None
        for key in RATE_KEYS:
            var = self._v5.get(key)
            if var is not None and var.numeric and math.prod(var.shape) == 1:
                rate = (float(self._read_small(key).ravel()[0]), f"variable {key}")
                break
        return self._choose(candidates, variable, listing), listing, rate

    def _finish(self, found, listing, rate, dims, sampling_frequency, channel_name, channel_index, plane_index):
        per_channel = "" not in found
        first = next(iter(found.values()))
        where = f"variable {first.path} ({'x'.join(map(str, first.shape))}) in {self._file_path}"
        dims_source = "given"
        if dims is None:
            dims = self._stored_dims()
            dims_source = "variable dims"
        if dims is None:
            if len(first.shape) != 3:
                raise MetadataError(
                    f"the axis order of {where} is unknown: pass dims= in MATLAB order (e.g. 'YXCT', 'YXZT')"
                )
            dims, dims_source = "YXT", "default for 3-D variables"
        try:
            matlab_dims = parse_dims(dims, len(first.shape), where)
        except MetadataError as exc:
            if dims_source != "variable dims":
                raise
            raise MetadataError(
                f"{self._file_path}: its char variable 'dims' ({dims!r}) does not fit {where} ({exc}); "
                f"pass dims= in MATLAB order"
            ) from exc
        if per_channel:
            if "C" in matlab_dims:
                raise MetadataError(f"{where} is one of per-channel variables; its dims cannot have a C axis")
            names = list(found)
            index = self._position(names, channel_name, channel_index)
            chosen, layout_channel = found[names[index]], 0
        else:
            count = channel_count(first.shape, matlab_dims, where)
            names = self._stored_channel_names(count) or [f"channel_{i}" for i in range(count)]
            index = layout_channel = self._position(names, channel_name, channel_index)
            chosen = first
        self._variable = chosen.path
        self._channel_names = tuple(names)
        self._channel_name = names[index]
        self._dtype = np.dtype(chosen.dtype)
        # stored (C-order) view of a column-major array: every axis reversed
        self._layout = ArrayLayout(matlab_dims[::-1], tuple(chosen.shape[::-1]), layout_channel,
                                   None if plane_index is None else int(plane_index), where)
        self._matlab_dims = matlab_dims
        self._metadata: dict[str, Any] = {
            "version": self._version,
            "header": self._header,
            "variable": chosen.path,
            "matlab_dims": matlab_dims,
            "dims_source": dims_source,
            "matlab_shape": tuple(chosen.shape),
            "variables": listing,
        }
        self._native_times = self._stored_timestamps()
        if self._native_times is not None:
            self._metadata["timestamps_source"] = "variable timestamps"
        if self._version == "7.3":
            self._size_chunk_cache()
        if self._version == "5.0":
            info = self._v5[chosen.path]
            if info.data_offset is not None:
                storage = "memory-mapped"
            elif self._streamable(info):
                storage = "compressed: decompressed up to the samples read"
            elif info.compressed:
                storage = "compressed: decompressed into memory on first read"
            else:
                storage = "loaded on first read"
            self._metadata["storage"] = storage
        if sampling_frequency is None and rate is not None:
            sampling_frequency, self._metadata["sampling_frequency_source"] = rate
        if sampling_frequency is None:
            self._sampling_frequency = self._rate_unknown(
                f"no sampling rate in {self._file_path} (no scalar variable {', '.join(RATE_KEYS)})")
        else:
            self._sampling_frequency = checked_rate(sampling_frequency)

    def _read_small(self, name: str) -> np.ndarray:
        """The values of a small top-level variable (``dims``, ``timestamps``), in MATLAB's shape."""
        if self._version == "7.3":
            with self._file.open() as h5:
                with h5_read_errors(f"{self._file_path}: the links to variable {name}"):
                    check_object(h5, name, self._references, self._file_path)
                try:
                    return np.asarray(h5[name][()]).T  # HDF5 lists MATLAB's axes reversed
                except (OSError, KeyError, TypeError, ValueError) as exc:
                    raise CorruptFileError(f"{self._file_path}: variable {name} cannot be read: {exc}") from exc
        from scipy.io import loadmat

        try:
            return np.asarray(loadmat(self._file_path, variable_names=[name], chars_as_strings=False,
                                      uint16_codec=self._utf16)[name])
        except Exception as exc:  # scipy raises many types for damaged elements
            raise CorruptFileError(f"{self._file_path}: variable {name} cannot be read: {exc}") from exc

    def _stored_dims(self) -> str | None:
        """MATLAB axis order from the file's char variable ``dims`` (as our writer stores it), or None."""
        info = self._extras.get("dims")
        if info is None or info[0] != "char":
            return None  # a numeric `dims` (e.g. sizes) is someone else's variable
        shape = info[1]
        if math.prod(shape) > _MAX_DIMS_CHARS or sum(n != 1 for n in shape) > 1:
            raise MetadataError(
                f"{self._file_path}: its char variable 'dims' is {'x'.join(map(str, shape))}, not an axis order "
                f"such as 'YXT': pass dims= in MATLAB order"
            )
        value = self._read_small("dims")
        if value.dtype.kind in "iu":  # v7.3: UTF-16 code units
            return "".join(chr(int(code)) for code in value.ravel())
        return "".join(str(part) for part in value.ravel())

    def _stored_channel_names(self, count: int) -> list[str] | None:
        """Names from the file's char matrix ``channel_names`` when it has ``count`` usable rows, else None."""
        info = self._extras.get("channel_names")
        if info is None or info[0] != "char":
            return None
        shape = info[1]
        if len(shape) != 2 or shape[0] != count or math.prod(shape) > _MAX_NAME_CHARS:
            return None  # checked before reading anything
        value = self._read_small("channel_names")
        if value.shape != tuple(shape):
            return None
        if value.dtype.kind in "iu":  # v7.3: UTF-16 code units
            if value.size and (value.min() < 0 or value.max() > 0xFFFF):
                return None
            rows = [row.astype("<u2").tobytes().decode("utf-16-le", "replace") for row in value]
        elif value.dtype.kind == "U":  # v5, read one character per element
            rows = ["".join(row) for row in value]
        else:
            return None
        return channel_names_from([row.rstrip(" ") for row in rows], count)

    def _stored_timestamps(self) -> np.ndarray | None:
        """The file's ``timestamps`` variable (as our writer stores it), checked against the movie, or None."""
        info = self._extras.get("timestamps")
        if info is None:
            return None
        cls, shape, numeric = info
        where = f"{self._file_path}: variable timestamps ({'x'.join(map(str, shape))} {cls})"
        if not numeric:
            return None  # a cell, char or logical `timestamps` is someone else's variable: kept as now
        samples = self._layout.num_samples
        if sum(n != 1 for n in shape) > 1 or math.prod(shape) != samples:  # checked before reading anything
            raise MetadataError(f"{where} does not hold one time per sample: the movie has {samples} samples")
        return checked_timestamps(self._read_small("timestamps"), samples, where)

    def _get_native_timestamps(self) -> np.ndarray | None:
        return self._native_times

    def _size_chunk_cache(self) -> None:
        """Compressed chunks spanning several frames: hold a time-row of them (as the HDF5 reader does).

        Also checks once how the variable is stored (damaged filter masks, never-written chunks, where its
        values end), as the HDF5 reader does.
        """
        with self._file.open() as h5, h5_read_errors(f"{self._file_path}: variable {self._variable}"):
            dset = h5[self._variable.replace(".", "/")]
            self._extent = stored_extent_at_open(h5, dset, self._file_path, f"variable {self._variable}",
                                                 self._layout.dims.index("T"),
                                                 f"{self._file_path}: variable {self._variable}")
            filtered = dset.chunks is not None and dset.id.get_create_plist().get_nfilters() > 0
            row = chunk_row_bytes(tuple(dset.shape), dset.chunks, self._layout.dims.index("T"), dset.dtype.itemsize)
        if filtered and row > CHUNK_CACHE_BYTES:
            cache = min(int(row * 1.05) + 1024**2, MAX_CHUNK_CACHE_BYTES)
            self._file.close()
            self._file = CachedFile(self._file_path, functools.partial(_open_h5, rdcc_nbytes=cache))

    def _position(self, names: list[str], channel_name, channel_index) -> int:
        if channel_name is not None:
            if channel_name not in names:
                raise SelectionError(f"channel {channel_name!r} is not one of {names} in {self._file_path}")
            return names.index(channel_name)
        index = 0 if channel_index is None else int(channel_index)
        if not 0 <= index < len(names):
            raise SelectionError(f"channel_index {index} is out of range for the channels {names}")
        return index

    # ------------------------------------------------------------------ facts
    def get_metadata(self) -> dict:
        """MAT version, header text, the variable read, its MATLAB dims and shape, and all variables."""
        return dict(self._metadata)

    @property
    def variable(self) -> str:
        """Name of the variable read."""
        return self._variable

    # ------------------------------------------------------------------ reading
    def _streamable(self, info: MatVariable) -> bool:
        """Whether a compressed variable can be read in slabs: located values, time its stored first axis."""
        return info.stream is not None and self._layout.dims[0] == "T"

    def _v5_source(self) -> np.ndarray | CompressedValues:
        info: MatVariable = self._v5[self._variable]
        stored_shape = tuple(info.shape[::-1])
        if info.data_offset is not None:
            if self._memmap is None:  # positional reads, not a memory map: a file cut short is an error, not SIGBUS
                self._memmap = FileArray(CachedFile(self._file_path), info.data_offset, info.dtype, stored_shape,
                                         f"variable {self._variable}")
            return self._memmap
        if self._streamable(info):
            if self._values is None:
                self._values = CompressedValues(self._file_path, info.stream, stored_shape, info.name)
            return self._values
        if self._array is None:
            from scipy.io import loadmat

            try:
                value = loadmat(self._file_path, variable_names=[self._variable], mat_dtype=True,
                                squeeze_me=False, chars_as_strings=False)[self._variable]
                value = np.asarray(value)
                if value.shape != tuple(info.shape):
                    value = value.reshape(info.shape, order="F")
            except Exception as exc:  # scipy raises zlib.error, ValueError, TypeError... for damaged elements
                raise CorruptFileError(f"{self._file_path}: variable {self._variable} cannot be read: {exc}") from exc
            self._array = value.T.astype(self._dtype, copy=False)  # C-order view: axes reversed
        return self._array

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        if self._version == "7.3":
            with h5_read_errors(f"{self._file_path}: samples {start}:{stop} of variable {self._variable}"), \
                    self._file.open() as h5:  # reopening a file cut short is an error too
                read_checked(h5, h5[self._variable.replace(".", "/")], self._extent, self._layout, start, stop, out)
        else:
            self._layout.read(self._v5_source(), start, stop, out)

    def close(self) -> None:
        if self._memmap is not None:
            self._memmap.file.close()
        self._memmap = None
        self._array = None
        if self._values is not None:
            self._values.close()
            self._values = None
        super().close()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_memmap"] = None
        state["_array"] = None
        state["_values"] = None
        return state
