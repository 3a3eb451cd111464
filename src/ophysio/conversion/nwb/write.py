"""One conversion from start to end: options parsed once, metadata completed, plan made, backend writes.

A *describer* is anything that gives complete metadata and a plan of photon series:
:class:`~ophysio.conversion.interfaces.ImagingInterface` and
:class:`~ophysio.conversion.converter.NWBConverter` (``complete_metadata`` and ``series_plan``). This
module knows no describer class; describers call it from their ``run_conversion``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..metadata import Metadata
from .build import SeriesEntry
from .options import WriteOptions

__all__ = ["convert", "write_plan", "backend_for"]


def backend_for(options: WriteOptions):
    """The backend object that writes with ``options`` (``options.backend``: hdf5 or zarr)."""
    if options.backend == "zarr":
        from .zarr import ZarrBackend

        return ZarrBackend(options)
    from .hdf5 import Hdf5Backend

    return Hdf5Backend(options)


def write_plan(nwbfile_path: str | os.PathLike, metadata: Metadata, plan: list[SeriesEntry],
               options: WriteOptions) -> Path:
    """Write the NWB file of complete ``metadata`` and ``plan`` with ``options``."""
    return backend_for(options).write(nwbfile_path, metadata, plan)


def convert(describer: Any, nwbfile_path: str | os.PathLike, metadata: Any = None, *, options: WriteOptions,
            timezone: str | None = None, dandi: bool = True, photon_series_type: str | None = None) -> Path:
    """Write what ``describer`` describes to ``nwbfile_path`` (see :func:`ophysio.write_nwb`)."""
    if photon_series_type is not None:
        describer.set_photon_series_type(photon_series_type)
    # appending keeps the existing file's session and subject: only the Ophys part must be complete
    meta = describer.complete_metadata(metadata, timezone=timezone, dandi=dandi and not options.append,
                                       session=not options.append)
    return write_plan(nwbfile_path, meta, describer.series_plan(meta, options), options)
