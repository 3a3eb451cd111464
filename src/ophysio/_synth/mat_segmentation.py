"""Synthetic EXTRACT and CNMF-E results, as MATLAB saves them with ``save(..., '-v7.3')``.

A v7.3 MAT-file is HDF5 behind a 512-byte user block that starts with the ``MATLAB 7.3 MAT-file`` text.
:func:`write_mat_v73_tree` writes MATLAB values the way MATLAB stores them:

- numeric arrays (given in MATLAB's axis order) transposed, ``MATLAB_class`` from the dtype (``double``,
  ``single``...); Python numbers as ``1 x 1`` doubles; a 1-D array as a ``1 x N`` row;
- ``bool`` arrays as ``logical`` (``uint8``, ``MATLAB_int_decode`` 1); ``str`` as ``char`` (UTF-16 code units,
  ``1 x N`` stored ``(N, 1)``, ``MATLAB_int_decode`` 2);
- ``dict`` as a struct: a group with ``MATLAB_class`` ``struct`` and the field names in ``MATLAB_fields``;
- ``None`` or an array with a zero dimension as MATLAB's empty: a ``uint64`` dataset of its dimensions
  marked ``MATLAB_empty``;
- a scipy sparse matrix as a MATLAB sparse matrix: a group marked ``MATLAB_sparse`` (the row count) with
  ``data``, ``ir`` (0-based rows) and ``jc`` (column pointers), both indices ``uint64`` (a matrix of zeros
  has ``jc`` only);
- :class:`MatObject` as a classdef object: a ``uint32`` reference marked with the class name and
  ``MATLAB_object_decode`` 3 (its contents live in MATLAB's opaque ``#subsystem#`` store, not written here).

:func:`write_extract_segmentation` writes EXTRACT's ``output`` struct (``spatial_weights`` ``h x w x K``,
``temporal_weights`` ``T x K``, ``info``, ``config``) or CIAtah's older ``extractAnalysisOutput`` (``filters``,
``traces`` ``K x T``, ``info``, ``config``, ``time``, ``file``); :func:`write_cnmfe_segmentation` writes the
struct of a CNMF-E ``Sources2D`` (``A`` ``d x K`` sparse or dense, ``C``, ``C_raw``, ``S``, ``Cn``, ``options``,
``Fs``, ``tags``...) or CIAtah's ``cnmfeAnalysisOutput``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_mat_v73_tree", "MatObject", "write_extract_segmentation", "write_cnmfe_segmentation",
           "cell_footprints"]

_CLASSES = {"u1": "uint8", "u2": "uint16", "u4": "uint32", "u8": "uint64", "i1": "int8", "i2": "int16",
            "i4": "int32", "i8": "int64", "f4": "single", "f8": "double"}


@dataclass(frozen=True)
class MatObject:
    """A classdef object (``Sources2D``...) as MATLAB stores it in a v7.3 file: an opaque reference."""

    class_name: str


def _header() -> bytes:
    from .binary import _mat_header

    return _mat_header(b"7.3")


def _set_class(obj, name: str) -> None:
    obj.attrs["MATLAB_class"] = np.bytes_(name)


def _write_value(parent, name: str, value: Any, compress: bool) -> None:
    import h5py
    import scipy.sparse

    if isinstance(value, dict):
        group = parent.create_group(name)
        _set_class(group, "struct")
        fields = np.empty(len(value), dtype=object)
        for i, key in enumerate(value):
            fields[i] = np.array(list(key), dtype="S1")
        group.attrs.create("MATLAB_fields", fields, dtype=h5py.vlen_dtype(np.dtype("S1")))
        for key, item in value.items():
            _write_value(group, key, item, compress)
        return
    if isinstance(value, MatObject):
        dset = parent.create_dataset(name, data=np.array([[3707764736], [2], [1], [1], [1], [1]], dtype=np.uint32).T)
        _set_class(dset, value.class_name)
        dset.attrs["MATLAB_object_decode"] = np.int32(3)
        return
    if scipy.sparse.issparse(value):
        matrix = scipy.sparse.csc_matrix(value)
        matrix.sort_indices()
        group = parent.create_group(name)
        _set_class(group, "logical" if matrix.dtype == bool else "double")
        group.attrs["MATLAB_sparse"] = np.uint64(matrix.shape[0])
        data = matrix.data.astype(np.uint8 if matrix.dtype == bool else np.float64)
        if matrix.nnz:  # a matrix of zeros has its column pointers only
            group.create_dataset("data", data=data)
            group.create_dataset("ir", data=matrix.indices.astype(np.uint64))
        group.create_dataset("jc", data=matrix.indptr.astype(np.uint64))
        return
    if value is None or (isinstance(value, np.ndarray) and 0 in value.shape):
        dims = (0, 0) if value is None else value.shape
        dset = parent.create_dataset(name, data=np.array(dims, dtype=np.uint64))
        _set_class(dset, "char" if value is None else _CLASSES.get(value.dtype.str[1:], "double"))
        dset.attrs["MATLAB_empty"] = np.uint8(1)
        return
    if isinstance(value, str):
        codes = np.array([ord(c) for c in value], dtype=np.uint16).reshape(-1, 1)
        if not len(codes):
            _write_value(parent, name, np.zeros((0, 0)), compress)
            _set_class(parent[name], "char")
            return
        dset = parent.create_dataset(name, data=codes)
        _set_class(dset, "char")
        dset.attrs["MATLAB_int_decode"] = np.int32(2)
        return
    array = np.asarray(value)
    if array.ndim == 0:
        array = array.reshape(1, 1)
    elif array.ndim == 1:
        array = array.reshape(1, -1)
    if array.dtype == bool:
        stored = np.ascontiguousarray(array.transpose(range(array.ndim)[::-1]).astype(np.uint8))
        dset = parent.create_dataset(name, data=stored)
        _set_class(dset, "logical")
        dset.attrs["MATLAB_int_decode"] = np.int32(1)
        return
    if array.dtype.kind in "iu" and not isinstance(value, np.ndarray):
        array = array.astype(np.float64)  # a Python number is a MATLAB double
    stored = np.ascontiguousarray(array.transpose(range(array.ndim)[::-1]))
    big = compress and stored.size >= 1024
    dset = parent.create_dataset(name, data=stored, compression="gzip" if big else None,
                                 chunks=True if big else None)
    _set_class(dset, _CLASSES[array.dtype.str[1:]])


def write_mat_v73_tree(path: str | os.PathLike, variables: dict[str, Any], compress: bool = True) -> Path:
    """Write MATLAB values (see the module documentation) as the variables of a v7.3 MAT-file; return its path."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512, libver="earliest") as f:
        for name, value in variables.items():
            _write_value(f, name, value, compress)
    with open(path, "r+b") as fh:
        fh.write(_header())
    return path


