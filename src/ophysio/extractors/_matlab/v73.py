"""MATLAB v7.3 MAT-files as h5py sees them: what a variable is, and small values as Python.

A v7.3 MAT-file is HDF5 behind a 512-byte user block. Each variable is a dataset or, for a struct, a group
whose members are its fields; every object carries a ``MATLAB_class`` attribute (``double``, ``single``,
``char``, ``logical``, ``struct``, ``cell``, a class name for objects...). MATLAB is column-major, so an
``m x n`` array is stored with HDF5 shape ``(n, m)``: the axes are reversed. An empty array is a ``uint64``
dataset holding its dimensions, marked ``MATLAB_empty``. A sparse ``m x n`` matrix is a group marked
``MATLAB_sparse = m`` with ``data`` (the nonzero values), ``ir`` (their 0-based rows) and ``jc`` (the ``n + 1``
column pointers into them), which is scipy's CSC layout. Chars are UTF-16 code units (``MATLAB_int_decode``
2); logicals are ``uint8`` (``MATLAB_int_decode`` 1). Cells and objects hold references into ``#refs#``
(objects of classdef classes go through the opaque ``#subsystem#`` store, which only MATLAB reads).

Nothing here follows a reference or reads a large array: values bigger than a bound are described, not read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["matlab_class", "is_empty", "is_sparse", "read_char", "read_scalar", "to_python", "matlab_shape",
           "struct_groups", "NUMERIC_CLASSES"]

NUMERIC_CLASSES = frozenset({"double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
                             "uint64", "logical"})
#: Largest array :func:`to_python` reads (elements); bigger ones are described by their class and size.
MAX_ELEMENTS = 10_000


def matlab_class(obj) -> str | None:
    """The ``MATLAB_class`` attribute of an h5py object, as text (None when absent or not text)."""
    value = obj.attrs.get("MATLAB_class")
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("ascii", "replace")
    if isinstance(value, str):
        return value
    return None


def is_empty(obj) -> bool:
    """Whether ``obj`` is a MATLAB empty array (a dataset marked ``MATLAB_empty``)."""
    import h5py

    return isinstance(obj, h5py.Dataset) and bool(np.any(obj.attrs.get("MATLAB_empty", 0)))


def is_sparse(obj) -> bool:
    """Whether ``obj`` is a MATLAB sparse matrix (a group marked ``MATLAB_sparse`` with ``data``/``ir``/``jc``)."""
    import h5py

    return isinstance(obj, h5py.Group) and "MATLAB_sparse" in obj.attrs


def matlab_shape(obj) -> tuple[int, ...]:
    """MATLAB's ``size`` of a dataset (its HDF5 shape reversed; the stored dimensions of an empty array)."""
    if is_empty(obj):
        dims = np.asarray(obj[()]).ravel()
        return tuple(int(d) for d in dims) if dims.dtype.kind in "iu" else (0, 0)
    return tuple(int(n) for n in obj.shape[::-1])


def read_char(dset, limit: int = 1 << 16) -> str | None:
    """A ``char`` dataset as text (None when it is not a char array of at most ``limit`` characters)."""
    import h5py

    if not isinstance(dset, h5py.Dataset) or matlab_class(dset) != "char" or dset.size > limit:
        return None
    if is_empty(dset):
        return ""
    codes = np.asarray(dset[()])
    if codes.dtype.kind not in "iu":
        return None
    # a 1 x N char row is stored (N, 1); an M x N char matrix is stored (N, M): rows of MATLAB are columns here
    rows = codes.reshape(codes.shape[0], -1).T if codes.ndim == 2 else codes.reshape(1, -1)
    text = ["".join(chr(int(c)) for c in row if 0 <= int(c) < 0x110000) for row in rows]
    return "\n".join(text)


def read_scalar(obj) -> float | None:
    """A numeric 1 x 1 dataset as a float (None when ``obj`` is not one)."""
    import h5py

    if not isinstance(obj, h5py.Dataset) or is_empty(obj) or obj.size != 1 or obj.dtype.kind not in "fiub":
        return None
    if matlab_class(obj) not in NUMERIC_CLASSES:
        return None
    return float(np.asarray(obj[()]).ravel()[0])


def to_python(obj, max_elements: int = MAX_ELEMENTS, depth: int = 0) -> Any:
    """A small MATLAB value as Python: struct -> dict, char -> str, numeric 1 x 1 -> number, numeric array ->
    numpy array in MATLAB's axis order, logical -> bool; empty -> ``[]``; cells, objects, sparse matrices
    and arrays over ``max_elements`` -> a short description (references are not followed)."""
    import h5py

    cls = matlab_class(obj)
    if isinstance(obj, h5py.Group):
        if is_sparse(obj):
            return f"<sparse {cls} matrix, not read>"
        if depth > 16:
            return "<struct nested too deep, not read>"
        return {name: to_python(obj[name], max_elements, depth + 1) for name in obj
                if isinstance(obj.get(name, getlink=True), h5py.HardLink)}
    if not isinstance(obj, h5py.Dataset):
        return None
    if is_empty(obj):
        return "" if cls == "char" else []
    if cls == "char":
        text = read_char(obj, max_elements)
        return text if text is not None else f"<char array of {obj.size} characters, not read>"
    if cls not in NUMERIC_CLASSES or obj.dtype.kind not in "fiub":
        return f"<{cls or obj.dtype} value of size {'x'.join(map(str, matlab_shape(obj)))}, not read>"
    if obj.size > max_elements:
        return f"<{cls} array of size {'x'.join(map(str, matlab_shape(obj)))}, not read>"
    value = np.asarray(obj[()])
    value = value.transpose(range(value.ndim)[::-1])  # back to MATLAB's axis order
    if cls == "logical":
        value = value.astype(bool)
    if value.size == 1:
        return value.ravel()[0].item()
    return value


def struct_groups(h5) -> list[str]:
    """Names of the top-level variables of a v7.3 file that are structs (groups other than ``#refs#``...)."""
    import h5py

    names = []
    for name in h5:
        if name.startswith("#") or not isinstance(h5.get(name, getlink=True), h5py.HardLink):
            continue
        if h5.get(name, getclass=True) is h5py.Group and not is_sparse(h5[name]):
            names.append(name)
    return names
