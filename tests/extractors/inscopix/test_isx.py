"""Side by side with Inscopix's own reader, the ``isx`` package, where it installs (CPython 3.9-3.12 on x86-64
Linux, Windows, Intel macOS). ophysio never needs it: these tests only check that both read the same."""

import numpy as np
import pytest

from ophysio._synth.inscopix import write_isxd
from ophysio.extractors import InscopixImagingExtractor
from ophysio.testing.data import sample_file

isx = pytest.importorskip("isx", reason="the isx package (Inscopix's reader) is not installed here")


def isx_frames(path):
    movie = isx.Movie.read(str(path))
    frames = np.stack([movie.get_frame_data(i) for i in range(movie.timing.num_samples)])
    offsets = np.array([o.secs_float for o in movie.timing.get_offsets_since_start()])
    return movie, frames, offsets


def _as_frames(ex):
    data = ex.get_series()
    return np.moveaxis(data, 3, 1).reshape(-1, *data.shape[1:3]) if data.ndim == 4 else data


@pytest.mark.parametrize("name", ["movie_longer_than_3_min", "multiplane_movie"])
def test_real_samples_as_isx_reads_them(name):
    path = sample_file(f"inscopix/{name}.isxd")
    movie, frames, offsets = isx_frames(path)
    ex = InscopixImagingExtractor(path)
    np.testing.assert_array_equal(_as_frames(ex), frames)  # isx gives the frames as stored, planes interleaved
    planes = ex.get_num_planes()
    # isx's times are the grid of its period (the time stamps' mean step); ours the time stamps themselves
    np.testing.assert_allclose(ex.get_timestamps(), offsets[::planes], rtol=0, atol=2e-6)
    assert ex.get_sampling_frequency() * planes == pytest.approx(1 / movie.timing.period.secs_float, rel=1e-9)
    start = ex.get_acquisition_facts().session_start_time
    assert start.replace(tzinfo=None) == movie.timing.start.to_datetime()
    info = movie.get_acquisition_info()
    facts = ex.get_acquisition_facts()
    assert info["Microscope Type"] in facts.device_name and info["Microscope Serial Number"] in facts.device_description


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_movies_isx_writes_with_dropped_and_cropped_samples(tmp_path, dtype):
    timing = isx.Timing(num_samples=12, period=isx.Duration.from_msecs(50), dropped=[3], cropped=[(6, 7)])
    path = tmp_path / "isx.isxd"
    movie = isx.Movie.write(str(path), timing, isx.Spacing(num_pixels=(5, 4)), dtype)
    written = {}
    for i in range(12):
        if i not in (3, 6, 7):
            written[i] = (np.arange(20).reshape(5, 4) * 3 + 100 * i).astype(dtype)
            movie.set_frame_data(i, written[i])
    movie.flush()
    del movie
    ex = InscopixImagingExtractor(path)
    np.testing.assert_array_equal(ex.get_series(), np.stack(list(written.values())))
    np.testing.assert_allclose(ex.get_timestamps(), np.array(list(written)) * 0.05, atol=1e-12)


@pytest.mark.parametrize("options", [
    dict(dtype="float32", dropped=(2, 5), cropped=("8 - 9",), blank=(12,)),
    dict(dtype="uint8"),
    dict(frame_headers=True, dropped=(4,), tsc_steps_us=[50_000 + 13 * k for k in range(20)]),
])
def test_synthetic_movies_read_by_isx(tmp_path, options):
    path = write_isxd(tmp_path / "synthetic.isxd", num_times=20, **options)
    movie, frames, offsets = isx_frames(path)
    ex = InscopixImagingExtractor(path)
    valid = [i for i in range(movie.timing.num_samples) if i not in movie.timing.dropped and i not in
             movie.timing.blank and not any(a <= i <= b for a, b in movie.timing.cropped)]
    np.testing.assert_array_equal(ex.get_series(), frames[valid])
    assert ex.get_sampling_frequency() == pytest.approx(1 / movie.timing.period.secs_float, rel=1e-9)
    if options.get("frame_headers"):
        stamps = np.array([movie.get_frame_timestamp(i) for i in valid], dtype=np.float64)
        np.testing.assert_allclose(ex.get_timestamps(), (stamps - stamps[0]) / 1e6, atol=1e-9)
    else:
        np.testing.assert_allclose(ex.get_timestamps(), offsets[valid], atol=1e-9)
