"""Movie output through PyAV: lossless FFV1 in Matroska (or AVI) for archives, H.264 MP4 for quick looks.

**FFV1** (``.mkv``, ``.avi``; the default there) is lossless: ``uint8`` frames are stored as ``gray``,
``uint16`` as ``gray16le``, and read back bit-exact (by ophysio, FFmpeg, OpenCV...). Every frame is a
keyframe by default (``gop=1``), so any frame decodes on its own. Other dtypes are refused (convert the
movie, or write another format).

**H.264** (``.mp4``, ``.mov``; the default there; also in ``.mkv``) is lossy (``crf``, default 18: small
visible loss; 0 is lossless) and plays everywhere: frames are 8-bit ``yuv420p`` holding the grey values
as full-range luma (the stream is tagged full range, so ophysio and players read the values as given).
A ``uint8`` movie is stored as it is; any other dtype is scaled to 0-255:
``uint8 = clip(round((value - low) * 255 / (high - low)), 0, 255)``, with ``low, high`` the movie's
minimum and maximum (``scaling="minmax"``, a pass over the source before writing), the
``percentiles`` of a sample of its frames (``scaling="percentile"``) or given (``scaling=(low, high)``).
Frames fed over time to :func:`ophysio.open_writer` take the range of the first batch unless it is given.
The scaling applied is recorded in the container and returned by the writer (:attr:`VideoWriter.scaling`).
H.264 with 4:2:0 chroma needs an even frame size: an odd one is padded by repeating the last row or
column, and the true size is recorded, so ophysio reads the frames back at their size.

**Facts kept.** The container's comment holds ``{"ophysio": {...}}`` as JSON: the rate, the channel
name, the frame size, the source's dtype and format, and the scaling; ophysio's video reader uses them.
**Times.** Matroska and MP4 keep a presentation time per frame (Matroska to the millisecond, MP4 here to
the microsecond): per-sample timestamps are kept; a regular movie is written at its rate. AVI keeps only
the rate (a warning says so when the source's times are irregular).

A video holds one planar channel: write a volume with ``split="planes"`` and several channels with
``split="channels"`` (one video each).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from fractions import Fraction
from typing import Any

import numpy as np

from ..._version import __version__
from ._base import ImagingWriter, WriterError

__all__ = ["VideoWriter", "VIDEO_SUFFIXES"]

#: suffix -> (FFmpeg muxer, default codec)
VIDEO_SUFFIXES = {".mkv": ("matroska", "ffv1"), ".avi": ("avi", "ffv1"), ".mp4": ("mp4", "h264"),
                  ".m4v": ("mp4", "h264"), ".mov": ("mov", "h264")}
_CODECS = {"ffv1": "ffv1", "h264": "libx264"}
_FORMULA = "uint8 = clip(round((value - low) * 255 / (high - low)), 0, 255)"
#: Values the percentile scaling samples at most (frames evenly spread over the movie).
_PERCENTILE_VALUES = 8_000_000
#: Microsecond pts for per-sample times in MP4/MOV.
_FINE = Fraction(1, 1_000_000)


class VideoWriter(ImagingWriter):
    """Write a planar single-channel movie to a video file.

    Parameters
    ----------
    codec : {"ffv1", "h264"}, optional
        Default: FFV1 for ``.mkv``/``.avi``, H.264 for ``.mp4``/``.mov``.
    crf : int, optional
        H.264 quality, 0 (lossless) to 51 (worst); default 18.
    preset : str
        x264 speed preset (``"ultrafast"`` ... ``"veryslow"``; default ``"veryfast"``: a quick look is quick).
    scaling : {"minmax", "percentile"} or (low, high)
        How H.264 maps a non-``uint8`` movie to 0-255 (see the module docstring).
    percentiles : (float, float)
        The percentiles ``scaling="percentile"`` takes as ``low, high`` (default 0.5 and 99.5).
    gop : int, optional
        Frames from one keyframe to the next (FFV1 default 1: every frame; H.264 default: twice the rate).
    **kwargs
        The common writer options.
    """

    format_id = "video"

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        codec: str | None = None,
        crf: int | None = None,
        preset: str = "veryfast",
        scaling: str | tuple[float, float] = "minmax",
        percentiles: tuple[float, float] = (0.5, 99.5),
        gop: int | None = None,
        **kwargs: Any,
    ):
        suffix = os.path.splitext(os.fspath(path))[1].lower()
        if suffix not in VIDEO_SUFFIXES:
            raise WriterError(f"a video is written as {', '.join(VIDEO_SUFFIXES)}; {os.fspath(path)!r} is none of them")
        self.muxer, default_codec = VIDEO_SUFFIXES[suffix]
        codec = (codec or default_codec).lower()
        if codec not in _CODECS:
            raise WriterError(f"video codec must be 'ffv1' (lossless) or 'h264' (quick look), not {codec!r}")
        if codec == "ffv1" and self.muxer in ("mp4", "mov"):
            raise WriterError("FFV1 goes in a Matroska (.mkv) or AVI (.avi) file; MP4/MOV take codec='h264'")
        self.codec = codec
        if crf is not None and (isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not 0 <= crf <= 51):
            raise WriterError(f"crf must be an integer from 0 (lossless) to 51, got {crf!r}")
        if crf is not None and codec != "h264":
            raise WriterError("crf is an H.264 option; FFV1 is lossless")
        self.crf = 18 if crf is None else int(crf)
        self.preset = str(preset)
        self.scaling_option = _checked_scaling(scaling)
        self.percentiles = tuple(float(p) for p in percentiles)
        if len(self.percentiles) != 2 or not 0 <= self.percentiles[0] < self.percentiles[1] <= 100:
            raise WriterError(f"percentiles must be two increasing numbers from 0 to 100, got {percentiles!r}")
        if gop is not None and (isinstance(gop, bool) or not isinstance(gop, (int, np.integer)) or gop < 1):
            raise WriterError(f"gop must be a positive integer, got {gop!r}")
        self.gop = None if gop is None else int(gop)
        #: the scaling applied to an H.264 movie of another dtype than uint8 (None: values stored as they are)
        self.scaling: dict | None = None
        self._range: tuple[float, float] | None = None
        self._container = None
        self._stream = None
        self._time_base: Fraction | None = None
        self._padded: tuple[int, int] | None = None
        super().__init__(path, **kwargs)
        self.keeps_timestamps = self.muxer != "avi"

    # ------------------------------------------------------------------ format hooks
    def _check_dtype(self, dtype: np.dtype) -> None:
        if self.codec == "ffv1" and dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
            raise WriterError(f"FFV1 stores unsigned 8- or 16-bit grey values, not {dtype}: convert the movie "
                              "(e.g. to uint16), write codec='h264' for a scaled quick look, or another format")
        if dtype.kind not in "iufb":
            raise WriterError(f"the video writer stores numbers, not {dtype}")

    def _prepare_source(self, source) -> None:
        """Measure the range of a non-uint8 source for H.264 before anything is written."""
        if self.codec != "h264" or source.dtype == np.uint8 or not isinstance(self.scaling_option, str):
            return
        try:
            self._measure(source)
        except BaseException as exc:  # a source that fails here leaves no partial output either
            self.abort(exc)
            raise

    def _measure(self, source) -> None:
        if self.scaling_option == "minmax":
            low, high = math.inf, -math.inf
            for _, chunk in source.iter_chunks(source.chunk_samples(2.0)):  # a small buffer, reused
                values = chunk[0]
                if values.dtype.kind == "f":
                    values = values[np.isfinite(values)]
                if values.size:
                    low, high = min(low, float(values.min())), max(high, float(values.max()))
            self._range = (low, high) if low <= high else (0.0, 0.0)
        else:
            per_frame = max(1, math.prod(source.sample_shape))
            count = max(1, min(source.num_samples, _PERCENTILE_VALUES // per_frame))
            picks = np.unique(np.linspace(source.start, source.stop - 1, count).astype(np.int64))
            frames = source.channels[0].get_samples(picks).astype(np.float64, copy=False)
            frames = frames[np.isfinite(frames)]
            low, high = np.percentile(frames, self.percentiles) if frames.size else (0.0, 0.0)
            self._range = (float(low), float(high))

    def _configure(self) -> None:
        if self.volumetric:
            raise WriterError("a video holds planar frames, not volumes: write one video per plane with "
                              "split='planes' (or planes=<index> for one plane)")
        if self.num_channels > 1:
            raise WriterError(f"a video holds one channel; the source has {self.num_channels}: write one video per "
                              "channel with split='channels' (or channels=<name> for one)")
        from ...extractors._video import require_av

        require_av()
        rows, columns = self.image_shape
        if self.codec == "h264":
            self._padded = (rows + rows % 2, columns + columns % 2)
            if self.dtype != np.uint8:
                self._start_scaling()

    def _open_output(self, frames: np.ndarray, timestamps: np.ndarray | None) -> None:
        """Open the container at the first batch (its times decide the time base, its range a fed scaling)."""
        import av

        if self.scaling is not None and self.scaling["low"] is None:  # frames fed over time: the first batch's range
            values = frames[np.isfinite(frames)] if frames.dtype.kind == "f" else frames
            low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
            self.scaling.update(low=low, high=high)
        rate = self.sampling_frequency
        if rate is None and timestamps is not None and len(timestamps) > 1 and np.median(np.diff(timestamps)) > 0:
            rate = 1.0 / float(np.median(np.diff(timestamps)))
        rate = Fraction(rate or 30.0).limit_denominator(1_000_000)
        fine = timestamps is not None and self.keeps_timestamps
        self._time_base = _FINE if fine else 1 / rate
        self._container = av.open(os.fspath(self.temp_path), mode="w", format=self.muxer)
        self._container.metadata["comment"] = json.dumps({"ophysio": self._facts()}, separators=(",", ":"))
        self._container.metadata["encoder"] = f"ophysio {__version__}"
        stream = self._container.add_stream(_CODECS[self.codec], rate=rate, options=self._codec_options(rate))
        height, width = self._padded or self.image_shape
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p" if self.codec == "h264" else ("gray" if self.dtype == np.uint8 else "gray16le")
        if self.codec == "h264":
            stream.codec_context.color_range = 2  # full range: the luma is the value
        stream.codec_context.time_base = self._time_base
        if self.muxer in ("mp4", "mov"):
            stream.time_base = self._time_base
        stream.metadata["title"] = str(self.channel_names[0])
        self._stream = stream

    def _codec_options(self, rate: Fraction) -> dict[str, str]:
        if self.codec == "ffv1":
            return {"level": "3", "slicecrc": "1", "g": str(self.gop or 1)}
        gop = self.gop or max(1, round(2 * float(rate)))
        return {"crf": str(self.crf), "preset": self.preset, "g": str(gop)}

    def _start_scaling(self) -> None:
        option = self.scaling_option
        if isinstance(option, tuple):
            low, high, method = option[0], option[1], "given"
        elif self._range is not None:
            (low, high), method = self._range, option
        else:  # frames fed over time: the first batch's range
            low, high, method = None, None, f"{option} of the first batch"
        self.scaling = {"method": method, "low": low, "high": high, "source_dtype": str(self.dtype),
                        "formula": _FORMULA}
        if option == "percentile":
            self.scaling["percentiles"] = list(self.percentiles)

    def _facts(self) -> dict:
        facts: dict[str, Any] = {
            "version": __version__, "channel_name": str(self.channel_names[0]),
            "image_shape": [int(v) for v in self.image_shape], "source_dtype": str(self.dtype),
        }
        if self.sampling_frequency is not None:
            facts["sampling_frequency"] = float(self.sampling_frequency)
        for key in ("source_format", "source_files"):
            if key in self.source_metadata:
                facts[key] = self.source_metadata[key] if key != "source_files" else \
                    [os.path.basename(str(p)) for p in self.source_metadata[key]][:20]
        if self.scaling is not None:
            facts["scaling"] = self.scaling
        return facts

    def _write(self, channels: list[np.ndarray], timestamps: np.ndarray | None, frame_metadata) -> None:
        from ...extractors._video.frames import to_video_frame

        frames = channels[0]
        if self._container is None:
            self._open_output(frames, timestamps)
        pixel_format = self._stream.pix_fmt
        for i in range(frames.shape[0]):
            image = frames[i]
            if self.codec == "h264":
                image = self._to_uint8(image)
                if self._padded != image.shape:
                    rows, columns = self._padded
                    image = np.pad(image, ((0, rows - image.shape[0]), (0, columns - image.shape[1])), mode="edge")
            frame = to_video_frame(image, pixel_format)
            if timestamps is not None and self._time_base == _FINE:
                frame.pts = round(float(timestamps[i]) / _FINE)
            else:
                frame.pts = self.num_samples + i
            frame.time_base = self._time_base
            for packet in self._stream.encode(frame):
                self._container.mux(packet)

    def _to_uint8(self, image: np.ndarray) -> np.ndarray:
        if self.scaling is None:
            return image
        low, high = float(self.scaling["low"]), float(self.scaling["high"])
        span = high - low if high > low else 1.0
        scaled = (np.asarray(image, dtype=np.float64) - low) * (255.0 / span)
        return np.clip(np.rint(np.nan_to_num(scaled, nan=0.0)), 0, 255).astype(np.uint8)

    def _finish(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None
        if not self.keeps_timestamps and self._explicit_times and self.num_samples > 1:
            times = self.timestamps()
            regular = times[0] + np.arange(times.size) / self.sampling_frequency
            if not np.allclose(times, regular, rtol=0, atol=1e-3 / self.sampling_frequency):
                warnings.warn(f"{self.path.name}: AVI keeps only the rate ({self.sampling_frequency:.6g} Hz), not the "
                              "irregular per-sample timestamps of the source; write .mkv (FFV1, to the millisecond) or "
                              ".mp4 (H.264, to the microsecond) to keep them", UserWarning, stacklevel=4)

    def _cleanup(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # closing a half-written file may fail; it is removed anyway
                pass
            self._container = None


def _checked_scaling(scaling: Any) -> str | tuple[float, float]:
    if isinstance(scaling, str):
        if scaling not in ("minmax", "percentile"):
            raise WriterError(f"scaling must be 'minmax', 'percentile' or (low, high), not {scaling!r}")
        return scaling
    try:
        low, high = (float(v) for v in scaling)
    except (TypeError, ValueError):
        raise WriterError(f"scaling must be 'minmax', 'percentile' or (low, high), not {scaling!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise WriterError(f"scaling=(low, high) needs finite numbers with high > low, got {scaling!r}")
    return (low, high)
