"""UCLA Miniscope recordings (MiniscopeImagingExtractor, MiniscopeMultiRecordingImagingExtractor) through the
conformance suite, on the real session and on synthetic V3/V4 recordings, plus what is special to the layout.

Expected pixels come from a plain PyAV decode of the device folder's numbered videos (decoded to grey, in
file order) or from the values the synthetic writer stored; expected times from timeStamps.csv parsed here
with the csv module, shifted by the recordings' start times read here with the json module.
"""

import csv
import functools
import inspect
import json
import shutil
import tempfile
import warnings
from datetime import datetime
from pathlib import Path

import av
import numpy as np
import pytest

from ophysio import open_imaging
from ophysio._synth.miniscope import miniscope_movie, write_miniscope_recording, write_miniscope_session
from ophysio.errors import CorruptFileError, FileSetError, FormatError, MetadataError, SelectionError
from ophysio.extractors import MiniscopeImagingExtractor, MiniscopeMultiRecordingImagingExtractor
from ophysio.extractors.miniscope.sniff import sniff_miniscope
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.data import sample_data_folder

SESSION = sample_data_folder() / "miniscope" / "C6-J588_Disc5"
RECORDINGS = ["15_03_28", "15_06_28", "15_07_58"]
FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-miniscope-"))


def _synthetic(name: str) -> Path:
    """The folder of a synthetic case (written once)."""
    target = FOLDER / name
    if not target.exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name == "v3-three-files":
                write_miniscope_recording(target, num_frames=23, frames_per_file=8, version="V3", rate=15.0)
            elif name == "v4-three-files":
                write_miniscope_recording(target, num_frames=25, frames_per_file=10, version="V4")
            elif name == "v4-fewer-timestamps":
                write_miniscope_recording(target, num_frames=12, frames_per_file=5, version="V4", timestamp_rows=10)
            elif name == "v4-session":
                write_miniscope_session(target, recordings=3, gap_s=2.5, num_frames=9, frames_per_file=4,
                                        behavior_camera=False)
    if name == "v4-session":
        return target / "session"
    return next(p for p in target.iterdir()) / "Miniscope"


# case: (what to open, extractor class, keywords)
CASES = {
    **{f"real-{r}": (SESSION / r / "Miniscope", MiniscopeImagingExtractor, {}) for r in RECORDINGS},
    "real-session": (SESSION, MiniscopeMultiRecordingImagingExtractor, {}),
    "v3-three-files": ("v3-three-files", MiniscopeImagingExtractor, {}),
    "v4-three-files": ("v4-three-files", MiniscopeImagingExtractor, {}),
    "v4-fewer-timestamps": ("v4-fewer-timestamps", MiniscopeImagingExtractor, {}),
    "v4-session": ("v4-session", MiniscopeMultiRecordingImagingExtractor, {}),
}


def _folder(case: str) -> Path:
    where = CASES[case][0]
    return where if isinstance(where, Path) else _synthetic(where)


def _device_folders(folder: Path) -> list[Path]:
    """The Miniscope folders of a device folder or a session folder, in start-time order (read here)."""
    if (folder / "timeStamps.csv").is_file():
        return [folder]
    recordings = [p for p in folder.iterdir() if (p / "Miniscope" / "timeStamps.csv").is_file()]
    return [p / "Miniscope" for p in sorted(recordings, key=_start_time)]


def _videos(device: Path) -> list[Path]:
    return sorted(device.glob("*.avi"), key=lambda p: int(p.stem))


def _start_time(recording: Path) -> datetime:
    with open(recording / "metaData.json") as fh:
        start = json.load(fh)["recordingStartTime"]
    return datetime(start["year"], start["month"], start["day"], start["hour"], start["minute"], start["second"],
                    start["msec"] * 1000)


def _csv_times_ms(device: Path) -> np.ndarray:
    with open(device / "timeStamps.csv", newline="") as fh:
        return np.array([float(row["Time Stamp (ms)"]) for row in csv.DictReader(fh)])


