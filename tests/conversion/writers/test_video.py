"""The video writer through WriterTests: FFV1 (MKV, AVI) bit-exact, H.264 (MP4) lossless at crf=0 and scaled
for other dtypes, each decoded back with plain PyAV and with ophysio's video reader."""

import json

import av
import numpy as np
import pytest

import ophysio
from ophysio.conversion.writers import WriterError, open_writer, write_imaging
from ophysio.extractors import NumpyImagingExtractor, VideoImagingExtractor
from ophysio.testing.writers import RATE, WriterTests, channel_movies, irregular_times


def uint8_movie():
    """The planar case's movie as 8-bit values (the H.264 quick look's own dtype)."""
    return [(channel_movies("planar")[0] % 251).astype(np.uint8)]


def plain_decode(path):
    """Every frame through plain PyAV: grey planes as stored, full-range luma as stored (the writer tags it)."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            plane = frame.planes[0]
            dtype = np.dtype("<u2") if frame.format.name == "gray16le" else np.dtype(np.uint8)
            values = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
            frames.append(values[:, : plane.width].copy())
    return np.stack(frames)


def comment(path):
    with av.open(str(path)) as container:
        text = next(v for k, v in container.metadata.items() if k.lower() == "comment")
    return json.loads(text)["ophysio"]


class _VideoWriterTests(WriterTests):
    format = "video"
    cases = ["planar", "planar_uint8"]

    def expected_movies(self, case):
        return uint8_movie() if case == "planar_uint8" else channel_movies(case)

    def make_source(self, case):
        return NumpyImagingExtractor(self.expected_movies(case)[0], RATE, channel_name="ch0")

    def read_back(self, path, case, options):
        rows, columns = self.expected_movies(case)[0].shape[1:]
        return [plain_decode(path)[:, :rows, :columns]]  # H.264 pads an odd size to even

    def check_written(self, path, case, options):
        expected = self.expected_movies(case)[0]
        facts = comment(path)
        assert facts["sampling_frequency"] == RATE and facts["channel_name"] == "ch0"
        assert facts["image_shape"] == list(expected.shape[1:])
        with VideoImagingExtractor(path) as ex:  # ophysio reads back what it wrote
            np.testing.assert_array_equal(ex.get_series(), expected)
            assert ex.get_sampling_frequency() == RATE and ex.channel_name == "ch0"
            assert ex.get_native_timestamps() is None  # a regular movie: the rate says it all


class TestFFV1Matroska(_VideoWriterTests):
    output_name = "movie.mkv"
    option_sets = [{}, {"gop": 4}]

    def check_written(self, path, case, options):
        super().check_written(path, case, options)
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "ffv1"
            assert stream.format.name == ("gray" if case == "planar_uint8" else "gray16le")
            keys = [packet.is_keyframe for packet in container.demux(stream) if packet.size]
        assert all(keys) if not options else keys[::4] == [True] * len(keys[::4])


class TestFFV1Avi(_VideoWriterTests):
    output_name = "movie.avi"


class TestH264Lossless(_VideoWriterTests):
    """crf=0 is lossless: 8-bit frames come back exactly, a uint16 movie as its recorded 8-bit scaling."""

    output_name = "movie.mp4"
    write_options = {"crf": 0}
    memory_options = {"preset": "ultrafast"}

    def expected_movies(self, case):
        if case == "planar_uint8":
            return uint8_movie()
        movie = channel_movies("planar")[0].astype(np.float64)
        low, high = movie.min(), movie.max()
        return [np.clip(np.rint((movie - low) * 255 / (high - low)), 0, 255).astype(np.uint8)]

    def make_source(self, case):
        data = uint8_movie()[0] if case == "planar_uint8" else channel_movies("planar")[0]
        return NumpyImagingExtractor(data, RATE, channel_name="ch0")

    def check_written(self, path, case, options):
        super().check_written(path, case, options)
        facts = comment(path)
        if case == "planar":
            movie = channel_movies("planar")[0]
            assert facts["scaling"]["method"] == "minmax" and facts["source_dtype"] == "uint16"
            assert (facts["scaling"]["low"], facts["scaling"]["high"]) == (float(movie.min()), float(movie.max()))
        else:
            assert "scaling" not in facts
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.codec_context.color_range == 2


# ---------------------------------------------------------------------------------------------- beyond the suite
def test_h264_returns_and_records_the_scaling_it_applied(tmp_path):
    movie = channel_movies("planar")[0]
    with open_writer(tmp_path / "q.mp4", sampling_frequency=RATE, scaling="percentile", percentiles=(1, 99)) as w:
        w.write_frames(movie)  # fed over time: the first batch's percentiles... here its range
    assert w.scaling["low"] == float(movie.min()) and w.scaling["method"] == "percentile of the first batch"
    path = write_imaging(NumpyImagingExtractor(movie, RATE), tmp_path / "p.mp4", scaling="percentile",
                         percentiles=(1, 99))
    recorded = comment(path)["scaling"]
    low, high = np.percentile(movie, [1, 99])
    assert recorded["method"] == "percentile" and recorded["percentiles"] == [1.0, 99.0]
    assert recorded["low"] == pytest.approx(low) and recorded["high"] == pytest.approx(high)
    with VideoImagingExtractor(path) as ex:
        assert ex.get_metadata()["video"]["ophysio"]["scaling"] == recorded and ex.get_dtype() == np.uint8
    given = write_imaging(NumpyImagingExtractor(movie, RATE), tmp_path / "g.mp4", scaling=(100, 5000), crf=0)
    expected = np.clip(np.rint((movie.astype(np.float64) - 100) * 255 / 4900), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(plain_decode(given)[:, :, : movie.shape[2]], expected)


def test_times_are_kept_to_the_container_s_precision(tmp_path):
    movie = uint8_movie()[0]
    times = irregular_times(movie.shape[0])
    source = NumpyImagingExtractor(movie, None, timestamps=times)
    for name, precision, options in (("t.mkv", 5e-4, {}), ("t.mp4", 5e-7, {"crf": 0})):
        with VideoImagingExtractor(write_imaging(source, tmp_path / name, **options)) as ex:
            assert np.max(np.abs(ex.get_timestamps() - times)) <= precision
            np.testing.assert_array_equal(ex.get_series(), movie)
    with pytest.warns(UserWarning, match="AVI keeps only the rate"):
        write_imaging(source, tmp_path / "t.avi")


def test_what_a_video_cannot_hold_is_refused_with_what_to_do(tmp_path):
    with pytest.raises(WriterError, match="split='planes'"):
        write_imaging(NumpyImagingExtractor(channel_movies("volumetric")[0].astype(np.uint16), RATE),
                      tmp_path / "v.mkv")
    with pytest.raises(WriterError, match="FFV1 stores unsigned 8- or 16-bit"):
        write_imaging(NumpyImagingExtractor(channel_movies("volumetric")[0][..., 0], RATE), tmp_path / "i.mkv")
    with pytest.raises(WriterError, match="MP4/MOV take codec='h264'"):
        write_imaging(NumpyImagingExtractor(uint8_movie()[0], RATE), tmp_path / "f.mp4", codec="ffv1")
    with pytest.raises(WriterError, match="crf must be"):
        write_imaging(NumpyImagingExtractor(uint8_movie()[0], RATE), tmp_path / "c.mp4", crf=99)
    assert list(tmp_path.iterdir()) == []
    movies = [m[..., 1].astype(np.uint16) for m in channel_movies("multichannel")]
    sources = {name: NumpyImagingExtractor(m, RATE) for name, m in zip(("red", "green"), movies)}
    with pytest.raises(WriterError, match="split='channels'"):
        write_imaging(sources, tmp_path / "m.mkv")
    parts = write_imaging(sources, tmp_path / "m.mkv", split="channels")
    assert [p.name for p in parts] == ["m_red.mkv", "m_green.mkv"]
    for part, movie in zip(parts, movies):
        with VideoImagingExtractor(part) as ex:
            np.testing.assert_array_equal(ex.get_series(), movie)


def test_convert_to_video_on_the_command_line(tmp_path):
    from ophysio.cli.entry_point import main

    out = tmp_path / "movie.mkv"
    source = tmp_path / "m.npy"
    np.save(source, uint8_movie()[0])
    assert main(["convert", str(source), "-O", "sampling_frequency=7.5", "-o", str(out), "--no-progress"]) == 0
    with VideoImagingExtractor(out) as ex:
        np.testing.assert_array_equal(ex.get_series(), uint8_movie()[0])
    quick = tmp_path / "quick.mp4"
    assert main(["convert", str(source), "-O", "sampling_frequency=7.5", "--to", "video", "-o", str(quick),
                 "-W", "crf=0", "--no-progress"]) == 0
    np.testing.assert_array_equal(ophysio.open_imaging(quick).get_series(), uint8_movie()[0])
