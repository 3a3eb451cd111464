"""Interfaces: a source, its default NWB metadata, and how it goes into an NWB file.

:class:`ImagingInterface` wraps one or more extractors (one per channel). Each format has a subclass
whose constructor takes the keywords of that format's extractor (``ScanImageImagingInterface(file_path=...)``)
and builds it through the format registry, so nothing heavy is imported before it is used. A
multi-channel source gives one photon series per channel without further work, and with
``split_planes=True`` a volumetric source gives one photon series per channel and plane, each with its
own ImagingPlane and OpticalChannel.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import MetadataError
from ._source_metadata import scanimage_defaults
from .metadata import Metadata

__all__ = [
    "ImagingInterface",
    "ScanImageImagingInterface",
    "ScanImageLegacyImagingInterface",
    "TiffImagingInterface",
    "OMETiffImagingInterface",
    "Hdf5ImagingInterface",
    "MatImagingInterface",
    "Suite2pImagingInterface",
    "BinaryImagingInterface",
    "NumpyImagingInterface",
    "interface_for_format",
    "interface_from_paths",
    "interface_for_extractor",
    "complete_metadata",
]


def _clean_name(text: str) -> str:
    """An NWB-friendly name part: letters and digits, words capitalised ('Channel 1' -> 'Channel1')."""
    words = re.split(r"[^0-9A-Za-z]+", str(text))
    return "".join(w[:1].upper() + w[1:] for w in words if w) or "Channel"


def complete_metadata(defaults: dict, metadata: dict | Metadata | None, num_series: int, *,
                      timezone: str | None = None, dandi: bool = True, check: bool = True,
                      session: bool = True) -> Metadata:
    """``defaults`` merged with ``metadata`` (lists replaced), the time zone applied, one photon series
    entry per stream checked, and (with ``check``) the whole checked complete."""
    from .metadata import apply_timezone, merge_metadata

    meta = apply_timezone(Metadata.from_dict(merge_metadata(defaults, metadata)), timezone)
    if len(meta.Ophys.PhotonSeries) != num_series:
        raise MetadataError(
            f"Ophys.PhotonSeries has {len(meta.Ophys.PhotonSeries)} entries but the sources give {num_series} "
            "photon series (one per channel, and per plane when planes are split); list one entry for each"
        )
    if check:
        meta.check_complete(dandi=dandi, session=session)
    return meta


class ImagingInterface:
    """One imaging source (one or more extractors, one per channel) on its way into an NWB file.

    Parameters
    ----------
    extractor : ImagingExtractor or list of ImagingExtractor
        The streams to write, one photon series each (e.g. the channels of one acquisition).
    split_planes : bool
        Write each plane of a volumetric source as its own photon series (with its own imaging plane).
    photon_series_type : {"TwoPhotonSeries", "OnePhotonSeries"}
        NWB type of the series.
    """

    format_id: str | None = None

    def __init__(self, extractor=None, *, split_planes: bool = False, photon_series_type: str = "TwoPhotonSeries"):
        if extractor is None:
            raise TypeError("ImagingInterface needs an extractor (or use a format's interface, e.g. "
                            "ScanImageImagingInterface(file_path=...))")
        extractors = list(extractor) if isinstance(extractor, (list, tuple)) else [extractor]
        if not extractors:
            raise ValueError("ImagingInterface needs at least one extractor")
        self.extractors = extractors
        self.split_planes = split_planes
        self.photon_series_type = photon_series_type

    # ------------------------------------------------------------------ streams
    @property
    def extractor(self):
        """The first (often the only) extractor."""
        return self.extractors[0]

    def streams(self) -> list[tuple[Any, int | None]]:
        """``(extractor, plane_index)`` of each photon series, in order (plane_index None: all planes)."""
        out = []
        for ex in self.extractors:
            if self.split_planes and ex.is_volumetric():
                out.extend((ex.select_plane(p), p) for p in range(ex.get_num_planes()))
            else:
                out.append((ex, None))
        return out

    # ------------------------------------------------------------------ metadata
    def _stream_part(self, extractor) -> str:
        """The part of the series and imaging plane names that tells this extractor's stream apart."""
        return _clean_name(extractor.channel_name)

    @staticmethod
    def _several_rois(extractor) -> bool:
        """Whether the extractor reads one ROI of a multi-ROI acquisition."""
        return getattr(extractor, "roi_index", None) is not None and len(extractor.get_roi_layout()) > 1

    def _format_defaults(self, extractor, plane_index: int | None) -> dict:
        """Format-specific defaults (see :func:`ophysio.conversion._source_metadata.scanimage_defaults`)."""
        return {}

    def get_metadata(self) -> dict:
        """Default metadata read from the source (rate, start time, device, channels, geometry)."""
        streams = self.streams()
        several = len(streams) > 1
        planes, series, devices = [], [], {}
        start_time = None
        prefix = "OnePhotonSeries" if self.photon_series_type == "OnePhotonSeries" else "TwoPhotonSeries"
        # name part of each extractor: its channel (and ROI), or its position when those repeat
        parts = [self._stream_part(ex) for ex in self.extractors]
        if len(set(parts)) < len(parts):
            parts = [f"{part}Stream{i}" for i, part in enumerate(parts)]
        channel_parts = {id(ex): part for ex, part in zip(self.extractors, parts)}
        for ex, plane_index in streams:
            base = ex.parent if plane_index is not None and hasattr(ex, "parent") else ex
            facts = self._format_defaults(base, plane_index)
            start_time = start_time or facts.get("session_start_time")
            device = facts.get("device", {"name": "Microscope"})
            devices.setdefault(device["name"], device)
            suffix = ""
            if several:
                suffix = channel_parts[id(base)] if len(self.extractors) > 1 else ""
                if plane_index is not None:
                    suffix += f"Plane{plane_index}"
            plane_name = f"ImagingPlane{suffix}"
            rows, columns = ex.get_image_shape()
            roi = getattr(base, "roi_name", None) if self._several_rois(base) else None
            plane: dict[str, Any] = {
                "name": plane_name,
                "description": f"{self.format_id or ex.format_id} acquisition, channel {ex.channel_name}"
                + (f", ROI {roi!r} (index {base.roi_index})" if roi is not None else "")
                + (f", plane {plane_index}" if plane_index is not None else ""),
                "device": device["name"],
                "imaging_rate": float(ex.get_sampling_frequency()),
                "optical_channel": [{"name": _clean_name(ex.channel_name),
                                     "description": f"channel {ex.channel_name} of the source"}],
            }
            for key in ("grid_spacing", "origin_coords", "reference_frame"):
                if key in facts:
                    plane[key] = facts[key]
            depths = facts.get("plane_depths_um")
            if depths and plane_index is not None and plane_index < len(depths):
                plane["description"] += f" at z = {depths[plane_index]:g} um"
            elif depths and ex.is_volumetric():
                plane["description"] += f"; planes at z = {', '.join(f'{d:g}' for d in depths)} um"
            planes.append(plane)
            entry: dict[str, Any] = {"name": f"{prefix}{suffix}", "type": self.photon_series_type,
                                     "imaging_plane": plane_name,
                                     "description": f"{plane['description']}, {rows} x {columns} pixels"}
            if roi is not None:
                offset = base.get_roi_layout()[base.roi_index].get("time_offset_s")
                if offset is not None:
                    entry["description"] += (f"; timestamps are the frames', the ROI's first line was scanned "
                                              f"{offset * 1e3:.3f} ms later")
            if "field_of_view" in facts:
                entry["field_of_view"] = facts["field_of_view"]
            if "scan_line_rate" in facts and self.photon_series_type == "TwoPhotonSeries":
                entry["scan_line_rate"] = facts["scan_line_rate"]
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


