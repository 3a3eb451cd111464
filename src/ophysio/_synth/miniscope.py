"""Synthetic UCLA Miniscope recordings, laid out as the Miniscope DAQ software (QT) writes them.

A recording folder (named ``HH_MM_SS``) holds the session ``metaData.json`` (``recordingStartTime``,
``miniscopes``, ``cameras``...) and one folder per device: the Miniscope's (``Miniscope/``: ``0.avi``,
``1.avi``... of ``framesPerFile`` frames, FFV1 lossless, its ``metaData.json`` and ``timeStamps.csv`` with
the header ``Frame Number,Time Stamp (ms),Buffer Index``) and optionally a behaviour camera's
(``BehavCam_1/``, MJPEG). Version ``"V3"`` stores the grey frames as BGRA with three equal channels (as the
2021 software did, the real sample's way) and states ``frameRate`` as text (``"15FPS"``); ``"V4"`` stores
them grey (``gray``, as the current software does), states ``frameRate`` as a number, adds ``ewl`` and
the ``DAQ Frame Number`` column, and writes ``headOrientation.csv``.

Frame ``i`` of the Miniscope holds ``movie(...)[i]`` (uint8); its time in milliseconds is
:func:`miniscope_times_ms` (a jittered clock whose first time is negative, as real files have).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

__all__ = ["write_miniscope_recording", "write_miniscope_session", "miniscope_times_ms", "miniscope_movie"]


def miniscope_movie(num_frames: int, rows: int, columns: int, seed: int = 0) -> np.ndarray:
    """The grey frames a synthetic recording stores (uint8)."""
    from .movie import movie

    return movie(num_frames, rows, columns, dtype="uint8", seed=seed)


def miniscope_times_ms(num_frames: int, rate: float = 30.0, seed: int = 0) -> np.ndarray:
    """Integer milliseconds since the recording started, one per frame: a jittered clock starting before 0."""
    jitter = (np.arange(num_frames) * 7 + seed * 3) % 5 - 2
    return np.round(np.arange(num_frames) * 1000.0 / rate + jitter - 20).astype(np.int64)


def _write_avi(path: Path, frames: np.ndarray, pixel_format: str, codec: str = "ffv1") -> None:
    import av

    from ..extractors._video.frames import to_video_frame

    container = av.open(str(path), mode="w")
    try:
        stream = container.add_stream(codec, rate=60, options={"g": "12"} if codec == "ffv1" else {})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pixel_format
        for i, image in enumerate(frames):
            if codec == "ffv1":
                frame = to_video_frame(image, pixel_format)
            else:  # a colour camera: MJPEG of an RGB picture
                frame = to_video_frame(image, "rgb24").reformat(format=pixel_format)
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=4), encoding="utf-8")


def _write_timestamps(path: Path, times_ms: np.ndarray, daq_column: bool) -> None:
    lines = ["Frame Number,Time Stamp (ms),Buffer Index" + (",DAQ Frame Number" if daq_column else "")]
    for i, t in enumerate(times_ms):
        lines.append(f"{i},{int(t)},{i % 3 == 0:d}" + (f",{i + 1}" if daq_column else ""))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_miniscope_recording(
    folder: str | os.PathLike,
    num_frames: int = 25,
    rows: int = 24,
    columns: int = 20,
    frames_per_file: int = 10,
    version: str = "V4",
    start: datetime = datetime(2022, 9, 19, 9, 18, 41, 7000),
    device_name: str = "Miniscope",
    rate: float = 30.0,
    timestamp_rows: int | None = None,
    behavior_camera: bool = True,
    seed: int = 0,
) -> Path:
    """Write one recording folder (named after ``start``) inside ``folder``; return the Miniscope device folder.

    Parameters
    ----------
    num_frames, rows, columns : int
        The Miniscope's frames (``miniscope_movie(num_frames, rows, columns, seed)``).
    frames_per_file : int
        Frames per video (the last video holds the rest).
    version : {"V3", "V4"}
        The device generation, which sets the video's pixel format and the metadata's shape (module docstring).
    timestamp_rows : int, optional
        Rows of timeStamps.csv (default: one per frame); another count makes a frame/timestamp mismatch.
    behavior_camera : bool
        Also write a ``BehavCam_1`` device folder (3 colour frames, MJPEG).
    """
    recording = Path(folder) / start.strftime("%H_%M_%S")
    device = recording / device_name
    device.mkdir(parents=True, exist_ok=True)
    data = miniscope_movie(num_frames, rows, columns, seed)
    pixel_format = "bgra" if version == "V3" else "gray"
    for number, first in enumerate(range(0, num_frames, frames_per_file)):
        _write_avi(device / f"{number}.avi", data[first : first + frames_per_file], pixel_format)
    rows_written = num_frames if timestamp_rows is None else timestamp_rows
    _write_timestamps(device / "timeStamps.csv", miniscope_times_ms(rows_written, rate, seed), version != "V3")
    device_meta: dict = {
        "compression": "FFV1", "deviceDirectory": str(device).replace(os.sep, "/"), "deviceID": 2 if version == "V3"
        else 1, "deviceName": device_name, "deviceType": "Miniscope_V3" if version == "V3" else "Miniscope_V4_BNO",
        "framesPerFile": frames_per_file, "gain": "High" if version == "V3" else "Medium",
        "led0": 47 if version == "V3" else 24,
    }
    if version == "V3":
        device_meta["frameRate"] = f"{rate:g}FPS"
    else:
        device_meta.update(frameRate=float(rate), ewl=70, ROI={"height": rows, "leftEdge": 0, "topEdge": 0,
                                                               "width": columns})
        orientation = ["Time Stamp (ms),qw,qx,qy,qz"] + [f"{int(t)},1,0,0,0" for t in
                                                         miniscope_times_ms(num_frames, rate, seed)]
        (device / "headOrientation.csv").write_text("\n".join(orientation) + "\n", encoding="utf-8")
    _write_json(device / "metaData.json", device_meta)
    cameras = []
    if behavior_camera:
        camera = recording / "BehavCam_1"
        camera.mkdir(exist_ok=True)
        colour = np.stack([miniscope_movie(3, 16, 16, seed + c) for c in range(3)], axis=-1)
        _write_avi(camera / "0.avi", colour, "yuvj420p", codec="mjpeg")
        _write_timestamps(camera / "timeStamps.csv", miniscope_times_ms(3, 30.0, seed + 1), False)
        _write_json(camera / "metaData.json", {"compression": "MJPG", "deviceName": "BehavCam 1", "deviceID": 0,
                                               "deviceType": "WebCam-640x480", "framesPerFile": 1000})
        cameras.append("BehavCam 1")
    start_fields = {"day": start.day, "hour": start.hour, "minute": start.minute, "month": start.month,
                    "msec": start.microsecond // 1000, "msecSinceEpoch": int(start.timestamp() * 1000),
                    "second": start.second, "year": start.year}
    _write_json(recording / "metaData.json", {
        "animalName": "mouse1", "baseDirectory": str(recording).replace(os.sep, "/"), "cameras": cameras,
        "experimentName": "synthetic", "miniscopes": [device_name], "recordingStartTime": start_fields,
        "researcherName": "ophysio"})
    return device


def write_miniscope_session(folder: str | os.PathLike, recordings: int = 3, gap_s: float = 180.0,
                            **options) -> Path:
    """Write a session folder of ``recordings`` recordings, ``gap_s`` seconds apart; return the session folder.

    Recording ``k`` uses ``seed=k``; ``options`` go to :func:`write_miniscope_recording`.
    """
    session = Path(folder) / "session"
    start = options.pop("start", datetime(2022, 9, 19, 9, 18, 41, 7000))
    for k in range(recordings):
        write_miniscope_recording(session, start=start + timedelta(seconds=gap_s * k), seed=k, **options)
    return session


def _example_miniscope(folder: Path) -> tuple[Path, dict]:
    device = write_miniscope_recording(folder, num_frames=40, rows=48, columns=40, frames_per_file=15)
    return device, {}


#: Built-in examples (see :data:`ophysio.examples.EXAMPLES`).
EXAMPLES = {"miniscope": _example_miniscope}
