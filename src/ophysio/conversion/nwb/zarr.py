"""NWB-Zarr output: ``write_nwb(..., backend="zarr")`` through hdmf-zarr (the ``nwb-zarr`` extra).

An NWB-Zarr file is a folder (a Zarr v2 store, by convention named ``*.nwb.zarr``) holding the same NWB
objects as an NWB HDF5 file; ``hdmf_zarr.NWBZarrIO`` reads it. The photon series data are streamed
through :func:`ophysio.conversion.chunks.ImagingChunkIterator` (whole-frame chunks of about 1 MiB, one
buffer in memory at a time) into ``NWBZarrIO.write``, compressed by numcodecs. The folder is written
beside the output path and renamed into place when complete
(:func:`ophysio.conversion._atomic.atomic_output`).

hdmf-zarr 0.13 requires zarr 2 (``zarr<3``) while ophysio's own Zarr writer (the ``zarr`` extra) needs
zarr 3: install ``ophysio[nwb-zarr]`` in an environment without the ``zarr`` extra.

Compression (``compression=`` as for HDF5, the same :class:`~ophysio.conversion.pipeline.Compression`;
one numcodecs codec per chunk, on one core except blosc,
which compresses with its own threads):

- ``gzip`` / ``gzip:LEVEL``: numcodecs ``Shuffle`` filter (when ``shuffle``) then ``GZip`` (level 1 by default);
- ``zstd`` / ``zstd:LEVEL``: ``Shuffle`` then ``Zstd`` (level 3 by default);
- ``blosc`` / ``blosc:CNAME[:LEVEL]``: ``Blosc`` with its own byte shuffle (lz4 level 5 by default);
- ``none``: chunks stored raw. ``lzf`` is an HDF5 filter only and is refused.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import MissingBackendError, OphysioError
from ..chunks import ImagingChunkIterator
from ..metadata import Metadata
from .build import SeriesEntry, build_nwbfile
from .options import WriteOptions, require_hdmf_zarr

__all__ = ["ZarrBackend", "zarr_codecs", "require_hdmf_zarr", "MissingBackendError"]

#: Default levels of the Zarr codecs (gzip as ophysio's fast HDF5 default; zstd's and blosc's own).
ZARR_GZIP_LEVEL, ZARR_ZSTD_LEVEL, ZARR_BLOSC_LEVEL, ZARR_BLOSC_CNAME = 1, 3, 5, "lz4"


def zarr_codecs(compression, dtype: np.dtype) -> dict[str, Any]:
    """``ZarrDataIO`` keywords (``compressor``, ``filters``) for a :class:`~ophysio.conversion.pipeline.Compression`."""
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


class ZarrBackend:
    """Writes NWB-Zarr stores with ``options`` (a :class:`~ophysio.conversion.nwb.options.WriteOptions`)."""

    def __init__(self, options: WriteOptions):
        self.options = options
        self.total = 0
        self.done = 0
        self._bar = None

    def _advance(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
        if self.options.progress_callback is not None:
            self.options.progress_callback(self.done, self.total)

    def data_for(self, entry):
        """A ``ZarrDataIO`` streaming the entry's samples in NWB layout (or a segmentation's trace)."""
        from hdmf_zarr.utils import ZarrDataIO

        from .segmentation import TraceChunkIterator, TraceEntry

        if isinstance(entry, TraceEntry):
            return ZarrDataIO(data=TraceChunkIterator(entry), chunks=list(entry.chunks),
                              **zarr_codecs(self.options.compression, entry.dtype))

        iterator = ImagingChunkIterator(entry.extractor, entry.start, entry.stop, chunk_shape=entry.chunks,
                                        buffer_shape=entry.chunks, on_samples=self._advance)
        return ZarrDataIO(data=iterator, chunks=list(entry.chunks),
                          **zarr_codecs(self.options.compression, entry.dtype))

    def wrap(self, data, chunks):
        """Masks and images of a segmentation as a compressed ``ZarrDataIO``."""
        from hdmf_zarr.utils import ZarrDataIO

        dtype = data.dtype if hasattr(data, "dtype") else np.asarray(data).dtype
        return ZarrDataIO(data=data, chunks=list(chunks), **zarr_codecs(self.options.compression, dtype))

    def write(self, nwbfile_path: str | os.PathLike, metadata: Metadata, plan: list[SeriesEntry]) -> Path:
        """Create the NWB-Zarr store at ``nwbfile_path`` atomically; return its path."""
        from .._atomic import atomic_output

        NWBZarrIO = require_hdmf_zarr()
        options = self.options
        zarr_codecs(options.compression, np.dtype("int16"))  # an unusable compression is reported before writing
        path = Path(nwbfile_path)
        self.total = sum(entry.num_samples for entry in plan)
        self.done = 0
        with atomic_output(path, overwrite=options.overwrite) as temp:
            nwbfile = build_nwbfile(metadata, plan, self.data_for, wrap=self.wrap)
            if options.progress:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=self.total, unit="sample", desc=path.name, leave=False)
            try:
                with warnings.catch_warnings(), NWBZarrIO(str(temp), mode="w") as io:
                    # the temporary name beside the output ends in .partial, not .nwb.zarr
                    warnings.filterwarnings("ignore", message=".*file path provided", category=UserWarning)
                    io.write(nwbfile)
            finally:
                if self._bar is not None:
                    self._bar.close()
                    self._bar = None
        return path