def cell_footprints(rows: int, columns: int, cells: int, seed: int = 0, radius: float = 2.5) -> np.ndarray:
    """``rows x columns x cells`` footprints: a Gaussian blob per cell cut at 5% of its peak (zeros elsewhere),
    the blobs placed off-centre so that a transposed image would not look the same."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:columns]
    out = np.zeros((rows, columns, cells), dtype=np.float32)
    for k in range(cells):
        cy, cx = rng.uniform(1, rows - 2), rng.uniform(1, columns * 0.6)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2)) * rng.uniform(0.5, 1.5)
        blob[blob < 0.05 * blob.max()] = 0
        out[:, :, k] = blob
    return out


def _traces(cells: int, frames: int, seed: int) -> np.ndarray:
    """``cells x frames`` calcium-like traces (decaying transients on noise)."""
    rng = np.random.default_rng(seed + 100)
    spikes = (rng.random((cells, frames)) < 0.05) * rng.uniform(0.5, 2, (cells, frames))
    trace = np.zeros((cells, frames))
    for t in range(frames):
        trace[:, t] = (0.9 * trace[:, t - 1] if t else 0) + spikes[:, t]
    return trace + rng.normal(0, 0.05, (cells, frames))


def _extract_config(preprocess: bool) -> dict:
    return {"avg_cell_radius": 3.0, "preprocess": bool(preprocess), "trace_output_option": "raw",
            "cellfind_filter_type": "none", "num_partitions_x": 1.0, "num_partitions_y": 1.0,
            "is_pixel_valid": None, "thresholds": {"T_min_snr": 10.0, "spatial_corrupt_thresh": 1.5}}


def write_extract_segmentation(
    path: str | os.PathLike,
    layout: str = "new",
    rows: int = 24,
    columns: int = 20,
    cells: int = 5,
    frames: int = 60,
    seed: int = 0,
    preprocess: bool = True,
    bad: tuple[int, ...] = (),
    images: bool = True,
    struct_name: str | None = None,
    total_time: float | None = 4.0,
) -> Path:
    """Write an EXTRACT run: ``layout="new"`` is EXTRACT's ``output`` struct (``spatial_weights`` ``h x w x K``
    single, ``temporal_weights`` ``T x K`` single, ``info`` with ``summary_image``, ``max_image``,
    ``F_per_pixel`` (doubles), ``version``, ``runtime`` and ``cellcheck.is_bad`` (``1 x K``, the cells in ``bad``
    set), ``config``) saved beside a top-level ``config`` as EXTRACT's examples do; ``layout="legacy"`` is
    CIAtah's ``extractAnalysisOutput`` (``filters``, ``traces`` ``K x T``, ``info``, ``config``,
    ``time.totalTime`` = ``total_time`` seconds, ``file``)."""
    spatial = cell_footprints(rows, columns, cells, seed)
    traces = _traces(cells, frames, seed).astype(np.float32)  # K x T
    if cells == 0:
        spatial, traces = np.zeros((rows, columns, 0), np.float32), np.zeros((0, frames), np.float32)
    rng = np.random.default_rng(seed + 7)
    info: dict[str, Any] = {"version": "1.1.0", "runtime": 12.5}
    if images:
        support = spatial.max(axis=2) if cells else np.zeros((rows, columns))
        info["summary_image"] = (support + rng.random((rows, columns)) * 0.1).astype(np.float64)
        info["max_image"] = (support * 2 + rng.random((rows, columns)) * 0.1).astype(np.float64)
        info["F_per_pixel"] = 1 + rng.random((rows, columns)) * 0.05
    flags = np.zeros(cells)
    flags[list(bad)] = 1
    info["cellcheck"] = {"is_bad": flags.reshape(1, -1), "is_attr_bad": np.zeros((9, cells)),
                         "metrics": rng.random((29, cells))}
    config = _extract_config(preprocess)
    if layout == "new":
        output = {"spatial_weights": spatial, "temporal_weights": traces.T, "info": info, "config": config}
        return write_mat_v73_tree(path, {struct_name or "output": output, "config": config})
    if layout != "legacy":
        raise ValueError(f"layout must be 'new' or 'legacy', not {layout!r}")
    output = {"filters": spatial, "traces": traces, "info": info, "config": config,
              "time": {"startTime": 738000.5, "endTime": 738000.6,
                       **({"totalTime": float(total_time)} if total_time is not None else {})},
              "file": "/data/session1/movie_dfof.h5"}
    return write_mat_v73_tree(path, {struct_name or "extractAnalysisOutput": output})


def write_cnmfe_segmentation(
    path: str | os.PathLike,
    layout: str = "cnmfe",
    rows: int = 18,
    columns: int = 26,
    cells: int = 6,
    frames: int = 50,
    seed: int = 0,
    sparse_a: bool = True,
    sparse_s: bool = True,
    c_raw: bool = True,
    cn: bool = True,
    fs: float | None = 15.0,
    tags: bool = True,
    struct_name: str | None = None,
    options: bool = True,
) -> Path:
    """Write a CNMF-E run: ``layout="cnmfe"`` is the ``Sources2D`` struct (``neuron_results`` by default, as
    ``save_results`` names it): ``A`` ``d x K`` (sparse as ``obj2struct`` makes it, or dense), ``C``, ``C_raw`` and
    ``S`` ``K x T`` (``S`` sparse or dense), ``Cn`` ``d1 x d2``, ``options`` (``d1``, ``d2`` and other settings),
    ``Fs`` (NaN when ``fs`` is None), ``tags``, ``ids``, ``P``, the empty ``b``/``f``/``W`` of the ring model.
    ``layout="ciatah"`` is CIAtah's ``cnmfeAnalysisOutput`` (``extractedImages`` ``d1 x d2 x K``,
    ``extractedSignals`` = C, ``extractedSignalsEst`` = C_raw, ``extractedPeaks`` = S, ``Cn``, ``params``,
    ``movieList``); ``layout="object"`` saves a ``Sources2D`` object as ``neuron`` (what ``save_workspace`` does)."""
    import scipy.sparse

    if layout == "object":
        return write_mat_v73_tree(path, {"neuron": MatObject("Sources2D"), "save_avi": False})
    footprints = cell_footprints(rows, columns, cells, seed).astype(np.float64)
    a = footprints.reshape(rows * columns, cells, order="F")  # d x K, pixels column-major
    c = np.clip(_traces(cells, frames, seed), 0, None)  # K x T
    rng = np.random.default_rng(seed + 3)
    raw = c + rng.normal(0, 0.1, c.shape)
    s = np.where(rng.random(c.shape) < 0.1, rng.uniform(0.2, 1, c.shape), 0.0)
    corr = rng.random((rows, columns)) * 0.5 + footprints.max(axis=2) / max(footprints.max(), 1e-9) * 0.5
    opts = {"d1": float(rows), "d2": float(columns), "gSig": 3.0, "gSiz": 13.0, "ssub": 1.0, "tsub": 1.0,
            "deconv_options": {"type": "ar1", "method": "foopsi"}, "min_corr": 0.8, "min_pnr": 8.0}
    if layout == "ciatah":
        output = {"success": 1.0, "params": opts, "movieList": "/data/session1/movie.h5",
                  "extractedImages": footprints, "extractedSignals": c, "extractedSignalsEst": raw,
                  "extractedPeaks": scipy.sparse.csc_matrix(s) if sparse_s else s,
                  "Cn": corr if cn else None, "P": {"k_ids": float(cells)}}
        return write_mat_v73_tree(path, {struct_name or "cnmfeAnalysisOutput": output})
    if layout != "cnmfe":
        raise ValueError(f"layout must be 'cnmfe', 'ciatah' or 'object', not {layout!r}")
    results: dict[str, Any] = {
        "A": scipy.sparse.csc_matrix(a) if sparse_a else a,
        "C": c,
        "C_raw": raw if c_raw else None,
        "S": scipy.sparse.csc_matrix(s) if sparse_s else s,
        "options": opts if options else {"gSig": 3.0},
        "P": {"mat_file": "/data/session1/movie.mat", "k_ids": float(cells)},
        "b": None, "f": None, "W": None, "b0": None,
        "Fs": float("nan") if fs is None else float(fs),
        "frame_range": np.array([[1.0, float(frames)]]),
        "Cn": corr if cn else None,
        "ids": np.arange(1, cells + 1, dtype=np.float64).reshape(-1, 1),
        "tags": (np.where(np.arange(cells) % 3 == 1, 2, 0).astype(np.uint16).reshape(-1, 1) if tags else None),
    }
    return write_mat_v73_tree(path, {struct_name or "neuron_results": results})

