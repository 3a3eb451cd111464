"""NWB photon series (TwoPhotonSeries, OnePhotonSeries): :class:`NwbImagingExtractor`.

One extractor reads one photon series of an NWB file: an HDF5 file on disk or at a URL (HTTP(S), S3,
DANDI), or an NWB-Zarr store (a local folder or a URL). Samples come back as ophysio's (samples, rows,
columns[, planes]): NWB stores (time, x, y[, z]) with x the column, as pynwb documents it and as
neuroconv, roiextractors and ophysio write it, so a frame is transposed on the way out and a file ophysio
wrote reads back bit for bit.

- Local HDF5: h5py reads whole chunk rows into a reused buffer, transposed into the caller's; a file cut
  short while open is an error (the storage checks of :mod:`ophysio.extractors._hdf5.storage`).
- Remote HDF5: the structure through a block-cached file object, the pixels by whole chunks fetched by
  range and decoded in parallel into a bounded chunk cache shared by the extractor's reads
  (:mod:`ophysio.extractors._hdf5.remote`).
- NWB-Zarr (hdmf-zarr's Zarr v2 layout, consolidated metadata): chunks through the same chunk cache
  (:mod:`ophysio.extractors._zarr`).

Times: ``timestamps`` are read a slice at a time (``get_timestamps(a, b)`` reads only those); a series with
``starting_time`` and ``rate`` gives ``starting_time + index / rate``. The rate of a series with timestamps
is its imaging plane's ``imaging_rate`` when the first timestamps agree with it (within 1%), else the
median step of those timestamps (at most :data:`RATE_TIMESTAMPS`).
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np

from ...errors import OphysioError
from .._remote.chunks import CHUNK_CACHE_BYTES
from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor
from .facts import facts_from_header, series_header
from .series import choose_series, series_layout
from .source import RATE_TIMESTAMPS, NwbSource, list_in_file, node_at  # noqa: F401 - the rate limit named above

__all__ = ["NwbImagingExtractor"]

#: Bytes of the buffer a local read transposes through.
LOCAL_BLOCK_BYTES = 32 * 1024**2


class NwbImagingExtractor(NwbSource, ImagingExtractor):
    """A photon series of an NWB file (HDF5 or NWB-Zarr, local or streamed from a URL), read lazily.

    Parameters
    ----------
    file_path : str or os.PathLike
        The NWB file: a local ``.nwb`` (HDF5) file, a local NWB-Zarr folder, or a URL (``https://...``,
        ``s3://...``, ``dandi://DANDI/000123/sub-x/sub-x_ses-y.nwb``, a DANDI asset URL) of either.
    optical_series_name : str, optional
        Name (or path in the file) of the photon series; by default the only one (several are an error
        that lists them).
    cache_dir : path, optional
        For a URL: keep fetched bytes in this folder, so that a later session reads them from disk.
    cache_bytes : int
        Most bytes of decoded chunks kept in memory (shared by all reads of this extractor) for a URL or
        an NWB-Zarr store.
    storage_options : dict, optional
        For URLs of other protocols read through fsspec (``gs://``, private ``s3://``): its options.
    """

    format_id = "nwb"
    extractor_name = "NwbImaging"

    def __init__(self, file_path: str | os.PathLike, optical_series_name: str | None = None, *,
                 cache_dir: str | os.PathLike | None = None, cache_bytes: int = CHUNK_CACHE_BYTES,
                 storage_options: dict | None = None):
        super().__init__()
        self._rate_memo: tuple | None = None
        self._open_source(file_path, optical_series_name, cache_dir, cache_bytes, storage_options)
        self._layout_facts()

    # ------------------------------------------------------------------ opening
    def _scan(self, root, optical_series_name, check) -> None:
        path, node = choose_series(root, optical_series_name, self._file_path)
        if check is not None:  # where the data and times lead, before anything follows them
            check(f"{path}/data")
            check(f"{path}/timestamps")
        if self._kind == "zarr":  # the small values the header reads, fetched at once (one object each)
            plane = node.child("imaging_plane")
            paths = [path, "session_start_time", "session_description", "identifier"]
            self._tree.prefetch_values(paths + ([plane.path] if plane is not None else []))
        self._series = series_layout(path, node, self._file_path)
        self._header = series_header(root, path, node, self._series)

    def _opened_local(self, h5):
        """The extent of the data checked by every read; a larger chunk cache when a chunk row needs one."""
        from .._hdf5.reads import CHUNK_CACHE_BYTES as H5_CACHE
        from .._hdf5.reads import MAX_CHUNK_CACHE_BYTES, _open_h5, chunk_row_bytes
        from .._hdf5.storage import stored_extent_at_open

        dset = h5[self._series.data]
        self._extent = stored_extent_at_open(h5, dset, self._file_path, self._series.data, 0,
                                             f"{self._file_path}: dataset {self._series.data}")
        self._chunks = dset.chunks
        filtered = dset.chunks is not None and dset.id.get_create_plist().get_nfilters() > 0
        row = chunk_row_bytes(tuple(dset.shape), dset.chunks, 0, dset.dtype.itemsize)
        if filtered and row > H5_CACHE:
            return functools.partial(_open_h5, rdcc_nbytes=min(int(row * 1.05) + 1024**2, MAX_CHUNK_CACHE_BYTES))
        return None

    def _opened_remote(self) -> None:
        from .._hdf5.reads import h5_read_errors
        from .._hdf5.remote import RemoteDataset
        from .._remote.blocks import DiskCache

        source = self._source
        disk = None
        if self._cache_dir is not None:
            disk = DiskCache(self._cache_dir, f"hdf5:{source.name}:{source.size()}:"
                                              f"{getattr(source, 'validator', None)}")
        with h5_read_errors(f"{self._file_path}: dataset {self._series.data}"):
            self._remote = RemoteDataset(self._file, source, self._series.data, self._file_path, disk)
        self._chunks = self._remote.chunks

    def _opened_zarr(self) -> None:
        from .._zarr.array import ZarrArray

        self._zarr_data = ZarrArray(self._store, self._tree.node(self._series.data.strip("/")))
        self._chunks = self._zarr_data.chunks

    def _layout_facts(self) -> None:
        shape = self._series.shape
        self._image_shape = (shape[2], shape[1])
        self._num_planes = shape[3] if len(shape) == 4 else 1
        self._dtype = self._series.dtype
        plane = self._header.get("imaging_plane") or {}
        channels = plane.get("optical_channels") or []
        name = channels[0]["name"] if len(channels) == 1 else self._series.path.rsplit("/", 1)[-1]
        self._channel_names = (name,)
        self._channel_name = name

    @staticmethod
    def get_available_series(file_path: str | os.PathLike, storage_options: dict | None = None) -> list[str]:
        """Paths of the photon series of an NWB file (``/acquisition/TwoPhotonSeries``...), in file order."""
        from .series import find_photon_series

        return list_in_file(file_path, storage_options, find_photon_series)

    # ------------------------------------------------------------------ facts
    def get_num_samples(self) -> int:
        return self._series.num_samples

    def get_image_shape(self) -> tuple[int, int]:
        return self._image_shape

    def get_num_planes(self) -> int:
        return self._num_planes

    @property
    def is_volumetric(self) -> bool:
        return bool(self._series.volumetric)

    def get_dtype(self) -> np.dtype:
        return self._dtype

    def get_file_paths(self) -> list[str]:
        return [self._file_path]

    @property
    def photon_series_name(self) -> str:
        """Name of the photon series read."""
        return self._series.path.rsplit("/", 1)[-1]

    @property
    def photon_series_path(self) -> str:
        """Path of the photon series in the file (``/acquisition/TwoPhotonSeries``)."""
        return self._series.path

    @property
    def photon_series_type(self) -> str:
        """``TwoPhotonSeries`` or ``OnePhotonSeries``."""
        return self._series.neurodata_type

    def get_sampling_frequency(self) -> float | None:
        if self._series.rate is not None:
            return self._series.rate
        if self._rate_memo is None:
            self._rate_memo = (self._rate_from_timestamps(),)
        return self._rate_memo[0]

    def _rate_from_timestamps(self) -> float | None:
        stated = (self._header.get("imaging_plane") or {}).get("imaging_rate")
        stated = stated if stated is not None and stated > 0 else None
        return self._rate_of_timestamps(stated, f"{self._file_path}: {self._series.path} has timestamps that do not "
                                               "advance and its imaging plane states no imaging_rate")

    def get_acquisition_facts(self) -> AcquisitionFacts:
        base = super().get_acquisition_facts()
        found = facts_from_header(self._header, self.channel_name, self.get_num_planes(), self.is_volumetric)
        return base.replace(**{k: v for k, v in found.items() if v is not None})

    def get_metadata(self) -> dict:
        """The series' NWB facts (attributes, data storage, imaging plane, optical channels, device, session) and,
        under ``"source"``, the header of its source that ophysio stored when it wrote the file."""
        header = dict(self._header)
        source = self._source_header()
        if source is not None:
            header["source"] = source
        return header

    def _source_header(self) -> dict | None:
        """The record ophysio keeps in ``/scratch/source_metadata_<series>`` (format, files, metadata), or None."""
        import json

        name = f"scratch/source_metadata_{self.photon_series_name}"
        try:
            raw = self._with_root(lambda root: node_at(root, name).value() if node_at(root, name) else None)
        except OphysioError:
            return None
        if isinstance(raw, list) and len(raw) == 1:
            raw = raw[0]
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        if not isinstance(raw, str):
            return None
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError):
            return {"unparsed": raw[:10000]}
        if not isinstance(record, dict) or record.get("photon_series") != self.photon_series_name:
            return None
        return {k: record[k] for k in ("format", "files", "metadata") if k in record}

    # ------------------------------------------------------------------ time
    def _times_path(self) -> str:
        return self._series.timestamps

    def _times_slice(self, path: str, start: int, stop: int) -> np.ndarray:
        if self._kind == "zarr":
            from .tree import ZarrNode

            return ZarrNode(self._tree, self._tree.node(path.strip("/"))).slice(start, stop)
        from .._hdf5.reads import h5_read_errors

        with self._file.open() as handle, h5_read_errors(f"{self._file_path}: {path}"):
            h5 = handle if self._kind == "hdf5" else handle.h5
            return np.asarray(h5[path][start:stop])

    def get_native_timestamps(self, start_sample: int | None = None, end_sample: int | None = None):
        """Times the file records: ``timestamps`` (only the samples asked for are read), or ``starting_time +
        index / rate`` when the series starts at a time other than 0; None for a series starting at 0 with a rate
        (its times are then the regular ``index / rate``)."""
        n = self.get_num_samples()
        start, stop, _ = slice(start_sample, end_sample).indices(n)
        stop = max(start, stop)
        if self._series.timestamps is not None:
            return self._read_timestamps(start, stop)
        if self._series.starting_time:
            return self._series.starting_time + np.arange(start, stop, dtype=np.float64) / self._series.rate
        return None

    def has_recorded_times(self) -> bool:
        return self._times is not None or self._series.timestamps is not None or bool(self._series.starting_time)

    # ------------------------------------------------------------------ reading
    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        target = out.swapaxes(1, 2)  # NWB's (time, x, y[, z]) view of ophysio's (samples, rows, columns[, planes])
        if self._kind == "hdf5":
            self._read_local(start, stop, target)
        elif self._kind == "zarr":
            self._zarr_data.chunked(self._cache).read(start, stop, target)
        else:
            self._read_remote(start, stop, target)

    def _read_samples(self, indices: np.ndarray, out: np.ndarray) -> None:
        """Scattered samples of a streamed file or a Zarr store: all their chunks fetched together."""
        chunked = None
        if self._kind == "zarr":
            chunked = self._zarr_data.chunked(self._cache)
        elif self._kind == "hdf5-remote":
            chunked = self._remote.chunked(self._cache)
        if chunked is None or len(indices) < 2:
            super()._read_samples(indices, out)
            return
        from .._hdf5.reads import h5_read_errors

        with h5_read_errors(f"{self._file_path}: {len(indices)} samples of {self._series.data}"):
            chunked.read_indices(indices, out.swapaxes(1, 2))

    def _read_local(self, start: int, stop: int, target: np.ndarray) -> None:
        """Blocks of whole chunk rows read by h5py into two reused buffers, the next block read (in a fetch
        thread: libhdf5 decompresses without the GIL) while this one is transposed into ``target``."""
        import threading

        from .._hdf5.reads import h5_read_errors
        from .._remote.chunks import _executor

        shape = self._series.shape
        sample = math.prod(shape[1:]) * self._dtype.itemsize
        step = max(1, LOCAL_BLOCK_BYTES // sample)
        if self._chunks:
            step = max(self._chunks[0], step // self._chunks[0] * self._chunks[0])
        where = f"{self._file_path}: samples {start}:{stop} of {self._series.data}"
        blocks = [(a, min(a + step, stop)) for a in range(start, stop, step)]
        count = 2 if len(blocks) > 1 else 1
        buffers = [np.empty((min(step, stop - start), *shape[1:]), dtype=self._dtype) for _ in range(count)]
        ahead = len(blocks) > 1 and not threading.current_thread().name.startswith("ophysio-fetch")
        with h5_read_errors(where), self._file.open() as h5:
            dset = self._dataset(h5)
            extent = self._extent

            def read(index: int) -> np.ndarray:
                a, b = blocks[index]
                block = buffers[index % count][: b - a]
                dset.read_direct(block, np.s_[a:b])
                return block

            extent.check(extent.file_size(h5), start, stop)
            pending = None
            try:
                for index, (a, b) in enumerate(blocks):
                    block = pending.result() if pending is not None else read(index)
                    pending = None
                    if ahead and index + 1 < len(blocks):
                        pending = _executor().submit(read, index + 1)
                    target[a - start : b - start] = block
            except Exception:
                if pending is not None:
                    pending.cancel()
                    try:
                        pending.result()
                    except Exception:  # noqa: BLE001 - the first failure is the one reported
                        pass
                extent.check(extent.file_size(h5), start, stop)  # a file cut short explains the failure best
                raise
            extent.check(extent.file_size(h5), start, stop)

    def _dataset(self, h5):
        cached = self.__dict__.get("_dataset_cache")
        if cached is None or cached[0] is not h5:
            cached = (h5, h5[self._series.data])
            self._dataset_cache = cached
        return cached[1]

    def _read_remote(self, start: int, stop: int, target: np.ndarray) -> None:
        from .._hdf5.reads import h5_read_errors

        chunked = self._remote.chunked(self._cache)
        with h5_read_errors(f"{self._file_path}: samples {start}:{stop} of {self._series.data}"):
            if chunked is not None:
                chunked.read(start, stop, target)
            else:
                target[...] = self._remote.read_h5py(start, stop)

    # ------------------------------------------------------------------ resources
    _TRANSIENT = ("_dataset_cache",)

    def _forget(self) -> None:
        self._dataset_cache = None
        if self._kind == "hdf5-remote":
            self._remote.forget()

