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

__all__ = ["NWBConverter"]


class NWBConverter:
    """Write several interfaces into one NWB file.

    Parameters
    ----------
    interfaces : dict of str to ImagingInterface
        Name -> interface. With more than one interface, the default names of their photon series and
        imaging planes get the interface name as a suffix so that they stay unique.
    """

    def __init__(self, interfaces: dict[str, ImagingInterface]):
        if not interfaces:
            raise ValueError("NWBConverter needs at least one interface")
        for name, interface in interfaces.items():
            if not isinstance(interface, ImagingInterface):
                raise TypeError(f"interface {name!r} is a {type(interface).__name__}, not an ImagingInterface")
        self.interfaces = dict(interfaces)

    def _series_counts(self) -> list[int]:
        return [len(i.streams()) for i in self.interfaces.values()]

    def get_metadata(self) -> dict:
        """Default metadata of every interface, gathered (the Ophys lists concatenated in interface order)."""
        several = len(self.interfaces) > 1
        result: dict[str, Any] = {"NWBFile": {}, "Ophys": {"Device": [], "ImagingPlane": [], "PhotonSeries": []}}
        device_names: set[str] = set()
        for key, interface in self.interfaces.items():
            meta = interface.get_metadata()
            for field, value in meta.get("NWBFile", {}).items():
                result["NWBFile"].setdefault(field, value)
            ophys = meta.get("Ophys", {})
            rename = {}
            for plane in ophys.get("ImagingPlane", []):
                if several:
                    rename[plane["name"]] = plane["name"] + key
                    plane["name"] = rename[plane["name"]]
                result["Ophys"]["ImagingPlane"].append(plane)
            for series in ophys.get("PhotonSeries", []):
                if several:
                    series["name"] = series["name"] + key
                    series["imaging_plane"] = rename.get(series["imaging_plane"], series["imaging_plane"])
                result["Ophys"]["PhotonSeries"].append(series)
            for device in ophys.get("Device", []):
                if device["name"] not in device_names:
                    device_names.add(device["name"])
                    result["Ophys"]["Device"].append(device)
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
        return complete_metadata(self.get_metadata(), metadata, sum(self._series_counts()), timezone=timezone,
                                 dandi=dandi, check=check, session=session)

    def shift_all(self, seconds: float) -> None:
        """Shift the times of every interface by ``seconds``."""
        for interface in self.interfaces.values():
            for ex in interface.extractors:
                ex.set_times(ex.get_timestamps() + float(seconds))

    def set_photon_series_type(self, photon_series_type: str) -> None:
        """Write every interface's series as ``"TwoPhotonSeries"`` or ``"OnePhotonSeries"``."""
        for interface in self.interfaces.values():
            interface.set_photon_series_type(photon_series_type)

    def series_plan(self, metadata: Metadata, options=None) -> list:
        """What to write: every interface's :meth:`~ophysio.conversion.interfaces.ImagingInterface.series_plan`,
        in order."""
        plan, offset = [], 0
        for interface, count in zip(self.interfaces.values(), self._series_counts()):
            plan += interface.series_plan(metadata, options, offset)
            offset += count
        return plan

    def add_to_nwbfile(self, nwbfile, metadata: Metadata, *, stub_test: bool = False, stub_samples: int | None = None,
                       compression: Any = "gzip", chunk_bytes: int | None = None) -> list:
        """Add every interface's photon series to your own ``nwbfile`` (streamed by your ``io.write``)."""
        series, offset = [], 0
        for interface, count in zip(self.interfaces.values(), self._series_counts()):
            series += interface.add_to_nwbfile(nwbfile, metadata, stub_test=stub_test, stub_samples=stub_samples,
                                               compression=compression, series_offset=offset, chunk_bytes=chunk_bytes)
            offset += count
        return series

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