@functools.lru_cache(maxsize=16)
def decode_grey(device: Path) -> np.ndarray:
    """Every frame of the device's videos, in file order, decoded to grey by plain PyAV (kept: the suite asks
    for the expected frames in most of its tests, and FFV1 frames of the real sensor decode slowly)."""
    frames = []
    for path in _videos(device):
        with av.open(str(path)) as container:
            frames += [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]
    frames = np.stack(frames)
    frames.flags.writeable = False
    return frames


def _kept_counts(device: Path) -> int:
    return min(len(decode_grey(device)), len(_csv_times_ms(device)))


class TestMiniscope(ExtractorTests):
    cases = list(CASES)

    def make_extractor(self, case):
        _, cls, kwargs = CASES[case]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the mismatch case warns (checked below)
            return cls(_folder(case), **kwargs)

    def expected_series(self, case):
        devices = _device_folders(_folder(case))
        if case.startswith("real"):
            return np.concatenate([decode_grey(d) for d in devices])
        parts = []
        for k, device in enumerate(devices):  # recording k of a synthetic session holds movie(..., seed=k)
            frames, rows, columns = decode_grey(device).shape
            parts.append(miniscope_movie(frames, rows, columns, seed=k)[: _kept_counts(device)])
        return np.concatenate(parts)

    def expected_timestamps(self, case):
        devices = _device_folders(_folder(case))
        first = _start_time(devices[0].parent)
        parts = []
        for device in devices:
            offset = (_start_time(device.parent) - first).total_seconds()
            parts.append(_csv_times_ms(device)[: _kept_counts(device)] / 1000 + offset)
        return np.concatenate(parts)

    def expected_sampling_frequency(self, case):
        steps = np.concatenate([np.diff(_csv_times_ms(d)[: _kept_counts(d)] / 1000)
                                for d in _device_folders(_folder(case))])
        kept = steps[np.abs(steps - steps.mean()) <= 3 * steps.std()]
        return 1 / kept.mean()

    def make_shrinkable(self, case, tmp_path):
        copy = copy_source(_folder(case), tmp_path)
        _, cls, kwargs = CASES[case]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls(copy, **kwargs), sorted(p for p in copy.rglob("*.avi") if p.parent.name == "Miniscope")


# ---------------------------------------------------------------------------------------------- the real session
def test_the_real_frames_are_bgra_with_three_equal_channels_read_exactly():
    path = SESSION / "15_03_28" / "Miniscope" / "0.avi"
    with av.open(str(path)) as container:
        bgra = np.stack([frame.to_ndarray() for frame in container.decode(video=0)])
    assert bgra.shape[-1] == 4
    assert np.array_equal(bgra[..., 0], bgra[..., 1]) and np.array_equal(bgra[..., 1], bgra[..., 2])
    with MiniscopeImagingExtractor(path.parent) as ex:
        np.testing.assert_array_equal(ex.get_series(), bgra[..., 1])


def test_open_imaging_detects_device_recording_and_session_folders():
    for folder, samples in ((SESSION, 15), (SESSION / "15_03_28", 5), (SESSION / "15_03_28" / "Miniscope", 5)):
        with open_imaging(folder) as ex:
            assert ex.format_id == "miniscope" and ex.get_num_samples() == samples
    assert sniff_miniscope(SESSION / "15_03_28" / "Miniscope", b"") is True
    assert "open the folder" in sniff_miniscope(SESSION / "15_03_28" / "Miniscope" / "0.avi", b"RIFF")


def test_a_behaviour_camera_folder_is_refused_naming_it():
    camera = SESSION / "15_03_28" / "BehavCam_2"
    with pytest.raises(FormatError, match=r"BehavCam_2 is a behaviour camera .*WebCam-1920x1080.*format='video'"):
        MiniscopeImagingExtractor(camera)
    assert "behaviour camera" in sniff_miniscope(camera, b"")
    with open_imaging(camera) as ex:  # detection falls back to its video: a plain movie
        assert ex.format_id == "video"


