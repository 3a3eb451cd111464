"""Deflate engines for the chunks of gzip datasets, and the HDF5 plugin filters (zstd, blosc).

HDF5's gzip filter stores plain zlib streams, so any zlib-compatible compressor may write them and every
HDF5 reader decodes the result. ``zlib`` (standard library) is always there; ``isal`` (Intel ISA-L,
a dependency of ophysio; zlib remains the fallback where it cannot be installed) compresses about five
times faster than zlib level 1 with output about as small as zlib level 4. Both release the GIL, so
chunks compress in parallel threads.

zstd and blosc are HDF5 *plugin* filters: the optional ``hdf5plugin`` package (``pip install
"ophysio[hdf5plugin]"``) provides and registers them with h5py. Those datasets are compressed by HDF5's
own filter pipeline, on one core, and every reader of the file needs the plugin too (``import hdf5plugin``
before opening the file with h5py or pynwb).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import partial
from typing import Any

from ..errors import MissingPluginError

__all__ = [
    "deflate_engine",
    "isal_available",
    "plugin_filter",
    "MissingPluginError",
    "DEFAULT_ZLIB_LEVEL",
    "DEFAULT_ISAL_LEVEL",
    "DEFAULT_ZSTD_LEVEL",
    "DEFAULT_BLOSC_CNAME",
    "DEFAULT_BLOSC_LEVEL",
    "BLOSC_CNAMES",
]

#: Level used by the default ("fast") gzip setting when only zlib is installed.
DEFAULT_ZLIB_LEVEL = 1
#: ISA-L level used by the default gzip setting when isal is installed (ISA-L levels are 0-3).
DEFAULT_ISAL_LEVEL = 1
#: zstd level of ``"zstd"`` (zstd's own default; levels 1-22).
DEFAULT_ZSTD_LEVEL = 3
#: Inner compressor and level of ``"blosc"`` (hdf5plugin's defaults: lz4, level 5, byte shuffle in blosc).
DEFAULT_BLOSC_CNAME = "lz4"
DEFAULT_BLOSC_LEVEL = 5
#: Inner compressors of blosc.
BLOSC_CNAMES = ("blosclz", "lz4", "lz4hc", "zlib", "zstd")


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


def _hdf5plugin(method: str):
    try:
        import hdf5plugin  # registers its filters with h5py on import
    except ImportError:
        raise MissingPluginError(
            f"{method} compression needs the hdf5plugin package (HDF5 filter plugins): "
            'pip install "ophysio[hdf5plugin]" (or pip install hdf5plugin), or use gzip, the default'
        ) from None
    return hdf5plugin


def plugin_filter(method: str, level: int | None = None, cname: str | None = None,
                  shuffle: bool = True) -> dict[str, Any]:
    """h5py dataset keywords (``compression``, ``compression_opts``, ``shuffle``) of a plugin filter.

    Parameters
    ----------
    method : {"zstd", "blosc"}
        zstd (after HDF5's shuffle filter when ``shuffle``) or blosc (which shuffles bytes itself when
        ``shuffle``; HDF5's shuffle filter is then not added).
    level : int, optional
        zstd 1-22 (default 3) or blosc 0-9 (default 5).
    cname : str, optional
        blosc's inner compressor, one of :data:`BLOSC_CNAMES` (default lz4).

    Raises
    ------
    MissingPluginError
        hdf5plugin is not installed.
    """
    plugin = _hdf5plugin(method)
    if method == "zstd":
        spec = plugin.Zstd(clevel=DEFAULT_ZSTD_LEVEL if level is None else int(level))
        hdf5_shuffle = shuffle
    elif method == "blosc":
        spec = plugin.Blosc(cname=cname or DEFAULT_BLOSC_CNAME,
                            clevel=DEFAULT_BLOSC_LEVEL if level is None else int(level),
                            shuffle=plugin.Blosc.SHUFFLE if shuffle else plugin.Blosc.NOSHUFFLE)
        hdf5_shuffle = False
    else:
        raise ValueError(f"{method!r} is not an HDF5 plugin compression; use zstd or blosc")
    return {"compression": int(spec.filter_id), "compression_opts": tuple(spec.filter_options),
            "shuffle": hdf5_shuffle}
