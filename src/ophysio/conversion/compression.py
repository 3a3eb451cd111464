"""The one compression vocabulary of ophysio's chunked outputs: :class:`Compression`.

It serves NWB (``compression="gzip:6"``), the HDF5 writer (``compression="gzip", compression_level=6``
is read as the same thing) and NWB-Zarr, and gives the chunk steps (:mod:`ophysio.conversion.codecs`)
that encode a chunk as HDF5's filters would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import OptionValueError
from .codecs import ChunkPipeline, Deflate, RawBytes, ShuffleBytes, TransposeToNWB

__all__ = ["Compression", "OptionValueError", "default_workers"]


def default_workers() -> int:
    """Compression threads: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Compression:
    """How chunks are compressed: the one vocabulary of NWB, the HDF5 writer and NWB-Zarr.

    Parameters
    ----------
    method : {"gzip", "lzf", "zstd", "blosc", None}
        gzip (deflate, readable by every HDF5 reader; compressed in parallel by ophysio), lzf (h5py only,
        one core), zstd or blosc (HDF5 plugin filters from the optional ``hdf5plugin`` package; HDF5
        compresses them on one core and readers need ``import hdf5plugin``) or None.
    level : int, optional
        gzip level 0-9, applied with zlib exactly. None (default) is the fast setting: ISA-L level 1 when
        the ``isal`` package is installed (a dependency of ophysio), else zlib level 1. zstd: 1-22
        (default 3). blosc: 0-9 (default 5).
    shuffle : bool
        Byte-shuffle first (default True: smaller output for integer movies): HDF5's shuffle filter, or
        for blosc its own shuffle.
    engine : {"auto", "zlib", "isal"}
        Deflate implementation (see :mod:`ophysio.conversion._compress`).
    cname : str, optional
        blosc's inner compressor: blosclz, lz4 (default), lz4hc, zlib or zstd.
    """

    method: str | None = "gzip"
    level: int | None = None
    shuffle: bool = True
    engine: str = "auto"
    cname: str | None = None

    #: Syntax accepted by :meth:`parse` (shown in errors).
    SYNTAX = "gzip, gzip:LEVEL (0-9), lzf, zstd, zstd:LEVEL (1-22), blosc, blosc:CNAME, blosc:CNAME:LEVEL (0-9) or none"

    @classmethod
    def parse(cls, value: str | Compression | None, option: str = "compression") -> Compression:
        """``"gzip"``, ``"gzip:6"``, ``"lzf"``, ``"zstd"``, ``"zstd:9"``, ``"blosc"``, ``"blosc:zstd:5"``,
        ``"none"``/None, or a :class:`Compression`. A bad value raises :class:`OptionValueError`
        naming ``option``."""
        from ._compress import BLOSC_CNAMES

        if isinstance(value, Compression):
            if value.engine not in ("auto", "zlib", "isal"):
                raise OptionValueError(option, f"unknown deflate engine {value.engine!r}; use auto, zlib or isal")
            return value
        if value is None or str(value).lower() in ("none", "off", "false"):
            return cls(None, None, False)
        method, *options = str(value).lower().split(":")
        if method not in ("gzip", "lzf", "zstd", "blosc"):
            raise OptionValueError(option, f"unknown compression {value!r}; use {cls.SYNTAX}")
        if method == "blosc":
            if len(options) > 2 or (options and options[0] not in BLOSC_CNAMES):
                raise OptionValueError(option, f"compression {value!r}: use blosc, blosc:CNAME or blosc:CNAME:LEVEL "
                                       f"with CNAME one of {', '.join(BLOSC_CNAMES)} and LEVEL 0-9 (e.g. blosc:zstd:5)")
            level = cls._level(option, value, options[1], 0, 9) if len(options) == 2 else None
            return cls(method, level, cname=options[0] if options else None)
        if not options:
            return cls(method)
        if method == "lzf" or len(options) > 1:
            raise OptionValueError(option, f"compression {value!r}: a level is only for gzip, zstd or blosc; "
                                   f"use {cls.SYNTAX}")
        low, high = (0, 9) if method == "gzip" else (1, 22)
        return cls(method, cls._level(option, value, options[0], low, high))

    @classmethod
    def from_writer_options(cls, compression: str | None, level: int | None = None,
                            shuffle: bool | None = None) -> Compression:
        """The HDF5 writer's spelling (``compression="gzip", compression_level=6, shuffle=True``), or
        ``compression="gzip:6"`` as for NWB. gzip there is zlib at ``level`` (default 1)."""
        parsed = cls.parse(compression)
        if level is not None:
            if parsed.level is not None and parsed.level != level:
                raise OptionValueError("compression_level", f"{level} contradicts compression={compression!r}")
            parsed = cls.parse(f"{parsed.method}:{int(level)}" if parsed.method != "blosc"
                               else f"blosc:{parsed.cname or 'lz4'}:{int(level)}", "compression_level")
        shuffle = parsed.method is not None if shuffle is None else bool(shuffle)
        engine = "zlib" if parsed.method == "gzip" else parsed.engine
        gzip_level = 1 if parsed.method == "gzip" and parsed.level is None else parsed.level
        return cls(parsed.method, gzip_level, shuffle, engine, parsed.cname)

    @staticmethod
    def _level(option: str, value: Any, text: str, low: int, high: int) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise OptionValueError(option, f"compression {value!r}: the level must be an integer {low}-{high}")
        return int(text)

    @property
    def uses_plugin(self) -> bool:
        """Whether the compression is an HDF5 plugin filter (hdf5plugin needed to write and to read)."""
        return self.method in ("zstd", "blosc")

    @property
    def direct(self) -> bool:
        """Whether ophysio encodes the chunks itself (gzip, with or without shuffle) in threads."""
        return self.method == "gzip"

    def deflate(self):
        """``(compress, level_to_record, engine_name)`` for gzip (see :mod:`ophysio.conversion._compress`)."""
        from ._compress import deflate_engine

        return deflate_engine(self.level, self.engine)

    def h5py_kwargs(self) -> dict:
        """h5py dataset keywords (``compression``, ``compression_opts``, ``shuffle``).

        Raises :class:`~ophysio.errors.MissingPluginError` for zstd and blosc without hdf5plugin.
        """
        if self.method is None:
            return {}
        if self.uses_plugin:
            from ._compress import plugin_filter

            return plugin_filter(self.method, self.level, self.cname, self.shuffle)
        kwargs: dict[str, Any] = {"compression": self.method, "shuffle": self.shuffle}
        if self.method == "gzip":
            kwargs["compression_opts"] = self.deflate()[1]
        return kwargs

    def h5dataio_kwargs(self) -> dict:
        """Keywords of hdmf's ``H5DataIO`` (:meth:`h5py_kwargs`, plus permission to use plugin filters)."""
        kwargs = self.h5py_kwargs()
        if self.uses_plugin:
            kwargs["allow_plugin_filters"] = True
        return kwargs

    def pipeline(self, dtype: np.dtype, transpose: bool = False) -> ChunkPipeline:
        """The steps that encode a chunk of ``dtype`` exactly as HDF5's filters would (gzip only)."""
        if not self.direct:
            raise OptionValueError("compression", f"{self.method!r} chunks are compressed by HDF5, not in the pipeline")
        steps: list = [TransposeToNWB()] if transpose else []
        steps.append(ShuffleBytes() if self.shuffle and np.dtype(dtype).itemsize > 1 else RawBytes())
        steps.append(Deflate(self.deflate()[0]))
        return ChunkPipeline(steps)
