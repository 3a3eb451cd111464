"""The segmentation interface: a segmentation (ROIs, traces, summary images) on its way into an NWB file.

:class:`SegmentationInterface` wraps one or more segmentation extractors and writes them with no
per-format code, as :class:`~ophysio.conversion.interfaces.ImagingInterface` writes movies. Bound to a
segmentation format of the registry (:func:`segmentation_interface_for_format`), it takes that format's
extractor keywords (``Suite2pSegmentationInterface(folder_path=...)``) and reads every channel the source
has traces of. What it writes (see :mod:`ophysio.conversion.nwb.segmentation` for the layout):

- one PlaneSegmentation per plane (``split_planes``, the default without a movie), or one for a volume;
  channels whose ROIs are the same (suite2p's ``chan2`` traces are read through ``chan1``'s ROIs) share
  one table and add their traces to it;
- the ImagingPlane it names: the raw movie's when the movie is written in the same file
  (:class:`~ophysio.conversion.converter.NWBConverter` links them), else its own;
- one RoiResponseSeries per trace and channel, in ``Fluorescence`` (``dff`` in ``DfOverF``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import MetadataError
from .facts_metadata import add_plane_facts, clean_name, device_entry, optical_channel_entry
from .interfaces import check_rates, complete_metadata
from .metadata import Metadata

__all__ = ["SegmentationInterface", "segmentation_interface_for_format", "segmentation_interface_from_path"]


def _same_rois(a, b) -> bool:
    """Whether two extractors hold the same ROIs (ids and masks): the same segmentation read for two channels."""
    if a.get_roi_ids() != b.get_roi_ids() or a._mask_shape() != b._mask_shape():
        return False
    return all(np.array_equal(x, y) for x, y in zip(a.get_roi_pixel_masks(), b.get_roi_pixel_masks()))


class SegmentationInterface:
    """One segmentation (one extractor per channel) on its way into an NWB file.

    Parameters
    ----------
    extractor : SegmentationExtractor or list of them
        The segmentation(s). A class bound to a format (``Suite2pSegmentationInterface``) takes the format's
        extractor keywords instead, and reads every channel unless one is named.
    split_planes : bool, optional
        One PlaneSegmentation per plane of a volumetric segmentation (True), or one with voxel masks (False).
        Default: per plane, unless the raw movie in the same file is one volumetric series.
    mask_type : {"auto", "image", "pixel", "voxel"}
        How masks are stored (``auto``: image masks up to 64 MiB, else pixel or voxel masks); the metadata's
        ``Ophys.PlaneSegmentation[i].mask_type`` overrides it per table.
    **kwargs
        For a bound class: the keywords of the format's extractor.
    """

    #: The registry id of the segmentation format the class is bound to (None: wraps extractors it is given).
    format_id: str | None = None
    channel_keyword: str | None = "channel_name"

    def __init__(self, *args, split_planes: bool | None = None, mask_type: str = "auto", **kwargs):
        if self.format_id is None:
            extractor = args[0] if args else kwargs.pop("extractor", kwargs.pop("segmentation_extractor", None))
            if extractor is None or len(args) > 1 or kwargs:
                raise TypeError("SegmentationInterface needs a segmentation extractor (or use a format's interface, "
                                "e.g. Suite2pSegmentationInterface(folder_path=...))")
            extractors = list(extractor) if isinstance(extractor, (list, tuple)) else [extractor]
        else:
            extractors = self._build_extractors(args, kwargs)
        if not extractors:
            raise ValueError("SegmentationInterface needs at least one extractor")
        self.extractors = extractors
        self.split_planes = split_planes
        self.mask_type = mask_type
        #: ImagingPlane names to link to, one per PlaneSegmentation (set by the converter, or by you)
        self.imaging_planes: list[str] | None = None

    def _build_extractors(self, args: tuple, kwargs: dict) -> list:
        from ..extractors.registry import refuse_unknown_options

        cls = self.extractor_class()
        refuse_unknown_options(cls, kwargs, f"{type(self).__name__} reads the {self.format_id} segmentation format")
        self.source_kwargs = dict(kwargs)
        key = self.channel_keyword
        available = getattr(cls, "get_available_channels", None)
        path = kwargs.get("folder_path") or kwargs.get("file_path") or (args[0] if args else None)
        names: list = []
        if key and key not in kwargs and callable(available) and path is not None:
            try:
                names = list(available(path))
            except Exception:  # noqa: BLE001 - the extractor, built next, raises the precise error
                names = []
        if len(names) > 1:
            return [cls(*args, **kwargs, **{key: name}) for name in names]
        return [cls(*args, **kwargs)]

    @classmethod
    def extractor_class(cls) -> type:
        """The extractor class of the bound format (imported on first use)."""
        from ..extractors.registry import get_format

        if cls.format_id is None:
            raise TypeError("SegmentationInterface is bound to no format; use segmentation_interface_for_format")
        return get_format(cls.format_id, "segmentation").load_class()

    @property
    def extractor(self):
        """The first (often the only) extractor."""
        return self.extractors[0]

    # ------------------------------------------------------------------ layout
    def _split(self) -> bool:
        return True if self.split_planes is None else bool(self.split_planes)

    def groups(self) -> list[list]:
        """One list per PlaneSegmentation: the extractors (one per channel) that share its ROIs; the first one's
        masks, properties and images are written, every one's traces."""
        key = (self._split(), len(self.extractors))
        cached = self.__dict__.get("_groups")
        if cached is not None and cached[0] == key:
            return cached[1]
        groups: list[list] = []
        for ex in self.extractors:
            parts = ex.split_planes() if self._split() and ex.is_volumetric else [ex]
            for start in range(len(groups) - len(parts) + 1):  # the same ROIs read for another channel?
                window = groups[start : start + len(parts)]
                if all(g[0].channel_name != p.channel_name and _same_rois(g[0], p) for g, p in zip(window, parts)):
                    for g, p in zip(window, parts):
                        g.append(p)
                    break
            else:
                groups.extend([p] for p in parts)
        self.__dict__["_groups"] = (key, groups)
        return groups

    def _suffixes(self, groups: list[list]) -> list[str]:
        if len(groups) == 1:
            return [""]
        leads = [g[0] for g in groups]
        channels = len({ex.channel_name for ex in leads}) > 1
        suffixes = []
        for i, ex in enumerate(leads):
            part = clean_name(ex.channel_name) if channels else ""
            plane = getattr(ex, "plane_index", None)
            part += f"Plane{plane}" if plane is not None else ("" if channels else str(i))
            suffixes.append(part)
        if len(set(suffixes)) < len(suffixes):
            suffixes = [f"{s}{i}" for i, s in enumerate(suffixes)]
        return suffixes

    def get_metadata(self) -> dict:
        """Default metadata: a PlaneSegmentation and its traces per plane, and the ImagingPlane and device they
        need when not linked to a movie's."""
        groups = self.groups()
        suffixes = self._suffixes(groups)
        if self.imaging_planes is not None and len(self.imaging_planes) != len(groups):
            raise MetadataError(f"{len(self.imaging_planes)} imaging planes to link for {len(groups)} "
                                "PlaneSegmentations")
        planes, devices, tables, series = [], {}, [], []
        start_time = None
        for g, (group, suffix) in enumerate(zip(groups, suffixes)):
            lead = group[0]
            facts = lead.get_acquisition_facts()
            start_time = start_time or facts.session_start_time
            plane_index = getattr(lead, "plane_index", None)
            where = f"{lead.format_id} segmentation" + (f", plane {plane_index}" if plane_index is not None else "")
            if self.imaging_planes is not None:
                plane_name = self.imaging_planes[g]
            else:
                plane_name = f"ImagingPlane{suffix}"
                planes.append(self._imaging_plane(plane_name, where, group, facts, devices))
            table_name = f"PlaneSegmentation{suffix}"
            volume = "x".join(str(s) for s in lead._mask_shape())
            tables.append({"name": table_name, "imaging_plane": plane_name, "mask_type": self.mask_type,
                           "description": f"{lead.get_num_rois()} ROIs of the {where} ({volume} pixels)"})
            for m, ex in enumerate(group):
                channel = clean_name(ex.channel_name) if m else ""
                for trace in ex.get_trace_names():
                    from .nwb.segmentation import TRACE_SERIES

                    entry = {"name": f"{TRACE_SERIES.get(trace, clean_name(trace))}{channel}{suffix}",
                             "plane_segmentation": table_name, "trace": trace}
                    if len(group) > 1:
                        entry["channel"] = ex.channel_name
                    series.append(entry)
        ophys: dict[str, Any] = {"Device": list(devices.values()), "ImagingPlane": planes, "PhotonSeries": [],
                                 "PlaneSegmentation": tables, "RoiResponseSeries": series}
        metadata: dict[str, Any] = {"NWBFile": {}, "Ophys": ophys}
        if start_time is not None:
            metadata["NWBFile"]["session_start_time"] = start_time
        return metadata

    @staticmethod
    def _imaging_plane(name: str, where: str, group: list, facts, devices: dict) -> dict:
        """The ImagingPlane (and device) of a table not linked to a movie's, from the source's facts."""
        channels = [optical_channel_entry(ex.channel_name, ex.get_acquisition_facts().emission_wavelength_nm)
                    for ex in group]
        plane: dict[str, Any] = {"name": name, "description": f"the imaging plane of the {where}",
                                 "device": device_entry(facts, devices), "optical_channel": channels}
        lead = group[0]
        add_plane_facts(plane, facts, lead.get_sampling_frequency(), plane_spacing=lead.is_volumetric)
        return plane

    def get_metadata_schema(self) -> dict:
        return Metadata.json_schema()

    def counts(self) -> dict[str, int]:
        """Entries this interface takes in each Ophys list."""
        groups = self.groups()
        return {"PhotonSeries": 0, "PlaneSegmentation": len(groups),
                "RoiResponseSeries": sum(len(ex.get_trace_names()) for g in groups for ex in g)}

    # ------------------------------------------------------------------ time alignment
    def get_timestamps(self) -> np.ndarray:
        return self.extractor.get_timestamps()

    def set_aligned_timestamps(self, timestamps) -> None:
        for ex in self.extractors:
            ex.set_times(timestamps)

    def set_aligned_starting_time(self, starting_time: float) -> None:
        for ex in self.extractors:
            ex.set_times(np.asarray(ex.get_timestamps(), dtype=np.float64) + float(starting_time))

    # ------------------------------------------------------------------ writing
    def set_photon_series_type(self, photon_series_type: str) -> None:
        """Nothing to do: a segmentation has no photon series."""

    def complete_metadata(self, metadata: dict | Metadata | None = None, timezone: str | None = None,
                          dandi: bool = True, check: bool = True, session: bool = True) -> Metadata:
        """Defaults merged with ``metadata``, the time zone applied, and checked complete."""
        if check:
            check_rates(self.extractors)
        return complete_metadata(self.get_metadata(), metadata, 0, timezone=timezone, dandi=dandi, check=check,
                                 session=session, counts=self.counts())

    def series_plan(self, metadata: Metadata, options=None, offsets: dict[str, int] | None = None) -> list:
        """One :class:`~ophysio.conversion.nwb.segmentation.SegmentationEntry` per PlaneSegmentation, described
        by ``metadata.Ophys.PlaneSegmentation[offsets["PlaneSegmentation"] + i]`` and its traces by the
        ``RoiResponseSeries`` entries from ``offsets["RoiResponseSeries"]`` on."""
        from .nwb.options import STUB_SAMPLES, WriteOptions
        from .nwb.segmentation import SegmentationEntry, TraceEntry, resolve_mask_type, trace_chunks

        options = WriteOptions() if options is None else options
        offsets = offsets or {}
        table_index, series_index = offsets.get("PlaneSegmentation", 0), offsets.get("RoiResponseSeries", 0)
        tables, series_list = metadata.Ophys.PlaneSegmentation, metadata.Ophys.RoiResponseSeries
        groups = self.groups()
        plan = []
        for group in groups:
            if table_index >= len(tables):
                raise MetadataError(f"Ophys.PlaneSegmentation has {len(tables)} entries; segmentation plane "
                                    f"{table_index} needs one")
            table = tables[table_index]
            lead = group[0]
            traces = []
            for ex in group:
                for trace in ex.get_trace_names():
                    if series_index >= len(series_list):
                        raise MetadataError(f"Ophys.RoiResponseSeries has {len(series_list)} entries; trace "
                                            f"{series_index} ({trace}) needs one")
                    meta = series_list[series_index]
                    if meta.trace != trace or meta.plane_segmentation != table.name:
                        raise MetadataError(
                            f"Ophys.RoiResponseSeries[{series_index}] ({meta.name}) is the {meta.trace} trace of "
                            f"{meta.plane_segmentation}, but the segmentation's next trace is {trace} of "
                            f"{table.name}: keep the entries in the order `ophysio metadata-template` gives")
                    columns = ex.get_num_background_components() if trace == "background" else ex.get_num_rois()
                    n = ex.get_num_samples()
                    stop = options.samples_to_write(n, max(STUB_SAMPLES, columns + 1))
                    dtype = np.dtype(ex._trace_dtype(trace))
                    traces.append(TraceEntry(series_index, meta.name, trace, ex, 0, stop,
                                             trace_chunks(stop, columns, dtype.itemsize)))
                    series_index += 1
            mask_type = resolve_mask_type(lead, table.mask_type if table.mask_type != "auto" else self.mask_type)
            plan.append(SegmentationEntry(table_index, table.name, lead, mask_type, tuple(traces),
                                          "" if len(groups) == 1 else f"_{table.name}"))
            table_index += 1
        return plan

    def add_to_nwbfile(self, nwbfile, metadata: Metadata | dict | None = None, *, stub_test: bool = False,
                       stub_samples: int | None = None, compression: str | None = "gzip",
                       offsets: dict[str, int] | None = None) -> list:
        """Add the segmentation to your own ``nwbfile`` (traces streamed by your ``io.write``; HDF5
        compresses); return the PlaneSegmentations."""
        from hdmf.backends.hdf5.h5_utils import H5DataIO

        from .nwb.options import WriteOptions
        from .nwb.segmentation import TraceChunkIterator, add_segmentation

        options = WriteOptions.parse(stub_test=stub_test, stub_samples=stub_samples, compression=compression)
        meta = Metadata.from_dict(self.get_metadata() if metadata is None else metadata)
        kwargs = options.compression.h5dataio_kwargs()

        def data_for(trace):
            return H5DataIO(TraceChunkIterator(trace), chunks=trace.chunks, **kwargs)

        def wrap(data, chunks):
            return H5DataIO(data=data, chunks=tuple(chunks), **kwargs)

        return [add_segmentation(nwbfile, meta, entry, data_for, wrap) for entry in self.series_plan(meta, options,
                                                                                                      offsets)]

    def run_conversion(self, nwbfile_path: str | os.PathLike, metadata: dict | Metadata | None = None,
                       overwrite: bool = False, *, timezone: str | None = None, dandi: bool = True,
                       **options: Any) -> os.PathLike:
        """Write this segmentation to ``nwbfile_path`` (keywords as :func:`ophysio.write_nwb`)."""
        from .nwb.options import WriteOptions
        from .nwb.write import convert

        return convert(self, nwbfile_path, metadata, options=WriteOptions.parse(overwrite=overwrite, **options),
                       timezone=timezone, dandi=dandi)

    def close(self) -> None:
        for ex in self.extractors:
            ex.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(repr(e) for e in self.extractors)})"


