"""ThorImageLS acquisition facts against Experiment.xml parsed here with xml.etree, and the NWB file they make."""

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO

from ophysio._synth.thor import write_thor
from ophysio.conversion.interfaces import interface_from_paths
from ophysio.extractors import ThorTiffImagingExtractor
from ophysio.testing.data import sample_file
from ophysio.testing.interfaces import complete_metadata


def attrs(folder, tag):
    return ET.parse(folder / "Experiment.xml").getroot().find(tag).attrib


def test_real_sample_facts_are_the_xml():
    folder = sample_file("thor/20231018-002")
    lsm, date, zstage = attrs(folder, "LSM"), attrs(folder, "Date"), attrs(folder, "ZStage")
    with ThorTiffImagingExtractor(folder) as ex:
        facts = ex.get_acquisition_facts()
    assert facts.software == "ThorImageLS" and facts.manufacturer == "Thorlabs"
    assert facts.software_version == attrs(folder, "Software")["version"]
    assert "ThorImageLS 5.0.2023.10041" in facts.device_description and lsm["name"] in facts.device_description
    # Date uTime is the instant; Date date the rig's clock at that instant: 13:39:19 at 17:39:19 UTC
    instant = datetime.fromtimestamp(int(date["uTime"]), tz=timezone.utc)
    local = datetime.strptime(date["date"], "%m/%d/%Y %H:%M:%S")
    assert facts.session_start_time == instant
    assert facts.session_start_time.utcoffset() == local - instant.replace(tzinfo=None) == timedelta(hours=-4)
    assert facts.session_start_time.replace(tzinfo=None) == local
    assert facts.pixel_size_um == (float(lsm["pixelSizeUM"]),) * 2
    assert facts.field_of_view_um == (float(lsm["heightUM"]), float(lsm["widthUM"]))
    assert facts.frame_rate_hz == float(lsm["frameRate"]) and facts.volume_rate_hz is None
    assert facts.plane_depths_um == (float(zstage["setupPositionMM"]) * 1000,)
    assert facts.origin_um == (-float(lsm["heightUM"]) / 2, -float(lsm["widthUM"]) / 2, 94.0)
    assert facts.objective == attrs(folder, "Magnification")["name"] == "16X"
    assert facts.excitation_wavelength_nm is None  # MultiPhotonLaser pos="0": not recorded
    assert facts.channel_names == ("ChanA",) and facts.channel_name == "ChanA"
    assert facts.source_header["experiment_xml"] == (folder / "Experiment.xml").read_text()


def test_volume_facts(tmp_path):
    folder = write_thor(tmp_path / "v", num_samples=4, planes=3, flyback=1, frame_rate=40.0, z_start_mm=0.25,
                        z_step_um=-4.0, laser_nm=1040)
    zstage, lsm = attrs(folder, "ZStage"), attrs(folder, "LSM")
    with ThorTiffImagingExtractor(folder) as ex:
        facts = ex.get_acquisition_facts()
        plane = ex.select_plane(2).get_acquisition_facts()
    start, step = float(zstage["startPos"]) * 1000, float(zstage["stepSizeUM"])
    assert facts.plane_depths_um == pytest.approx((start, start + step, start + 2 * step))
    assert facts.plane_spacing_um == 4.0
    assert facts.volume_rate_hz == 10.0 and facts.frame_rate_hz == float(lsm["frameRate"])
    assert facts.field_of_view_um[2] == 12.0
    assert facts.excitation_wavelength_nm == 1040.0
    assert plane.plane_depths_um == pytest.approx((start + 2 * step,)) and plane.origin_um[2] == pytest.approx(242.0)


def test_remote_focus_planes_have_no_micrometers(tmp_path):
    folder = write_thor(tmp_path / "r", num_samples=2, planes=2, remote_focus=True)
    with ThorTiffImagingExtractor(folder) as ex:
        facts = ex.get_acquisition_facts()
        assert ex.get_metadata()["remote_focus"] is True
    assert facts.plane_depths_um is None and facts.plane_spacing_um is None
    assert facts.origin_um is not None and len(facts.origin_um) == 2


