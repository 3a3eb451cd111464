"""NumpyImagingExtractor and every lazy view through the shared conformance suite."""

import numpy as np
import pytest

from ophysio.errors import FormatError, MetadataError, SampleIndexError
from ophysio.extractors import MultiImagingExtractor, NumpyImagingExtractor
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.synthetic import movie, write_npy

PLANAR = movie(12, 9, 7, dtype="int16")
VOLUME = movie(10, 6, 5, planes=3, dtype="uint16")
FLOATS = movie(9, 4, 6, dtype="float32")


class TestNumpyArrays(ExtractorTests):
    cases = ["planar", "volume", "floats", "one-sample", "timestamps"]

    def make_extractor(self, case):
        if case == "planar":
            return NumpyImagingExtractor(PLANAR, sampling_frequency=30.0)
        if case == "volume":
            return NumpyImagingExtractor(VOLUME, sampling_frequency=5.0)
        if case == "floats":
            return NumpyImagingExtractor(FLOATS, sampling_frequency=10.0)
        if case == "one-sample":
            return NumpyImagingExtractor(PLANAR[:1], sampling_frequency=1.0)
        return NumpyImagingExtractor(PLANAR, timestamps=np.arange(12) * 0.1 + 3 + np.r_[0, 0.01, [0] * 10])

    def expected_series(self, case):
        return {"planar": PLANAR, "volume": VOLUME, "floats": FLOATS, "one-sample": PLANAR[:1],
                "timestamps": PLANAR}[case]

    def expected_timestamps(self, case):
        if case == "timestamps":
            return np.arange(12) * 0.1 + 3 + np.r_[0, 0.01, [0] * 10]
        if case == "planar":
            return np.arange(12) / 30.0
        return None


class TestNpyFile(ExtractorTests):
    cases = ["planar", "volume"]

    def make_extractor(self, case):
        return NumpyImagingExtractor(self._path(case), sampling_frequency=20.0)

    def make_shrinkable(self, case, tmp_path):
        extractor = NumpyImagingExtractor(copy_source(self._path(case), tmp_path), sampling_frequency=20.0)
        return extractor, extractor.get_file_paths()

    def _path(self, case):
        import tempfile
        from pathlib import Path

        folder = Path(tempfile.gettempdir()) / "ophysio-tests-npy"
        folder.mkdir(exist_ok=True)
        path = folder / f"{case}.npy"
        if not path.exists():
            write_npy(path, 11, 8, 5, planes=2 if case == "volume" else None)
        return path

    def expected_series(self, case):
        return movie(11, 8, 5, planes=2 if case == "volume" else None, dtype="uint16")


def _views():
    base = NumpyImagingExtractor(VOLUME, sampling_frequency=5.0)
    planar = NumpyImagingExtractor(PLANAR, sampling_frequency=30.0)
    return {
        "slice": (planar.slice_samples(2, -1), PLANAR[2:-1]),
        "slice-of-slice": (planar.slice_samples(1, None).slice_samples(-5), PLANAR[1:][-5:]),
        "fov": (planar.slice_field_of_view(1, 8, 2, 6), PLANAR[:, 1:8, 2:6]),
        "fov-volume": (base.slice_field_of_view(column_start=1), VOLUME[:, :, 1:]),
        "plane": (base.select_plane(1), VOLUME[..., 1]),
        "binned": (planar.bin_samples(3), np.rint(PLANAR.reshape(4, 3, 9, 7).astype(float).mean(1)).astype("int16")),
        "concat": (
            MultiImagingExtractor([planar, NumpyImagingExtractor(PLANAR[:3], sampling_frequency=30.0)]),
            np.concatenate([PLANAR, PLANAR[:3]]),
        ),
        "composed": (base.select_plane(2).slice_field_of_view(1, 5).slice_samples(1, 9), VOLUME[1:9, 1:5, :, 2]),
    }


class TestViews(ExtractorTests):
    cases = list(_views())

    def make_extractor(self, case):
        return _views()[case][0]

    def expected_series(self, case):
        return _views()[case][1]


def test_planar_input_is_not_misshaped():
    ex = NumpyImagingExtractor(PLANAR, sampling_frequency=30.0)
    assert ex.get_image_shape() == (9, 7)
    assert ex.get_num_samples() == 12 and not ex.is_volumetric
    np.testing.assert_array_equal(ex.get_series(3, 4)[0], PLANAR[3])


def test_bad_input_is_refused_clearly():
    with pytest.raises(FormatError, match="samples, rows, columns"):
        NumpyImagingExtractor(np.zeros((3, 4)), sampling_frequency=1.0)
    with pytest.raises(MetadataError, match="sampling_frequency"):  # opens; the times need a rate
        NumpyImagingExtractor(PLANAR).get_timestamps()
    with pytest.raises(MetadataError, match="5 timestamps given for 12 samples"):
        NumpyImagingExtractor(PLANAR, timestamps=np.arange(5))
    with pytest.raises(MetadataError, match="positive"):
        NumpyImagingExtractor(PLANAR, sampling_frequency=-1)


