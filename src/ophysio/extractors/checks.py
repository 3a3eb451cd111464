"""Checks on values that users and files give to extractors: rates, data types, and the size of a read.

Every extractor passes the rate and dtype it was given, or found in a header, through
:func:`checked_rate` and :func:`checked_dtype`, and every read allocates its output through
:func:`allocate_output`, so that junk (text, NaN, a damaged header's 100000 x 100000 frame) is refused
the same way for every format.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any

import numpy as np

from ..errors import MetadataError, ReadTooLargeError

__all__ = ["checked_rate", "checked_dtype", "allocate_output", "is_integer", "short_repr"]


def is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def checked_rate(value: Any, what: str = "sampling_frequency") -> float:
    """A rate (samples per second) as a float, after checking that it is one positive finite real number.

    Every extractor passes the rate it was given, or found in a header (``what`` then names the header
    field and the file), through here, so that text, lists, NaN, infinities and zero are refused the same
    way everywhere.

    Raises
    ------
    MetadataError
        ``value`` is not a real number (text, a list, an array, a bool, a complex number), or is not
        finite and positive.
    """
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise MetadataError(f"{what} must be a positive number of samples per second, not {type(value).__name__} "
                            f"{short_repr(value)}")
    try:
        rate = float(value)
    except (OverflowError, ValueError):
        rate = math.inf
    if not math.isfinite(rate) or rate <= 0:
        raise MetadataError(f"{what} must be a positive finite number of samples per second, got {short_repr(value)}")
    return rate


def checked_dtype(value: Any, what: str = "dtype") -> np.dtype:
    """``value`` as a numpy dtype of numbers (integers, floats or bools); anything else is a MetadataError."""
    try:
        dtype = np.dtype(value)
    except (TypeError, ValueError, SyntaxError) as exc:  # np.dtype("xyz") is a TypeError, np.dtype("i3") too
        raise MetadataError(f"{what}={short_repr(value)} is not a numpy data type ({exc})") from None
    if dtype.kind not in "iufb" or dtype.itemsize == 0 or dtype.shape:
        raise MetadataError(f"{what}={short_repr(value)} is {dtype}, not a numeric data type (e.g. 'uint16', '<i2')")
    return dtype


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - platforms without sysconf
        return 1 << 62


def allocate_output(shape: tuple[int, ...], dtype: np.dtype, source: Any) -> np.ndarray:
    """An output array for a read, or a ReadTooLargeError when it cannot be had.

    An array larger than the machine's memory is refused before it is allocated: with overcommit it
    would be granted and then fill until the kernel kills the process. That is what a one-frame read of
    a damaged header (a 100000 x 100000 frame) would otherwise do.
    """
    nbytes = math.prod(shape) * dtype.itemsize
    files = getattr(source, "get_file_paths", lambda: [])() or ["this source"]
    if nbytes > _physical_memory():
        raise ReadTooLargeError(
            f"{files[0]}: reading {'x'.join(map(str, shape))} {dtype} needs {nbytes / 2**30:.1f} GiB, more than this "
            f"machine's {_physical_memory() / 2**30:.1f} GiB of memory; read fewer samples at a time, or check the "
            "sizes the file declares"
        )
    try:
        return np.empty(shape, dtype=dtype)
    except MemoryError:
        raise ReadTooLargeError(
            f"{files[0]}: reading {'x'.join(map(str, shape))} {dtype} needs {nbytes / 2**30:.1f} GiB, which could "
            "not be allocated; read fewer samples at a time"
        ) from None


def short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
