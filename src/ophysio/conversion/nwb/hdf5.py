"""The NWB HDF5 backend: write the built file, then fill its photon series through the chunk pipeline.

pynwb writes every object with ``io.write``, the photon series data created *empty* with their final
shape, dtype, chunks and filters (``H5DataIO(shape=..., dtype=..., chunks=...)``); the datasets are then
filled chunk by chunk by :func:`ophysio.conversion.pipeline.fill_dataset` (reading, compressing on every
core and writing overlapped). Everything is written beside the output path and renamed into place when
complete (:func:`ophysio.conversion._atomic.atomic_output`); appending copies the file beside, extends
the copy and renames it into place.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

from ..metadata import Metadata
from ..pipeline import fill_dataset
from .build import SeriesEntry, build_nwbfile
from .options import WriteOptions

__all__ = ["Hdf5Backend", "empty_data"]


def empty_data(entry: SeriesEntry, options: WriteOptions):
    """``H5DataIO`` of an empty dataset of the entry's final shape, dtype, chunks and filters."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    compression = options.compression
    with warnings.catch_warnings():
        if compression.uses_plugin:  # hdmf warns that plugin filters are not everywhere: the docs say so
            warnings.filterwarnings("ignore", message=".*compression may not be available", category=UserWarning)
        return H5DataIO(shape=entry.shape, dtype=entry.dtype, chunks=entry.chunks, **compression.h5dataio_kwargs())


class Hdf5Backend:
    """Writes NWB HDF5 files with ``options`` (a :class:`~ophysio.conversion.nwb.options.WriteOptions`)."""

    def __init__(self, options: WriteOptions):
        self.options = options

    def write(self, nwbfile_path: str | os.PathLike, metadata: Metadata, plan: list[SeriesEntry]) -> Path:
        """Create (or, with ``options.append``, extend) the NWB file at ``nwbfile_path``; return its path."""
        import h5py
        from pynwb import NWBHDF5IO

        from .._atomic import atomic_output
        from .._h5discard import discard_on_error

        options = self.options
        options.compression.h5py_kwargs()  # a missing hdf5plugin is reported before anything is written
        path = Path(nwbfile_path)
        if options.append and not path.exists():
            raise FileNotFoundError(f"{path} does not exist: nothing to append to (drop append=True to create it)")
        if options.append:
            try:  # the file may hold zstd or blosc datasets already: register the plugins when installed
                import hdf5plugin  # noqa: F401
            except ImportError:
                pass

        def data_for(entry):
            return empty_data(entry, options)

        def wrap(data, chunks):  # masks and images: small, written by pynwb with the conversion's filters
            from hdmf.backends.hdf5.h5_utils import H5DataIO

            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*compression may not be available", category=UserWarning)
                return H5DataIO(data=data, chunks=tuple(chunks), **options.compression.h5dataio_kwargs())

        with atomic_output(path, overwrite=options.overwrite or options.append) as temp, warnings.catch_warnings():
            # the temporary name beside the output ends in .partial, not .nwb: pynwb's warning does not apply
            warnings.filterwarnings("ignore", message="The file path provided", category=UserWarning)
            if options.append:
                shutil.copyfile(path, temp)
                with NWBHDF5IO(str(temp), mode="a") as io, discard_on_error(lambda: io._file):
                    nwbfile = build_nwbfile(metadata, plan, data_for, nwbfile=io.read(), wrap=wrap)
                    io.write(nwbfile)
            else:
                nwbfile = build_nwbfile(metadata, plan, data_for, wrap=wrap)
                with NWBHDF5IO(str(temp), mode="w") as io, discard_on_error(lambda: io._file):
                    io.write(nwbfile)
            # discarded, not closed, after a failure: closing flushes to a disk that may be full (see _h5discard)
            with h5py.File(temp, "r+") as f, discard_on_error(lambda: f):
                self.fill(f, plan)
        return path

    def fill(self, h5file, plan: list) -> None:
        """Fill the empty photon series and trace datasets of ``plan`` in the open ``h5file``."""
        from .segmentation import SegmentationEntry, fill_traces

        options = self.options
        total = sum(entry.num_samples for entry in plan)
        done_before = 0
        for entry in plan:
            if isinstance(entry, SegmentationEntry):
                for trace in entry.traces:
                    fill_traces(h5file, trace, options.compression, options.max_workers)
                continue
            callback = None
            if options.progress_callback is not None:
                def callback(done, _total, offset=done_before):
                    options.progress_callback(offset + done, total)
            fill_dataset(
                h5file[f"acquisition/{entry.name}/data"], entry.extractor, entry.start, entry.stop,
                compression=options.compression, max_workers=options.max_workers, progress=options.progress,
                progress_callback=callback, description=entry.name,
            )
            done_before += entry.num_samples
