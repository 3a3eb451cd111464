"""Plain movie files (VideoImagingExtractor) through the conformance suite, plus the video layer's promises.

Expected pixels come from elsewhere than the reader: the values the synthetic writer stored (lossless
files), or a plain PyAV decode of the whole file in decoder order with the luma taken from the frame's
plane by hand (lossy files and the real samples).
"""

import pickle
import shutil
import tempfile
from pathlib import Path

import av
import numpy as np
import pytest

from ophysio._synth.video import video_movie
from ophysio.errors import CorruptFileError, FileSetError, FormatError, SelectionError
from ophysio.extractors import VideoImagingExtractor, open_imaging
from ophysio.extractors._video.cache import FRAMES
from ophysio.extractors.video.sniff import sniff_video
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.data import sample_data_folder
from ophysio.testing.synthetic import write_video

FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-video-"))
MINISCOPE = sample_data_folder() / "miniscope" / "C6-J588_Disc5"
IRREGULAR = [0.25 + i / 20 + 0.002 * i * i for i in range(24)]

# name: (write_video keywords, extractor keywords)
SYNTHETIC = {
    "ffv1-gray8.mkv": (dict(num_frames=24, rows=16, columns=12, gop=5), {}),
    "ffv1-gray16.avi": (dict(num_frames=18, rows=10, columns=14, dtype="uint16", gop=4), {}),
    "ffv1-rgb.mkv": (dict(num_frames=12, rows=8, columns=10, color=True, gop=3), {"channel_name": "G"}),
    "ffv1-vfr.mkv": (dict(num_frames=24, rows=8, columns=6, timestamps=IRREGULAR, gop=6), {}),
    "h264-bframes.mp4": (dict(num_frames=40, rows=32, columns=40, codec="h264", gop=12), {}),
    "h264-vfr.mp4": (dict(num_frames=24, rows=16, columns=16, codec="h264", timestamps=IRREGULAR, gop=8), {}),
    "mjpeg.avi": (dict(num_frames=10, rows=16, columns=24, codec="mjpeg"), {}),
    "mpeg4.mp4": (dict(num_frames=20, rows=16, columns=16, codec="mpeg4", gop=6), {}),
}
#: every video of the real Miniscope sample: the scope's (BGRA FFV1, read as its G channel) and the cameras' (MJPEG)
REAL = {f"{recording}/{device}": {"channel_name": "G"} if device == "Miniscope" else {}
        for recording in ("15_03_28", "15_06_28", "15_07_58") for device in ("Miniscope", "BehavCam_2")}
#: the real videos the whole suite runs on: one of each kind (the three recordings' videos are of one device
#: each, and decoding 752 x 480 FFV1 or 1280 x 720 MJPEG frames hundreds of times takes seconds per file);
#: every real video is read whole and at random in test_every_real_video_reads_as_plain_pyav_decodes_it, and
#: the Miniscope ones run through the suite again as Miniscope recordings (tests/extractors/miniscope)
SUITE_REAL = ["15_03_28/Miniscope", "15_06_28/BehavCam_2"]


def _path(case: str) -> Path:
    if case in REAL:
        return MINISCOPE / case / "0.avi"
    path = FOLDER / case
    if not path.exists():
        write_video(path, **SYNTHETIC[case][0])
    return path


def _options(case: str) -> dict:
    return REAL[case] if case in REAL else SYNTHETIC[case][1]