class _FormatInterface(ImagingInterface):
    """An interface that builds its extractor(s) from the keywords of the format's extractor."""

    format_id: str = ""
    #: keyword naming one channel, if the extractor takes one
    channel_keyword: str | None = "channel_name"

    def __init__(self, *args, split_planes: bool = False, photon_series_type: str = "TwoPhotonSeries", **kwargs):
        from ..extractors.registry import get_format, refuse_unknown_options

        cls = get_format(self.format_id).load_class()
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
        super().__init__(extractors, split_planes=split_planes, photon_series_type=photon_series_type)

    def _available_channel_names(self, cls: type, args: tuple, kwargs: dict) -> list[str]:
        """Channels of the source before any extractor is built (empty when the format cannot say cheaply)."""
        path = kwargs.get("file_path") or (list(kwargs.get("file_paths") or [None])[0]) or (args[0] if args else None)
        available = getattr(cls, "get_available_channel_names", None)
        if callable(available) and path is not None:
            return list(available(path))
        return []

    @classmethod
    def extractor_class(cls) -> type:
        """The extractor class of this format (imported on first use)."""
        from ..extractors.registry import get_format

        return get_format(cls.format_id).load_class()

    @classmethod
    def get_source_schema(cls) -> dict:
        """Keywords of the format's extractor: name -> default (``inspect.Parameter.empty`` when required)."""
        import inspect

        params = inspect.signature(cls.extractor_class().__init__).parameters
        return {name: p.default for name, p in params.items() if name != "self"}


