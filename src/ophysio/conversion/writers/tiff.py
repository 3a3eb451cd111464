"""TIFF and BigTIFF output: ImageJ hyperstack metadata or plain pages, optional compression.

Pages are compressed with ``zlib`` (deflate, code 8: needs nothing beyond tifffile), ``lzw`` (code 5) or
``zstd`` (code 50000); LZW and zstd are encoded by the ``imagecodecs`` package
(``pip install "ophysio[codecs]"``), which ophysio's readers also use to decode them.

Pages are written in ImageJ's hyperstack order, time slowest, then plane, then channel (``TZCYX``);
with several channels this is also the interleaved-channel page order suite2p and ScanImage use
(page ``(t * planes + z) * channels + c``). The ImageJ description (``images``, ``channels``,
``slices``, ``frames``, ``finterval`` = 1 / rate, ``spacing`` and ``unit`` when known) is written into
the first page when the file is closed, so that frames can be appended without knowing their number.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from ._base import ImagingWriter, WriterError

__all__ = ["TiffWriter", "write_tiff_pages"]

#: Placeholder description of the first page until the real one is written at close.
_PLACEHOLDER = "ophysio: writing in progress"

_COMPRESSIONS = {None: None, "none": None, "zlib": "zlib", "deflate": "zlib", "lzw": "lzw", "zstd": "zstd"}

#: Accepted ``compression_level`` of each codec (inclusive range); LZW has no level.
_LEVELS = {"zlib": (0, 9), "zstd": (1, 22)}

#: The imagecodecs encoder tifffile calls for each codec that needs imagecodecs.
_IMAGECODECS_ENCODERS = {"lzw": "lzw_encode", "zstd": "zstd_encode"}


class TiffWriter(ImagingWriter):
    """Write a movie to a (Big)TIFF file, page by page.

    Parameters
    ----------
    bigtiff : bool
        Write BigTIFF (default; needed beyond 4 GB). Classic TIFF otherwise.
    imagej : bool
        Write ImageJ hyperstack metadata (axes, plane spacing, frame interval) in the first page;
        otherwise plain pages without a description.
    compression : {None, "zlib", "lzw", "zstd"}
        Per-page compression, lossless. ``lzw`` and ``zstd`` need the ``imagecodecs`` package
        (``pip install "ophysio[codecs]"``); ``zlib`` (alias ``deflate``) works without it.
    compression_level : int, optional
        Level of ``zlib`` (0 to 9, default 6) or ``zstd`` (1 to 22, default 3): higher is smaller and
        slower. LZW has no level.
    pixel_size_um : float or (float, float), optional
        Pixel size (rows, columns) in micrometres, stored as resolution and ``unit=micron``.
    plane_spacing_um : float, optional
        Distance between planes in micrometres (ImageJ ``spacing``).
    **kwargs
        Passed to :class:`ImagingWriter`.
    """

    format_id = "tiff"

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        bigtiff: bool = True,
        imagej: bool = True,
        compression: str | None = None,
        compression_level: int | None = None,
        pixel_size_um: float | tuple[float, float] | None = None,
        plane_spacing_um: float | None = None,
        **kwargs: Any,
    ):
        key = compression.lower() if isinstance(compression, str) else compression
        if key not in _COMPRESSIONS:
            raise WriterError(f"unknown TIFF compression {compression!r}; use one of zlib, lzw, zstd or None")
        self.compression = _COMPRESSIONS[key]
        self.compression_level = _check_level(self.compression, compression_level)
        self.bigtiff = bool(bigtiff)
        self.imagej = bool(imagej)
        if pixel_size_um is not None and np.ndim(pixel_size_um) == 0:
            pixel_size_um = (float(pixel_size_um), float(pixel_size_um))
        self.pixel_size_um = None if pixel_size_um is None else tuple(float(v) for v in pixel_size_um)
        self.plane_spacing_um = None if plane_spacing_um is None else float(plane_spacing_um)
        self._tif = None
        self._pages: np.ndarray | None = None
        super().__init__(path, **kwargs)

    # ------------------------------------------------------------------ format hooks
    def _configure(self) -> None:
        import tifffile

        if self.compression in _IMAGECODECS_ENCODERS:
            _check_imagecodecs(self.compression, self.compression_level)
        self._tif = tifffile.TiffWriter(self.temp_path, bigtiff=self.bigtiff, byteorder="<")

    def _page_stack(self, channels: list[np.ndarray]) -> np.ndarray:
        """The batch as pages (samples * planes * channels, rows, columns) in TZC order."""
        n = channels[0].shape[0]
        rows, cols = self.image_shape
        if self.num_channels == 1 and not self.volumetric:
            return np.ascontiguousarray(channels[0])
        count = n * self.num_planes * self.num_channels
        if self._pages is None or self._pages.shape[0] < count:
            self._pages = np.empty((count, rows, cols), dtype=self.dtype)
        pages = self._pages[:count].reshape(n, self.num_planes, self.num_channels, rows, cols)
        for c, data in enumerate(channels):
            if self.volumetric:
                pages[:, :, c] = data.transpose(0, 3, 1, 2)
            else:
                pages[:, 0, c] = data
        return self._pages[:count]

    def _write(self, channels, timestamps, frame_metadata) -> None:
        write_tiff_pages(self, self._page_stack(channels))

    def _description(self) -> str | None:
        if not self.imagej:
            return None
        images = self.num_samples * self.num_planes * self.num_channels
        lines = ["ImageJ=1.11a", f"images={images}"]
        if self.num_channels > 1:
            lines.append(f"channels={self.num_channels}")
        if self.num_planes > 1:
            lines.append(f"slices={self.num_planes}")
        if self.num_samples > 1:
            lines.append(f"frames={self.num_samples}")
        lines.append("hyperstack=true")
        if self.num_channels > 1:
            lines.append("mode=grayscale")
        if self.pixel_size_um is not None:
            lines.append("unit=micron")
        if self.plane_spacing_um is not None:
            lines.append(f"spacing={self.plane_spacing_um!r}")
        lines.append(f"finterval={1.0 / self.sampling_frequency!r}")
        lines.append("loop=false")
        return "\n".join(lines) + "\n"

    def _finish(self) -> None:
        self._tif.close()
        self._tif = None
        self._pages = None
        if not self.keeps_timestamps:
            _warn_irregular(self)
        description = self._description()
        if description is not None:
            overwrite_first_description(self.temp_path, description)

    def _cleanup(self) -> None:
        if self._tif is not None:
            try:
                self._tif.close()
            except Exception:  # closing a half-written file may fail; it is removed anyway
                pass
            self._tif = None


def write_tiff_pages(writer: Any, pages: np.ndarray) -> None:
    """Append ``pages`` (count, rows, columns) to ``writer._tif`` with the writer's options."""
    options: dict[str, Any] = {"photometric": "minisblack", "metadata": None, "software": "ophysio"}
    if writer.compression is not None:
        options["compression"] = writer.compression
        if writer.compression_level is not None:
            options["compressionargs"] = {"level": int(writer.compression_level)}
    if writer.num_samples == 0:
        if writer.imagej or writer.format_id == "ome_tiff":  # the first page's description, rewritten at close
            options["description"] = _PLACEHOLDER
        if writer.pixel_size_um is not None:
            options["resolution"] = (1.0 / writer.pixel_size_um[1], 1.0 / writer.pixel_size_um[0])
            options["resolutionunit"] = "NONE"
    writer._tif.write(pages, **options)


