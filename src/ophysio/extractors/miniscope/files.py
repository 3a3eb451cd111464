"""The files of a UCLA Miniscope recording, as the Miniscope DAQ software (QT) lays them out.

A **recording folder** (named after its start time, e.g. ``15_03_28/``) holds the session-level
``metaData.json`` (``recordingStartTime`` {year, month, day, hour, minute, second, msec, msecSinceEpoch},
``miniscopes`` and ``cameras``: the device names) and one **device folder** per device (``Miniscope/``,
``HPC_miniscope1/``, behaviour cameras such as ``BehavCam_2/``). A device folder holds ``0.avi``,
``1.avi``, ... (``framesPerFile`` frames each, the last one fewer), ``metaData.json`` (``deviceName``,
``deviceType`` such as ``Miniscope_V3`` or ``Miniscope_V4_BNO``, ``frameRate`` as ``"30FPS"`` or a
number, ``framesPerFile``, ``compression``, ``gain``, ``led0``, ``ewl``, ``ROI``...) and
``timeStamps.csv``: one row per frame, ``Frame Number,Time Stamp (ms),Buffer Index`` (newer versions
add ``DAQ Frame Number``), the time in milliseconds since the recording started (the first can be
negative). A **session folder** holds several recording folders.

Everything here reads small text files; videos are opened by the reader.
"""

from __future__ import annotations

import csv
import io
import math
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CorruptFileError, FileSetError, MetadataError
from .._json import loads_json

__all__ = [
    "METADATA_NAME", "TIMESTAMPS_NAME", "read_metadata", "numbered_videos", "read_timestamps", "parse_start_time",
    "parse_frame_rate", "camera_reason", "is_device_folder", "find_device_folder", "find_recordings",
    "DeviceTimestamps", "check_frame_counts",
]

METADATA_NAME = "metaData.json"
TIMESTAMPS_NAME = "timeStamps.csv"
#: Largest metaData.json read (real ones are a few hundred bytes).
_MAX_METADATA_BYTES = 1 << 20

#: Accepted names (lower case, spaces removed) of timeStamps.csv's columns.
_TIME_COLUMNS = ("timestamp(ms)", "timestamp", "sysclock", "time(ms)", "time")
_FRAME_COLUMNS = ("framenumber", "framenum", "frame")
_BUFFER_COLUMNS = ("bufferindex", "buffer")
_DAQ_COLUMNS = ("daqframenumber",)