class ScanImageImagingInterface(_FormatInterface):
    """ScanImage 2016+ files (keywords as :class:`ophysio.extractors.scanimage.ScanImageImagingExtractor`).

    Defaults from the header: rate, the session start (the ``epoch`` of the first frame: local time
    without a zone, so give ``timezone=``), device and software version, channel names, grid spacing,
    origin and field of view of the ROI scanfield in meters, plane depths, line rate.

    A multi-ROI (mROI, mesoscope) acquisition gives one photon series per channel and ROI, each with
    its own imaging plane placed at its ROI's scanfield, unless ``roi_index``/``roi_name`` picks one
    ROI or ``split_rois=False`` asks for the pages as stored (ROIs stacked with fly-to lines between).
    """

    format_id = "scanimage"

    def __init__(self, *args, split_rois: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not split_rois or kwargs.get("roi_index") is not None or kwargs.get("roi_name") is not None:
            return
        count = len(self.extractors[0].get_roi_layout())
        if count < 2:
            return
        cls = type(self.extractors[0])
        options = {k: v for k, v in self.source_kwargs.items() if k not in ("channel_name", "roi_index", "roi_name")}
        whole = self.extractors
        self.extractors = [cls(*args, **options, channel_name=ex.channel_name, roi_index=i)
                           for ex in whole for i in range(count)]
        for ex in whole:
            ex.close()

    def _stream_part(self, extractor) -> str:
        part = super()._stream_part(extractor)
        if self._several_rois(extractor):
            part += "Roi" + _clean_name(extractor.roi_name or str(extractor.roi_index)).removeprefix("Roi")
        return part

    def _format_defaults(self, extractor, plane_index):
        layout = extractor.get_roi_layout() if hasattr(extractor, "get_roi_layout") else None
        roi = getattr(extractor, "_roi_index", None)
        if plane_index is None:
            plane_index = getattr(extractor, "_plane_index", None)
        return scanimage_defaults(extractor.get_metadata(), extractor.get_image_shape(), plane_index,
                                  extractor.get_num_planes(), roi_layout=layout, roi_index=roi)


class ScanImageLegacyImagingInterface(_FormatInterface):
    """ScanImage 3.x-5.1 files (keywords as the ``scanimage_legacy`` extractor)."""

    format_id = "scanimage_legacy"

    def _format_defaults(self, extractor, plane_index):
        out = {"device": {"name": "Microscope", "description": "Microscope controlled by ScanImage (legacy)",
                          "manufacturer": "Vidrio Technologies"}}
        start = extractor.get_metadata().get("session_start_time")  # the trigger time (naive)
        if start is not None:
            out["session_start_time"] = start
        return out


class TiffImagingInterface(_FormatInterface):
    """Plain (multi-page) TIFF files (keywords as the ``tiff`` extractor)."""

    format_id = "tiff"


class OMETiffImagingInterface(_FormatInterface):
    """OME-TIFF files (keywords as the ``ome_tiff`` extractor); one photon series per OME channel.

    Defaults from the OME-XML: pixel size (``PhysicalSizeX/Y``, and Z for stacks) in meters, and the
    acquisition date as the session start.
    """

    format_id = "ome_tiff"

    def _available_channel_names(self, cls, args, kwargs):
        path = kwargs.get("file_path") or (args[0] if args else None)
        if path is None:
            return []
        try:
            import tifffile

            from ..extractors.ome_tiff.xml import parse_ome_xml

            with tifffile.TiffFile(path) as tif:
                xml = tif.ome_metadata
            _, images = parse_ome_xml(xml, str(path))
            position = kwargs.get("position")
            image = images[position] if isinstance(position, int) and 0 <= position < len(images) else images[0]
            return list(image.channel_names)
        except Exception:  # the extractor reports what is wrong with the file when it is built
            return []

    def _format_defaults(self, extractor, plane_index):
        from ._source_metadata import ome_defaults

        return ome_defaults(extractor.get_metadata(), extractor.get_num_planes(), plane_index)


class Hdf5ImagingInterface(_FormatInterface):
    """HDF5 movies (keywords as the ``hdf5`` extractor)."""

    format_id = "hdf5"


class MatImagingInterface(_FormatInterface):
    """MATLAB movies (keywords as the ``mat`` extractor)."""

    format_id = "mat"


class Suite2pImagingInterface(_FormatInterface):
    """suite2p registered binaries (keywords as the ``suite2p`` extractor)."""

    format_id = "suite2p"


class BinaryImagingInterface(_FormatInterface):
    """Raw binary movies (keywords as the ``binary`` extractor)."""

    format_id = "binary"


class NumpyImagingInterface(_FormatInterface):
    """numpy arrays and ``.npy`` files (keywords as :class:`ophysio.extractors.NumpyImagingExtractor`)."""

    format_id = "numpy"


_BY_FORMAT: dict[str, type[ImagingInterface]] = {
    cls.format_id: cls
    for cls in (ScanImageImagingInterface, ScanImageLegacyImagingInterface, TiffImagingInterface,
                OMETiffImagingInterface, Hdf5ImagingInterface, MatImagingInterface, Suite2pImagingInterface,
                BinaryImagingInterface, NumpyImagingInterface)
}


def interface_for_format(format_id: str) -> type[ImagingInterface]:
    """The interface class of a format id (a generic :class:`ImagingInterface` subclass for others)."""
    if format_id in _BY_FORMAT:
        return _BY_FORMAT[format_id]
    return type(f"{_clean_name(format_id)}ImagingInterface", (_FormatInterface,), {"format_id": format_id})


def interface_from_paths(paths: str | os.PathLike | Sequence[str | os.PathLike], format: str | None = None,
                         split_planes: bool = False, photon_series_type: str = "TwoPhotonSeries",
                         **kwargs: Any) -> ImagingInterface:
    """The format's interface for a file, a folder or the files of one series (format detected from content).

    Given one file of a multi-file series, the format's extractor finds the other files itself.
    """
    from ..extractors.registry import resolve_source

    spec, path_kwargs = resolve_source(paths, format)
    kwargs.update(path_kwargs)
    return interface_for_format(spec.id)(split_planes=split_planes, photon_series_type=photon_series_type, **kwargs)


def interface_for_extractor(extractor, **kwargs) -> ImagingInterface:
    """An interface around existing extractor(s), with the format's defaults when the format has some."""
    extractors = list(extractor) if isinstance(extractor, (list, tuple)) else [extractor]
    cls = _BY_FORMAT.get(extractors[0].format_id)
    interface = ImagingInterface.__new__(cls) if cls is not None else ImagingInterface.__new__(ImagingInterface)
    ImagingInterface.__init__(interface, extractors, **kwargs)
    return interface
