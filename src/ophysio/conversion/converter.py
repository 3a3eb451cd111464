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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .interfaces import ImagingInterface
from .metadata import Metadata, apply_timezone, merge_metadata

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
        merged = merge_metadata(self.get_metadata(), metadata)
        meta = apply_timezone(Metadata.from_dict(merged), timezone)
        needed = sum(self._series_counts())
        if len(meta.Ophys.PhotonSeries) != needed:
            from ..errors import MetadataError

            raise MetadataError(
                f"Ophys.PhotonSeries has {len(meta.Ophys.PhotonSeries)} entries but the sources give {needed} "
                "photon series (one per channel, and per plane when planes are split); list one entry for each"
            )
        if check:
            meta.check_complete(dandi=dandi, session=session)
        return meta

    def shift_all(self, seconds: float) -> None:
        """Shift the times of every interface by ``seconds``."""
        for interface in self.interfaces.values():
            for ex in interface.extractors:
                ex.set_times(ex.get_timestamps() + float(seconds))

    def add_to_nwbfile(self, nwbfile, metadata: Metadata, *, stub_test: bool = False, stub_samples: int | None = None,
                       compression: Any = "gzip", deferred: list | None = None,
                       source_rows: list | None = None, chunk_bytes: int | None = None) -> list:
        """Add every interface's photon series to ``nwbfile``."""
        series, offset = [], 0
        for interface, count in zip(self.interfaces.values(), self._series_counts()):
            series += interface.add_to_nwbfile(nwbfile, metadata, stub_test=stub_test, stub_samples=stub_samples,
                                               compression=compression, series_offset=offset, deferred=deferred,
                                               source_rows=source_rows, chunk_bytes=chunk_bytes)
            offset += count
        return series

    def run_conversion(
        self,
        nwbfile_path: str | os.PathLike,
        metadata: dict | Metadata | None = None,
        overwrite: bool = False,
        *,
        append: bool = False,
        stub_test: bool = False,
        stub_samples: int | None = None,
        compression: Any = "gzip",
        max_workers: int | None = None,
        progress: bool = False,
        progress_callback: Callable[[int, int], Any] | None = None,
        timezone: str | None = None,
        dandi: bool = True,
        backend: str = "hdf5",
        photon_series_type: str | None = None,
        chunk_bytes: int | None = None,
    ) -> Path:
        """Write the NWB file (keywords as :func:`ophysio.write_nwb`)."""
        from .nwb import run_nwb_conversion

        if photon_series_type is not None:
            for interface in self.interfaces.values():
                interface.photon_series_type = photon_series_type
        # appending keeps the existing file's session and subject: only the Ophys part must be complete
        meta = self.complete_metadata(metadata, timezone=timezone, dandi=dandi and not append, session=not append)

        def add_all(nwbfile, deferred, rows):
            self.add_to_nwbfile(nwbfile, meta, stub_test=stub_test, stub_samples=stub_samples,
                                compression=compression, deferred=deferred, source_rows=rows,
                                chunk_bytes=chunk_bytes)

        return run_nwb_conversion(nwbfile_path, add_all, meta, overwrite=overwrite, append=append,
                                  compression=compression, max_workers=max_workers, progress=progress,
                                  progress_callback=progress_callback, backend=backend)
