"""Synthetic raw binary, suite2p, HDF5 and MATLAB movies, laid out as the writing software documents.

- Raw binary: an optional header of any bytes, then the values in the stored axis order of a
  :class:`~ophysio.extractors.binary.VideoStructure`.
- suite2p: ``suite2p/plane<i>/ops.npy`` (a pickled dict, as suite2p saves it) beside ``data.bin``
  (registered, int16, frames of Ly x Lx in C order) and ``data_chan2.bin`` for the second channel;
  ``data_raw.bin`` / ``data_raw_chan2.bin`` when raw movies are kept.
- CaImAn HDF5: dataset ``mov`` of shape (frames, rows, columns) with the rate in its ``fr`` attribute
  (and the other attributes CaImAn's ``movie.save`` writes).
- MATLAB v7.3: an HDF5 file behind a 512-byte user block whose first 128 bytes are the MAT header
  text; each variable is a dataset with a ``MATLAB_class`` attribute, its axes reversed (MATLAB is
  column-major, so a MATLAB ``Y x X x T`` array is stored with HDF5 shape (T, X, Y)).
- MATLAB v5: written by :func:`scipy.io.savemat` (optionally compressed).

Pixel values come from :func:`ophysio.examples.movie`; channel ``c`` uses ``channel=c``
and suite2p plane ``p`` uses ``seed=p``.
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "write_raw_binary",
    "write_suite2p",
    "write_caiman_hdf5",
    "write_mat_v73",
    "write_mat_v5",
    "matlab_movie",
]


def _movie(*args, **kwargs) -> np.ndarray:
    from .movie import movie

    return movie(*args, **kwargs)


def write_raw_binary(
    path: str | os.PathLike,
    num_frames: int = 20,
    rows: int = 16,
    columns: int = 12,
    num_channels: int = 1,
    num_planes: int = 1,
    dtype: str = "<u2",
    header: bytes = b"",
    axes: Sequence[str] = ("frames", "rows", "columns", "channels"),
) -> Path:
    """Write a raw movie after ``header``; return its path.

    ``axes`` lists the stored axes from slowest to fastest (names ``frames``, ``rows``, ``columns``,
    ``channels`` and optionally ``planes``). Channel ``c`` holds ``movie(..., channel=c)`` as
    (frames, rows, columns[, planes]).
    """
    dtype = np.dtype(dtype)
    planes = num_planes if num_planes > 1 or "planes" in axes else None
    native = dtype.newbyteorder("=")
    channels = [_movie(num_frames, rows, columns, planes, native, channel=c) for c in range(num_channels)]
    canonical = ["frames", "rows", "columns", *(["planes"] if planes is not None else []), "channels"]
    data = np.stack(channels, axis=-1)
    data = data.transpose([canonical.index(name) for name in axes]).astype(dtype)
    path = Path(path)
    with open(path, "wb") as fh:
        fh.write(header)
        fh.write(np.ascontiguousarray(data).tobytes())
    return path


def _suite2p_ops(folder: Path, plane: int, num_planes: int, num_channels: int, frames: int, rows: int,
                 columns: int, rate: float, raw: bool, template: dict | None) -> dict:
    ops = dict(template) if template else {}
    ops.update(
        {
            "Ly": ops.get("Ly", rows),
            "Lx": ops.get("Lx", columns),
            "nframes": ops.get("nframes", frames),
            "fs": ops.get("fs", rate),
            "nplanes": ops.get("nplanes", num_planes),
            "nchannels": ops.get("nchannels", num_channels),
        }
    )
    if template is None:
        ops.update(
            {
                "save_path": str(folder),
                "reg_file": str(folder / "data.bin"),
                "functional_chan": 1,
                "align_by_chan": 1,
                "keep_movie_raw": raw,
                "xrange": [0, columns],
                "yrange": [0, rows],
                "meanImg": np.zeros((rows, columns), dtype=np.float32),
            }
        )
        if num_channels > 1:
            ops["reg_file_chan2"] = str(folder / "data_chan2.bin")
        if raw:
            ops["raw_file"] = str(folder / "data_raw.bin")
            if num_channels > 1:
                ops["raw_file_chan2"] = str(folder / "data_raw_chan2.bin")
    return ops


def suite2p_plane_movie(plane: int, channel: int, frames: int, rows: int, columns: int) -> np.ndarray:
    """The int16 movie the suite2p writer stores for ``plane`` and ``channel`` (0-based)."""
    return _movie(frames, rows, columns, None, "int16", channel=channel, seed=plane)


def write_suite2p(
    folder: str | os.PathLike,
    num_frames: int = 20,
    rows: int = 16,
    columns: int = 24,
    num_planes: int = 2,
    num_channels: int = 2,
    sampling_frequency: float = 10.0,
    raw: bool = False,
    template_ops: Sequence[dict] | None = None,
) -> Path:
    """Write a suite2p output folder ``folder/suite2p/plane<i>``; return the ``suite2p`` folder.

    ``template_ops`` (one dict per plane, e.g. real ops loaded from a suite2p run) are kept whole,
    with their Ly, Lx, nframes and fs deciding the binaries' size; their stored paths are left as they
    are (they usually point at another machine). The registered movies are always written; the raw
    ones (``data_raw*.bin``) when ``raw`` is true. The raw movie of plane ``p`` channel ``c`` holds
    the registered values + 1.
    """
    root = Path(folder) / "suite2p"
    if template_ops is not None:
        num_planes = len(template_ops)
    for plane in range(num_planes):
        plane_folder = root / f"plane{plane}"
        plane_folder.mkdir(parents=True, exist_ok=True)
        template = dict(template_ops[plane]) if template_ops is not None else None
        ops = _suite2p_ops(plane_folder, plane, num_planes, num_channels, num_frames, rows, columns,
                           sampling_frequency, raw, template)
        channels = int(ops["nchannels"])
        for channel in range(channels):
            data = suite2p_plane_movie(plane, channel, int(ops["nframes"]), int(ops["Ly"]), int(ops["Lx"]))
            suffix = "_chan2" if channel else ""
            data.astype("<i2").tofile(plane_folder / f"data{suffix}.bin")
            if raw:
                (data + np.int16(1)).astype("<i2").tofile(plane_folder / f"data_raw{suffix}.bin")
        np.save(plane_folder / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    return root


def write_caiman_hdf5(
    path: str | os.PathLike,
    num_frames: int = 30,
    rows: int = 16,
    columns: int = 20,
    sampling_frequency: float = 30.0,
    dtype: str = "float32",
    chunks: tuple[int, int, int] | bool | None = None,
    compression: str | None = None,
) -> Path:
    """Write a CaImAn-style movie: dataset ``mov`` (frames, rows, columns) with ``fr``, ``start_time``,
    ``file_name`` and a pickled ``meta_data`` attribute (as ``caiman.movie.save`` does; readers must
    never unpickle it)."""
    import h5py

    path = Path(path)
    with h5py.File(path, "w") as f:
        data = _movie(num_frames, rows, columns, None, dtype)
        dset = f.create_dataset("mov", data=data, chunks=chunks, compression=compression)
        dset.attrs["fr"] = float(sampling_frequency)
        dset.attrs["start_time"] = 0.0
        dset.attrs["file_name"] = [b"synthetic.tif"]
        dset.attrs["meta_data"] = np.void(pickle.dumps({"synthetic": True}))
    return path


def matlab_movie(num_frames: int, rows: int, columns: int, dims: str = "YXT", num_channels: int = 1,
                 num_planes: int = 1, dtype: str = "uint16") -> np.ndarray:
    """The array MATLAB would hold, axes in MATLAB order ``dims`` (letters Y, X, T, C, Z).

    Channel ``c`` holds ``movie(..., channel=c)``; planes are the ``planes`` axis of that movie.
    """
    planes = num_planes if "Z" in dims else None
    channels = [_movie(num_frames, rows, columns, planes, dtype, channel=c) for c in range(num_channels)]
    canonical = "TYX" + ("Z" if planes is not None else "") + "C"
    data = np.stack(channels, axis=-1)
    if "C" not in dims:
        if num_channels != 1:
            raise ValueError("dims without C can hold only one channel")
        data = data[..., 0]
        canonical = canonical[:-1]
    return data.transpose([canonical.index(letter) for letter in dims])


def _mat_header(version: bytes) -> bytes:
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(0))
    text = f"MATLAB {version.decode()} MAT-file, Platform: GLNXA64, Created on: {stamp} HDF5 schema 1.00 .".encode()
    return text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"


def write_mat_v73(
    path: str | os.PathLike,
    variables: dict[str, np.ndarray] | None = None,
    num_frames: int = 12,
    rows: int = 16,
    columns: int = 20,
    dims: str = "YXT",
    num_channels: int = 1,
    dtype: str = "uint16",
    chunks: bool | None = None,
) -> Path:
    """Write a MATLAB v7.3 MAT-file; return its path.

    ``variables`` maps names to arrays in MATLAB order (default: ``{"movie": matlab_movie(...)}``).
    Each is stored transposed (HDF5 shape reversed), with ``MATLAB_class`` set from its dtype.
    """
    import h5py

    classes = {"u1": "uint8", "u2": "uint16", "u4": "uint32", "u8": "uint64", "i1": "int8", "i2": "int16",
               "i4": "int32", "i8": "int64", "f4": "single", "f8": "double", "b1": "logical"}
    if variables is None:
        variables = {"movie": matlab_movie(num_frames, rows, columns, dims, num_channels, dtype=dtype)}
    path = Path(path)
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            value = np.asarray(value)
            stored = np.ascontiguousarray(value.transpose(range(value.ndim)[::-1]))
            dset = f.create_dataset(name, data=stored, chunks=chunks)
            dset.attrs["MATLAB_class"] = np.bytes_(classes[value.dtype.str[1:]])
    with open(path, "r+b") as fh:
        fh.write(_mat_header(b"7.3"))
    return path


def write_mat_v5(
    path: str | os.PathLike,
    variables: dict[str, np.ndarray] | None = None,
    num_frames: int = 12,
    rows: int = 16,
    columns: int = 20,
    dims: str = "YXT",
    num_channels: int = 1,
    dtype: str = "uint16",
    compressed: bool = False,
) -> Path:
    """Write a MATLAB v5 MAT-file with :func:`scipy.io.savemat`; arrays are given in MATLAB order."""
    from scipy.io import savemat

    if variables is None:
        variables = {"movie": matlab_movie(num_frames, rows, columns, dims, num_channels, dtype=dtype)}
    path = Path(path)
    savemat(path, variables, do_compression=compressed, oned_as="column")
    return path


def _example_binary(folder: Path) -> tuple[Path, dict]:
    from ophysio.extractors.binary import VideoStructure

    path = write_raw_binary(folder / "example_movie.bin", 100, 64, 64, header=b"RAW1" + bytes(60))
    return path, {"video_structure": VideoStructure(num_rows=64, num_columns=64), "sampling_frequency": 30.0,
                  "dtype": "<u2", "offset": 64}  # open with format="binary": raw binary is never sniffed


def _example_suite2p(folder: Path) -> tuple[Path, dict]:
    return write_suite2p(folder, num_frames=50, rows=64, columns=64), {}


def _example_caiman(folder: Path) -> tuple[Path, dict]:
    return write_caiman_hdf5(folder / "example_caiman.h5", 100, 64, 64), {}


def _example_mat(folder: Path) -> tuple[Path, dict]:
    return write_mat_v73(folder / "example_movie.mat", num_frames=50, rows=64, columns=64), {"sampling_frequency": 30.0}


#: Built-in examples of this module (see :func:`ophysio.examples.write_example`).
EXAMPLES = {
    "binary": _example_binary,
    "suite2p": _example_suite2p,
    "caiman_hdf5": _example_caiman,
    "mat_v73": _example_mat,
}
