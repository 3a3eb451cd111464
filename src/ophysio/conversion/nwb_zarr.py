"""NWB-Zarr output: ``write_nwb(..., backend="zarr")`` through hdmf-zarr (the ``nwb-zarr`` extra).

An NWB-Zarr file is a folder (a Zarr v2 store, by convention named ``*.nwb.zarr``) holding the same NWB
objects as an NWB HDF5 file; ``hdmf_zarr.NWBZarrIO`` reads it. The photon series data are streamed
through :func:`ophysio.conversion.chunks.ImagingChunkIterator` (whole-frame chunks of about 10 MB, one
buffer in memory at a time) into ``NWBZarrIO.write``, compressed by numcodecs. The folder is written
beside the output path and renamed into place when complete
(:func:`ophysio.conversion._atomic.atomic_output`).

hdmf-zarr 0.13 requires zarr 2 (``zarr<3``) while ophysio's own Zarr writer (the ``zarr`` extra) needs
zarr 3: install ``ophysio[nwb-zarr]`` in an environment without the ``zarr`` extra.

Compression (``compression=`` as for HDF5; one numcodecs codec per chunk, on one core except blosc,
which compresses with its own threads):

- ``gzip`` / ``gzip:LEVEL``: numcodecs ``Shuffle`` filter (when ``shuffle``) then ``GZip`` (level 1 by default);
- ``zstd`` / ``zstd:LEVEL``: ``Shuffle`` then ``Zstd`` (level 3 by default);
- ``blosc`` / ``blosc:CNAME[:LEVEL]``: ``Blosc`` with its own byte shuffle (lz4 level 5 by default);
- ``none``: chunks stored raw. ``lzf`` is an HDF5 filter only and is refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingBackendError, OphysioError

__all__ = ["write_zarr_conversion", "zarr_codecs", "require_hdmf_zarr", "MissingBackendError"]

#: Set while photon series are added for a Zarr write: :func:`ophysio.conversion.nwb.add_photon_series`
#: then wraps its chunk iterator for hdmf-zarr instead of HDF5.
ZARR_WRITE: ContextVar[_ZarrWrite | None] = ContextVar("ophysio_zarr_write", default=None)

#: Default levels of the Zarr codecs (gzip as ophysio's fast HDF5 default; zstd's and blosc's own).
ZARR_GZIP_LEVEL, ZARR_ZSTD_LEVEL, ZARR_BLOSC_LEVEL, ZARR_BLOSC_CNAME = 1, 3, 5, "lz4"


def require_hdmf_zarr():
    """``hdmf_zarr.NWBZarrIO``, or a :class:`MissingBackendError` that says how to install it."""
    try:
        from hdmf_zarr import NWBZarrIO
    except ImportError as exc:
        raise MissingBackendError(
            f'backend="zarr" (NWB-Zarr) needs hdmf-zarr ({exc}): pip install "ophysio[nwb-zarr]". hdmf-zarr 0.13 '
            "requires zarr<3, so install it in an environment without ophysio's zarr extra (which needs zarr 3); "
            'or write NWB HDF5, the default backend="hdf5"'
        ) from None
    return NWBZarrIO


def zarr_codecs(compression, dtype: np.dtype) -> dict[str, Any]:
    """``ZarrDataIO`` keywords (``compressor``, ``filters``) for a :class:`~ophysio.conversion.nwb.Compression`."""
    import numcodecs

    method, level, itemsize = compression.method, compression.level, np.dtype(dtype).itemsize
    if method is None:
        return {"compressor": False}
    shuffle = [numcodecs.Shuffle(elementsize=itemsize)] if compression.shuffle and itemsize > 1 else None
    if method == "gzip":
        return {"compressor": numcodecs.GZip(level=ZARR_GZIP_LEVEL if level is None else level), "filters": shuffle}
    if method == "zstd":
        return {"compressor": numcodecs.Zstd(level=ZARR_ZSTD_LEVEL if level is None else level), "filters": shuffle}
    if method == "blosc":
        mode = numcodecs.Blosc.SHUFFLE if compression.shuffle else numcodecs.Blosc.NOSHUFFLE
        return {"compressor": numcodecs.Blosc(cname=compression.cname or ZARR_BLOSC_CNAME,
                                              clevel=ZARR_BLOSC_LEVEL if level is None else level, shuffle=mode)}
    raise OphysioError(f"compression {method!r} is an HDF5 filter; the zarr backend takes gzip, zstd, blosc or none")


class _ZarrWrite:
    """State of one Zarr write: progress over every series, and how series data are wrapped."""

    def __init__(self, progress_callback: Callable[[int, int], Any] | None):
        self.total = 0
        self.done = 0
        self.bar = None
        self.progress_callback = progress_callback

    def advance(self, count: int) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
        if self.progress_callback is not None:
            self.progress_callback(self.done, self.total)

    def data_io(self, extractor, stop: int, chunks: tuple, chunk_bytes: int, compression, dtype: np.dtype):
        """A ``ZarrDataIO`` streaming samples ``0:stop`` of ``extractor`` in NWB layout."""
        from hdmf_zarr.utils import ZarrDataIO

        from .chunks import ImagingChunkIterator

        self.total += stop
        iterator = ImagingChunkIterator(extractor, 0, stop, chunk_bytes, on_samples=self.advance)
        return ZarrDataIO(data=iterator, chunks=list(chunks), **zarr_codecs(compression, dtype))


def write_zarr_conversion(
    nwbfile_path: str | os.PathLike,
    add_all: Callable[[Any, Any, list], None],
    metadata,
    *,
    overwrite: bool = False,
    append: bool = False,
    compression: Any = "gzip",
    progress: bool = False,
    progress_callback: Callable[[int, int], Any] | None = None,
) -> Path:
    """Create an NWB-Zarr store atomically (see :func:`ophysio.conversion.nwb.run_nwb_conversion`)."""
    import warnings

    from ._atomic import atomic_output
    from .nwb import Compression, _add_source_metadata, make_nwbfile

    NWBZarrIO = require_hdmf_zarr()
    if append:
        raise OphysioError('append=True is available with backend="hdf5" only; write a new NWB-Zarr store')
    comp = Compression.parse(compression)
    zarr_codecs(comp, np.dtype("int16"))  # an unusable compression is reported before anything is written
    path = Path(nwbfile_path)
    with atomic_output(path, overwrite=overwrite) as temp:
        state = _ZarrWrite(progress_callback)
        nwbfile = make_nwbfile(metadata)
        rows: list[dict] = []
        token = ZARR_WRITE.set(state)
        try:
            add_all(nwbfile, None, rows)
        finally:
            ZARR_WRITE.reset(token)
        _add_source_metadata(nwbfile, rows)
        if progress:
            from tqdm.auto import tqdm

            state.bar = tqdm(total=state.total, unit="sample", desc=path.name, leave=False)
        try:
            with warnings.catch_warnings(), NWBZarrIO(str(temp), mode="w") as io:
                # the temporary name beside the output ends in .partial, not .nwb.zarr
                warnings.filterwarnings("ignore", message=".*file path provided", category=UserWarning)
                io.write(nwbfile)
        finally:
            if state.bar is not None:
                state.bar.close()
    return path


def read_zarr_scratch(nwbfile_path: str | os.PathLike) -> dict[str, str]:
    """Text of the scratch datasets of an NWB-Zarr store: name -> text."""
    NWBZarrIO = require_hdmf_zarr()
    result: dict[str, str] = {}
    with NWBZarrIO(str(nwbfile_path), mode="r") as io:
        nwbfile = io.read()
        for name, item in nwbfile.scratch.items():
            data = item.data[()] if hasattr(item.data, "shape") else item.data
            if isinstance(data, np.ndarray):
                data = data.item() if data.shape == () else data[0]
            result[name] = data.decode("utf-8") if isinstance(data, bytes) else str(data)
    return result
