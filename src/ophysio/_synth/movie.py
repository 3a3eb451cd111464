"""The deterministic movie every synthetic writer draws its pixels from, and a ``.npy`` writer of it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["movie", "write_npy"]


def movie(
    num_samples: int,
    rows: int,
    columns: int,
    planes: int | None = None,
    dtype: str | np.dtype = "int16",
    channel: int = 0,
    seed: int = 0,
    first_sample: int = 0,
) -> np.ndarray:
    """A deterministic movie of shape (samples, rows, columns[, planes]) whose values identify the pixel.

    Values vary along every axis (so a transposed or shifted read is caught) and wrap within the
    dtype's range; ``seed`` and ``channel`` change the pattern. ``first_sample`` gives samples
    ``first_sample:first_sample + num_samples`` of the same movie (to write a long one in blocks).
    """
    dtype = np.dtype(dtype)
    t = np.arange(first_sample, first_sample + num_samples, dtype=np.int64).reshape(-1, 1, 1)
    y = np.arange(rows, dtype=np.int64).reshape(1, -1, 1)
    x = np.arange(columns, dtype=np.int64).reshape(1, 1, -1)
    base = t * 7919 + y * 131 + x * 17 + channel * 100003 + seed * 7
    if planes is not None:
        base = base[..., None] + np.arange(planes, dtype=np.int64) * 1009
    if dtype.kind == "f":
        return (base % 65521).astype(dtype) / 7.0
    if dtype.kind == "b":
        return (base % 2).astype(bool)
    info = np.iinfo(dtype)
    span = min(int(info.max) - int(info.min) + 1, 1 << 31)
    return ((base % span) + (int(info.min) if info.min < 0 else 0)).astype(dtype)


def write_npy(path: str | os.PathLike, num_samples: int = 40, rows: int = 32, columns: int = 24,
              planes: int | None = None, dtype: str = "uint16") -> Path:
    """Write a ``.npy`` movie made by :func:`movie` and return its path."""
    path = Path(path)
    with open(path, "wb") as fh:  # a file object keeps the name as given (np.save would add .npy)
        np.save(fh, movie(num_samples, rows, columns, planes, dtype))
    return path
