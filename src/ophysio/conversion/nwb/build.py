"""The NWB file in memory: built from metadata plus a plan of photon series; no I/O.

A *plan* is a list of :class:`SeriesEntry`, one per photon series: what to write (which entry of
``metadata.Ophys.PhotonSeries``, from which extractor, samples start:stop) and how it is chunked (whole
samples of about ``chunk_bytes``, in NWB layout). Interfaces and the converter make the plan
(:func:`plan_series`); :func:`build_nwbfile` turns metadata and plan into ``pynwb`` objects, the data of
each series given by the backend (an empty dataset to fill after ``io.write`` for HDF5, a chunk iterator
for Zarr, or :func:`streamed_data` for a caller's own ``NWBHDF5IO``).
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import MetadataError, OphysioError
from ..chunks import ImagingChunkIterator, chunk_shape_for, nwb_sample_shape
from ..metadata import Metadata
from .options import STUB_SAMPLES, WriteOptions
from .source_header import add_source_metadata, source_row

__all__ = [
    "SeriesEntry",
    "plan_series",
    "build_nwbfile",
    "add_series",
    "streamed_data",
    "make_nwbfile",
    "series_timing",
    "stub_length",
    "REGULAR_TOLERANCE_S",
]

#: A series whose every timestamp is within this of ``starting_time + index / rate`` is written as regular.
REGULAR_TOLERANCE_S = 1e-6


def stub_length(extractor) -> int:
    """Samples of a stub: 100, or the longest spatial side when larger, so time stays the longest axis."""
    return max(STUB_SAMPLES, *extractor.get_sample_shape())


# ---------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class SeriesEntry:
    """One photon series to write: entry ``series_index`` of ``metadata.Ophys.PhotonSeries``, samples
    ``start:stop`` of ``extractor``, chunks of shape ``chunks`` (NWB layout, whole samples)."""

    series_index: int
    name: str
    extractor: Any
    start: int
    stop: int
    chunks: tuple

    @property
    def num_samples(self) -> int:
        return self.stop - self.start

    @property
    def shape(self) -> tuple:
        """Shape of the dataset in NWB layout."""
        return (self.num_samples, *nwb_sample_shape(self.extractor))

    @property
    def dtype(self) -> np.dtype:
        """Stored dtype (the source's, in native byte order)."""
        dtype = np.dtype(self.extractor.dtype)
        return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype


def plan_series(extractors: list, metadata: Metadata, options: WriteOptions | None = None,
                first_index: int = 0) -> list[SeriesEntry]:
    """One :class:`SeriesEntry` per extractor, described by ``metadata.Ophys.PhotonSeries[first_index + i]``."""
    options = WriteOptions() if options is None else options
    series_list = metadata.Ophys.PhotonSeries
    plan = []
    for i, extractor in enumerate(extractors):
        index = first_index + i
        if index >= len(series_list):
            raise MetadataError(
                f"Ophys.PhotonSeries has {len(series_list)} entries; series {index} needs one (one per stream)"
            )
        stop = options.samples_to_write(extractor.get_num_samples(), stub_length(extractor))
        if stop < 1:
            raise OphysioError(f"{extractor!r} has no samples to write")
        plan.append(SeriesEntry(index, series_list[index].name, extractor, 0, stop,
                                chunk_shape_for(extractor, options.chunk_bytes, stop)))
    return plan


# ---------------------------------------------------------------------- timing
def series_timing(extractor, start: int = 0, stop: int | None = None) -> tuple[float, float, np.ndarray | None]:
    """``(starting_time, rate, timestamps)`` of samples start:stop as NWB stores them.

    Recorded (or set) times are written as timestamps only when irregular: when every sample lies within
    :data:`REGULAR_TOLERANCE_S` of ``starting_time + index / rate`` (with the extractor's rate, or the
    rate the times themselves imply) the series is written as ``starting_time`` and ``rate`` and
    ``timestamps`` is None.
    """
    stop = extractor.get_num_samples() if stop is None else stop
    if not extractor.has_recorded_times():
        rate = extractor._required_rate()  # RateUnknownError saying how to give one
        return float(start) / rate, rate, None
    rate = extractor.get_sampling_frequency()
    times = np.asarray(extractor.get_timestamps(start, stop), dtype=np.float64)
    if len(times) == 0:
        return 0.0, rate, None
    index = np.arange(len(times), dtype=np.float64)
    candidates = [] if rate is None else [float(rate)]
    if len(times) > 1 and times[-1] > times[0]:
        candidates.append((len(times) - 1) / (times[-1] - times[0]))
    for candidate in candidates:
        if np.all(np.abs(times - (times[0] + index / candidate)) <= REGULAR_TOLERANCE_S):
            return float(times[0]), float(candidate), None
    return float(times[0]), rate, times


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


# ---------------------------------------------------------------------- series
def streamed_data(entry: SeriesEntry, compression, on_samples: Callable[[int], Any] | None = None):
    """``H5DataIO`` that streams the entry's samples through an hdmf chunk iterator (HDF5 compresses)."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    with warnings.catch_warnings():
        if compression.uses_plugin:  # hdmf warns that plugin filters are not everywhere: the docs say so
            warnings.filterwarnings("ignore", message=".*compression may not be available", category=UserWarning)
        iterator = ImagingChunkIterator(entry.extractor, entry.start, entry.stop, chunk_shape=entry.chunks,
                                        buffer_shape=entry.chunks, on_samples=on_samples)
        return H5DataIO(iterator, chunks=entry.chunks, **compression.h5dataio_kwargs())


def add_series(nwbfile, metadata: Metadata, entry: SeriesEntry, data):
    """Add the photon series of ``entry`` (with ``data``), its imaging plane and device, to ``nwbfile``."""
    from pynwb.ophys import OnePhotonSeries, TwoPhotonSeries

    meta = metadata.Ophys.PhotonSeries[entry.series_index]
    if meta.name in nwbfile.acquisition:
        raise MetadataError(f"the NWB file already has an acquisition named {meta.name!r}; rename the photon series")
    plane = ensure_imaging_plane(nwbfile, metadata, meta.imaging_plane)
    extractor = entry.extractor
    starting_time, rate, timestamps = series_timing(extractor, entry.start, entry.stop)
    kwargs = meta.model_dump(exclude_none=True, exclude={"type", "imaging_plane"})
    kwargs.setdefault("description", f"{extractor.format_id} imaging, channel {extractor.channel_name}")
    if meta.dimension is None:
        kwargs["dimension"] = list(nwb_sample_shape(extractor))
    if timestamps is not None:
        kwargs["timestamps"] = timestamps
    else:
        kwargs["starting_time"], kwargs["rate"] = starting_time, rate
    if meta.type == "OnePhotonSeries":
        # NWB's OnePhotonSeries has neither a scan line rate nor a field of view (the imaging plane's grid
        # spacing and the dimension keep the geometry)
        kwargs.pop("scan_line_rate", None)
        kwargs.pop("field_of_view", None)
        cls = OnePhotonSeries
    else:
        cls = TwoPhotonSeries
    series = cls(data=data, imaging_plane=plane, **kwargs)
    nwbfile.add_acquisition(series)
    return series


def build_nwbfile(metadata: Metadata, plan: list, data_for: Callable[[Any], Any], nwbfile=None,
                  wrap: Callable[[Any, tuple], Any] | None = None):
    """The ``NWBFile`` (a new one from ``metadata``, or ``nwbfile`` extended) with every entry of ``plan``,
    and the sources' headers in ``/scratch``.

    A :class:`SeriesEntry` is a photon series with ``data_for(entry)`` as data; a
    :class:`~ophysio.conversion.nwb.segmentation.SegmentationEntry` a segmentation whose traces get
    ``data_for(trace_entry)`` and whose masks and images are stored as ``wrap(data, chunks)`` gives them.
    """
    nwbfile = make_nwbfile(metadata) if nwbfile is None else nwbfile
    rows = []
    for entry in plan:
        if not isinstance(entry, SeriesEntry):  # a SegmentationEntry adds itself (nwb/segmentation.py)
            entry.add_to_nwbfile(nwbfile, metadata, data_for, wrap)
            files = [str(p) for p in entry.extractor.get_file_paths()]
            same = next((r for r in rows if "plane_segmentation" in r and files and r["files"] == files), None)
            if same is not None:  # the planes of one source: its header once, naming every table
                same["plane_segmentations"].append(entry.name)
                continue
            row = source_row(entry.name, entry.extractor, kind="plane_segmentation")
            row["plane_segmentations"] = [entry.name]
            rows.append(row)
            continue
        add_series(nwbfile, metadata, entry, data_for(entry))
        rows.append(source_row(entry.name, entry.extractor))
    add_source_metadata(nwbfile, rows)
    return nwbfile


