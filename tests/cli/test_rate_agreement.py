"""vol_no_flyback: the header says 8.867 volumes/s, the recorded times 58.2. The extractor, ``info`` and the
NWB file give one rate, the recorded one, and a warning names both values once."""

import json
import warnings

import h5py
import numpy as np
import pytest

from ophysio import open_imaging
from ophysio.cli import main
from ophysio.testing.data import sample_file

from ..conversion.test_neuroconv_layout import PLANE, SESSION

RECORDED = 1 / 0.0171768958  # 9 frames 1.9085 ms apart per volume (the rig's 524 Hz frame clock)


@pytest.fixture
def path():
    return str(sample_file("scanimage/vol_no_flyback_00001_00001.tif"))


def test_extractor_uses_the_recorded_rate_and_warns_once(path):
    extractor = open_imaging(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rates = [extractor.get_sampling_frequency() for _ in range(3)]
        extractor.get_timestamps()
    assert rates == [pytest.approx(RECORDED, rel=1e-6)] * 3
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert "8.86703 Hz" in messages[0] and "58.2177 Hz" in messages[0] and "using 58.2177 Hz" in messages[0]
    assert "scanVolumeRate" in messages[0]
    times = extractor.get_timestamps()
    assert np.median(np.diff(times)) == pytest.approx(1 / RECORDED, rel=1e-6)


def test_times_set_first_do_not_change_the_rate(path):
    # neuroconv's ScanImageImagingInterface calls set_times(get_times()) before anything asks the rate; the
    # rate (and so neuroconv's imaging_rate) must be the recorded one still, not the header's
    extractor = open_imaging(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extractor.set_times(extractor.get_times() + 5.0)
        assert extractor.get_sampling_frequency() == pytest.approx(RECORDED, rel=1e-6)
        fresh = open_imaging(path)
        assert fresh.get_sampling_frequency() == extractor.get_sampling_frequency()
    np.testing.assert_array_equal(extractor.get_timestamps(), fresh.get_timestamps() + 5.0)


def test_info_and_nwb_agree_with_the_extractor(path, tmp_path, capsys):
    assert main(["info", path, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["sampling_frequency_hz"] == pytest.approx(RECORDED, rel=1e-6)
    assert captured.err.count("8.86703 Hz") == 1 and "Traceback" not in captured.err

    meta = tmp_path / "m.json"
    meta.write_text(json.dumps({**SESSION, "Ophys": {"ImagingPlane": [{**PLANE, "optical_channel": [
        {"emission_lambda": 510.0}]}]}}))
    out = tmp_path / "v.nwb"
    assert main(["convert", path, "--metadata", str(meta), "--timezone", "UTC", "-o", str(out),
                 "--no-progress"]) == 0, capsys.readouterr().err
    with h5py.File(out, "r") as f:
        series = f["acquisition"][next(iter(f["acquisition"]))]
        rate = series["starting_time"].attrs["rate"] if "starting_time" in series else None
        times = series["timestamps"][:] if "timestamps" in series else None
        plane_rate = f["general/optophysiology"][next(iter(f["general/optophysiology"]))]["imaging_rate"][()]
    if rate is not None:
        assert rate == pytest.approx(RECORDED, rel=1e-6)
    else:
        assert np.median(np.diff(times)) == pytest.approx(1 / RECORDED, rel=1e-6)
    assert plane_rate == pytest.approx(RECORDED, rel=1e-6)
