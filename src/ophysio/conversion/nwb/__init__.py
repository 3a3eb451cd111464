"""Writing NWB files: :func:`write_nwb`, the one-call API, and the machinery behind every conversion.

A conversion is a plan handed to a backend:

- :mod:`~ophysio.conversion.nwb.options`: the user's keywords parsed once into one frozen
  :class:`~ophysio.conversion.nwb.options.WriteOptions` (compression, chunk size, stub, threads, progress,
  backend);
- the source (an :class:`~ophysio.conversion.interfaces.ImagingInterface` or an
  :class:`~ophysio.conversion.converter.NWBConverter`) describes itself: complete metadata and a plan,
  one :class:`~ophysio.conversion.nwb.build.SeriesEntry` per photon series (which extractor, which
  samples, which chunks);
- :mod:`~ophysio.conversion.nwb.build` makes the ``NWBFile`` in memory from both (no I/O);
- a backend, :mod:`~ophysio.conversion.nwb.hdf5` (NWB HDF5, the default) or
  :mod:`~ophysio.conversion.nwb.zarr` (NWB-Zarr), writes it and fills the photon series, the HDF5 one
  through the chunk pipeline (:mod:`ophysio.conversion.pipeline`);
- :mod:`~ophysio.conversion.nwb.source_header`: the whole header of each source, kept as JSON in
  ``/scratch`` (:func:`read_source_metadata` reads it back).

The modules import one way: options <- source_header <- build <- backends <- write <- this package
(and the interfaces and converter, which import options, build and write, never a backend).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..chunks import DEFAULT_CHUNK_BYTES
from ..metadata import Metadata
from .build import REGULAR_TOLERANCE_S, SeriesEntry, make_nwbfile, series_timing, stub_length
from .options import Compression, OptionValueError, WriteOptions
from .source_header import SOURCE_METADATA_PREFIX, read_source_metadata

__all__ = [
    "write_nwb",
    "Compression",
    "WriteOptions",
    "OptionValueError",
    "SeriesEntry",
    "series_timing",
    "make_nwbfile",
    "stub_length",
    "read_source_metadata",
    "SOURCE_METADATA_PREFIX",
    "REGULAR_TOLERANCE_S",
]


def write_nwb(
    source,
    nwbfile_path: str | os.PathLike,
    metadata: Metadata | dict | str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    append: bool = False,
    stub_test: bool = False,
    stub_samples: int | None = None,
    compression: str | Compression | None = "gzip",
    max_workers: int | None = None,
    progress: bool = False,
    progress_callback: Callable[[int, int], Any] | None = None,
    timezone: str | None = None,
    dandi: bool = True,
    backend: str = "hdf5",
    photon_series_type: str | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Path:
    """Write an imaging source to an NWB file, fast, in one call.

    Parameters
    ----------
    source : ImagingExtractor, list of ImagingExtractor, ImagingInterface or NWBConverter
        What to write: one extractor per photon series (a list gives several series in one file).
    nwbfile_path : path
        The NWB file; it appears there only when complete.
    metadata : Metadata, dict or path to a YAML/JSON file, optional
        Merged over the defaults read from the source (lists replace lists). Values the source cannot
        give (session description, excitation wavelength, indicator, location, emission wavelength and,
        with ``dandi``, the subject) must be given here; a :class:`~ophysio.errors.MetadataError` lists
        what is missing.
    overwrite : bool
        Replace an existing file (otherwise an existing path is an error).
    append : bool
        Add the photon series to the existing NWB file at ``nwbfile_path`` (its session metadata are kept;
        the file is copied beside, extended and renamed into place).
    stub_test : bool
        Write only the first samples (a quick check of a conversion): ``stub_samples`` of them, by default
        100 or the longest image side if larger (nwbinspector expects time to be the longest axis).
    compression : str or Compression
        ``"gzip"`` (default: shuffle + fast deflate on all cores: ISA-L level 1 (the isal dependency),
        or zlib level 1 without it), ``"gzip:LEVEL"`` (zlib at that level), ``"lzf"``, ``"zstd"``,
        ``"zstd:LEVEL"`` (1-22), ``"blosc"``, ``"blosc:CNAME[:LEVEL]"`` (zstd and blosc need the
        ``hdf5plugin`` extra; HDF5 compresses them on one core), ``"none"``, or a :class:`Compression`.
    max_workers : int, optional
        Compression threads (default: the cores available).
    progress : bool
        Show a tqdm progress bar per photon series.
    progress_callback : callable, optional
        Called as ``callback(samples_written, samples_total)`` after each chunk.
    timezone : str, optional
        Zone of a naive session start time (IANA name such as 'Europe/Berlin', or '+02:00').
    dandi : bool
        Require the subject fields DANDI needs (subject_id, species, sex, age or date_of_birth).
    backend : {"hdf5", "zarr"}
        ``"hdf5"`` (default): an NWB HDF5 file. ``"zarr"``: an NWB-Zarr store (a folder, conventionally
        ``*.nwb.zarr``) written through hdmf-zarr (the ``nwb-zarr`` extra; see
        :mod:`ophysio.conversion.nwb.zarr`); ``max_workers`` and ``append`` apply to HDF5 only.
    photon_series_type : {"TwoPhotonSeries", "OnePhotonSeries"}, optional
        NWB type of the series (default: the format's, see ``FormatSpec.photon_series_type``: OnePhotonSeries
        for miniscopes and cameras, TwoPhotonSeries otherwise; or what the metadata say).
    chunk_bytes : int
        Target size of a chunk (whole samples; default about 10 MB).

    Returns
    -------
    pathlib.Path
        The path of the written file.

    Raises
    ------
    OptionValueError
        An option has a value it cannot take (the message names it); raised before anything is read or
        written.
    """
    from ..interfaces import interface_for_extractor
    from .write import convert

    options = WriteOptions.parse(
        overwrite=overwrite, append=append, stub_test=stub_test, stub_samples=stub_samples, compression=compression,
        max_workers=max_workers, progress=progress, progress_callback=progress_callback, backend=backend,
        chunk_bytes=chunk_bytes,
    )
    describer = source if hasattr(source, "series_plan") else interface_for_extractor(source)
    if isinstance(metadata, (str, os.PathLike)):
        from ..metadata import load_metadata

        metadata = load_metadata(metadata)
    return convert(describer, nwbfile_path, metadata, options=options, timezone=timezone, dandi=dandi,
                   photon_series_type=photon_series_type)
