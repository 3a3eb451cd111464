"""From decoded video frames to numpy values: what a pixel format's frames read as.

A stream's pixel format puts it in one of three families (:func:`pixel_family`):

- **grey** (``gray``, ``gray10le``, ``gray12le``, ``gray16le``, ``grayf32le``...): one channel, read
  from the frame's plane as stored, bit-exact: 8 bits give ``uint8``, 9 to 16 bits ``uint16`` (a 10-bit
  value stays 0-1023), 32-bit float ``float32``.
- **YUV** (``yuv420p``, ``yuvj420p``, ``nv12``, ``yuv420p10le``...: H.264, MJPEG, MPEG-4): one channel,
  the luma. Full-range luma (``yuvj*`` formats, or a stream tagged full range, as ophysio's H.264 writer
  tags its files) is the stored plane, bit-exact. Limited-range luma (16-235, what most encoders write,
  and what FFmpeg assumes when a stream states no range) is expanded to the full range by FFmpeg's
  scaler, as players show it. Chroma is not read: a colour YUV video reads as its grey-level picture.
- **RGB** (``bgra``, ``bgr24``, ``rgb24``, ``gbrp``, ``rgb48le``, palettes...): three channels ``R``,
  ``G``, ``B``, each exact.

Any family also reads as ``"luma"``: the grey channel above, and for RGB FFmpeg's grey conversion
(ITU-R BT.601 weights, full range, which give the common value back exactly when the three channels are
equal, as in the frames the Miniscope DAQ software wrote as BGR). Values above 8 bits keep the source's
bit depth (a 10-bit component reads 0-1023 in ``uint16``). Bayer (raw sensor mosaic) and bit-stream
formats are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import FormatError, SelectionError

__all__ = ["pixel_family", "frame_reader", "channel_names", "RGB_CHANNELS", "LUMA"]

RGB_CHANNELS = ("R", "G", "B")
#: The component every family reads as: the grey value of a pixel.
LUMA = "luma"


def _format(name: str):
    from av.video.format import VideoFormat

    return VideoFormat(name)


def pixel_family(pixel_format: str, path: str = "") -> str:
    """``"grey"``, ``"yuv"`` or ``"rgb"`` for a pixel format (FormatError for one ophysio cannot read)."""
    try:
        fmt = _format(pixel_format)
    except ValueError:
        raise FormatError(f"{path or 'the video'}: FFmpeg does not know the pixel format {pixel_format!r}") from None
    if fmt.is_bayer or fmt.is_bit_stream or not fmt.components:
        raise FormatError(f"{path or 'the video'}: pixel format {pixel_format} (a raw sensor mosaic or a bit "
                          "stream) is not supported; convert it to grey or RGB first")
    if fmt.is_rgb or fmt.has_palette:
        return "rgb"
    if any(c.is_chroma for c in fmt.components):
        return "yuv"
    return "grey"


def _bits(fmt) -> int:
    return max(c.bits for c in fmt.components if not c.is_alpha)


def _plane(frame: Any, index: int, dtype: np.dtype, components: int = 1) -> np.ndarray:
    """Plane ``index`` of a frame as (rows, columns[, components]) values: a view of the frame's buffer."""
    plane = frame.planes[index]
    per_row = plane.line_size // dtype.itemsize
    values = np.frombuffer(plane, dtype=dtype)[: plane.height * per_row].reshape(plane.height, per_row)
    if components > 1:
        return values[:, : plane.width * components].reshape(plane.height, plane.width, components)
    return values[:, : plane.width]


def _stored(dtype: np.dtype, big_endian: bool) -> np.dtype:
    return dtype.newbyteorder(">" if big_endian else "<") if dtype.itemsize > 1 else dtype


Fill = Callable[[Any, np.ndarray], None]


def frame_reader(pixel_format: str, component: str, path: str = "") -> tuple[np.dtype, Fill]:
    """``(dtype, fill)``: the dtype of ``component`` of this pixel format's frames, and ``fill(frame, out)``
    that writes it into ``out`` (rows, columns), cropping frames larger than ``out``.

    ``component`` is ``"luma"``, or ``"R"``, ``"G"``, ``"B"`` for an RGB format.
    """
    family = pixel_family(pixel_format, path)
    fmt = _format(pixel_format)
    bits = _bits(fmt)
    deep = bits > 8
    shift = 16 - bits if deep else 0  # FFmpeg's scaler widens to 16 bits; shifted back to the source's depth
    dtype = np.dtype(np.uint16 if deep else np.uint8)
    where = path or "the video"

    def scaled_grey(frame: Any, out: np.ndarray, source_range: str) -> None:
        grey = frame.reformat(format="gray16le" if deep else "gray", src_color_range=source_range,
                              dst_color_range="JPEG")
        values = _plane(grey, 0, np.dtype("<u2" if deep else np.uint8))[: out.shape[0], : out.shape[1]]
        np.copyto(out, values >> shift if shift else values, casting="unsafe")

    if component in RGB_CHANNELS:
        if family != "rgb":
            raise SelectionError(f"{where} ({pixel_format}) has one (grey) channel; {component!r} is not one of its "
                                 "channels")
        position = RGB_CHANNELS.index(component)
        packed = "rgb48le" if deep else "rgb24"

        def fill_channel(frame: Any, out: np.ndarray) -> None:
            rgb = frame if frame.format.name == packed else frame.reformat(format=packed)
            values = _plane(rgb, 0, np.dtype("<u2" if deep else np.uint8), 3)[: out.shape[0], : out.shape[1], position]
            np.copyto(out, values >> shift if shift else values, casting="unsafe")

        return dtype, fill_channel
    if component != LUMA:
        raise SelectionError(f"{where} ({pixel_format}): {component!r} is not a channel; its channels are "
                             f"{list(RGB_CHANNELS) if family == 'rgb' else ['luma']}")

    if family == "grey" and pixel_format.startswith("gray") and len(fmt.components) == 1:
        if "f32" in pixel_format:
            dtype = np.dtype(np.float32)
        stored = _stored(dtype, fmt.is_big_endian)

        def fill_grey(frame: Any, out: np.ndarray) -> None:
            np.copyto(out, _plane(frame, 0, stored)[: out.shape[0], : out.shape[1]], casting="unsafe")

        return dtype, fill_grey
    if family == "yuv":
        planar_luma = fmt.is_planar and fmt.components[0].plane == 0 and not any(
            c.plane == 0 for c in fmt.components[1:])
        full_format = pixel_format.startswith("yuvj")
        stored = _stored(dtype, fmt.is_big_endian)

        def fill_luma(frame: Any, out: np.ndarray) -> None:
            full = full_format or int(frame.color_range or 0) == 2
            if full and planar_luma:
                np.copyto(out, _plane(frame, 0, stored)[: out.shape[0], : out.shape[1]], casting="unsafe")
            else:
                scaled_grey(frame, out, "JPEG" if full else "MPEG")

        return dtype, fill_luma

    def fill_converted(frame: Any, out: np.ndarray) -> None:
        scaled_grey(frame, out, "JPEG")

    return dtype, fill_converted


def channel_names(pixel_format: str) -> tuple[str, ...]:
    """The channels of a pixel format: ``("R", "G", "B")`` for RGB, one (the luma) otherwise."""
    return RGB_CHANNELS if pixel_family(pixel_format) == "rgb" else (LUMA,)
