"""A source that states no rate (a plain TIFF, a ``.npy``) opens and describes itself; only what needs a
rate (times, conversion) asks for one, before anything is written."""

import json

import h5py
import numpy as np
import pytest
import tifffile

from ophysio import open_imaging, write_imaging, write_nwb
from ophysio.cli import main
from ophysio.errors import RateUnknownError

from ..conversion.test_neuroconv_layout import PLANE, SESSION


@pytest.fixture
def plain_tiff(tmp_path):
    data = (np.arange(6 * 5 * 7, dtype=np.uint16) * 7).reshape(6, 5, 7)
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, data)  # no ImageJ header: no finterval, no fps
    return path


@pytest.fixture
def plain_npy(tmp_path):
    path = tmp_path / "movie.npy"
    np.save(path, (np.arange(4 * 3 * 2, dtype=np.int16) - 5).reshape(4, 3, 2))
    return path


@pytest.mark.parametrize("source", ["plain_tiff", "plain_npy"])
def test_info_describes_what_it_can_and_shows_the_rate_unknown(source, request, capsys):
    path = request.getfixturevalue(source)
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "rate:        unknown" in text and "-O sampling_frequency=HZ" in text
    assert "time span" not in text
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    expected = tifffile.imread(path) if path.suffix == ".tif" else np.load(path)
    assert info["sampling_frequency_hz"] is None and info["first_time_s"] is None
    assert info["num_samples"] == expected.shape[0] and info["sample_shape"] == list(expected.shape[1:])


def test_pixels_need_no_rate_and_times_say_how_to_give_one(plain_tiff):
    ex = open_imaging(plain_tiff)
    assert ex.get_sampling_frequency() is None and "rate unknown" in repr(ex)
    np.testing.assert_array_equal(ex.get_series(), tifffile.imread(plain_tiff))
    assert ex.get_acquisition_facts().frame_rate_hz is None
    assert ex.bin_samples(2).get_sampling_frequency() is None
    for what in (ex.get_timestamps, lambda: ex.time_to_sample_indices(0.5), ex.bin_samples(2).get_timestamps):
        with pytest.raises(RateUnknownError, match=r"plain.tif does not state its frame rate.*sampling_frequency="):
            what()


def test_conversion_asks_for_a_rate_before_writing(plain_tiff, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    meta = {**SESSION, "Ophys": {"ImagingPlane": [{**PLANE, "optical_channel": [{"emission_lambda": 510.0}]}]}}
    with pytest.raises(RateUnknownError, match="sampling_frequency="):
        write_nwb(open_imaging(plain_tiff), out / "x.nwb", meta)
    with pytest.raises(RateUnknownError, match="sampling_frequency="):
        write_imaging(open_imaging(plain_tiff), out / "x.h5")
    assert main(["convert", str(plain_tiff), "-o", str(out / "y.nwb")]) == 1
    err = capsys.readouterr().err
    assert "pass -O sampling_frequency=HZ" in err and "set_times" not in err
    assert list(out.iterdir()) == []  # no output, no partial left behind

    ex = open_imaging(plain_tiff, sampling_frequency=12.5)
    write_nwb(ex, out / "x.nwb", meta)
    with h5py.File(out / "x.nwb", "r") as f:
        (series,) = f["acquisition"].values()
        assert series["starting_time"].attrs["rate"] == 12.5
        np.testing.assert_array_equal(series["data"][()], tifffile.imread(plain_tiff).swapaxes(1, 2))


def test_measured_times_stand_in_for_the_rate(plain_npy, tmp_path):
    ex = open_imaging(plain_npy)
    times = np.array([0.0, 0.1, 0.25, 0.3])
    ex.set_times(times)
    write_imaging(ex, tmp_path / "t.h5")
    back = open_imaging(tmp_path / "t.h5")
    np.testing.assert_array_equal(back.get_timestamps(), times)
    np.testing.assert_array_equal(back.get_series(), np.load(plain_npy))
