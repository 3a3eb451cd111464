"""The options of one NWB conversion: one frozen object, parsed once from the user's keywords.

:func:`ophysio.write_nwb`, :meth:`NWBConverter.run_conversion
<ophysio.conversion.converter.NWBConverter.run_conversion>` and :meth:`ImagingInterface.run_conversion
<ophysio.conversion.interfaces.ImagingInterface.run_conversion>` take these keywords; each is checked
here, once, and a bad value raises :class:`~ophysio.conversion.pipeline.OptionValueError` (an
:class:`~ophysio.errors.OptionError` and a ``ValueError``) that names the option. The object then goes
to the plan (which samples, which chunks) and to the backend (how they are written), never keyword by
keyword.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from ...errors import MissingBackendError, OptionError
from ..chunks import DEFAULT_CHUNK_BYTES
from ..pipeline import Compression, OptionValueError

__all__ = ["WriteOptions", "Compression", "OptionValueError", "BACKENDS", "STUB_SAMPLES", "require_hdmf_zarr"]

#: Output backends: NWB HDF5 (the default) and NWB-Zarr.
BACKENDS = ("hdf5", "zarr")
#: Samples written by ``stub_test=True`` (at least; see :func:`ophysio.conversion.nwb.build.stub_length`).
STUB_SAMPLES = 100


@dataclass(frozen=True)
class WriteOptions:
    """How an NWB file is written (see :func:`ophysio.write_nwb` for each option)."""

    compression: Compression = field(default_factory=Compression)
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    stub_test: bool = False
    stub_samples: int | None = None
    max_workers: int | None = None
    progress: bool = False
    progress_callback: Callable[[int, int], Any] | None = None
    backend: str = "hdf5"
    overwrite: bool = False
    append: bool = False

    @classmethod
    def parse(cls, options: WriteOptions | None = None, **keywords: Any) -> WriteOptions:
        """The options from keywords (``compression="gzip:6"``, ``chunk_bytes=...``, ...), checked once.

        ``options``, when given, is the starting point that the keywords replace. A keyword that is not
        an option raises :class:`~ophysio.errors.OptionError`; a bad value
        :class:`~ophysio.conversion.pipeline.OptionValueError`, both naming it.
        """
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(keywords) - names)
        if unknown:
            raise OptionError(f"unknown NWB write option(s) {', '.join(unknown)}; the options are "
                              f"{', '.join(sorted(names))}")
        values = {f.name: getattr(options, f.name) for f in fields(cls)} if options is not None else {}
        values.update(keywords)
        if values.get("chunk_bytes") is None:  # None: the default size
            values.pop("chunk_bytes", None)
        return cls(**values)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compression", Compression.parse(self.compression))
        _integer("chunk_bytes", self.chunk_bytes, 1)
        _integer("stub_samples", self.stub_samples, 1, optional=True)
        _integer("max_workers", self.max_workers, 1, optional=True)
        for name in ("stub_test", "progress", "overwrite", "append"):
            if not isinstance(getattr(self, name), (bool, numbers.Integral)):
                raise OptionValueError(name, f"must be True or False, not {getattr(self, name)!r}")
            object.__setattr__(self, name, bool(getattr(self, name)))
        if self.progress_callback is not None and not callable(self.progress_callback):
            raise OptionValueError("progress_callback", f"must be callable, not {self.progress_callback!r}")
        if self.backend not in BACKENDS:
            raise OptionValueError("backend", f"unknown backend {self.backend!r}; use 'hdf5' (NWB HDF5, the "
                                   "default) or 'zarr' (NWB-Zarr)")
        if self.backend == "zarr":
            if self.append:
                raise OptionValueError("append", 'append=True is available with backend="hdf5" only; write a new '
                                       "NWB-Zarr store")
            if self.compression.method == "lzf":
                raise OptionValueError("compression", "compression 'lzf' is an HDF5 filter; the zarr backend takes "
                                       "gzip, zstd, blosc or none")

    def samples_to_write(self, num_samples: int, stub_length: int) -> int:
        """How many samples (from the first) of a stream of ``num_samples`` are written."""
        if not self.stub_test:
            return num_samples
        return min(num_samples, stub_length if self.stub_samples is None else self.stub_samples)


def _integer(name: str, value: Any, low: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise OptionValueError(name, f"must be an integer >= {low}{' or None' if optional else ''}, not {value!r}")


def require_hdmf_zarr():
    """``hdmf_zarr.NWBZarrIO``, or a :class:`~ophysio.errors.MissingBackendError` that says how to install it."""
    try:
        from hdmf_zarr import NWBZarrIO
    except ImportError as exc:
        raise MissingBackendError(
            f'backend="zarr" (NWB-Zarr) needs hdmf-zarr ({exc}): pip install "ophysio[nwb-zarr]". hdmf-zarr 0.13 '
            "requires zarr<3, so install it in an environment without ophysio's zarr extra (which needs zarr 3); "
            'or write NWB HDF5, the default backend="hdf5"'
        ) from None
    return NWBZarrIO