def test_the_facts_name_the_device_its_settings_and_the_recording_start():
    with MiniscopeMultiRecordingImagingExtractor(SESSION) as ex:
        facts = ex.get_acquisition_facts()
        with open(SESSION / "15_03_28" / "Miniscope" / "metaData.json") as fh:
            device = json.load(fh)
        assert facts.device_name == device["deviceName"]
        for text in ("Miniscope V3", device["deviceType"], f"led0 {device['led0']}", f"gain {device['gain']}",
                     device["frameRate"]):
            assert text in facts.device_description
        assert facts.session_start_time == _start_time(SESSION / "15_03_28")
        meta = ex.get_metadata()
        assert meta["device_metadata"] == device and meta["configured_frame_rate_hz"] == 15.0
        assert [r["recording_folder"] for r in meta["recordings"]] == [str(SESSION / r) for r in RECORDINGS]
        assert meta["recordings"][1]["time_offset_s"] == (_start_time(SESSION / "15_06_28")
                                                          - _start_time(SESSION / "15_03_28")).total_seconds()
        assert ex.get_timestamps()[0] < 0  # the first row is negative: kept


def test_the_classes_take_roiextractors_keywords():
    assert list(inspect.signature(MiniscopeImagingExtractor).parameters)[:5] == [
        "folder_path", "file_paths", "configuration_file_path", "timestamps_path", "sampling_frequency"]
    parameters = inspect.signature(MiniscopeMultiRecordingImagingExtractor).parameters
    assert list(parameters) == ["folder_path", "miniscope_device_name"]
    assert parameters["miniscope_device_name"].default == "Miniscope"
    config = MiniscopeImagingExtractor.load_miniscope_config(SESSION / "15_03_28" / "metaData.json")
    assert config["recordingStartTime"]["year"] == 2021


# ---------------------------------------------------------------------------------------------- options
def test_file_paths_timestamps_path_and_sampling_frequency(tmp_path):
    device = _synthetic("v4-three-files")
    videos = _videos(device)
    with pytest.warns(UserWarning, match="hold 20 frames but timeStamps.csv has 25"):
        ex = MiniscopeImagingExtractor(file_paths=videos[:2])  # two of three videos: fewer frames than times
    with ex:
        assert ex.get_num_samples() == 20
    moved = tmp_path / "times.csv"
    shutil.copy(device / "timeStamps.csv", moved)
    with MiniscopeImagingExtractor(file_paths=videos, timestamps_path=moved) as ex:
        np.testing.assert_array_equal(ex.get_timestamps(), _csv_times_ms(device) / 1000)
    copy = copy_source(device, tmp_path)
    (copy / "timeStamps.csv").unlink()
    with pytest.raises(FileSetError, match="timeStamps.csv does not exist.*sampling_frequency="):
        MiniscopeImagingExtractor(copy)
    with MiniscopeImagingExtractor(copy, sampling_frequency=20.0) as ex:
        assert ex.get_sampling_frequency() == 20.0 and ex.get_native_timestamps() is None
    with pytest.raises(ValueError, match="not both"):
        MiniscopeImagingExtractor(device, file_paths=videos)


def test_a_count_mismatch_warns_naming_both_counts_and_what_was_done(tmp_path):
    with pytest.warns(UserWarning, match="12 frames but timeStamps.csv has 10 timestamps; the last 2 frames"):
        MiniscopeImagingExtractor(_synthetic("v4-fewer-timestamps")).close()
    device = copy_source(_synthetic("v4-three-files"), tmp_path)
    with open(device / "timeStamps.csv", "a") as fh:
        fh.write("25,870,0,26\n26,905,0,27\n")
    with pytest.warns(UserWarning, match="25 frames but timeStamps.csv has 27 timestamps; the last 2 timestamps"):
        with MiniscopeImagingExtractor(device) as ex:
            assert ex.get_num_samples() == 25 and len(ex.get_timestamps()) == 25


