"""The real Miniscope session to NWB through the generic interface: a OnePhotonSeries by default, the device with
its recorded settings, the recording start as the session start, the CSV times, pixels bit-exact; nwbinspector's
DANDI configuration finds nothing on a complete-metadata conversion."""

import csv
import json
from datetime import datetime, timezone

import numpy as np
import pytest

import ophysio
from ophysio.conversion.interfaces import interface_from_paths
from ophysio.testing.data import sample_data_folder

SESSION = sample_data_folder() / "miniscope" / "C6-J588_Disc5"
RECORDINGS = ["15_03_28", "15_06_28", "15_07_58"]

METADATA = {
    "NWBFile": {"session_description": "three Miniscope recordings of one session", "experimenter": ["Doe, Jane"],
                "institution": "Example institution", "lab": "Example lab",
                "experiment_description": "conversion test of the public Miniscope sample", "keywords": ["miniscope"]},
    "Subject": {"subject_id": "C6-J588", "species": "Mus musculus", "sex": "U", "age": "P90D"},
}


def _start(recording: str) -> datetime:
    fields = json.loads((SESSION / recording / "metaData.json").read_text())["recordingStartTime"]
    return datetime(fields["year"], fields["month"], fields["day"], fields["hour"], fields["minute"],
                    fields["second"], fields["msec"] * 1000)


def _csv_times() -> np.ndarray:
    times = []
    for recording in RECORDINGS:
        offset = (_start(recording) - _start(RECORDINGS[0])).total_seconds()
        with open(SESSION / recording / "Miniscope" / "timeStamps.csv", newline="") as fh:
            times += [float(row["Time Stamp (ms)"]) / 1000 + offset for row in csv.DictReader(fh)]
    return np.array(times)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    interface = interface_from_paths(SESSION)
    meta = interface.get_metadata()
    plane = meta["Ophys"]["ImagingPlane"][0]
    plane.update(excitation_lambda=470.0, indicator="GCaMP6f", location="CA1")
    plane["optical_channel"][0]["emission_lambda"] = 525.0
    from ophysio.conversion.metadata import merge_metadata

    path = ophysio.write_nwb(interface, tmp_path_factory.mktemp("nwb") / "miniscope.nwb",
                             merge_metadata(METADATA, meta), timezone="UTC")
    expected = interface.extractor.get_series()
    interface.close()
    return path, expected


def test_the_session_becomes_a_one_photon_series_with_its_device_times_and_start(written):
    from pynwb import NWBHDF5IO

    path, expected = written
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        (series,) = nwbfile.acquisition.values()
        assert type(series).__name__ == "OnePhotonSeries"
        np.testing.assert_array_equal(series.data[:], np.swapaxes(expected, 1, 2))
        np.testing.assert_allclose(series.timestamps[:], _csv_times(), rtol=0, atol=1e-9)
        assert nwbfile.session_start_time == _start(RECORDINGS[0]).replace(tzinfo=timezone.utc)
        device = series.imaging_plane.device
        settings = json.loads((SESSION / "15_03_28" / "Miniscope" / "metaData.json").read_text())
        assert device.name == settings["deviceName"]
        for text in (settings["deviceType"], f"led0 {settings['led0']}", f"gain {settings['gain']}"):
            assert text in device.description
        assert series.imaging_plane.excitation_lambda == 470.0


def test_nwbinspector_finds_no_violation(written):
    from nwbinspector import Importance, inspect_nwbfile, load_config

    # 15 frames of 480 x 752: the sample is shorter in time than a frame is wide, which this check takes for a
    # transposed movie
    messages = list(inspect_nwbfile(nwbfile_path=str(written[0]), config=load_config("dandi"),
                                    ignore=["check_data_orientation"]))
    bad = [m for m in messages if m.importance in (Importance.ERROR, Importance.CRITICAL,
                                                    Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], [(m.check_function_name, m.message) for m in bad]