_BOUND: dict[str, type[SegmentationInterface]] = {}


def segmentation_interface_for_format(format_id: str) -> type[SegmentationInterface]:
    """:class:`SegmentationInterface` bound to a registered segmentation format (``"suite2p"`` ->
    ``Suite2pSegmentationInterface``), taking that format's extractor keywords."""
    if format_id not in _BOUND:
        from ..extractors.registry import get_format

        spec = get_format(format_id, "segmentation")
        name = f"{spec.class_name}SegmentationInterface"
        doc = (f"{spec.description}: :class:`SegmentationInterface` bound to the ``{spec.id}`` segmentation "
               f"format, taking the keywords of :class:`~{spec.loader.replace(':', '.')}`.")
        _BOUND[format_id] = type(name, (SegmentationInterface,), {"format_id": spec.id, "__doc__": doc,
                                                                  "__module__": __name__})
    return _BOUND[format_id]


def segmentation_interface_from_path(path: str | os.PathLike, format: str | None = None,
                                     **kwargs: Any) -> SegmentationInterface:
    """The format's segmentation interface for a file or folder (format detected from content)."""
    from pathlib import Path

    from ..errors import FileSetError
    from ..extractors.registry import detect_format, get_format

    if not Path(path).exists():
        raise FileSetError(f"{path} does not exist")
    spec = get_format(format, "segmentation") if format else detect_format(path, "segmentation")
    options = {k: kwargs.pop(k) for k in ("split_planes", "mask_type") if k in kwargs}
    return segmentation_interface_for_format(spec.id)(**{spec.path_argument: os.fspath(path)}, **kwargs, **options)


def _bind_registered_formats() -> None:
    from ..extractors.registry import SEGMENTATION_FORMATS

    for spec in SEGMENTATION_FORMATS:
        cls = segmentation_interface_for_format(spec.id)
        globals()[cls.__name__] = cls
        __all__.append(cls.__name__)


_bind_registered_formats()