def test_binning_rounds_integers_to_nearest():
    data = np.array([[[1]], [[2]], [[2]], [[2]], [[-3]], [[-2]]], dtype=np.int8)
    ex = NumpyImagingExtractor(data, sampling_frequency=2.0).bin_samples(2)
    # means 1.5, 2, -2.5 -> 2, 2, -2 (ties to even), never truncated
    np.testing.assert_array_equal(ex.get_series()[:, 0, 0], [2, 2, -2])
    np.testing.assert_allclose(ex.get_timestamps(), [0.25, 1.25, 2.25])
    assert ex.get_sampling_frequency() == 1.0


def test_binning_uint16_at_top_of_range_does_not_overflow():
    data = np.full((4, 2, 2), 65535, dtype=np.uint16)
    np.testing.assert_array_equal(NumpyImagingExtractor(data, sampling_frequency=1.0).bin_samples(4)[:], 65535)


def test_concatenation_checks_parts_and_joins_times():
    a = NumpyImagingExtractor(PLANAR, sampling_frequency=30.0)
    b = NumpyImagingExtractor(PLANAR, timestamps=np.arange(12) / 30.0 + 10)
    joined = MultiImagingExtractor([a, b])
    np.testing.assert_allclose(joined.get_timestamps(), np.r_[np.arange(12) / 30.0, np.arange(12) / 30.0 + 10])
    with pytest.raises(FormatError, match="shape"):
        MultiImagingExtractor([a, NumpyImagingExtractor(VOLUME, sampling_frequency=30.0)])
    with pytest.raises(FormatError, match="Hz"):
        MultiImagingExtractor([a, NumpyImagingExtractor(PLANAR, sampling_frequency=31.0)])


def test_set_times_rejects_wrong_length_and_warns_on_decreasing_times():
    ex = NumpyImagingExtractor(PLANAR, sampling_frequency=30.0)
    with pytest.raises(MetadataError, match="one time per sample"):
        ex.set_times(np.arange(3))
    backwards = np.r_[np.arange(5), np.arange(7)].astype(float)
    # roiextractors accepts times that go backwards: ophysio keeps them too, with a warning
    with pytest.warns(UserWarning, match="decrease between samples 4 and 5"):
        ex.set_times(backwards)
    assert ex.has_time_vector()
    np.testing.assert_array_equal(ex.get_timestamps(), backwards)
    np.testing.assert_array_equal(ex.get_timestamps(3, 7), backwards[3:7])
    np.testing.assert_array_equal(ex.slice_samples(4, 8).get_timestamps(), backwards[4:8])


def test_time_to_sample_indices_regular_and_recorded():
    ex = NumpyImagingExtractor(PLANAR, sampling_frequency=10.0)
    assert ex.time_to_sample_indices(0.52) == 5
    np.testing.assert_array_equal(ex.time_to_sample_indices([0.0, 1.1]), [0, 11])
    ex.set_times(np.arange(12) * 2.0)
    assert ex.time_to_sample_indices(3.0) == 1  # between samples 1 (2 s) and 2 (4 s): the one at or before


def test_time_to_sample_indices_between_recorded_times_is_the_sample_at_or_before():
    # roiextractors: np.searchsorted(times, t, side="right") - 1; ophysio clips times before the first to 0
    times = np.array([0.0, 0.1, 0.1, 0.35, 0.4, 0.9, 1.0, 1.05, 2.0, 2.5, 2.5, 3.0])
    ex = NumpyImagingExtractor(PLANAR, sampling_frequency=10.0)
    ex.set_times(times)
    queries = np.array([-1.0, 0.0, 0.05, 0.1, 0.2, 0.35, 0.39, 0.95, 1.049, 2.4, 2.5, 2.99, 3.0, 9.0])
    expected = [0, 0, 0, 2, 2, 3, 3, 5, 6, 8, 10, 10, 11, 11]
    np.testing.assert_array_equal(ex.time_to_sample_indices(queries), expected)
    np.testing.assert_array_equal(expected, np.clip(np.searchsorted(times, queries, side="right") - 1, 0, None))
    assert isinstance(ex.time_to_sample_indices(0.2), int) and ex.time_to_sample_indices(0.2) == 2


def test_select_plane_refuses_planar_and_out_of_range():
    with pytest.raises(FormatError, match="volumetric"):
        NumpyImagingExtractor(PLANAR, sampling_frequency=1.0).select_plane(0)
    with pytest.raises(IndexError, match="plane_index 3"):
        NumpyImagingExtractor(VOLUME, sampling_frequency=1.0).select_plane(3)


