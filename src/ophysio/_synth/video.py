"""Synthetic movie files written through PyAV, laid out as FFmpeg-based software writes them.

- :func:`write_video`: a grey movie (``uint8`` or ``uint16``) in FFV1 (lossless; AVI or Matroska), an RGB
  movie (FFV1 ``bgra``), or a lossy one (H.264 or MPEG-4 Part 2 in MP4/MKV/AVI, MJPEG in AVI) encoded from
  limited-range YUV as OpenCV's and most cameras' writers do. Per-frame times may be given (Matroska keeps
  them to the millisecond, MP4 to the microsecond).

Pixel values come from :func:`ophysio.examples.movie` (colour ``c`` of an RGB movie uses ``channel=c``), so a
test computes the expected values of a lossless file independently of any reader.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = ["write_video", "video_movie"]

#: Lossy encoders and the (limited-range) pixel format they are fed, as FFmpeg-based writers do.
_LOSSY = {"h264": ("libx264", "yuv420p"), "mpeg4": ("mpeg4", "yuv420p"), "mjpeg": ("mjpeg", "yuvj420p")}


def video_movie(num_frames: int, rows: int, columns: int, dtype: str = "uint8", color: bool = False) -> np.ndarray:
    """The values :func:`write_video` stores: (frames, rows, columns), or (frames, rows, columns, 3) RGB."""
    from .movie import movie

    if color:
        return np.stack([movie(num_frames, rows, columns, dtype="uint8", channel=c) for c in range(3)], axis=-1)
    return movie(num_frames, rows, columns, dtype=dtype)


def write_video(
    path: str | os.PathLike,
    num_frames: int = 20,
    rows: int = 16,
    columns: int = 12,
    dtype: str = "uint8",
    codec: str = "ffv1",
    color: bool = False,
    rate: float = 30.0,
    timestamps: Sequence[float] | None = None,
    gop: int | None = 5,
    metadata: dict | None = None,
) -> Path:
    """Write a movie; return its path.

    Parameters
    ----------
    path : path
        ``.avi``, ``.mkv`` or ``.mp4``/``.mov`` (the container follows the suffix).
    dtype : {"uint8", "uint16"}
        Grey values (FFV1 only for uint16).
    codec : {"ffv1", "h264", "mpeg4", "mjpeg"}
        FFV1 is lossless (``gray``, ``gray16le`` or, with ``color``, ``bgra``); the others are lossy and
        store the grey values as limited-range luma.
    color : bool
        An RGB movie (FFV1 only): colour ``c`` holds ``movie(..., channel=c)``.
    timestamps : sequence of float, optional
        Time of each frame in seconds (Matroska and MP4); by default frame ``i`` is at ``i / rate``.
    gop : int or None
        Frames between keyframes (None: the encoder's default).
    metadata : dict, optional
        Container tags to write.
    """
    import av

    from ..extractors._video.frames import GREY_FORMATS, to_video_frame

    path = Path(path)
    data = video_movie(num_frames, rows, columns, dtype, color)
    options = {} if gop is None else {"g": str(gop)}
    if codec == "ffv1":
        encoder, pixel_format = "ffv1", "bgra" if color else GREY_FORMATS[np.dtype(dtype)]
    else:
        if color or np.dtype(dtype) != np.uint8:
            raise ValueError(f"{codec} movies here are 8-bit grey")
        encoder, pixel_format = _LOSSY[codec]
    fine = Fraction(1, 1_000_000)
    frame_rate = Fraction(rate).limit_denominator(1_000_000)
    container = av.open(str(path), mode="w")
    try:
        for key, value in (metadata or {}).items():
            container.metadata[key] = value
        stream = container.add_stream(encoder, rate=frame_rate, options=options)
        stream.width, stream.height, stream.pix_fmt = columns, rows, pixel_format
        time_base = fine if timestamps is not None else 1 / frame_rate
        stream.codec_context.time_base = time_base
        if path.suffix.lower() in (".mp4", ".mov"):
            stream.time_base = time_base
        for i in range(num_frames):
            image = data[i]
            if codec == "ffv1":
                frame = to_video_frame(image, pixel_format)
            else:
                full = to_video_frame(image, "gray")
                frame = full.reformat(format=pixel_format, src_color_range="JPEG",
                                      dst_color_range="JPEG" if pixel_format.startswith("yuvj") else "MPEG")
            frame.pts = round(timestamps[i] / time_base) if timestamps is not None else i
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    return path


def _example_video(folder: Path) -> tuple[Path, dict]:
    path = write_video(folder / "example_movie.mkv", num_frames=60, rows=64, columns=64, rate=30.0, gop=10)
    return path, {}


#: Built-in examples (see :data:`ophysio.examples.EXAMPLES`).
EXAMPLES = {"video": _example_video}