def test_start_time_without_a_readable_local_date(tmp_path):
    folder = write_thor(tmp_path / "d", num_samples=2)
    path = folder / "Experiment.xml"
    text = path.read_text()
    date = attrs(folder, "Date")["date"]
    path.write_text(text.replace(f'date="{date}"', 'date="sometime"'))
    with ThorTiffImagingExtractor(folder) as ex:
        start = ex.get_acquisition_facts().session_start_time
    assert start == datetime.fromtimestamp(int(attrs(folder, "Date")["uTime"]), tz=timezone.utc)
    assert start.utcoffset() == timedelta(0)


def test_real_sample_to_nwb_and_back(tmp_path):
    from nwbinspector import Importance, inspect_nwbfile, load_config

    folder = sample_file("thor/20231018-002")
    lsm = attrs(folder, "LSM")
    interface = interface_from_paths(folder)
    out = interface.run_conversion(tmp_path / "thor.nwb", complete_metadata(interface))
    with NWBHDF5IO(str(out), "r") as io:
        nwbfile = io.read()
        series = nwbfile.acquisition["TwoPhotonSeries"]
        with ThorTiffImagingExtractor(folder) as ex:
            np.testing.assert_array_equal(series.data[:], np.swapaxes(ex.get_series(), 1, 2))
        assert series.rate == float(lsm["frameRate"])
        plane = series.imaging_plane
        device = plane.device
        model = getattr(device, "model", None)  # pynwb 3.1 keeps the manufacturer on the DeviceModel
        assert "Thorlabs" in (device.manufacturer, getattr(model, "manufacturer", None))
        assert "ThorImageLS 5.0.2023.10041" in plane.device.description
        np.testing.assert_allclose(plane.grid_spacing[:], [0.884e-6, 0.884e-6])
        np.testing.assert_allclose(plane.origin_coords[:], [-452.7e-6 / 2, -452.7e-6 / 2, 94e-6])
        assert nwbfile.session_start_time == datetime(2023, 10, 18, 13, 39, 19, tzinfo=timezone(timedelta(hours=-4)))
        np.testing.assert_allclose(series.field_of_view[:], [452.7e-6, 452.7e-6])
    with h5py.File(out, "r") as f:  # the pixels as stored, read without pynwb
        stored = f["acquisition/TwoPhotonSeries/data"][:]
    with ThorTiffImagingExtractor(folder) as ex:
        np.testing.assert_array_equal(stored, np.swapaxes(ex.get_series(), 1, 2))
    # the sample is stubbed to 3 frames of 512 x 512: nwbinspector takes so short a time axis for a transposed one
    messages = list(inspect_nwbfile(nwbfile_path=str(out), config=load_config("dandi"),
                                    ignore=["check_data_orientation"]))
    bad = [m for m in messages if m.importance in (Importance.ERROR, Importance.CRITICAL,
                                                   Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], [(m.check_function_name, m.message) for m in bad]


def test_volumes_to_nwb_with_depths(tmp_path):
    folder = write_thor(tmp_path / "v", num_samples=5, planes=3, flyback=2, frame_rate=50.0, storage="raw",
                        channels=("ChanA", "ChanB"))
    interface = interface_from_paths(folder)
    meta = interface.get_metadata()
    assert [s["name"] for s in meta["Ophys"]["PhotonSeries"]] == ["TwoPhotonSeriesChanA", "TwoPhotonSeriesChanB"]
    out = interface.run_conversion(tmp_path / "v.nwb", complete_metadata(interface))
    with NWBHDF5IO(str(out), "r") as io:
        nwbfile = io.read()
        for channel in ("ChanA", "ChanB"):
            series = nwbfile.acquisition[f"TwoPhotonSeries{channel}"]
            with ThorTiffImagingExtractor(folder, channel_name=channel) as ex:
                np.testing.assert_array_equal(series.data[:], np.swapaxes(ex.get_series(), 1, 2))
            assert series.rate == 10.0  # 50 Hz / (3 planes + 2 flyback frames)
            np.testing.assert_allclose(series.imaging_plane.grid_spacing[:], [1.25e-6, 1.25e-6, 5e-6])
            np.testing.assert_allclose(series.imaging_plane.origin_coords[:], [-12.5e-6, -15e-6, 100e-6])
            assert "planes at z = 100, 105, 110 um" in series.imaging_plane.description
