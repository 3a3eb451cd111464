"""UCLA Miniscope recordings (Miniscope DAQ software, V3 and V4 devices): :class:`MiniscopeImagingExtractor`.

The layout is described in :mod:`ophysio.extractors.miniscope.files`. The Miniscope device's videos
(``0.avi``, ``1.avi``, ...; FFV1 lossless, frames stored grey, or as BGR(A) with three equal channels by
earlier software versions) are read in number order through the video layer
(:mod:`ophysio.extractors._video`) as their grey values, bit-exact, ``uint8``.

**Times.** Each frame's time is its row of ``timeStamps.csv`` (milliseconds since the recording started,
the first row can be negative: kept), in seconds. Several recordings of a session are concatenated in
time: recording ``k``'s times are shifted by its start (``recordingStartTime`` of its ``metaData.json``)
minus the first recording's start, which is the session's start time. The rate is measured from the
timestamps (the mean interval between frames of a recording, intervals more than 3 standard deviations
from the mean left out, as roiextractors measures it); the rate configured in the software
(``frameRate``, e.g. ``"30FPS"``) is kept in the metadata. A recording whose videos hold another number
of frames than its timestamps is a warning naming both counts; the frames and times beyond the shorter
are left out.

**Metadata.** :meth:`MiniscopeImagingExtractor.get_metadata` returns ``{"device_metadata": {...},
"session_metadata": {...}, "configured_frame_rate_hz": float or None, "recordings": [...]}``: the first
recording's device and session ``metaData.json`` whole, and per recording its folders, start time, both
``metaData.json`` files, its videos, its frame and timestamp counts, the timestamp file's header and the
offset of its times.
"""

from __future__ import annotations

import os
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np

from ...errors import FileSetError, FormatError, MetadataError, OptionValueError
from .._video.file import VideoFile
from .._video.pixels import LUMA
from ..imaging import ImagingExtractor, checked_rate
from .files import (
    METADATA_NAME,
    TIMESTAMPS_NAME,
    camera_reason,
    check_frame_counts,
    find_device_folder,
    find_recordings,
    is_device_folder,
    numbered_videos,
    parse_frame_rate,
    parse_start_time,
    read_metadata,
    read_timestamps,
)

__all__ = ["MiniscopeImagingExtractor", "MiniscopeMultiRecordingImagingExtractor"]


class _Recording:
    """One recording of the device: its videos, times and metadata."""

    def __init__(self, device_folder: Path, videos: list[Path], timestamps_path: Path | None,
                 metadata_path: Path | None, need_times: bool):
        self.device_folder = device_folder
        self.device_metadata = read_metadata(metadata_path) if metadata_path is not None and metadata_path.is_file() \
            else {}
        session_path = device_folder.parent / METADATA_NAME
        self.session_metadata = read_metadata(session_path) if session_path.is_file() else {}
        reason = camera_reason(device_folder, self.device_metadata, self.session_metadata) \
            if self.device_metadata else None
        if reason is not None:
            raise FormatError(reason)
        self.start_time: datetime | None = parse_start_time(self.session_metadata)
        self.videos = [VideoFile(p) for p in videos]
        counts = [v.num_frames for v in self.videos]
        check_frame_counts(videos, counts, self.device_metadata.get("framesPerFile"))
        frames = sum(counts)
        self.timestamps = None
        if timestamps_path is not None and (need_times or timestamps_path.is_file()):
            self.timestamps = read_timestamps(timestamps_path)
        self.num_frames = frames
        if self.timestamps is not None:
            rows = len(self.timestamps.times_ms)
            if rows != frames:
                kept = min(rows, frames)
                what = (f"the last {frames - kept} frames (no timestamp) are left out" if frames > rows
                        else f"the last {rows - kept} timestamps (no frame) are left out")
                warnings.warn(f"{device_folder}: the videos hold {frames} frames but {TIMESTAMPS_NAME} has {rows} "
                              f"timestamps; {what}, {kept} frames are read", UserWarning, stacklevel=4)
                self.num_frames = kept
        self.times_s = None if self.timestamps is None else self.timestamps.times_ms[: self.num_frames] / 1000.0

    def describe(self, offset_s: float | None) -> dict:
        return {
            "recording_folder": str(self.device_folder.parent), "device_folder": str(self.device_folder),
            "start_time": None if self.start_time is None else self.start_time.isoformat(),
            "device_metadata": dict(self.device_metadata), "session_metadata": dict(self.session_metadata),
            "videos": [v.path for v in self.videos], "frames_in_videos": sum(v.num_frames for v in self.videos),
            "timestamp_rows": None if self.timestamps is None else len(self.timestamps.times_ms),
            "timestamps_header": None if self.timestamps is None else list(self.timestamps.header),
            "frames_read": self.num_frames, "time_offset_s": offset_s,
        }


