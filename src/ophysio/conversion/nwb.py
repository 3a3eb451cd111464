"""Writing NWB files: :func:`write_nwb`, the one-call API, and the machinery behind every conversion.

A conversion builds the ``NWBFile`` from :class:`~ophysio.conversion.metadata.Metadata`, adds each photon
series with an *empty* dataset of its final shape, dtype, chunks and filters (pynwb writes it with
``io.write``), then fills the datasets chunk by chunk with :func:`ophysio.conversion.chunks.fill_dataset`
(compression spread over the cores). Everything is written beside the output path and renamed into
place when complete (:func:`ophysio.conversion._atomic.atomic_output`).

Where the source's header goes
------------------------------
The whole header of each source (ScanImage frame data and ROI groups, OME-XML, suite2p ops, HDF5
attributes...) is stored as JSON text in the scratch dataset ``/scratch/source_metadata_<series name>``
(an NWB ``ScratchData``; one per photon series, so appending keeps every header), holding the object
``{"photon_series": name, "format": ophysio format id, "files": [source files in reading order],
"metadata": the header}`` (numpy values become lists and numbers; NaN stays NaN as Python's json writes
it). A text dataset has no size limit (an attribute, such as a series description, is limited to 64 KiB),
and nwbinspector's DANDI configuration accepts it (a JSON dictionary in a table column is reported as a
best-practice violation). Read it back with :func:`read_source_metadata`.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MetadataError, OphysioError
from .chunks import DEFAULT_CHUNK_BYTES, ImagingChunkIterator, chunk_shape_for, fill_dataset, nwb_sample_shape
from .metadata import Metadata

__all__ = [
    "write_nwb",
    "Compression",
    "series_timing",
    "make_nwbfile",
    "read_source_metadata",
    "SOURCE_METADATA_PREFIX",
    "REGULAR_TOLERANCE_S",
]

#: Name prefix of the scratch datasets that hold the sources' headers (see the module documentation).
SOURCE_METADATA_PREFIX = "source_metadata_"
#: A series whose every timestamp is within this of ``starting_time + index / rate`` is written as regular.
REGULAR_TOLERANCE_S = 1e-6
#: Samples written by ``stub_test=True`` (at least; see :func:`stub_length`).
STUB_SAMPLES = 100


def stub_length(extractor) -> int:
    """Samples of a stub: 100, or the longest spatial side when larger, so time stays the longest axis."""
    return max(STUB_SAMPLES, *extractor.get_sample_shape())


@dataclass(frozen=True)
class Compression:
    """How photon series are compressed.

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
    def parse(cls, value: str | Compression | None) -> Compression:
        """``"gzip"``, ``"gzip:6"``, ``"lzf"``, ``"zstd"``, ``"zstd:9"``, ``"blosc"``, ``"blosc:zstd:5"``,
        ``"none"``/None, or a :class:`Compression`."""
        if isinstance(value, Compression):
            return value
        if value is None or str(value).lower() in ("none", "off", "false"):
            return cls(None, None, False)
        method, *options = str(value).lower().split(":")
        if method not in ("gzip", "lzf", "zstd", "blosc"):
            raise ValueError(f"unknown compression {value!r}; use {cls.SYNTAX}")
        if method == "blosc":
            from ._compress import BLOSC_CNAMES

            if len(options) > 2 or (options and options[0] not in BLOSC_CNAMES):
                raise ValueError(f"compression {value!r}: use blosc, blosc:CNAME or blosc:CNAME:LEVEL with CNAME "
                                 f"one of {', '.join(BLOSC_CNAMES)} and LEVEL 0-9 (e.g. blosc:zstd:5)")
            level = cls._level(value, options[1], 0, 9) if len(options) == 2 else None
            return cls(method, level, cname=options[0] if options else None)
        if not options:
            return cls(method)
        if method == "lzf" or len(options) > 1:
            raise ValueError(f"compression {value!r}: a level is only for gzip, zstd or blosc; use {cls.SYNTAX}")
        low, high = (0, 9) if method == "gzip" else (1, 22)
        return cls(method, cls._level(value, options[0], low, high))

    @staticmethod
    def _level(value: Any, text: str, low: int, high: int) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise ValueError(f"compression {value!r}: the level must be an integer {low}-{high}")
        return int(text)

    @property
    def uses_plugin(self) -> bool:
        """Whether the compression is an HDF5 plugin filter (hdf5plugin needed to write and to read)."""
        return self.method in ("zstd", "blosc")

    def deflate(self):
        """``(compress, level_to_record, engine_name)`` for gzip (see :mod:`ophysio.conversion._compress`)."""
        from ._compress import deflate_engine

        return deflate_engine(self.level, self.engine)

    def h5py_kwargs(self) -> dict:
        """h5py dataset keywords (``compression``, ``compression_opts``, ``shuffle``).

        Raises :class:`~ophysio.conversion._compress.MissingPluginError` for zstd and blosc without hdf5plugin.
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


# ---------------------------------------------------------------------- timing
def series_timing(extractor, start: int = 0, stop: int | None = None) -> tuple[float, float, np.ndarray | None]:
    """``(starting_time, rate, timestamps)`` of samples start:stop as NWB stores them.

    Recorded (or set) times are written as timestamps only when irregular: when every sample lies within
    :data:`REGULAR_TOLERANCE_S` of ``starting_time + index / rate`` (with the extractor's rate, or the
    rate the times themselves imply) the series is written as ``starting_time`` and ``rate`` and
    ``timestamps`` is None.
    """
    stop = extractor.get_num_samples() if stop is None else stop
    rate = float(extractor.get_sampling_frequency())
    if not extractor._has_recorded_times():
        return float(start) / rate, rate, None
    times = np.asarray(extractor.get_timestamps(start, stop), dtype=np.float64)
    if len(times) == 0:
        return 0.0, rate, None
    index = np.arange(len(times), dtype=np.float64)
    candidates = [rate]
    if len(times) > 1 and times[-1] > times[0]:
        candidates.append((len(times) - 1) / (times[-1] - times[0]))
    for candidate in candidates:
        if np.all(np.abs(times - (times[0] + index / candidate)) <= REGULAR_TOLERANCE_S):
            return float(times[0]), float(candidate), None
    return float(times[0]), rate, times


# ---------------------------------------------------------------------- source header as JSON
def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        item = value.item()
        if isinstance(item, np.generic):  # long double: item() gives itself back, and this would recurse
            return complex(item) if value.dtype.kind == "c" else float(item) if value.dtype.kind == "f" else str(item)
        return item
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def _string_keys(value: Any, depth: int = 0) -> Any:
    """``value`` with every dict key made text (bytes keys, from HDF5 or ops, are not JSON), no deeper than
    64 levels (deeper values become their repr)."""
    if depth > 64:
        return repr(value)[:1000]
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else k.decode("latin-1") if isinstance(k, bytes) else str(k)):
                _string_keys(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_string_keys(v, depth + 1) for v in value]
    return value


def header_json(header: Any) -> str:
    """The source's header as JSON text (numpy values as lists and numbers, NaN kept as NaN)."""
    try:
        text = json.dumps(header, default=_json_default, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # keys that are not text, or nesting too deep for json
        header = _string_keys(header)
        text = json.dumps(header, default=_json_default, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (h5py's text of bytes that are not UTF-8): escape them
        text = json.dumps(header, default=_json_default, ensure_ascii=True)
    return text


def read_source_metadata(nwbfile_path: str | os.PathLike) -> dict[str, dict]:
    """The source headers stored by ophysio in an NWB file (HDF5, or an NWB-Zarr folder):
    photon series name -> {format, files, metadata}."""
    import h5py

    texts: dict[str, Any] = {}
    if Path(nwbfile_path).is_dir():
        from .nwb_zarr import read_zarr_scratch

        texts = read_zarr_scratch(nwbfile_path)
    else:
        with h5py.File(nwbfile_path, "r") as f:
            scratch = f.get("scratch", {})
            texts = {name: scratch[name][()] for name in scratch if name.startswith(SOURCE_METADATA_PREFIX)}
    result: dict[str, dict] = {}
    for name in sorted(texts):
        if not name.startswith(SOURCE_METADATA_PREFIX):
            continue
        raw = texts[name]
        record = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        result[record["photon_series"]] = {k: record[k] for k in ("format", "files", "metadata")}
    return result


def _add_source_metadata(nwbfile, rows: list[dict]) -> None:
    from pynwb.core import ScratchData

    for row in rows:
        text = header_json(row)
        nwbfile.add_scratch(ScratchData(
            name=f"{SOURCE_METADATA_PREFIX}{row['photon_series']}",
            data=text,
            description=f"Whole header of the source of the photon series /acquisition/{row['photon_series']} as "
            "JSON (keys photon_series, format, files, metadata), kept by ophysio so that nothing the acquisition "
            "software recorded is lost.",
        ))


# ---------------------------------------------------------------------- NWB objects
def make_nwbfile(metadata: Metadata):
    """A new ``pynwb.NWBFile`` from complete metadata (session and subject)."""
    from pynwb import NWBFile
    from pynwb.file import Subject

    session = metadata.NWBFile.model_dump(exclude_none=True)
    if session.get("session_start_time") is None:
        raise MetadataError("NWBFile.session_start_time is required")
    session.setdefault("identifier", str(uuid.uuid4()))
    for key in ("experimenter", "keywords", "related_publications"):
        if key in session:
            session[key] = list(session[key])
    nwbfile = NWBFile(**session)
    if metadata.Subject is not None:
        subject = metadata.Subject.model_dump(exclude_none=True)
        if subject:
            nwbfile.subject = Subject(**subject)
    return nwbfile


@dataclass
class PendingFill:
    """A dataset created empty, to fill after ``io.write``."""

    series_name: str
    extractor: Any
    start: int
    stop: int


def ensure_device(nwbfile, metadata: Metadata, name: str):
    if name in nwbfile.devices:
        return nwbfile.devices[name]
    from pynwb.device import Device

    for dev in metadata.Ophys.Device:
        if dev.name == name:
            kwargs = dev.model_dump(exclude_none=True)
            manufacturer = kwargs.pop("manufacturer", None)
            if manufacturer is not None:
                try:  # pynwb >= 3.1 keeps the manufacturer on a DeviceModel (Device.manufacturer is deprecated)
                    from pynwb.device import DeviceModel
                except ImportError:
                    kwargs["manufacturer"] = manufacturer
                else:
                    model_name = f"{name}Model"
                    if model_name in nwbfile.device_models:
                        model = nwbfile.device_models[model_name]
                    else:
                        model = DeviceModel(name=model_name, manufacturer=manufacturer,
                                            description=f"model of the device {name}")
                        nwbfile.add_device_model(model)
                    kwargs["model"] = model
            device = Device(**kwargs)
            nwbfile.add_device(device)
            return device
    raise MetadataError(f"Ophys.Device has no device named {name!r} (an imaging plane names it)")


def ensure_imaging_plane(nwbfile, metadata: Metadata, name: str):
    if name in nwbfile.imaging_planes:
        return nwbfile.imaging_planes[name]
    from pynwb.ophys import OpticalChannel

    for plane in metadata.Ophys.ImagingPlane:
        if plane.name != name:
            continue
        missing = [f for f in ("excitation_lambda", "indicator", "location") if getattr(plane, f) in (None, "")]
        if missing:
            raise MetadataError(f"Ophys.ImagingPlane {name!r} needs {', '.join(missing)}")
        kwargs = plane.model_dump(exclude_none=True, exclude={"optical_channel", "device"})
        channels = []
        for ch in plane.optical_channel:
            if ch.emission_lambda is None:
                raise MetadataError(f"Ophys.ImagingPlane {name!r}: optical channel {ch.name!r} needs emission_lambda")
            channels.append(OpticalChannel(name=ch.name, description=ch.description or ch.name,
                                           emission_lambda=ch.emission_lambda))
        device = ensure_device(nwbfile, metadata, plane.device)
        return nwbfile.create_imaging_plane(optical_channel=channels, device=device, **kwargs)
    raise MetadataError(f"Ophys.ImagingPlane has no plane named {name!r} (a photon series names it)")


def _zarr_write():
    from .nwb_zarr import ZARR_WRITE

    return ZARR_WRITE.get()


def _h5_data(extractor, stop, chunks, chunk_bytes, comp, dtype, deferred, name):
    """``H5DataIO`` of a photon series: empty (filled after ``io.write``) with ``deferred``, else streamed."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    with warnings.catch_warnings():
        if comp.uses_plugin:  # hdmf warns that plugin filters are not everywhere: the docs say so
            warnings.filterwarnings("ignore", message=".*compression may not be available", category=UserWarning)
        if deferred is not None:
            data = H5DataIO(shape=(stop, *nwb_sample_shape(extractor)), dtype=dtype, chunks=chunks,
                            **comp.h5dataio_kwargs())
            deferred.append(PendingFill(name, extractor, 0, stop))
        else:
            data = H5DataIO(ImagingChunkIterator(extractor, 0, stop, chunk_bytes), chunks=chunks,
                            **comp.h5dataio_kwargs())
    return data


def add_photon_series(
    nwbfile,
    extractor,
    metadata: Metadata,
    series_index: int = 0,
    *,
    stub_test: bool = False,
    stub_samples: int | None = None,
    compression: str | Compression | None = "gzip",
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    deferred: list | None = None,
    source_rows: list | None = None,
):
    """Add one photon series for ``extractor`` described by ``metadata.Ophys.PhotonSeries[series_index]``.

    With ``deferred`` (a list), the data are created empty and a :class:`PendingFill` is appended for
    :func:`fill_dataset` after ``io.write``; without it, the data are an :class:`ImagingChunkIterator`
    that ``io.write`` streams (HDF5 compresses).
    """
    from pynwb.ophys import OnePhotonSeries, TwoPhotonSeries

    series_list = metadata.Ophys.PhotonSeries
    if series_index >= len(series_list):
        raise MetadataError(
            f"Ophys.PhotonSeries has {len(series_list)} entries; series {series_index} needs one (one per stream)"
        )
    meta = series_list[series_index]
    if meta.name in nwbfile.acquisition:
        raise MetadataError(f"the NWB file already has an acquisition named {meta.name!r}; rename the photon series")
    plane = ensure_imaging_plane(nwbfile, metadata, meta.imaging_plane)
    n = extractor.get_num_samples()
    stop = min(n, stub_length(extractor) if stub_samples is None else int(stub_samples)) if stub_test else n
    if stop < 1:
        raise OphysioError(f"{extractor!r} has no samples to write")
    comp = Compression.parse(compression)
    chunks = chunk_shape_for(extractor, chunk_bytes, stop)
    dtype = np.dtype(extractor.dtype)
    dtype = dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype
    zarr_write = _zarr_write()
    if zarr_write is not None:  # inside a backend="zarr" conversion: stream into hdmf-zarr
        data = zarr_write.data_io(extractor, stop, chunks, chunk_bytes, comp, dtype)
    else:
        data = _h5_data(extractor, stop, chunks, chunk_bytes, comp, dtype, deferred, meta.name)
    starting_time, rate, timestamps = series_timing(extractor, 0, stop)
    kwargs = meta.model_dump(exclude_none=True, exclude={"type", "imaging_plane"})
    kwargs.setdefault("description", f"{extractor.format_id} imaging, channel {extractor.channel_name}")
    if meta.dimension is None:
        kwargs["dimension"] = list(nwb_sample_shape(extractor))
    if timestamps is not None:
        kwargs["timestamps"] = timestamps
    else:
        kwargs["starting_time"], kwargs["rate"] = starting_time, rate
    if meta.type == "OnePhotonSeries":
        kwargs.pop("scan_line_rate", None)
        cls = OnePhotonSeries
    else:
        cls = TwoPhotonSeries
    series = cls(data=data, imaging_plane=plane, **kwargs)
    nwbfile.add_acquisition(series)
    if source_rows is not None:
        source_rows.append({
            "photon_series": meta.name,
            "format": str(extractor.format_id),
            "files": [os.fspath(p) for p in extractor.get_file_paths()],
            "metadata": extractor.get_metadata(),
        })
    return series


# ---------------------------------------------------------------------- the file
def run_nwb_conversion(
    nwbfile_path: str | os.PathLike,
    add_all: Callable[[Any, list, list], None],
    metadata: Metadata,
    *,
    overwrite: bool = False,
    append: bool = False,
    compression: str | Compression | None = "gzip",
    max_workers: int | None = None,
    progress: bool = False,
    progress_callback: Callable[[int, int], Any] | None = None,
    backend: str = "hdf5",
) -> Path:
    """Create (or append to) an NWB file atomically: ``add_all(nwbfile, deferred, source_rows)`` adds objects."""
    import h5py
    from pynwb import NWBHDF5IO

    from ._atomic import atomic_output
    from ._h5discard import discard_on_error

    if backend == "zarr":
        from .nwb_zarr import write_zarr_conversion

        return write_zarr_conversion(nwbfile_path, add_all, metadata, overwrite=overwrite, append=append,
                                     compression=compression, progress=progress, progress_callback=progress_callback)
    if backend != "hdf5":
        raise OphysioError(f"unknown backend {backend!r}; use 'hdf5' (NWB HDF5, the default) or 'zarr' (NWB-Zarr)")
    comp = Compression.parse(compression)
    comp.h5py_kwargs()  # a missing hdf5plugin is reported before anything is written
    path = Path(nwbfile_path)
    if append and not path.exists():
        raise FileNotFoundError(f"{path} does not exist: nothing to append to (drop append=True to create it)")
    if append:
        try:  # the file may hold zstd or blosc datasets already: register the plugins when installed
            import hdf5plugin  # noqa: F401
        except ImportError:
            pass
    with atomic_output(path, overwrite=overwrite or append) as temp, warnings.catch_warnings():
        # the temporary name beside the output ends in .partial, not .nwb: pynwb's warning does not apply
        warnings.filterwarnings("ignore", message="The file path provided", category=UserWarning)
        deferred: list[PendingFill] = []
        rows: list[dict] = []
        if append:
            shutil.copyfile(path, temp)
            with NWBHDF5IO(str(temp), mode="a") as io, discard_on_error(lambda: io._file):
                nwbfile = io.read()
                add_all(nwbfile, deferred, rows)
                _add_source_metadata(nwbfile, rows)
                io.write(nwbfile)
        else:
            nwbfile = make_nwbfile(metadata)
            add_all(nwbfile, deferred, rows)
            _add_source_metadata(nwbfile, rows)
            with NWBHDF5IO(str(temp), mode="w") as io, discard_on_error(lambda: io._file):
                io.write(nwbfile)
        total = sum(p.stop - p.start for p in deferred)
        done_before = 0

        def callback_for(offset: int):
            if progress_callback is None:
                return None
            return lambda done, _total: progress_callback(offset + done, total)

        # discarded, not closed, after a failure: closing flushes to a disk that may be full (see _h5discard)
        with h5py.File(temp, "r+") as f, discard_on_error(lambda: f):
            for pending in deferred:
                fill_dataset(
                    f[f"acquisition/{pending.series_name}/data"], pending.extractor, pending.start, pending.stop,
                    deflate=comp.deflate()[0] if comp.method == "gzip" else None, max_workers=max_workers,
                    progress=progress, progress_callback=callback_for(done_before), description=pending.series_name,
                )
                done_before += pending.stop - pending.start
    return path


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
        :mod:`ophysio.conversion.nwb_zarr`); ``max_workers`` and ``append`` apply to HDF5 only.
    photon_series_type : {"TwoPhotonSeries", "OnePhotonSeries"}, optional
        NWB type of the series (default: TwoPhotonSeries, or what the metadata say).
    chunk_bytes : int
        Target size of a chunk (whole samples; default about 10 MB).

    Returns
    -------
    pathlib.Path
        The path of the written file.
    """
    from .converter import NWBConverter
    from .interfaces import ImagingInterface, interface_for_extractor

    if isinstance(source, NWBConverter):
        converter = source
    else:
        interface = source if isinstance(source, ImagingInterface) else interface_for_extractor(source)
        converter = NWBConverter({"Imaging": interface})
    if isinstance(metadata, (str, os.PathLike)):
        from .metadata import load_metadata

        metadata = load_metadata(metadata)
    return converter.run_conversion(
        nwbfile_path, metadata=metadata, overwrite=overwrite, append=append, stub_test=stub_test,
        stub_samples=stub_samples, compression=compression, max_workers=max_workers, progress=progress,
        progress_callback=progress_callback, timezone=timezone, dandi=dandi, backend=backend,
        photon_series_type=photon_series_type, chunk_bytes=chunk_bytes,
    )