def test_v4_metadata_and_timestamps_columns_are_read():
    device = _synthetic("v4-three-files")
    with MiniscopeImagingExtractor(device) as ex:
        meta = ex.get_metadata()
        assert meta["device_metadata"]["deviceType"] == "Miniscope_V4_BNO" and meta["configured_frame_rate_hz"] == 30.0
        assert meta["recordings"][0]["timestamps_header"][-1] == "DAQ Frame Number"
        assert "electrowetting lens ewl 70" in ex.get_acquisition_facts().device_description


def test_two_miniscopes_in_a_recording_need_a_device_name(tmp_path):
    write_miniscope_recording(tmp_path, num_frames=6, frames_per_file=6, device_name="HPC_miniscope1",
                              behavior_camera=False)
    recording = next(tmp_path.iterdir())
    second = write_miniscope_recording(tmp_path / "other", num_frames=4, frames_per_file=6,
                                       device_name="ACC_miniscope2", behavior_camera=False, seed=3)
    shutil.copytree(second, recording / "ACC_miniscope2")
    with pytest.raises(SelectionError, match="2 Miniscope devices .*miniscope_device_name="):
        MiniscopeImagingExtractor(recording)
    with MiniscopeImagingExtractor(recording, miniscope_device_name="ACC_miniscope2") as ex:
        np.testing.assert_array_equal(ex.get_series(), miniscope_movie(4, 24, 20, seed=3))
        assert ex.get_acquisition_facts().device_name == "ACC_miniscope2"


# ---------------------------------------------------------------------------------------------- damage
def test_a_missing_video_is_named(tmp_path):
    device = copy_source(_synthetic("v3-three-files"), tmp_path)
    (device / "1.avi").unlink()
    with pytest.raises(FileSetError, match="1.avi is missing from the videos 0.avi to 2.avi"):
        MiniscopeImagingExtractor(device)


def test_a_short_video_before_the_last_is_named(tmp_path):
    device = copy_source(_synthetic("v3-three-files"), tmp_path)
    shutil.copy(device / "2.avi", device / "1.avi")  # 7 frames where framesPerFile says 8
    with pytest.raises(CorruptFileError, match=r"1.avi holds 7 frames, but framesPerFile is 8"):
        MiniscopeImagingExtractor(device)


def test_a_video_cut_short_is_an_error_naming_it(tmp_path):
    device = copy_source(_synthetic("v4-three-files"), tmp_path)
    path = device / "2.avi"
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)
    try:
        ex = MiniscopeImagingExtractor(device)
    except CorruptFileError as exc:  # when the cut takes the AVI header too, opening says so
        assert "2.avi" in str(exc)
        return
    with ex, pytest.raises(CorruptFileError, match="2.avi"):
        ex.get_series()


def test_damaged_metadata_and_timestamps_are_named(tmp_path):
    device = copy_source(_synthetic("v4-three-files"), tmp_path)
    (device / "metaData.json").write_text("{not json")
    with pytest.raises(MetadataError, match="metaData.json is not valid"):
        MiniscopeImagingExtractor(device)
    device = copy_source(_synthetic("v3-three-files"), tmp_path / "b")
    lines = (device / "timeStamps.csv").read_text().splitlines()
    lines[5] = "4,abc,0"
    (device / "timeStamps.csv").write_text("\n".join(lines))
    with pytest.raises(MetadataError, match=r"timeStamps.csv, line 6: the time 'abc' is not a number"):
        MiniscopeImagingExtractor(device)
    (device / "timeStamps.csv").write_text("a,b\n1,2\n")
    with pytest.raises(MetadataError, match="no time column"):
        MiniscopeImagingExtractor(device)


def test_a_session_without_start_times_cannot_be_put_on_one_clock(tmp_path):
    session = copy_source(_synthetic("v4-session"), tmp_path)
    recording = sorted(p for p in session.iterdir() if p.is_dir())[1]
    meta = json.loads((recording / "metaData.json").read_text())
    del meta["recordingStartTime"]
    (recording / "metaData.json").write_text(json.dumps(meta))
    with pytest.raises(MetadataError, match="states no recordingStartTime"):
        MiniscopeMultiRecordingImagingExtractor(session)