class MiniscopeImagingExtractor(ImagingExtractor):
    """The Miniscope's frames of a recording (or of a session of recordings), with their timestamps.

    Parameters
    ----------
    folder_path : str or os.PathLike, optional
        The Miniscope's device folder (``.../15_03_28/Miniscope/``, as roiextractors takes it); also a
        recording folder holding one Miniscope device folder, or a session folder of recordings (read as
        :class:`MiniscopeMultiRecordingImagingExtractor` reads it).
    file_paths : list of path, optional
        The videos to read, in order (instead of ``folder_path``); their folder is the device folder.
    configuration_file_path : path, optional
        The device's ``metaData.json`` (default: the one in the device folder).
    timestamps_path : path, optional
        The device's ``timeStamps.csv`` (default: the one in the device folder).
    sampling_frequency : float, optional
        The rate to use instead of the one measured from the timestamps (then a missing timeStamps.csv
        is allowed: frames are at ``index / sampling_frequency``).
    miniscope_device_name : str, optional
        The device folder's name in a recording or session folder with several Miniscopes.

    Raises
    ------
    FormatError
        The folder is a behaviour camera's (e.g. ``BehavCam_2``), or no Miniscope recording.
    FileSetError
        A video, timeStamps.csv or the device folder is missing, or a video number is skipped.
    CorruptFileError
        A video is damaged, or holds fewer frames than ``framesPerFile`` before the last video.
    MetadataError
        A metaData.json or timeStamps.csv cannot be parsed; recordings of a session without start times.
    """

    format_id = "miniscope"
    extractor_name = "MiniscopeImagingExtractor"

    def __init__(
        self,
        folder_path: str | os.PathLike | None = None,
        file_paths: list[str | os.PathLike] | None = None,
        configuration_file_path: str | os.PathLike | None = None,
        timestamps_path: str | os.PathLike | None = None,
        *,
        sampling_frequency: float | None = None,
        miniscope_device_name: str | None = None,
    ):
        if folder_path is not None and file_paths is not None:
            raise OptionValueError("file_paths", "give folder_path or file_paths, not both")
        if file_paths is not None:
            paths = [Path(p) for p in file_paths]
            if not paths:
                raise OptionValueError("file_paths", "the list of videos is empty")
            self.validate_miniscope_files(paths, timestamps_path)
            self._open([(paths[0].parent, paths)], configuration_file_path, timestamps_path, sampling_frequency)
            return
        if folder_path is None:
            raise OptionValueError("folder_path", "give the Miniscope device folder (folder_path=) or its videos "
                                   "(file_paths=)")
        folder = Path(folder_path)
        if not folder.is_dir():
            raise FileSetError(f"{folder} does not exist or is not a folder")
        if is_device_folder(folder) or (miniscope_device_name is None and any(folder.glob("[0-9]*.avi"))):
            devices = [folder]
        else:
            device = find_device_folder(folder, miniscope_device_name)
            devices = [device] if device is not None else find_recordings(folder, miniscope_device_name)
        if not devices:
            raise FormatError(
                f"{folder} holds no Miniscope recording: a device folder holds {METADATA_NAME}, {TIMESTAMPS_NAME} "
                "and 0.avi, 1.avi...; a recording folder holds device folders; a session folder holds recordings"
                + (f" (looked for device folders named {miniscope_device_name!r})" if miniscope_device_name else ""))
        if len(devices) > 1 and (configuration_file_path is not None or timestamps_path is not None):
            raise OptionValueError("timestamps_path", f"{folder} holds {len(devices)} recordings; "
                                   "configuration_file_path= and timestamps_path= apply to one device folder")
        self._open([(d, None) for d in devices], configuration_file_path, timestamps_path, sampling_frequency)

    # ------------------------------------------------------------------ opening
    def _open(self, devices: list[tuple[Path, list[Path] | None]], configuration_file_path, timestamps_path,
              sampling_frequency: float | None) -> None:
        ImagingExtractor.__init__(self)
        given_rate = None if sampling_frequency is None else checked_rate(sampling_frequency)
        self._recordings: list[_Recording] = []
        for device, videos in devices:
            metadata_path = Path(configuration_file_path) if configuration_file_path is not None else \
                device / METADATA_NAME
            times_path = Path(timestamps_path) if timestamps_path is not None else device / TIMESTAMPS_NAME
            if videos is None:
                videos = numbered_videos(device)
            self._recordings.append(_Recording(device, videos, times_path, metadata_path,
                                               need_times=given_rate is None))
        self.folder_path = devices[0][0] if len(devices) == 1 else devices[0][0].parent.parent
        self._check_frames()
        self._segments = [(video, recording_index) for recording_index, recording in enumerate(self._recordings)
                          for video in recording.videos]
        counts = []
        for recording in self._recordings:  # frames read per video: the recording's kept frames, in order
            left = recording.num_frames
            for video in recording.videos:
                counts.append(min(video.num_frames, left))
                left -= counts[-1]
        self._counts = np.asarray(counts, dtype=np.int64)
        self._starts = np.concatenate(([0], np.cumsum(self._counts))).astype(np.int64)
        self._offsets = self._time_offsets()
        if given_rate is not None:
            self._sampling_frequency = given_rate
        else:
            self._sampling_frequency = self._measured_rate()

    def _check_frames(self) -> None:
        first = self._recordings[0].videos[0]
        shape, dtype = first.image_shape, first.dtype(LUMA)
        for recording in self._recordings:
            for video in recording.videos:
                if video.image_shape != shape or video.dtype(LUMA) != dtype:
                    raise FormatError(f"{video.path} holds frames of {video.image_shape[0]} x {video.image_shape[1]} "
                                      f"{video.dtype(LUMA)}, but {first.path} holds {shape[0]} x {shape[1]} {dtype}; "
                                      "the videos are not of one recording device")
        self._image_shape, self._dtype = shape, dtype

    def _time_offsets(self) -> list[float | None]:
        """Seconds from the first recording's start to each recording's start (its times' shift)."""
        if len(self._recordings) == 1:
            return [0.0]
        starts = [r.start_time for r in self._recordings]
        missing = [str(r.device_folder.parent / METADATA_NAME) for r, s in zip(self._recordings, starts) if s is None]
        if missing:
            raise MetadataError(f"{missing[0]} states no recordingStartTime, so the recordings of "
                                f"{self.folder_path} cannot be put on one clock; open each recording's Miniscope "
                                "folder on its own")
        offsets = [(start - starts[0]).total_seconds() for start in starts]
        ends = [None if r.times_s is None or not len(r.times_s) else off + float(r.times_s[-1])
                for r, off in zip(self._recordings, offsets)]
        for k in range(1, len(offsets)):
            times = self._recordings[k].times_s
            if ends[k - 1] is not None and times is not None and len(times) and offsets[k] + times[0] <= ends[k - 1]:
                warnings.warn(f"{self._recordings[k].device_folder}: the recording starts before the previous one "
                              "ends (by their start times and timestamps); the session's times go backwards there",
                              UserWarning, stacklevel=4)
        return offsets

    def _measured_rate(self) -> float | None:
        """1 / mean interval between frames within recordings (outliers beyond 3 standard deviations left
        out); the configured rate when fewer than two timestamps; None without either."""
        intervals = [np.diff(r.times_s) for r in self._recordings if r.times_s is not None and len(r.times_s) > 1]
        steps = np.concatenate(intervals) if intervals else np.empty(0)
        if steps.size:
            mean, spread = float(np.mean(steps)), float(np.std(steps))
            kept = steps[np.abs(steps - mean) <= 3 * spread] if spread > 0 else steps
            interval = float(np.mean(kept)) if kept.size else mean
            if interval > 0:
                return interval ** -1
        configured = self.configured_frame_rate
        if configured is not None:
            return configured
        return self._rate_unknown(f"{self.folder_path}: fewer than two timestamps and no frameRate in "
                                  f"{METADATA_NAME}")

    # ------------------------------------------------------------------ roiextractors' helpers
    @staticmethod
    def load_miniscope_config(configuration_file_path: str | os.PathLike) -> dict:
        """A Miniscope ``metaData.json`` (device or session level) as a dict."""
        return read_metadata(Path(configuration_file_path))

    @staticmethod
    def validate_miniscope_files(file_paths: list, timestamps_path: str | os.PathLike | None = None) -> None:
        """Check that the videos exist and are ``.avi`` files (and the timestamps file, when given, a ``.csv``)."""
        if not file_paths:
            raise OptionValueError("file_paths", "the list of videos is empty")
        for path in map(Path, file_paths):
            if not path.is_file():
                raise FileSetError(f"{path} does not exist (or is not a file)")
            if path.suffix.lower() != ".avi":
                raise OptionValueError("file_paths", f"{path} is not a Miniscope video (.avi)")
        if timestamps_path is not None:
            path = Path(timestamps_path)
            if not path.is_file():
                raise FileSetError(f"{path} does not exist (or is not a file)")
            if path.suffix.lower() != ".csv":
                raise OptionValueError("timestamps_path", f"{path} is not a timeStamps.csv")

    # ------------------------------------------------------------------ facts
    @property
    def configured_frame_rate(self) -> float | None:
        """The frame rate set in the Miniscope software (``frameRate`` of the device's metaData.json)."""
        return parse_frame_rate(self._recordings[0].device_metadata.get("frameRate"))

    @property
    def session_start_time(self) -> datetime | None:
        """The first recording's ``recordingStartTime`` (the rig's local time, naive)."""
        return self._recordings[0].start_time

    def get_num_samples(self) -> int:
        return int(self._starts[-1])

    def get_image_shape(self) -> tuple[int, int]:
        return self._image_shape

    def get_dtype(self) -> np.dtype:
        return self._dtype

    def get_sampling_frequency(self) -> float | None:
        return self._sampling_frequency

    def get_file_paths(self) -> list[str]:
        """The videos, then each recording's timeStamps.csv and metaData.json files that exist."""
        paths = [video.path for recording in self._recordings for video in recording.videos]
        for recording in self._recordings:
            for path in (recording.device_folder / TIMESTAMPS_NAME, recording.device_folder / METADATA_NAME,
                         recording.device_folder.parent / METADATA_NAME):
                if path.is_file():
                    paths.append(str(path))
        return paths

    def get_metadata(self) -> dict:
        """Both metaData.json files and each recording's description (see the module docstring)."""
        first = self._recordings[0]
        return {
            "device_metadata": dict(first.device_metadata),
            "session_metadata": dict(first.session_metadata),
            "configured_frame_rate_hz": self.configured_frame_rate,
            "recordings": [r.describe(offset) for r, offset in zip(self._recordings, self._offsets)],
        }

    def get_acquisition_facts(self):
        """What the metaData.json files record (see :mod:`ophysio.extractors.miniscope.facts`)."""
        from .facts import miniscope_facts

        return miniscope_facts(self)

    # ------------------------------------------------------------------ reading
    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        first = int(np.searchsorted(self._starts, start, side="right")) - 1
        position = start
        for index in range(first, len(self._segments)):
            if position >= stop:
                break
            video_start = int(self._starts[index])
            end = min(stop, int(self._starts[index + 1]))
            if end <= position:
                continue
            video, _ = self._segments[index]
            video.read(position - video_start, end - video_start, out[position - start : end - start], LUMA)
            position = end

    # ------------------------------------------------------------------ time
    def _get_native_timestamps(self) -> np.ndarray | None:
        if any(r.times_s is None for r in self._recordings):
            return None
        return np.concatenate([r.times_s + offset for r, offset in zip(self._recordings, self._offsets)])

    def close(self) -> None:
        for recording in self._recordings:
            for video in recording.videos:
                video.close()
        super().close()