def independent_decode(path: Path, channel: str | None = None) -> np.ndarray:
    """Every frame of the file in decoder order, through plain PyAV: grey planes as stored, YUV luma by hand
    (limited range expanded with 255/219), BGRA/RGB channels from the frame's own array."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            name = frame.format.name
            if name in ("bgra", "rgb24") or channel is not None:
                array = frame.to_ndarray()
                frames.append(array[..., {"bgra": "BGR", "rgb24": "RGB"}[name].index(channel)])
                continue
            if name.startswith("gray"):
                frames.append(frame.to_ndarray())
                continue
            plane = frame.planes[0]
            luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
            if name.startswith("yuvj") or frame.color_range == 2:
                frames.append(luma.copy())
            else:
                frames.append(np.clip(np.round((luma.astype(np.float64) - 16) * 255 / 219), 0, 255).astype(np.uint8))
    return np.stack(frames)


class TestVideo(ExtractorTests):
    cases = [*SYNTHETIC, *SUITE_REAL]

    def make_extractor(self, case):
        return VideoImagingExtractor(_path(case), **_options(case))

    def expected_series(self, case):
        if case in SYNTHETIC and SYNTHETIC[case][0].get("codec", "ffv1") == "ffv1":
            kwargs = SYNTHETIC[case][0]
            data = video_movie(kwargs["num_frames"], kwargs["rows"], kwargs["columns"], kwargs.get("dtype", "uint8"),
                               kwargs.get("color", False))
            return data[..., "RGB".index(_options(case)["channel_name"])] if kwargs.get("color") else data
        return independent_decode(_path(case), _options(case).get("channel_name"))

    def expected_timestamps(self, case):
        if case == "ffv1-vfr.mkv":
            return np.round(np.asarray(IRREGULAR) * 1000) / 1000  # Matroska keeps milliseconds
        if case == "h264-vfr.mp4":
            return np.round(np.asarray(IRREGULAR) * 1e6) / 1e6  # the writer's microsecond time base
        return None

    def expected_sampling_frequency(self, case):
        if case in REAL:
            return 60.0  # what the Miniscope software's OpenCV writer puts in every AVI header
        return None if "vfr" in case else 30.0

    def make_shrinkable(self, case, tmp_path):
        copy = copy_source(_path(case), tmp_path)
        return VideoImagingExtractor(copy, **_options(case)), [copy]


@pytest.mark.parametrize("case", list(REAL))
def test_every_real_video_reads_as_plain_pyav_decodes_it(case):
    expected = independent_decode(_path(case), _options(case).get("channel_name"))
    with VideoImagingExtractor(_path(case), **_options(case)) as ex:
        assert ex.get_num_samples() == len(expected) and ex.get_dtype() == np.uint8
        np.testing.assert_array_equal(ex.get_series(), expected)
        FRAMES.forget(ex._video._owner)
        np.testing.assert_array_equal(ex.get_samples([4, 1, 3]), expected[[4, 1, 3]])
        np.testing.assert_array_equal(ex.get_timestamps(), np.arange(len(expected)) / 60.0)


# ---------------------------------------------------------------------------------------------- detection
def test_the_sniff_knows_the_containers_by_their_magic(tmp_path):
    for case in ("ffv1-gray8.mkv", "ffv1-gray16.avi", "h264-bframes.mp4"):
        path = _path(case)
        assert sniff_video(path, path.read_bytes()[:64]) is True
        assert open_imaging(path).format_id == "video"
    assert "magic" in sniff_video(tmp_path / "x.avi", b"II*\x00" + b"\0" * 60)
    assert "folder" in sniff_video(tmp_path, b"")
    heic = b"\0\0\0\x18ftypheic" + b"\0" * 20
    assert sniff_video(tmp_path / "x.mp4", heic) is not True


def test_an_rgb_video_has_one_channel_per_colour():
    with pytest.raises(SelectionError, match=r"\['R', 'G', 'B'\]"):
        VideoImagingExtractor(_path("ffv1-rgb.mkv"))
    assert VideoImagingExtractor.get_available_channel_names(_path("ffv1-rgb.mkv")) == ["R", "G", "B"]
    data = video_movie(12, 8, 10, color=True)
    for index, name in enumerate("RGB"):
        with VideoImagingExtractor(_path("ffv1-rgb.mkv"), channel_name=name) as ex:
            np.testing.assert_array_equal(ex.get_series(), data[..., index])
            assert ex.get_channel_names() == ["R", "G", "B"] and ex.get_dtype() == np.uint8


def test_grey_stays_grey_and_deep_grey_stays_exact():
    with VideoImagingExtractor(_path("ffv1-gray16.avi")) as ex:
        assert ex.get_dtype() == np.uint16 and ex.get_channel_names() == ["channel_0"]
        assert ex.get_metadata()["video"]["pixel_format"] == "gray16le"
        assert ex.get_native_timestamps() is None  # AVI counts frames; its frames are at index / rate


# ---------------------------------------------------------------------------------------------- random access
class _CountingContainer:
    """Wraps an open container: counts seeks and decoded frames."""

    def __init__(self, container):
        self.container, self.seeks, self.frames = container, 0, 0

    def seek(self, *args, **kwargs):
        self.seeks += 1
        return self.container.seek(*args, **kwargs)

    def decode(self, *args, **kwargs):
        for frame in self.container.decode(*args, **kwargs):
            self.frames += 1
            yield frame

    def __getattr__(self, name):
        return getattr(self.container, name)


def _counted(extractor, forget: bool = True):
    """Count the seeks and decoded frames of an extractor's container (its cached frames forgotten first)."""
    if forget:
        FRAMES.forget(extractor._video._owner)
    extractor._video.index()
    with extractor._video._file.open() as handle:
        counter = _CountingContainer(handle.container)
        handle.container = counter
    return counter


