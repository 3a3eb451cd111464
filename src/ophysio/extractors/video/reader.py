"""Plain movie files: :class:`VideoImagingExtractor`.

A movie (AVI, Matroska/MKV, MP4/MOV; FFV1, raw/GREY, MJPEG, H.264, MPEG-4... whatever FFmpeg decodes)
is read through the video layer (:mod:`ophysio.extractors._video`): frame-accurate random access from a
per-file index of keyframes and presentation times, grey values bit-exact (8-bit stays ``uint8``), YUV
video as its luma, RGB video as one channel per colour (``R``, ``G``, ``B``).

**Rate and times.** The rate is what ophysio's writer recorded in the container comment, else the
stream's average frame rate. Matroska and MP4/MOV keep a presentation time per frame: when those times
are not simply ``index / rate`` from 0 (a variable-rate recording, a first frame later than 0) they are
the extractor's recorded timestamps. AVI stores frame counters, not times: an AVI's frames are at
``index / rate``.

**Metadata.** :meth:`VideoImagingExtractor.get_metadata` returns ``{"file": path, "video": {...}}`` where
``video`` holds the container format, codec, pixel format, coded size, time base, average rate, the
frame count the header declares, the colour range, the container's and the stream's tags, and what
ophysio's writer recorded (``ophysio``: rate, channel name, the intensity scaling of an H.264 quick
look...).
"""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np

from .._video.file import VideoFile
from .._video.pixels import LUMA, RGB_CHANNELS
from ..imaging import ImagingExtractor, checked_rate

__all__ = ["VideoImagingExtractor"]


class VideoImagingExtractor(ImagingExtractor):
    """One channel of a movie file.

    Parameters
    ----------
    file_path : str or os.PathLike
        The movie.
    channel_name : str, optional
        For an RGB movie, the colour to read: ``"R"``, ``"G"`` or ``"B"`` (required: there are three). A grey
        or YUV movie has one channel (``channel_0``, or the name ophysio's writer recorded).
    sampling_frequency : float, optional
        Frames per second, instead of the file's (for a file whose header rate is wrong).

    Raises
    ------
    CorruptFileError
        The container cannot be read, or (on reading) a frame cannot be decoded or the file ends early.
    FormatError
        No video stream, or a pixel format ophysio cannot read (Bayer mosaics).
    SelectionError
        An RGB movie without ``channel_name``, or a channel it does not have.
    """

    format_id = "video"
    extractor_name = "VideoImagingExtractor"

    def __init__(self, file_path: str | os.PathLike, channel_name: str | None = None,
                 sampling_frequency: float | None = None):
        super().__init__()
        self.file_path = os.fspath(file_path)
        self._video = VideoFile(self.file_path)
        info = self._video.info
        names = self._video.channel_names()
        if names == RGB_CHANNELS:
            self._component = RGB_CHANNELS[self._choose_channel(names, channel_name, self.file_path, "colour channels")]
        else:
            recorded = info.ophysio.get("channel_name")
            single = recorded if isinstance(recorded, str) and recorded else "channel_0"
            self._choose_channel([single], channel_name, self.file_path)
            self._component = LUMA
        self._dtype = self._video.dtype(self._component)
        if sampling_frequency is not None:
            self._sampling_frequency = checked_rate(sampling_frequency)
        else:
            recorded_rate = info.ophysio.get("sampling_frequency")
            if isinstance(recorded_rate, (int, float)) and not isinstance(recorded_rate, bool):
                self._sampling_frequency = checked_rate(recorded_rate, f"{self.file_path}: the rate ophysio recorded")
            elif info.average_rate is not None:
                self._sampling_frequency = checked_rate(info.average_rate, f"{self.file_path}: the stream's frame rate")
            else:
                self._sampling_frequency = self._rate_unknown(f"{self.file_path}: the video stream states no frame "
                                                              "rate")

    @staticmethod
    def get_available_channel_names(file_path: str | os.PathLike) -> list[str]:
        """The channels of a movie: ``["R", "G", "B"]`` for RGB, one otherwise."""
        video = VideoFile(file_path)
        try:
            names = video.channel_names()
            if names != RGB_CHANNELS:
                recorded = video.info.ophysio.get("channel_name")
                names = (recorded if isinstance(recorded, str) and recorded else "channel_0",)
            return list(names)
        finally:
            video.close()

    # ------------------------------------------------------------------ facts
    def get_num_samples(self) -> int:
        return self._video.num_frames

    def get_image_shape(self) -> tuple[int, int]:
        return self._video.image_shape

    def get_dtype(self) -> np.dtype:
        return self._dtype

    def get_sampling_frequency(self) -> float | None:
        return self._sampling_frequency

    def get_file_paths(self) -> list[str]:
        return [self.file_path]

    def get_metadata(self) -> dict:
        """The file and what its container and stream declare (see the module docstring)."""
        return {"file": self.file_path, "video": self._video.info.as_dict()}

    def get_acquisition_facts(self):
        """What the container records (see :mod:`ophysio.extractors.video.facts`)."""
        from .facts import video_facts

        return video_facts(self)

    # ------------------------------------------------------------------ reading
    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        self._video.read(start, stop, out, self._component)

    # ------------------------------------------------------------------ time
    def _get_native_timestamps(self) -> np.ndarray | None:
        """The frames' presentation times (Matroska, MP4/MOV), unless they are ``index / rate`` from 0."""
        if not self._video.has_real_times():
            return None
        times = self._video.times()
        rate = self._sampling_frequency
        if rate is None:  # no rate: the times are all there is
            return times
        tick = float(Fraction(*self._video.info.time_base))
        regular = np.arange(len(times), dtype=np.float64) / rate
        if np.max(np.abs(times - regular)) <= tick / 2 + 1e-9:
            return None
        return times

    def close(self) -> None:
        self._video.close()
        super().close()
