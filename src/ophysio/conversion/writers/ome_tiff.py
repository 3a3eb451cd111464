"""OME-TIFF output with a per-frame metadata sidecar written as frames arrive.

The pages are written like :mod:`ophysio.conversion.writers.tiff` (BigTIFF, ``XYCZT``: channel fastest,
then plane, then time). At close the first page receives the OME-XML: dimensions, channel names,
physical sizes, ``TimeIncrement`` and one ``Plane`` per page with ``TheT``/``TheZ``/``TheC`` and the
sample's time as ``DeltaT`` in seconds.

The sidecar ``<file name with extension>_frame_metadata.json`` holds ``{"p0": [one dict per page]}``,
the layout pymmcore-plus and mesofield write. Each dict has ``runner_time_ms`` (the sample's time in
milliseconds), ``index`` (``t``, ``z``, ``c``), the channel name, and any per-sample fields given with
``frame_metadata``. The sidecar is flushed after every batch and is valid JSON at every flush: a
process killed while writing leaves ``.<name>.<id>.partial`` (a readable TIFF of the pages written so
far) and ``.<name>.<id>.partial_frame_metadata.json`` (the records of those pages) beside the output.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from ..._version import __version__
from .._atomic import OutputExistsError
from ._base import WriterError
from .tiff import TiffWriter, write_tiff_pages

__all__ = ["OmeTiffWriter", "sidecar_path"]

SIDECAR_SUFFIX = "_frame_metadata.json"

_OME_TYPES = {
    "int8": "int8", "int16": "int16", "int32": "int32", "uint8": "uint8", "uint16": "uint16",
    "uint32": "uint32", "float32": "float", "float64": "double",
}


def sidecar_path(path: str | os.PathLike) -> Path:
    """The per-frame metadata sidecar of an OME-TIFF file: ``<file name with extension>_frame_metadata.json``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


