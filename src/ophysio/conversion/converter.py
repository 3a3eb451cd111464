"""Several interfaces into one NWB file with one metadata object.

>>> converter = NWBConverter({"Green": ScanImageImagingInterface(file_path="a.tif"),
...                          "Red": ScanImageImagingInterface(file_path="b.tif")})   # doctest: +SKIP
>>> metadata = converter.get_metadata()                                            # doctest: +SKIP
>>> converter.run_conversion("session.nwb", metadata=user_metadata)                # doctest: +SKIP

Temporal alignment goes through each interface (``set_aligned_timestamps``, ``set_aligned_starting_time``,
``align_by_interpolation``); the converter adds :meth:`NWBConverter.shift_all` for a common offset.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .interfaces import ImagingInterface, check_rates, complete_metadata
from .metadata import Metadata
from .segmentation_interface import SegmentationInterface

__all__ = ["NWBConverter", "describer_for"]

_LISTS = ("PhotonSeries", "PlaneSegmentation", "RoiResponseSeries")


class NWBConverter:
    """Write several interfaces into one NWB file.

    Parameters
    ----------
    interfaces : dict of str to ImagingInterface or SegmentationInterface
        Name -> interface. With more than one imaging interface, the default names of their photon series
        and imaging planes get the interface name as a suffix so that they stay unique (and so do a
        segmentation interface's tables and series when there are several).

    Notes
    -----
    A segmentation written with one imaging interface is linked to its movie: when its field of view is
    the movie's (rows, columns and planes), its PlaneSegmentations name the movie's ImagingPlanes (the
    channel of the same name, else the first), one per plane when the movie's planes are split, one
    volumetric table when the movie is one volume. Otherwise it gets its own ImagingPlane (name the
    movie's in ``Ophys.PlaneSegmentation[i].imaging_plane`` to link it by hand).
    """

    def __init__(self, interfaces: dict[str, ImagingInterface | SegmentationInterface]):
        if not interfaces:
            raise ValueError("NWBConverter needs at least one interface")
        for name, interface in interfaces.items():
            if not isinstance(interface, (ImagingInterface, SegmentationInterface)):
                raise TypeError(f"interface {name!r} is a {type(interface).__name__}, not an ImagingInterface or a "
                                "SegmentationInterface")
        self.interfaces = dict(interfaces)
        self._link()

    def _kind(self, cls: type) -> dict:
        return {k: i for k, i in self.interfaces.items() if isinstance(i, cls)}

    def _link(self) -> None:
        """Link each segmentation to the one movie's imaging planes when their fields of view agree."""
        imaging = list(self._kind(ImagingInterface).values())
        if len(imaging) != 1:
            return
        movie = imaging[0]
        streams = movie.streams()
        names = [plane["name"] for plane in movie.get_metadata()["Ophys"]["ImagingPlane"]]

        def base(i: int):
            ex, plane = streams[i]
            return ex.parent if plane is not None else ex

        for segmentation in self._kind(SegmentationInterface).values():
            if segmentation.imaging_planes is not None:
                continue
            lead = segmentation.extractor
            mine = [i for i in range(len(streams)) if base(i).channel_name == lead.channel_name]
            mine = mine or [i for i in range(len(streams)) if base(i).channel_name == base(0).channel_name]
            movie_shape = (*base(mine[0]).get_image_shape(), base(mine[0]).get_num_planes())
            shape = (*lead.get_image_shape(), lead.get_num_planes())
            if tuple(movie_shape) != tuple(shape):
                import warnings

                warnings.warn(f"the segmentation ({' x '.join(map(str, shape))}: rows, columns, planes) does not cover "
                              f"the movie's field of view ({' x '.join(map(str, movie_shape))}): it gets its own "
                              "ImagingPlane; name the movie's in Ophys.PlaneSegmentation[i].imaging_plane to link them",
                              UserWarning, stacklevel=3)
                continue
            movie_split = streams[mine[0]][1] is not None
            if not lead.is_volumetric:
                segmentation.imaging_planes = [names[mine[0]]] * len(segmentation.groups())
            elif not movie_split and segmentation.split_planes is not True:  # one volume: so is the segmentation
                segmentation.split_planes = False
                segmentation.imaging_planes = [names[mine[0]]] * len(segmentation.groups())
            elif movie_split and segmentation.split_planes is not False:  # a plane each: so is the segmentation
                segmentation.split_planes = True
                by_plane = {streams[i][1]: names[i] for i in mine}
                segmentation.imaging_planes = [by_plane[group[0].plane_index] for group in segmentation.groups()]

    def _counts(self) -> list[dict[str, int]]:
        counts = []
        for interface in self.interfaces.values():
            if isinstance(interface, SegmentationInterface):
                counts.append(interface.counts())
            else:
                counts.append({"PhotonSeries": len(interface.streams())})
        return counts

    def _series_counts(self) -> list[int]:
        return [c.get("PhotonSeries", 0) for c in self._counts()]

    def get_metadata(self) -> dict:
        """Default metadata of every interface, gathered (the Ophys lists concatenated in interface order)."""
        several = {cls: len(self._kind(cls)) > 1 for cls in (ImagingInterface, SegmentationInterface)}
        result: dict[str, Any] = {"NWBFile": {}, "Ophys": {"Device": [], "ImagingPlane": [], "PhotonSeries": [],
                                                           "PlaneSegmentation": [], "RoiResponseSeries": []}}
        device_names: set[str] = set()
        taken: dict[str, set[str]] = {kind: set() for kind in ("ImagingPlane", *_LISTS)}
        for key, interface in self.interfaces.items():
            meta = interface.get_metadata()
            rename_all = several[ImagingInterface if isinstance(interface, ImagingInterface) else SegmentationInterface]
            for field, value in meta.get("NWBFile", {}).items():
                result["NWBFile"].setdefault(field, value)
            ophys = meta.get("Ophys", {})
            renamed: dict[str, dict[str, str]] = {}
            # (list, the field naming an entry of another list): names get the interface name as a suffix when
            # there are several interfaces of the kind, or when another interface took the name already
            for kind, reference, target in (("ImagingPlane", None, None), ("PhotonSeries", "imaging_plane",
                                                                          "ImagingPlane"),
                                            ("PlaneSegmentation", "imaging_plane", "ImagingPlane"),
                                            ("RoiResponseSeries", "plane_segmentation", "PlaneSegmentation")):
                names = renamed.setdefault(kind, {})
                for entry in ophys.get(kind, []):
                    if rename_all or entry["name"] in taken[kind]:
                        names[entry["name"]] = entry["name"] + key
                        entry["name"] = names[entry["name"]]
                    taken[kind].add(entry["name"])
                    if reference is not None:
                        entry[reference] = renamed[target].get(entry[reference], entry[reference])
                    result["Ophys"][kind].append(entry)
            for device in ophys.get("Device", []):
                if device["name"] not in device_names:
                    device_names.add(device["name"])
                    result["Ophys"]["Device"].append(device)
        for key in ("PlaneSegmentation", "RoiResponseSeries"):
            if not result["Ophys"][key]:
                del result["Ophys"][key]
        return result

    def get_metadata_schema(self) -> dict:
        """JSON schema of the metadata."""
        return Metadata.json_schema()

    def complete_metadata(self, metadata: dict | Metadata | None = None, timezone: str | None = None,
                          dandi: bool = True, check: bool = True, session: bool = True) -> Metadata:
        """Defaults merged with ``metadata`` (lists replaced), the time zone applied, and checked complete."""
        if check:
            for interface in self.interfaces.values():
                check_rates(interface.extractors)
        totals = {key: sum(c.get(key, 0) for c in self._counts()) for key in _LISTS}
        return complete_metadata(self.get_metadata(), metadata, totals["PhotonSeries"], timezone=timezone,
                                 dandi=dandi, check=check, session=session, counts=totals)

    def shift_all(self, seconds: float) -> None:
        """Shift the times of every interface by ``seconds``."""
        for interface in self.interfaces.values():
            for ex in interface.extractors:
                ex.set_times(ex.get_timestamps() + float(seconds))

    def set_photon_series_type(self, photon_series_type: str) -> None:
        """Write every interface's series as ``"TwoPhotonSeries"`` or ``"OnePhotonSeries"``."""
        for interface in self.interfaces.values():
            interface.set_photon_series_type(photon_series_type)

    def _offsets(self):
        offsets = dict.fromkeys(_LISTS, 0)
        for interface, count in zip(self.interfaces.values(), self._counts()):
            yield interface, dict(offsets)
            for key in _LISTS:
                offsets[key] += count.get(key, 0)

    def series_plan(self, metadata: Metadata, options=None) -> list:
        """What to write: every interface's plan, in order (photon series and segmentations)."""
        plan = []
        for interface, offsets in self._offsets():
            if isinstance(interface, SegmentationInterface):
                plan += interface.series_plan(metadata, options, offsets)
            else:
                plan += interface.series_plan(metadata, options, offsets["PhotonSeries"])
        return plan

    def add_to_nwbfile(self, nwbfile, metadata: Metadata, *, stub_test: bool = False, stub_samples: int | None = None,
                       compression: Any = "gzip", chunk_bytes: int | None = None) -> list:
        """Add every interface's photon series and segmentations to your own ``nwbfile`` (streamed by your
        ``io.write``)."""
        added = []
        for interface, offsets in self._offsets():
            if isinstance(interface, SegmentationInterface):
                added += interface.add_to_nwbfile(nwbfile, metadata, stub_test=stub_test, stub_samples=stub_samples,
                                                  compression=compression, offsets=offsets)
            else:
                added += interface.add_to_nwbfile(nwbfile, metadata, stub_test=stub_test, stub_samples=stub_samples,
                                                  compression=compression, series_offset=offsets["PhotonSeries"],
                                                  chunk_bytes=chunk_bytes)
        return added

    def run_conversion(self, nwbfile_path: str | os.PathLike, metadata: dict | Metadata | None = None,
                       overwrite: bool = False, *, timezone: str | None = None, dandi: bool = True,
                       photon_series_type: str | None = None, **options: Any) -> Path:
        """Write the NWB file (keywords as :func:`ophysio.write_nwb`: ``append``, ``stub_test``,
        ``stub_samples``, ``compression``, ``max_workers``, ``progress``, ``progress_callback``, ``backend``,
        ``chunk_bytes``, checked once by :class:`~ophysio.conversion.nwb.options.WriteOptions`)."""
        from .nwb.options import WriteOptions
        from .nwb.write import convert

        return convert(self, nwbfile_path, metadata, options=WriteOptions.parse(overwrite=overwrite, **options),
                       timezone=timezone, dandi=dandi, photon_series_type=photon_series_type)

    def close(self) -> None:
        """Close the files of every interface."""
        for interface in self.interfaces.values():
            interface.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def describer_for(source):
    """What :func:`ophysio.write_nwb` writes for ``source``: an interface (or a converter) around extractors.

    Imaging extractors become one :class:`ImagingInterface`; segmentation extractors one
    :class:`SegmentationInterface`; a list holding both a converter that writes the movie and its
    segmentation in one file, linked.
    """
    from ..extractors.segmentation import SegmentationExtractor
    from .interfaces import interface_for_extractor

    items = list(source) if isinstance(source, (list, tuple)) else [source]
    segmentations = [x for x in items if isinstance(x, SegmentationExtractor)]
    movies = [x for x in items if not isinstance(x, SegmentationExtractor)]
    if not segmentations:
        return interface_for_extractor(source)
    if not movies:
        return SegmentationInterface(segmentations)
    return NWBConverter({"Imaging": interface_for_extractor(movies),
                         "Segmentation": SegmentationInterface(segmentations)})