def read_metadata(path: Path) -> dict:
    """A metaData.json as a dict (MetadataError naming the file when it is not a JSON object)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FileSetError(f"{path} does not exist") from None
    if size > _MAX_METADATA_BYTES:
        raise MetadataError(f"{path} is {size} bytes; a Miniscope metaData.json is a few hundred: it is not one")
    value = loads_json(path.read_bytes(), str(path), "UTF-8 JSON")
    if not isinstance(value, dict):
        raise MetadataError(f"{path} holds a JSON {type(value).__name__}, not the object of settings the Miniscope "
                            "software writes")
    return value


def numbered_videos(folder: Path) -> list[Path]:
    """``0.avi, 1.avi, ...`` of a device folder in number order.

    Raises
    ------
    FileSetError
        No numbered video, or a number missing from the series (naming the missing files).
    """
    numbered: dict[int, Path] = {}
    others = []
    for path in folder.iterdir():
        if path.suffix.lower() != ".avi" or not path.is_file():
            continue
        if path.stem.isdigit():
            numbered[int(path.stem)] = path
        else:
            others.append(path.name)
    if others:
        warnings.warn(f"{folder}: {', '.join(sorted(others)[:5])} {'is' if len(others) == 1 else 'are'} not "
                      "numbered like the Miniscope software's videos (0.avi, 1.avi, ...) and left out",
                      UserWarning, stacklevel=4)
    if not numbered:
        raise FileSetError(f"{folder} holds no Miniscope video (0.avi, 1.avi, ...)")
    last = max(numbered)
    missing = [f"{n}.avi" for n in range(last + 1) if n not in numbered]
    if missing:
        raise FileSetError(f"{folder}: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''} "
                           f"{'is' if len(missing) == 1 else 'are'} missing from the videos 0.avi to {last}.avi; "
                           "the frames after the gap cannot be matched to their timestamps")
    return [numbered[n] for n in range(last + 1)]


@dataclass(frozen=True)
class DeviceTimestamps:
    """The rows of a device's timeStamps.csv.

    Attributes
    ----------
    times_ms : numpy.ndarray of float64
        Each frame's time in milliseconds since the recording started (as written; the first can be negative).
    frame_numbers : numpy.ndarray of int64 or None
        The software's frame numbers (0, 1, ...).
    buffer_index : numpy.ndarray of int64 or None
        How many frames waited in the software's buffer when each was saved.
    daq_frame_numbers : numpy.ndarray of int64 or None
        The DAQ's own frame counter (newer software versions): a jump means frames lost before the software.
    header : list of str
        The column names as written.
    """

    times_ms: np.ndarray
    frame_numbers: np.ndarray | None = None
    buffer_index: np.ndarray | None = None
    daq_frame_numbers: np.ndarray | None = None
    header: list = field(default_factory=list)


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    keys = [re.sub(r"\s+", "", h).lower() for h in header]
    for name in names:
        if name in keys:
            return keys.index(name)
    return None


def read_timestamps(path: Path) -> DeviceTimestamps:
    """Parse a timeStamps.csv (comma or tab separated; header names of every software version).

    Raises
    ------
    FileSetError
        The file does not exist.
    MetadataError
        No time column in the header, or a row whose time is not a finite number (naming the line).
    """
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise FileSetError(f"{path} does not exist; the Miniscope software writes it beside the videos "
                           "(pass timestamps_path= if it is elsewhere, or sampling_frequency= to read without "
                           "it)") from None
    lines = text.splitlines()
    if not lines:
        raise MetadataError(f"{path} is empty; it should start with the header Frame Number,Time Stamp (ms),"
                            "Buffer Index")
    delimiter = "\t" if "\t" in lines[0] and "," not in lines[0] else ","
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip() for h in next(rows)]
    time_at = _column(header, _TIME_COLUMNS)
    if time_at is None:
        raise MetadataError(f"{path}: no time column in the header {header} (expected 'Time Stamp (ms)', as the "
                            "Miniscope software writes)")
    columns = {"frame": _column(header, _FRAME_COLUMNS), "buffer": _column(header, _BUFFER_COLUMNS),
               "daq": _column(header, _DAQ_COLUMNS)}
    times: list[float] = []
    extra: dict[str, list[int]] = {key: [] for key, at in columns.items() if at is not None}
    for number, row in enumerate(rows, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        try:
            value = float(row[time_at])
        except (IndexError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            raise MetadataError(f"{path}, line {number}: the time {row[time_at] if time_at < len(row) else ''!r} is "
                                "not a number of milliseconds; the file is damaged")
        times.append(value)
        for key in list(extra):
            try:
                extra[key].append(int(float(row[columns[key]])))
            except (IndexError, ValueError):
                del extra[key]  # a column that is not numbers throughout is not kept
    as_array = {key: np.asarray(values, dtype=np.int64) for key, values in extra.items()}
    return DeviceTimestamps(np.asarray(times, dtype=np.float64), as_array.get("frame"), as_array.get("buffer"),
                            as_array.get("daq"), header)


def parse_start_time(metadata: dict) -> datetime | None:
    """``recordingStartTime`` (or the same keys at the top level, as early versions wrote them), naive local time;
    None when absent or not a valid date."""
    fields = metadata.get("recordingStartTime")
    if not isinstance(fields, dict):
        fields = metadata
    keys = ("year", "month", "day", "hour", "minute", "second")
    if not all(isinstance(fields.get(k), (int, float)) and not isinstance(fields.get(k), bool) for k in keys):
        return None
    msec = fields.get("msec", 0)
    msec = msec if isinstance(msec, (int, float)) and not isinstance(msec, bool) else 0
    try:
        return datetime(*(int(fields[k]) for k in keys), microsecond=int(msec) * 1000)
    except (ValueError, OverflowError):
        return None


def parse_frame_rate(value: Any) -> float | None:
    """The configured frame rate: ``"30FPS"``, ``"30 FPS"``, ``"30"`` or a number; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        rate = float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*(?:fps)?\s*", value, flags=re.IGNORECASE)
        if match is None:
            return None
        rate = float(match.group(1))
    else:
        return None
    return rate if math.isfinite(rate) and rate > 0 else None