class OmeTiffWriter(TiffWriter):
    """Write a movie to an OME-TIFF file (BigTIFF by default) and its per-frame metadata sidecar.

    Parameters
    ----------
    sidecar : bool
        Write the per-frame metadata sidecar (default True).
    frame_metadata : sequence of dict, optional
        With :func:`ophysio.write_imaging`: one dict of extra fields per written sample, copied into
        the sidecar records of its pages. With :meth:`write_frames`, give them per batch instead.
    image_name : str, optional
        Name of the OME Image (default: the file name).
    **kwargs
        ``bigtiff``, ``compression``, ``compression_level``, ``pixel_size_um``, ``plane_spacing_um``
        as for :class:`~ophysio.conversion.writers.tiff.TiffWriter`, and the common writer options.
    """

    format_id = "ome_tiff"
    keeps_timestamps = True
    keeps_channel_times = True

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        sidecar: bool = True,
        frame_metadata: Sequence[Mapping[str, Any]] | None = None,
        image_name: str | None = None,
        **kwargs: Any,
    ):
        kwargs["imagej"] = False
        self.sidecar = bool(sidecar)
        self._all_frame_metadata = None if frame_metadata is None else list(frame_metadata)
        self._json = None
        self._json_end = 0
        self._json_count = 0
        self._image_name = image_name or Path(path).name
        final_sidecar = sidecar_path(path)
        if self.sidecar and final_sidecar.exists() and not kwargs.get("overwrite", False):
            raise OutputExistsError(f"{final_sidecar} exists; pass overwrite=True to replace it")
        super().__init__(path, **kwargs)
        if self._all_frame_metadata is not None and self.expected_samples is not None:
            if len(self._all_frame_metadata) != self.expected_samples:
                raise WriterError(
                    f"{len(self._all_frame_metadata)} frame_metadata entries for {self.expected_samples} samples"
                )
        self._partial_sidecar = sidecar_path(self.temp_path)

    def _check_dtype(self, dtype: np.dtype) -> None:
        if dtype.name not in _OME_TYPES:
            raise WriterError(f"OME-TIFF stores {', '.join(_OME_TYPES)} pixels, not {dtype}")

    def _accepts_frame_metadata(self) -> bool:
        return True

    def _configure(self) -> None:
        super()._configure()
        if self.sidecar:
            self._json = open(self._partial_sidecar, "w+b")  # noqa: SIM115 (closed in _finish/_cleanup)
            self._json.write(b'{"p0": [')
            self._json_end = self._json.tell()

    def _write(self, channels, timestamps, frame_metadata) -> None:
        write_tiff_pages(self, self._page_stack(channels))
        self._tif.filehandle.flush()
        if self._json is None:
            return
        n = channels[0].shape[0]
        if timestamps is None:
            timestamps = (self.num_samples + np.arange(n)) / self.sampling_frequency
        if timestamps.ndim == 1:
            timestamps = np.repeat(timestamps[:, None], self.num_channels, axis=1)
        if frame_metadata is None and self._all_frame_metadata is not None:
            frame_metadata = self._all_frame_metadata[self.num_samples : self.num_samples + n]
        records = []
        for i in range(n):
            extra = dict(frame_metadata[i]) if frame_metadata is not None else {}
            for z in range(self.num_planes):
                for c in range(self.num_channels):
                    record = {
                        "format": "frame-dict",
                        "version": "1.0",
                        "runner_time_ms": float(timestamps[i, c]) * 1000.0,
                        "index": {"t": self.num_samples + i, "z": z, "c": c},
                        "channel": self.channel_names[c],
                    }
                    record.update(extra)
                    records.append(json.dumps(record, allow_nan=False, default=_jsonable))
        text = ("\n" if self._json_count == 0 else ",\n") + ",\n".join(records)
        self._json.seek(self._json_end)
        self._json.write(text.encode("utf-8"))
        self._json_end = self._json.tell()
        self._json.write(b"\n]}\n")
        self._json.truncate()
        self._json.flush()
        self._json_count += len(records)

    def _ome_xml(self) -> str:
        times = self.timestamps()
        if times.ndim == 1:
            times = np.repeat(times[:, None], self.num_channels, axis=1)
        rows, cols = self.image_shape
        pixel_attrs = [
            f'ID="Pixels:0" DimensionOrder="XYCZT" Type="{_OME_TYPES[self.dtype.name]}"',
            f'SizeX="{cols}" SizeY="{rows}" SizeZ="{self.num_planes}" SizeC="{self.num_channels}"',
            f'SizeT="{self.num_samples}" BigEndian="false" Interleaved="false"',
            f'TimeIncrement="{1.0 / self.sampling_frequency!r}" TimeIncrementUnit="s"',
        ]
        if self.pixel_size_um is not None:
            pixel_attrs.append(
                f'PhysicalSizeX="{self.pixel_size_um[1]!r}" PhysicalSizeXUnit="µm" '
                f'PhysicalSizeY="{self.pixel_size_um[0]!r}" PhysicalSizeYUnit="µm"'
            )
        if self.plane_spacing_um is not None:
            pixel_attrs.append(f'PhysicalSizeZ="{self.plane_spacing_um!r}" PhysicalSizeZUnit="µm"')
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://www.openmicroscopy.org/Schemas/OME/2016-06 '
            'http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd" '
            f'UUID="urn:uuid:{uuid.uuid4()}" Creator={quoteattr("ophysio " + __version__)}>',
            f'<Image ID="Image:0" Name={quoteattr(self._image_name)}>',
            f"<Pixels {' '.join(pixel_attrs)}>",
        ]
        for c, name in enumerate(self.channel_names):
            parts.append(
                f'<Channel ID="Channel:0:{c}" Name={quoteattr(name)} SamplesPerPixel="1"><LightPath/></Channel>'
            )
        planes = self.num_samples * self.num_planes * self.num_channels
        parts.append(f'<TiffData IFD="0" PlaneCount="{planes}"/>')
        for t in range(self.num_samples):
            for z in range(self.num_planes):
                for c in range(self.num_channels):
                    delta = f'DeltaT="{float(times[t, c])!r}" DeltaTUnit="s"'
                    parts.append(f'<Plane TheT="{t}" TheZ="{z}" TheC="{c}" {delta}/>')
        parts += ["</Pixels>", "</Image>", "</OME>"]
        return "\n".join(parts)

    def _finish(self) -> None:
        self._tif.close()
        self._tif = None
        self._pages = None
        from .tiff import overwrite_first_description

        overwrite_first_description(self.temp_path, self._ome_xml())
        if self._json is not None:
            self._json.close()
            self._json = None

    def _cleanup(self) -> None:
        super()._cleanup()
        if self._json is not None:
            try:
                self._json.close()
            except OSError:  # its last flush failed (a full disk, say); the file is removed anyway
                pass
            self._json = None
        self._partial_sidecar.unlink(missing_ok=True)

    def _after_close(self) -> None:
        if self.sidecar:
            os.replace(self._partial_sidecar, sidecar_path(self.path))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"frame_metadata value {value!r} of type {type(value).__name__} cannot be stored as JSON")