def test_a_late_frame_decodes_from_its_keyframe_not_from_the_start():
    with VideoImagingExtractor(_path("ffv1-gray8.mkv")) as ex:  # keyframes every 5 frames
        counter = _counted(ex)
        np.testing.assert_array_equal(ex.get_samples([22]), video_movie(24, 16, 12)[[22]])
        assert counter.seeks == 1 and counter.frames <= 3 + 2  # frames 20, 21, 22 (and decoder look-ahead)


def test_chunked_and_sorted_scattered_reads_decode_on_without_seeking():
    with VideoImagingExtractor(_path("h264-bframes.mp4")) as ex:
        expected = independent_decode(_path("h264-bframes.mp4"))
        counter = _counted(ex)
        chunks = [ex.get_series(a, a + 7) for a in range(0, 40, 7)]
        np.testing.assert_array_equal(np.concatenate(chunks), expected)
        assert counter.seeks == 1
        assert counter.frames <= 40 + 8  # each frame decoded once (plus the decoder's look-ahead)
        assert counter.frames >= 40
        FRAMES.forget(ex._video._owner)  # decoded frames are cached: read them afresh
        picks = [25, 26, 29, 32]  # within one keyframe interval (24-35): decoded on from one seek
        seeks, frames = counter.seeks, counter.frames
        np.testing.assert_array_equal(ex.get_samples(picks), expected[picks])
        assert counter.seeks == seeks + 1 and counter.frames - frames <= 32 - 24 + 1 + 8
        frames = counter.frames
        np.testing.assert_array_equal(ex.get_samples([27, 24]), expected[[27, 24]])  # decoded on the way: cached
        assert counter.frames == frames


def test_the_frame_cache_is_bounded_and_shared_by_extractors_of_one_unchanged_file(monkeypatch, tmp_path):
    from ophysio.extractors._video import cache

    monkeypatch.setattr(cache, "MAX_CACHED_BYTES", 16 * 12 * 8)  # eight 16 x 12 uint8 frames
    with VideoImagingExtractor(_path("ffv1-gray8.mkv")) as ex:
        ex.get_series()
        assert FRAMES.nbytes <= 16 * 12 * 8
    with VideoImagingExtractor(_path("ffv1-gray8.mkv")) as other:
        counter = _counted(other, forget=False)
        np.testing.assert_array_equal(other.get_series(20, 24), video_movie(24, 16, 12)[20:24])
        assert counter.frames == 0  # the last frames read are still cached
    copy = tmp_path / "copy.mkv"
    shutil.copy(_path("ffv1-gray8.mkv"), copy)
    with VideoImagingExtractor(copy) as elsewhere:
        assert elsewhere._video._owner != ex._video._owner


def test_the_index_is_built_once_and_pickled_with_the_extractor():
    with VideoImagingExtractor(_path("ffv1-gray16.avi")) as ex:  # AVI states its count: indexed on first read
        assert ex._video._index is None
        ex.get_series(0, 2)
        index = ex._video._index
        assert index is not None and index.num_frames == 18 and list(index.keyframes) == [0, 4, 8, 12, 16]
        clone = pickle.loads(pickle.dumps(ex))
        assert clone._video._index is not None
        np.testing.assert_array_equal(clone._video._index.pts, index.pts)
        np.testing.assert_array_equal(clone.get_series(), ex.get_series())
        clone.close()


