"""Interfaces: a source, its default NWB metadata, and how it goes into an NWB file.

:class:`ImagingInterface` wraps one or more extractors (one per channel) and maps their acquisition
facts (:meth:`~ophysio.extractors.ImagingExtractor.get_acquisition_facts`) to NWB metadata once, for every
format: there is no per-format code here. Bound to a format of the registry
(:func:`interface_for_format`), the same class takes that format's extractor keywords
(``ScanImageImagingInterface(file_path=...)``) and builds the extractors through the registry, so nothing
heavy is imported before it is used; the names ``ScanImageImagingInterface``, ``OMETiffImagingInterface``,
``TiffImagingInterface``... are these bound classes, one per registered format. A multi-channel source
gives one photon series per channel, a source whose extractor splits into streams (a multi-ROI ScanImage
acquisition: one per ROI, unless ``split_rois=False``) one per stream, and with ``split_planes=True`` a
volumetric source gives one photon series per channel and plane, each with its own ImagingPlane and
OpticalChannel.

How the facts become NWB metadata (lengths in meters, NWB's x, y, z order):

- ``Device``: ``device_name`` (else "Microscope"), ``device_description``, ``manufacturer``.
- ``NWBFile.session_start_time``: the first stream's ``session_start_time``.
- ``ImagingPlane``: ``grid_spacing`` from ``pixel_size_um`` (plus ``plane_spacing_um`` for a volume),
  ``origin_coords`` from ``origin_um``, ``reference_frame``, ``excitation_lambda`` from
  ``excitation_wavelength_nm``, ``indicator`` and ``location`` from ``indicator`` and ``brain_region`` (what
  an NWB source records); the description names the format, channel, ROI, plane and depths.
- ``OpticalChannel.emission_lambda`` from the channel's emission wavelength.
- ``PhotonSeries``: ``field_of_view`` from ``field_of_view_um``, ``scan_line_rate`` from ``line_rate_hz``
  (two-photon only); the description says when a ROI's first line was scanned after the frame's time,
  and what ophysio did to the pixels (the facts' ``processing``: a stitched canvas, a scan-phase
  correction, plane registration); when a step changed pixel values, ``comments`` says the data are not
  raw.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import MetadataError
from .facts_metadata import (
    add_plane_facts,
    clean_name,
    describe_processing,
    device_entry,
    meters,
    optical_channel_entry,
)
from .metadata import Metadata

__all__ = [
    "ImagingInterface",
    "interface_for_format",
    "interface_from_paths",
    "interface_for_extractor",
    "complete_metadata",
    "default_photon_series_type",
]


def check_rates(extractors) -> None:
    """Raise :class:`~ophysio.errors.RateUnknownError` for the first extractor that has neither a rate nor
    recorded times: said before the metadata are checked and before anything is written."""
    for ex in extractors:
        if ex.get_sampling_frequency() is None and not ex.has_recorded_times():
            ex._required_rate()


def complete_metadata(defaults: dict, metadata: dict | Metadata | None, num_series: int, *,
                      timezone: str | None = None, dandi: bool = True, check: bool = True,
                      session: bool = True, counts: dict[str, int] | None = None) -> Metadata:
    """``defaults`` merged with ``metadata`` (lists replaced), the time zone applied, one photon series
    entry per stream checked (and, with ``counts``, the number of PlaneSegmentation and RoiResponseSeries
    entries), imaging planes that nothing written names left out, and (with ``check``) the whole checked
    complete."""
    from .metadata import apply_timezone, merge_metadata

    meta = apply_timezone(Metadata.from_dict(merge_metadata(defaults, metadata)), timezone)
    if len(meta.Ophys.PhotonSeries) != num_series:
        raise MetadataError(
            f"Ophys.PhotonSeries has {len(meta.Ophys.PhotonSeries)} entries but the sources give {num_series} "
            "photon series (one per channel, and per plane when planes are split); list one entry for each"
        )
    for key, count in (counts or {}).items():
        if key != "PhotonSeries" and len(getattr(meta.Ophys, key)) != count:
            raise MetadataError(f"Ophys.{key} has {len(getattr(meta.Ophys, key))} entries but the segmentations "
                                f"give {count}; list one entry for each (`ophysio metadata-template` shows them)")
    if meta.Ophys.PlaneSegmentation:  # a segmentation linked to a movie's plane leaves its own unused
        used = {s.imaging_plane for s in meta.Ophys.PhotonSeries}
        used |= {t.imaging_plane for t in meta.Ophys.PlaneSegmentation}
        meta.Ophys.ImagingPlane = [plane for plane in meta.Ophys.ImagingPlane if plane.name in used]
    if check:
        meta.check_complete(dandi=dandi, session=session)
    return meta


class ImagingInterface:
    """One imaging source (one or more extractors, one per channel) on its way into an NWB file.

    Parameters
    ----------
    extractor : ImagingExtractor or list of ImagingExtractor
        The streams to write, one photon series each (e.g. the channels of one acquisition). A class
        bound to a format (``ScanImageImagingInterface``) takes the format's extractor keywords instead.
    split_planes : bool
        Write each plane of a volumetric source as its own photon series (with its own imaging plane).
    photon_series_type : {"TwoPhotonSeries", "OnePhotonSeries"}, optional
        NWB type of the series; by default the format's (its spec's ``photon_series_type``: one-photon for
        camera and miniscope formats, two-photon otherwise).
    split_rois : bool
        For a bound class: give each stream the extractor splits into (each ROI of a multi-ROI
        acquisition) its own photon series; False keeps the pages as stored.
    **kwargs
        For a bound class: the keywords of the format's extractor.
    """

    #: The registry id of the format the class is bound to (None: wraps extractors it is given).
    format_id: str | None = None
    #: keyword naming one channel, if the format's extractor takes one
    channel_keyword: str | None = "channel_name"

    def __init__(self, *args, split_planes: bool = False, photon_series_type: str | None = None,
                 split_rois: bool = True, **kwargs):
        if self.format_id is None:
            extractor = args[0] if args else kwargs.pop("extractor", None)
            if extractor is None or len(args) > 1 or kwargs:
                raise TypeError("ImagingInterface needs an extractor (or use a format's interface, e.g. "
                                "ScanImageImagingInterface(file_path=...))")
            extractors = list(extractor) if isinstance(extractor, (list, tuple)) else [extractor]
        else:
            extractors = self._build_extractors(args, kwargs, split_rois)
        self._wrap(extractors, split_planes, photon_series_type)

    def _wrap(self, extractors: list, split_planes: bool, photon_series_type: str | None) -> None:
        if not extractors:
            raise ValueError("ImagingInterface needs at least one extractor")
        self.extractors = extractors
        self.split_planes = split_planes
        self.photon_series_type = photon_series_type or self.default_photon_series_type(extractors)

    def default_photon_series_type(self, extractors: list) -> str:
        """The series type the format declares (:attr:`FormatSpec.photon_series_type`): of the bound format,
        else of the first extractor's format when it is registered; two-photon otherwise."""
        return default_photon_series_type(self.format_id or getattr(extractors[0], "format_id", None))

    # ------------------------------------------------------------------ building from keywords
    def _build_extractors(self, args: tuple, kwargs: dict, split_rois: bool) -> list:
        """The format's extractor(s) for its keywords: one per channel, then one per stream of each."""
        from ..extractors.registry import refuse_unknown_options

        cls = self.extractor_class()
        refuse_unknown_options(cls, kwargs, f"{type(self).__name__} reads the {self.format_id} format")
        self.source_kwargs = dict(kwargs)
        key = self.channel_keyword
        chosen = bool(key and key in kwargs) or "channel_names" in kwargs
        names = [] if chosen or not key else self._available_channel_names(cls, args, kwargs)
        if len(names) > 1:  # one extractor per saved channel
            extractors = [cls(*args, **kwargs, **{key: name}) for name in names]
        else:
            first = cls(*args, **kwargs)
            extractors = [first]
            if key and not chosen and first.get_num_channels() > 1:
                extractors = [
                    first if name == first.channel_name else cls(*args, **kwargs, **{key: name})
                    for name in first.get_channel_names()
                ]
        if not split_rois:
            return extractors
        streams = []
        for ex in extractors:
            parts = ex.split_streams()
            streams.extend(parts)
            if parts != [ex]:
                ex.close()
        return streams

    @staticmethod
    def _available_channel_names(cls: type, args: tuple, kwargs: dict) -> list[str]:
        """Channels of the source before any extractor is built, from the class's static
        ``get_available_channel_names`` (empty when the format has none or it cannot say: the extractor
        then reports what is wrong with the source)."""
        import inspect

        available = getattr(cls, "get_available_channel_names", None)
        path = (kwargs.get("file_path") or kwargs.get("folder_path") or (list(kwargs.get("file_paths") or [None])[0])
                or (args[0] if args else None))
        if not callable(available) or path is None:
            return []
        accepted = inspect.signature(available).parameters
        options = {k: v for k, v in kwargs.items()
                   if k in accepted and k not in ("file_path", "folder_path", "file_paths")}
        try:
            return list(available(path, **options))
        except Exception:  # noqa: BLE001 - the extractor, built next, raises the precise error
            return []

    @classmethod
    def extractor_class(cls) -> type:
        """The extractor class of the bound format (imported on first use)."""
        from ..extractors.registry import get_format

        if cls.format_id is None:
            raise TypeError("ImagingInterface is bound to no format; use interface_for_format(format_id)")
        return get_format(cls.format_id).load_class()

    @classmethod
    def get_source_schema(cls) -> dict:
        """Keywords of the format's extractor: name -> default (``inspect.Parameter.empty`` when required)."""
        import inspect

        params = inspect.signature(cls.extractor_class().__init__).parameters
        return {name: p.default for name, p in params.items() if name != "self"}

    # ------------------------------------------------------------------ streams
    @property
    def extractor(self):
        """The first (often the only) extractor."""
        return self.extractors[0]

    def streams(self) -> list[tuple[Any, int | None]]:
        """``(extractor, plane_index)`` of each photon series, in order (plane_index None: all planes)."""
        out = []
        for ex in self.extractors:
            if self.split_planes and ex.is_volumetric:
                out.extend((ex.select_plane(p), p) for p in range(ex.get_num_planes()))
            else:
                out.append((ex, None))
        return out

    # ------------------------------------------------------------------ metadata
    @staticmethod
    def _stream_part(facts) -> str:
        """The part of the series and imaging plane names that tells a stream apart: channel (and ROI)."""
        part = clean_name(facts.channel_name)
        roi = facts.roi
        if roi is not None and roi.count > 1:
            part += "Roi" + clean_name(roi.name or str(roi.index)).removeprefix("Roi")
        return part

    def get_metadata(self) -> dict:
        """Default metadata from the sources' acquisition facts (rate, start time, device, channels, geometry)."""
        streams = self.streams()
        several = len(streams) > 1
        planes, series, devices = [], [], {}
        start_time = None
        prefix = "OnePhotonSeries" if self.photon_series_type == "OnePhotonSeries" else "TwoPhotonSeries"
        # name part of each extractor: its channel (and ROI), or its position when those repeat
        parts = [self._stream_part(ex.get_acquisition_facts()) for ex in self.extractors]
        if len(set(parts)) < len(parts):
            parts = [f"{part}Stream{i}" for i, part in enumerate(parts)]
        channel_parts = {id(ex): part for ex, part in zip(self.extractors, parts)}
        for ex, plane_index in streams:
            base = ex.parent if plane_index is not None and hasattr(ex, "parent") else ex
            facts = ex.get_acquisition_facts()
            start_time = start_time or facts.session_start_time
            device_name = device_entry(facts, devices)
            suffix = ""
            if several:
                suffix = channel_parts[id(base)] if len(self.extractors) > 1 else ""
                if plane_index is not None:
                    suffix += f"Plane{plane_index}"
            plane_name = f"ImagingPlane{suffix}"
            rows, columns = ex.get_image_shape()
            channel = facts.channel_name if facts.channel_name is not None else ex.channel_name
            roi = facts.roi if facts.roi is not None and facts.roi.count > 1 else None
            plane: dict[str, Any] = {
                "name": plane_name,
                "description": f"{self.format_id or ex.format_id} acquisition, channel {channel}"
                + (f", ROI {roi.name!r} (index {roi.index})" if roi is not None else "")
                + (f", plane {plane_index}" if plane_index is not None else ""),
                "device": device_name,
                "optical_channel": [optical_channel_entry(channel, facts.emission_wavelength_nm)],
            }
            add_plane_facts(plane, facts, ex.get_sampling_frequency())
            depths = facts.plane_depths_um
            if depths and plane_index is not None:
                plane["description"] += f" at z = {depths[0]:g} um"
            elif depths and ex.is_volumetric:
                plane["description"] += f"; planes at z = {', '.join(f'{d:g}' for d in depths)} um"
            planes.append(plane)
            entry: dict[str, Any] = {"name": f"{prefix}{suffix}", "type": self.photon_series_type,
                                     "imaging_plane": plane_name,
                                     "description": f"{plane['description']}, {rows} x {columns} pixels"}
            if roi is not None and roi.time_offset_s is not None:
                entry["description"] += (f"; timestamps are the frames', the ROI's first line was scanned "
                                         f"{roi.time_offset_s * 1e3:.3f} ms later")
            describe_processing(entry, facts)
            if facts.field_of_view_um is not None:
                height, width, *depth = facts.field_of_view_um
                entry["field_of_view"] = meters([width, height, *depth])
            if facts.line_rate_hz and self.photon_series_type == "TwoPhotonSeries":
                entry["scan_line_rate"] = facts.line_rate_hz
            series.append(entry)
        metadata: dict[str, Any] = {
            "NWBFile": {},
            "Ophys": {"Device": list(devices.values()), "ImagingPlane": planes, "PhotonSeries": series},
        }
        if start_time is not None:
            metadata["NWBFile"]["session_start_time"] = start_time
        return metadata

    def get_metadata_schema(self) -> dict:
        """JSON schema of the metadata (with every field's description)."""
        return Metadata.json_schema()

    # ------------------------------------------------------------------ time alignment
    def get_timestamps(self) -> np.ndarray:
        """Times in seconds of the samples of the first stream."""
        return self.extractor.get_timestamps()

    def set_aligned_timestamps(self, timestamps: Sequence[float] | np.ndarray) -> None:
        """Set the time of every sample (same for every channel)."""
        for ex in self.extractors:
            ex.set_times(timestamps)

    def set_aligned_starting_time(self, starting_time: float) -> None:
        """Shift every sample so that the first is at ``starting_time`` seconds... plus its own offset."""
        for ex in self.extractors:
            ex.set_times(np.asarray(ex.get_timestamps(), dtype=np.float64) + float(starting_time))

    def align_by_interpolation(
        self, unaligned_timestamps: Sequence[float], aligned_timestamps: Sequence[float]
    ) -> None:
        """Map times through a sync signal: ``unaligned`` times (this source's clock) -> ``aligned`` times.

        Sample times are linearly interpolated (and extrapolated at the ends) between the pairs.
        """
        x = np.asarray(unaligned_timestamps, dtype=np.float64)
        y = np.asarray(aligned_timestamps, dtype=np.float64)
        if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
            raise MetadataError("align_by_interpolation needs two equal-length lists of at least two times")
        if np.any(np.diff(x) <= 0):
            raise MetadataError("align_by_interpolation: the unaligned times must increase")
        for ex in self.extractors:
            t = np.asarray(ex.get_timestamps(), dtype=np.float64)
            aligned = np.interp(t, x, y)
            left, right = t < x[0], t > x[-1]
            aligned[left] = y[0] + (t[left] - x[0]) * (y[1] - y[0]) / (x[1] - x[0])
            aligned[right] = y[-1] + (t[right] - x[-1]) * (y[-1] - y[-2]) / (x[-1] - x[-2])
            ex.set_times(aligned)

    # ------------------------------------------------------------------ writing
    def set_photon_series_type(self, photon_series_type: str) -> None:
        """Write the series as ``"TwoPhotonSeries"`` or ``"OnePhotonSeries"``."""
        self.photon_series_type = photon_series_type

    def complete_metadata(self, metadata: dict | Metadata | None = None, timezone: str | None = None,
                          dandi: bool = True, check: bool = True, session: bool = True) -> Metadata:
        """Defaults merged with ``metadata`` (lists replaced), the time zone applied, and checked complete."""
        if check:
            check_rates(self.extractors)
        return complete_metadata(self.get_metadata(), metadata, len(self.streams()), timezone=timezone, dandi=dandi,
                                 check=check, session=session)

    def series_plan(self, metadata: Metadata, options=None, series_offset: int = 0) -> list:
        """What to write: one :class:`~ophysio.conversion.nwb.build.SeriesEntry` per stream, described by
        ``metadata.Ophys.PhotonSeries[series_offset + i]``, with the samples and chunks of ``options``
        (a :class:`~ophysio.conversion.nwb.options.WriteOptions`)."""
        from .nwb.build import plan_series

        return plan_series([ex for ex, _ in self.streams()], metadata, options, series_offset)

    def add_to_nwbfile(
        self,
        nwbfile,
        metadata: Metadata | dict | None = None,
        *,
        stub_test: bool = False,
        stub_samples: int | None = None,
        compression: str | None = "gzip",
        series_offset: int = 0,
        chunk_bytes: int | None = None,
    ) -> list:
        """Add the photon series (and their planes and devices) to your own ``nwbfile``; return the series.

        The data are streamed by your ``io.write`` through an hdmf chunk iterator (HDF5 compresses, one
        core); :meth:`run_conversion` and :func:`ophysio.write_nwb` compress on every core.
        ``series_offset`` is the index of this interface's first entry in ``metadata.Ophys.PhotonSeries``.
        """
        from .nwb.build import add_series, streamed_data
        from .nwb.options import WriteOptions

        options = WriteOptions.parse(stub_test=stub_test, stub_samples=stub_samples, compression=compression,
                                     chunk_bytes=chunk_bytes)
        if metadata is None:
            metadata = self.get_metadata()
        meta = metadata if isinstance(metadata, Metadata) else Metadata.from_dict(metadata)
        return [add_series(nwbfile, meta, entry, streamed_data(entry, options.compression))
                for entry in self.series_plan(meta, options, series_offset)]

    def run_conversion(self, nwbfile_path: str | os.PathLike, metadata: dict | Metadata | None = None,
                       overwrite: bool = False, *, timezone: str | None = None, dandi: bool = True,
                       photon_series_type: str | None = None, **options: Any) -> os.PathLike:
        """Write this source to ``nwbfile_path`` (keywords as :func:`ophysio.write_nwb`)."""
        from .nwb.options import WriteOptions
        from .nwb.write import convert

        return convert(self, nwbfile_path, metadata, options=WriteOptions.parse(overwrite=overwrite, **options),
                       timezone=timezone, dandi=dandi, photon_series_type=photon_series_type)

    def close(self) -> None:
        """Close the files of every extractor (they reopen if used again)."""
        for ex in self.extractors:
            ex.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(repr(e) for e in self.extractors)})"


