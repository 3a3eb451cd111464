"""Reading values out of a source's header, whatever its nesting: the helpers the format facts share.

They never fail on a header they do not understand: a value they cannot find or parse is None.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np

__all__ = ["find_value", "parse_epoch", "number", "as_list"]

_MISSING = object()


def _walk(header: Any, depth: int = 0) -> Iterator[dict]:
    if depth > 4:
        return
    if isinstance(header, dict):
        yield header
        for value in header.values():
            if isinstance(value, dict):
                yield from _walk(value, depth + 1)


def find_value(header: Any, key: str, default: Any = None) -> Any:
    """Find ``key`` (e.g. ``"SI.hRoiManager.scanFrameRate"``) in a flat or nested header, a few levels deep.

    Looks for the dotted key itself in any nested dictionary (tifffile's ``FrameData`` layout), then for
    the dotted path as nested dictionaries (``header["SI"]["hRoiManager"]["scanFrameRate"]``).
    """
    for d in _walk(header):
        if key in d:
            return d[key]
    parts = key.split(".")
    for d in _walk(header):
        value: Any = d
        for part in parts:
            if isinstance(value, dict) and part in value:
                value = value[part]
            else:
                value = _MISSING
                break
        if value is not _MISSING:
            return value
    return default


def parse_epoch(value: Any) -> datetime | None:
    """ScanImage's ``epoch`` ([Y M D h m s.fff], local time, no zone) as a naive datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        numbers = [float(x) for x in re.findall(r"[-+]?\d+(?:\.\d*)?", value)]
    else:
        try:
            numbers = [float(x) for x in np.ravel(np.asarray(value, dtype=float))]
        except (TypeError, ValueError):
            return None
    if len(numbers) < 6:
        return None
    try:  # NaN, infinite or huge fields (a damaged header) are no date: ValueError or OverflowError
        year, month, day, hour, minute = (int(x) for x in numbers[:5])
        seconds = numbers[5]
        whole = int(seconds)
        return datetime(year, month, day, hour, minute, whole, int(round((seconds - whole) * 1e6)) % 1000000)
    except (ValueError, OverflowError):
        return None


def as_list(value: Any) -> list:
    """``value`` as a list: None is empty, a dict or a scalar is one item."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def number(value: Any) -> float | None:
    """The first value of ``value`` as a finite float, or None."""
    try:
        out = float(np.ravel(np.asarray(value, dtype=float))[0])
    except (TypeError, ValueError, IndexError):
        return None
    return out if np.isfinite(out) else None
