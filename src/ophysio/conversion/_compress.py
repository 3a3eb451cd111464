"""Deflate engines for the chunks of gzip datasets.

HDF5's gzip filter stores plain zlib streams, so any zlib-compatible compressor may write them and every
HDF5 reader decodes the result. ``zlib`` (standard library) is always there; ``isal`` (Intel ISA-L,
a dependency of ophysio; zlib remains the fallback where it cannot be installed) compresses about five
times faster than zlib level 1 with output about as small as zlib level 4. Both release the GIL, so
chunks compress in parallel threads.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import partial

__all__ = ["deflate_engine", "isal_available", "DEFAULT_ZLIB_LEVEL", "DEFAULT_ISAL_LEVEL"]

#: Level used by the default ("fast") gzip setting when only zlib is installed.
DEFAULT_ZLIB_LEVEL = 1
#: ISA-L level used by the default gzip setting when isal is installed (ISA-L levels are 0-3).
DEFAULT_ISAL_LEVEL = 1


def isal_available() -> bool:
    """Whether the ``isal`` package (ISA-L deflate) is installed."""
    try:
        from isal import isal_zlib  # noqa: F401
    except ImportError:
        return False
    return True


def deflate_engine(level: int | None = None, engine: str = "auto") -> tuple[Callable[[bytes], bytes], int, str]:
    """``(compress, level_to_record, engine_name)`` for gzip chunks.

    Parameters
    ----------
    level : int or None
        None: the fast default (ISA-L level 1 when installed, else zlib level 1). A number 0-9: zlib at
        exactly that level (``engine="isal"`` maps it to ISA-L's 0-3).
    engine : {"auto", "zlib", "isal"}
        Which compressor; "auto" uses ISA-L for the default level when installed.
    """
    if engine not in ("auto", "zlib", "isal"):
        raise ValueError(f"unknown deflate engine {engine!r}; use auto, zlib or isal")
    use_isal = engine == "isal" or (engine == "auto" and level is None and isal_available())
    if use_isal:
        try:
            from isal import isal_zlib
        except ImportError:
            raise ImportError("the isal engine needs the isal package: pip install isal") from None
        isal_level = DEFAULT_ISAL_LEVEL if level is None else min(int(level), 3)
        return partial(isal_zlib.compress, level=isal_level), isal_level, "isal"
    zlib_level = DEFAULT_ZLIB_LEVEL if level is None else int(level)
    return partial(zlib.compress, level=zlib_level), zlib_level, "zlib"