def default_photon_series_type(format_id: str | None) -> str:
    """The NWB type a format's series are written as by default: its spec's ``photon_series_type``
    (``"OnePhotonSeries"`` for miniscopes and cameras), ``"TwoPhotonSeries"`` for an unregistered format."""
    from ..extractors.registry import FORMATS

    for spec in FORMATS:
        if spec.id == format_id:
            return spec.photon_series_type
    return "TwoPhotonSeries"


_BOUND: dict[str, type[ImagingInterface]] = {}


def interface_for_format(format_id: str) -> type[ImagingInterface]:
    """:class:`ImagingInterface` bound to a registered format: it takes that format's extractor keywords.

    The class is made once per format and named after it (``"scanimage"`` -> ``ScanImageImagingInterface``).
    """
    if format_id not in _BOUND:
        from ..extractors.registry import get_format

        spec = get_format(format_id)
        name = f"{spec.class_name}ImagingInterface"
        loader = spec.loader.replace(":", ".")
        doc = (f"{spec.description}: :class:`ImagingInterface` bound to the ``{spec.id}`` format, taking the "
               f"keywords of :class:`~{loader}`.")
        _BOUND[format_id] = type(name, (ImagingInterface,), {"format_id": spec.id, "__doc__": doc,
                                                             "__module__": __name__})
    return _BOUND[format_id]