# ---------------------------------------------------------------------------------------------- damage
def _cut(case: str, tmp_path: Path, fraction: float) -> Path:
    source = _path(case)
    target = tmp_path / f"cut-{source.name}"
    shutil.copy(source, target)
    with open(target, "r+b") as fh:
        fh.truncate(int(target.stat().st_size * fraction))
    return target


def test_an_avi_cut_short_is_an_error_naming_the_file_and_the_frame(tmp_path):
    path = write_video(tmp_path / "long.avi", num_frames=40, rows=32, columns=40, dtype="uint16", gop=8)
    with open(path, "r+b") as fh:  # frames and the index at the end are lost; the header still says 40 frames
        fh.truncate(int(path.stat().st_size * 0.6))
    with VideoImagingExtractor(path) as ex:
        assert ex.get_num_samples() == 40
        np.testing.assert_array_equal(ex.get_series(0, 2), video_movie(40, 32, 40, "uint16")[:2])
        with pytest.raises(CorruptFileError, match=rf"{path.name}: frame \d+ cannot be read: the header declares 40"):
            ex.get_series()


def test_a_matroska_file_cut_short_is_refused_naming_it(tmp_path):
    path = _cut("ffv1-gray8.mkv", tmp_path, 0.7)
    with pytest.raises(CorruptFileError, match=rf"{path.name}: its frames end at .* states a duration"):
        VideoImagingExtractor(path)


def test_an_mp4_cut_short_or_garbage_is_an_error_naming_it(tmp_path):
    path = _cut("h264-bframes.mp4", tmp_path, 0.8)
    with pytest.raises(FormatError, match=path.name):  # the sample table is lost: no video stream is left
        VideoImagingExtractor(path)
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(range(256)) * 8)
    with pytest.raises(CorruptFileError, match="garbage.avi"):
        VideoImagingExtractor(garbage)
    with pytest.raises(FileSetError, match="absent.mkv"):
        VideoImagingExtractor(tmp_path / "absent.mkv")


def test_a_frame_that_does_not_decode_is_an_error_naming_it(tmp_path):
    path = tmp_path / "damaged.avi"
    shutil.copy(_path("ffv1-gray16.avi"), path)
    data = bytearray(path.read_bytes())
    at = data.index(b"00dc", 2000)  # a frame's chunk in the movi list: scramble its payload
    data[at + 8 : at + 200] = bytes(reversed(data[at + 8 : at + 200]))
    path.write_bytes(bytes(data))
    with VideoImagingExtractor(path) as ex:
        try:
            got = ex.get_series()
        except CorruptFileError as exc:
            assert "damaged.avi" in str(exc) and "frame" in str(exc)
        else:  # FFV1 frames carry a CRC: a scrambled frame must not read as other values silently
            np.testing.assert_array_equal(got, video_movie(18, 10, 14, "uint16"))


# ---------------------------------------------------------------------------------------------- time, facts
def test_matroska_and_mp4_times_are_recorded_times_avi_has_a_rate():
    with VideoImagingExtractor(_path("ffv1-vfr.mkv")) as ex:
        assert ex.has_recorded_times()
        np.testing.assert_allclose(ex.get_timestamps(), IRREGULAR, atol=5e-4)
    with VideoImagingExtractor(_path("ffv1-gray8.mkv")) as ex:  # a regular movie from 0: the rate says it all
        assert ex.get_native_timestamps() is None and ex.get_sampling_frequency() == 30.0


def test_the_metadata_describe_the_container_and_creation_time_is_the_start(tmp_path):
    path = write_video(tmp_path / "dated.mp4", num_frames=4, rows=8, columns=8, codec="h264",
                       metadata={"creation_time": "2024-02-03T04:05:06.000000Z"})
    with VideoImagingExtractor(path) as ex:
        video = ex.get_metadata()["video"]
        assert video["codec"] == "h264" and video["declared_frames"] == 4 and video["width"] == 8
        facts = ex.get_acquisition_facts()
        assert facts.session_start_time.isoformat() == "2024-02-03T04:05:06+00:00"