def _check_level(compression: str | None, level: Any) -> int | None:
    """``level`` as an int after checking that ``compression`` has levels and that it is in range."""
    if level is None:
        return None
    if compression is None:
        raise WriterError("compression_level was given without a compression; pass compression='zlib' or 'zstd'")
    if compression not in _LEVELS:
        raise WriterError(f"TIFF compression {compression!r} has no level; drop compression_level or use zlib/zstd")
    low, high = _LEVELS[compression]
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not low <= level <= high:
        raise WriterError(f"compression_level of {compression} must be an integer from {low} to {high}, got {level!r}")
    return int(level)


def _check_imagecodecs(compression: str, level: int | None) -> None:
    """Raise :class:`WriterError` unless imagecodecs is installed and encodes ``compression``."""
    try:
        import imagecodecs
    except ImportError as exc:
        raise WriterError(
            f'TIFF compression {compression!r} needs the imagecodecs package: pip install "ophysio[codecs]" '
            "(or pip install imagecodecs); zlib works without it"
        ) from exc
    encode = getattr(imagecodecs, _IMAGECODECS_ENCODERS[compression], None)
    try:  # a build of imagecodecs may lack a codec: find out before the first page, not at it
        encode(b"\0" * 16) if level is None else encode(b"\0" * 16, level=level)
    except Exception as exc:
        raise WriterError(
            f"this imagecodecs {getattr(imagecodecs, '__version__', '')} cannot encode {compression}: {exc}; "
            'reinstall it (pip install --force-reinstall "ophysio[codecs]") or use zlib'
        ) from exc


def overwrite_first_description(path: os.PathLike, description: str) -> None:
    """Replace the ImageDescription of the first page of a TIFF file (appended when longer)."""
    import tifffile

    with tifffile.TiffFile(path, mode="r+b") as tif:
        tag = tif.pages.first.tags.get(270)
        if tag is None:
            raise WriterError(f"{path}: the first page has no ImageDescription to replace")
        tag.overwrite(description.encode("utf-8"), erase=True)


def _warn_irregular(writer: ImagingWriter) -> None:
    """Warn when per-sample times that the format cannot keep are not a regular series."""
    if not writer._explicit_times or writer.num_samples < 2:
        return
    times = writer.timestamps()
    regular = times[0] + np.arange(times.size) / writer.sampling_frequency
    if not np.allclose(times, regular, rtol=0, atol=1e-3 / writer.sampling_frequency):
        warnings.warn(
            f"{writer.path.name}: the {writer.format_id} format keeps only the rate "
            f"({writer.sampling_frequency:.6g} Hz), not the irregular per-sample timestamps of the source; "
            "write OME-TIFF, HDF5, MAT or Zarr to keep them",
            UserWarning,
            stacklevel=4,
        )