def test_select_plane_follows_python_indexing():
    ex = NumpyImagingExtractor(VOLUME, sampling_frequency=1.0)
    n = VOLUME.shape[3]
    for k in range(-n, n):  # Python's rule: -1 is the last plane, -n the first
        view = ex.select_plane(k)
        np.testing.assert_array_equal(view.get_series(), VOLUME[..., k])
        assert view.plane_index == range(n)[k]
    for k in (n, -n - 1, 100, -100):
        message = rf"plane_index {k} is out of range for {n} planes: give 0 to {n - 1}, or -{n} to -1"
        with pytest.raises(SampleIndexError, match=message):
            ex.select_plane(k)
    with pytest.raises(TypeError, match="integer"):
        ex.select_plane(1.0)


def test_large_cropped_read_goes_in_blocks(monkeypatch):
    import ophysio.extractors._indexing as indexing
    import ophysio.extractors.imaging as base

    for module in (base, indexing):  # the block size of iter_series and of the cropping slice
        monkeypatch.setattr(module, "DEFAULT_CHUNK_BYTES", 9 * 7 * 2 * 2)  # two frames per block
    ex = NumpyImagingExtractor(PLANAR, sampling_frequency=30.0)
    calls = []
    original = ex._read_series
    monkeypatch.setattr(ex, "_read_series", lambda a, b, out: (calls.append(b - a), original(a, b, out)))
    np.testing.assert_array_equal(ex[:, 2:4, 1], PLANAR[:, 2:4, 1])
    assert max(calls) <= 2 and sum(calls) == 12


def test_views_keep_the_parent_time_base():
    ex = NumpyImagingExtractor(PLANAR, sampling_frequency=10.0)
    np.testing.assert_allclose(ex.slice_samples(2, 5).get_timestamps(), [0.2, 0.3, 0.4])
    np.testing.assert_allclose(ex.slice_samples(2, 8).bin_samples(2).get_timestamps(), [0.25, 0.45, 0.65])
    assert ex.slice_samples(2, 5).get_native_timestamps() is None
    ex.set_times(np.arange(12) + 100.0)
    np.testing.assert_allclose(ex.slice_samples(2, 5).get_timestamps(), [102, 103, 104])
    np.testing.assert_allclose(ex.slice_field_of_view(1, 3).get_timestamps(), np.arange(12) + 100.0)


def test_views_report_the_parent_time_vector():
    times = np.cumsum(np.linspace(0.1, 0.3, 12)) + 50.0  # uneven, so no rate could give them
    ex = NumpyImagingExtractor(PLANAR, sampling_frequency=10.0)
    sliced, cropped, binned = ex.slice_samples(3, 9), ex.slice_field_of_view(1, 4), ex.bin_samples(3)
    volume = NumpyImagingExtractor(VOLUME, sampling_frequency=10.0)
    plane = volume.select_plane(1)
    joined = MultiImagingExtractor([ex, NumpyImagingExtractor(PLANAR, sampling_frequency=10.0)])
    assert not any(v.has_time_vector() for v in (sliced, cropped, binned, plane, joined))
    ex.set_times(times)
    volume.set_times(times[:10])
    assert all(v.has_time_vector() for v in (sliced, cropped, binned, plane, joined))
    np.testing.assert_array_equal(sliced.get_timestamps(), times[3:9])
    np.testing.assert_array_equal(cropped.get_timestamps(), times)
    np.testing.assert_allclose(binned.get_timestamps(), times.reshape(4, 3).mean(axis=1))
    np.testing.assert_array_equal(plane.get_timestamps(), times[:10])
    np.testing.assert_array_equal(sliced.slice_samples(1, 3).get_timestamps(), times[4:6])
    assert sliced.slice_samples(1, 3).has_time_vector()


def test_copy_times_copies_the_set_times_of_another_extractor():
    times = np.cumsum(np.linspace(0.05, 0.2, 12)) + 7.0
    source = NumpyImagingExtractor(PLANAR, sampling_frequency=10.0)
    target = NumpyImagingExtractor(PLANAR + 1, sampling_frequency=10.0)
    target.copy_times(source)  # nothing set on the source: nothing changes
    assert not target.has_time_vector()
    np.testing.assert_allclose(target.get_timestamps(), np.arange(12) / 10.0)
    source.set_times(times)
    target.copy_times(source)
    assert target.has_time_vector()
    np.testing.assert_array_equal(target.get_timestamps(), times)
    source.set_times(times + 1.0)  # a copy, not shared
    np.testing.assert_array_equal(target.get_timestamps(), times)
    with pytest.raises(MetadataError, match="one time per sample"):
        NumpyImagingExtractor(VOLUME, sampling_frequency=10.0).copy_times(source)