def camera_reason(folder: Path, device: dict, session: dict | None) -> str | None:
    """Why a device folder is a behaviour camera and not a Miniscope (None when it is a Miniscope)."""
    device_type = str(device.get("deviceType") or "")
    name = str(device.get("deviceName") or folder.name)
    if device_type.lower().startswith(("miniscope", "siminiscope")):
        return None
    cameras = (session or {}).get("cameras")
    miniscopes = (session or {}).get("miniscopes")
    listed_miniscope = isinstance(miniscopes, list) and name in miniscopes
    listed_camera = isinstance(cameras, list) and name in cameras
    looks_like_camera = folder.name.lower().startswith("behavcam") or "cam" in device_type.lower()
    if listed_miniscope and not device_type:
        return None
    if device_type or listed_camera or looks_like_camera:
        what = f"deviceType {device_type!r}" if device_type else "listed among the session's cameras" \
            if listed_camera else "named as one"
        return (f"{folder} is a behaviour camera of a Miniscope recording ({what}), not a Miniscope; only the "
                f"Miniscope's frames are imaging data: open the camera's videos with format='video'")
    return None


def is_device_folder(folder: Path) -> bool:
    """Whether ``folder`` looks like a device folder: metaData.json, timeStamps.csv and 0.avi."""
    return ((folder / METADATA_NAME).is_file() and (folder / TIMESTAMPS_NAME).is_file()
            and (folder / "0.avi").is_file())


def _subfolders(folder: Path) -> list[Path]:
    from natsort import natsorted

    return natsorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def find_device_folder(recording: Path, device_name: str | None) -> Path | None:
    """The Miniscope device folder of a recording folder: ``device_name``, else its one Miniscope device.

    Raises
    ------
    SelectionError
        Several Miniscope devices and no ``device_name``.
    """
    from ...errors import SelectionError

    if device_name is not None:
        folder = recording / device_name
        return folder if is_device_folder(folder) else None
    session = _session_metadata(recording)
    scopes = []
    for folder in _subfolders(recording):
        if not is_device_folder(folder):
            continue
        try:
            device = read_metadata(folder / METADATA_NAME)
        except MetadataError:
            continue
        if camera_reason(folder, device, session) is None:
            scopes.append(folder)
    if len(scopes) > 1:
        names = ", ".join(p.name for p in scopes)
        raise SelectionError(f"{recording} holds {len(scopes)} Miniscope devices ({names}): pass "
                             "miniscope_device_name= with one of them")
    return scopes[0] if scopes else None


def _session_metadata(recording: Path) -> dict | None:
    path = recording / METADATA_NAME
    if not path.is_file():
        return None
    try:
        return read_metadata(path)
    except MetadataError:
        return None


def find_recordings(session: Path, device_name: str | None) -> list[Path]:
    """The device folders of the recordings in a session folder (one per recording subfolder that has one),
    in the order of the recordings' start times (their folder names, naturally sorted, when a start time
    is missing)."""
    found: list[tuple[Path, Path]] = []
    for recording in _subfolders(session):
        device = find_device_folder(recording, device_name)
        if device is not None:
            found.append((recording, device))
    starts = [parse_start_time(_session_metadata(recording) or {}) for recording, _ in found]
    if found and all(start is not None for start in starts):
        found = [pair for _, pair in sorted(zip(starts, found), key=lambda item: item[0])]
    return [device for _, device in found]


def check_frame_counts(videos: list[Path], counts: list[int], frames_per_file: Any) -> None:
    """Every video but the last holds ``framesPerFile`` frames (else frames are missing mid-recording).

    Raises
    ------
    CorruptFileError
        A video before the last holds another number of frames than ``framesPerFile``.
    """
    if not isinstance(frames_per_file, int) or isinstance(frames_per_file, bool) or frames_per_file <= 0:
        return
    for path, count in zip(videos[:-1], counts[:-1]):
        if count != frames_per_file:
            raise CorruptFileError(f"{path} holds {count} frames, but framesPerFile is {frames_per_file} and "
                              f"{videos[-1].name} follows it: frames are missing mid-recording, so the later "
                              "frames cannot be matched to their timestamps")