def interface_from_paths(paths: str | os.PathLike | Sequence[str | os.PathLike], format: str | None = None,
                         split_planes: bool = False, photon_series_type: str | None = None,
                         **kwargs: Any) -> ImagingInterface:
    """The format's interface for a file, a folder or the files of one series (format detected from content).

    Given one file of a multi-file series, the format's extractor finds the other files itself.
    """
    from ..extractors.registry import resolve_source

    spec, path_kwargs = resolve_source(paths, format)
    kwargs.update(path_kwargs)
    return interface_for_format(spec.id)(split_planes=split_planes, photon_series_type=photon_series_type, **kwargs)


def interface_for_extractor(extractor, **kwargs) -> ImagingInterface:
    """An interface around existing extractor(s) (of the interface class bound to their format, if registered):
    one extractor, a list of them, or a mapping name -> extractor such as a
    :class:`~ophysio.extractors.channels.ChannelSet` (one photon series each)."""
    from collections.abc import Mapping

    from ..extractors.registry import FORMATS

    if isinstance(extractor, Mapping):  # a ChannelSet (or a dict name -> extractor): one series per channel
        extractor = list(extractor.values())
    extractors = list(extractor) if isinstance(extractor, (list, tuple)) else [extractor]
    known = {spec.id for spec in FORMATS}
    format_id = extractors[0].format_id
    cls = interface_for_format(format_id) if format_id in known else ImagingInterface
    interface = cls.__new__(cls)
    interface._wrap(extractors, kwargs.pop("split_planes", False), kwargs.pop("photon_series_type", None))
    if kwargs:
        raise TypeError(f"interface_for_extractor takes no option {', '.join(sorted(kwargs))}")
    return interface


def _bind_registered_formats() -> None:
    """Make the bound class of every registered format importable from this module by its name."""
    from ..extractors.registry import FORMATS

    for spec in FORMATS:
        cls = interface_for_format(spec.id)
        globals()[cls.__name__] = cls
        __all__.append(cls.__name__)


_bind_registered_formats()