class MiniscopeMultiRecordingImagingExtractor(MiniscopeImagingExtractor):
    """The Miniscope's frames of every recording of a session folder, concatenated in time.

    A session folder holds recording folders (``15_03_28/``, ``15_06_28/``...), each with the device folder
    ``miniscope_device_name``; each recording keeps its own timestamps, shifted by its start time (see
    :class:`MiniscopeImagingExtractor`).

    Parameters
    ----------
    folder_path : str or os.PathLike
        The session folder.
    miniscope_device_name : str
        The Miniscope's device folder name in every recording.
    """

    extractor_name = "MiniscopeMultiRecordingImagingExtractor"

    def __init__(self, folder_path: str | os.PathLike, miniscope_device_name: str = "Miniscope"):
        folder = Path(folder_path)
        if not folder.is_dir():
            raise FileSetError(f"{folder} does not exist or is not a folder")
        self.miniscope_device_name = miniscope_device_name
        devices = find_recordings(folder, miniscope_device_name)
        if not devices:
            raise FileSetError(f"{folder} holds no recording with a {miniscope_device_name!r} device folder "
                               f"(*/{miniscope_device_name}/ with {METADATA_NAME}, {TIMESTAMPS_NAME} and 0.avi)")
        self._open([(d, None) for d in devices], None, None, None)
        self.folder_path = folder
