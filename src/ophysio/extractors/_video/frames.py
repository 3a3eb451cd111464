"""Numpy images into PyAV frames, for ophysio's video writer and its synthetic video files.

:func:`to_video_frame` makes the frame of one image in the pixel format an encoder takes: ``gray`` and
``gray16le`` hold the values as they are; ``yuv420p`` holds them as full-range luma with neutral chroma
(the frame is tagged full range, so decoders and ophysio read the values back unchanged); ``bgra``
repeats a grey image in the three colour channels (as the Miniscope DAQ software stores its
monochrome frames) or takes an (rows, columns, 3) RGB image; ``rgb24`` takes RGB images.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["to_video_frame", "GREY_FORMATS"]

#: Pixel formats a grey image is stored in as it is, by dtype.
GREY_FORMATS = {np.dtype(np.uint8): "gray", np.dtype(np.uint16): "gray16le"}


def _plane_values(frame: Any, index: int) -> np.ndarray:
    plane = frame.planes[index]
    return np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)


def to_video_frame(image: np.ndarray, pixel_format: str) -> Any:
    """The PyAV frame of ``image`` ((rows, columns) grey, or (rows, columns, 3) RGB) in ``pixel_format``."""
    from av.video.frame import VideoFrame

    image = np.asarray(image)
    rows, columns = image.shape[:2]
    if pixel_format in ("gray", "gray16le"):
        dtype = np.dtype(np.uint8 if pixel_format == "gray" else np.uint16)
        return VideoFrame.from_ndarray(np.ascontiguousarray(image, dtype=dtype), format=pixel_format)
    if pixel_format == "yuv420p":
        frame = VideoFrame(columns, rows, "yuv420p")
        _plane_values(frame, 0)[:rows, :columns] = image
        _plane_values(frame, 1)[...] = 128
        _plane_values(frame, 2)[...] = 128
        frame.color_range = 2  # full ("pc") range: the luma is the value
        return frame
    if pixel_format in ("bgra", "rgb24"):
        rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
        if pixel_format == "rgb24":
            return VideoFrame.from_ndarray(np.ascontiguousarray(rgb, dtype=np.uint8), format="rgb24")
        packed = np.empty((rows, columns, 4), dtype=np.uint8)
        packed[..., 0], packed[..., 1], packed[..., 2] = rgb[..., 2], rgb[..., 1], rgb[..., 0]
        packed[..., 3] = 255
        return VideoFrame.from_ndarray(packed, format=pixel_format)
    raise ValueError(f"no conversion of an image to the pixel format {pixel_format!r}")
