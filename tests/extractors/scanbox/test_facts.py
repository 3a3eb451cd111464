"""Scanbox acquisition facts and metadata against the info struct as scipy reads it, and an NWB round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import loadmat

from ophysio import open_imaging
from ophysio.extractors import SbxImagingExtractor
from ophysio.testing.synthetic import write_scanbox

from .test_reader import _real_geometry, expected_from_bytes, expected_rate


def info_of(mat):
    return loadmat(mat, squeeze_me=True, struct_as_record=False)["info"]


def test_real_info_facts_are_the_struct():
    sbx, mat = _real_geometry()
    info = info_of(mat)
    with SbxImagingExtractor(sbx) as ex:
        facts = ex.get_acquisition_facts()
    calibration = info.calibration[int(info.config.magnification) - 1]  # the magnification's 1-based index
    assert facts.pixel_size_um == pytest.approx((calibration.y, calibration.x))
    assert facts.field_of_view_um == pytest.approx((512 * calibration.y, 796 * calibration.x))
    assert facts.software == "Scanbox" and facts.manufacturer == "Neurolabware"
    assert facts.software_version == str(info.scanbox_version)
    assert facts.objective == info.objective == "Nikon 16x/0.8w/WD3.0"
    assert facts.excitation_wavelength_nm == float(info.config.wavelength) == 920.0
    assert facts.line_rate_hz == pytest.approx(float(info.resfreq))  # unidirectional: one line per period
    assert facts.frame_rate_hz == pytest.approx(float(info.resfreq) / float(info.config.lines))
    assert facts.volume_rate_hz is None and facts.plane_depths_um is None
    assert f"PMT0 {info.config.pmt0_gain:g}" in facts.device_description
    assert facts.session_start_time is None
    assert facts.channel_names == ("PMT0",)


def test_metadata_is_the_whole_info_struct_as_json():
    sbx, mat = _real_geometry()
    info = info_of(mat)
    with SbxImagingExtractor(sbx) as ex:
        metadata = ex.get_metadata()
    text = json.dumps(metadata)  # JSON-able as it is
    got = json.loads(text)["info"]
    assert set(got) == set(info._fieldnames)
    assert got["frame"] == info.frame.tolist() and len(got["frame"]) == 54428
    assert got["sz"] == info.sz.tolist() and got["resfreq"] == info.resfreq
    assert got["config"]["knobby"]["schedule"] == info.config.knobby.schedule.tolist()
    assert got["config"]["knobby"]["pos"]["z"] == info.config.knobby.pos.z
    assert got["config"]["magnification_list"] == info.config.magnification_list.tolist()
    assert [entry["x"] for entry in got["calibration"]] == [entry.x for entry in info.calibration]
    assert got["objective"] == info.objective and got["messages"] == [] and got["otwave"] == []
    metadata["info"]["sz"][0] = -1  # a copy: the extractor's own is untouched
    assert ex.get_metadata()["info"]["sz"] == [512, 796]


def test_bidirectional_doubles_the_line_rate(tmp_path):
    sbx, mat = write_scanbox(tmp_path, "b", rows=16, channels=2, scanmode=0, resfreq=8000)
    info = info_of(mat)
    assert info.recordsPerBuffer == 8  # Scanbox records two lines per resonant period
    with SbxImagingExtractor(sbx) as ex:
        facts = ex.get_acquisition_facts()
        assert ex.is_bidirectional
        assert ex.get_sampling_frequency() == pytest.approx(2 * 8000 / 16) == pytest.approx(expected_rate(mat))
    assert facts.line_rate_hz == 16000.0


def test_volume_facts_give_the_optotune_depths_and_rates(tmp_path):
    depths = [-30.0, -10.0, 10.0, 30.0]
    sbx, mat = write_scanbox(tmp_path, "v", num_frames=8, channels=2, planes=4, otwave_um=depths)
    info = info_of(mat)
    with SbxImagingExtractor(sbx) as ex, SbxImagingExtractor(sbx, plane_index=2) as one:
        facts = ex.get_acquisition_facts()
        frame_rate = float(info.resfreq) / float(info.config.lines)
        assert facts.frame_rate_hz == pytest.approx(frame_rate)
        assert facts.volume_rate_hz == pytest.approx(frame_rate / 4) == pytest.approx(ex.get_sampling_frequency())
        assert facts.plane_depths_um == tuple(info.otwave_um) and facts.plane_spacing_um == 20.0
        for plane in (one.get_acquisition_facts(), ex.select_plane(2).get_acquisition_facts()):
            assert plane.plane_depths_um == (10.0,) and plane.plane_spacing_um is None
        assert one.get_acquisition_facts().volume_rate_hz == pytest.approx(frame_rate / 4)
    assert SbxImagingExtractor.get_available_num_planes(sbx) == 4


def test_newer_calibration_fields_and_a_missing_calibration(tmp_path):
    sbx, _ = write_scanbox(tmp_path / "a", "c", channels=2, dxcal=np.array([[0.9]]), dycal=np.array([[1.1]]))
    assert SbxImagingExtractor(sbx).get_acquisition_facts().pixel_size_um == (1.1, 0.9)
    sbx, _ = write_scanbox(tmp_path / "b", "c", channels=2, calibration=None)
    assert SbxImagingExtractor(sbx).get_acquisition_facts().pixel_size_um is None
    sbx, _ = write_scanbox(tmp_path / "d", "c", channels=2, config={"lines": np.array([[16]], dtype=np.uint16)})
    facts = SbxImagingExtractor(sbx).get_acquisition_facts()  # a config without wavelength or magnification
    assert facts.pixel_size_um is None and facts.excitation_wavelength_nm is None


def test_a_given_rate_replaces_the_info_rate(tmp_path):
    sbx, _ = write_scanbox(tmp_path, "r", num_frames=6, channels=2, planes=3)
    with SbxImagingExtractor(sbx, sampling_frequency=2.5) as ex:
        facts = ex.get_acquisition_facts()
        assert ex.get_sampling_frequency() == 2.5
        assert facts.volume_rate_hz == 2.5 and facts.frame_rate_hz is None
        np.testing.assert_array_equal(ex.get_timestamps(), np.arange(2) / 2.5)


def test_nwb_round_trip_of_a_volume_has_the_pixels_device_grid_and_rate(tmp_path):
    from nwbinspector import Importance, inspect_nwbfile, load_config
    from pynwb import NWBHDF5IO

    import ophysio
    from ophysio.conversion.interfaces import interface_from_paths
    from ophysio.testing.interfaces import complete_metadata

    depths = [0.0, 25.0, 50.0]
    sbx, mat = write_scanbox(tmp_path / "src", "m_000_001", num_frames=60, rows=12, columns=16, channels=1,
                             planes=3, otwave_um=depths)
    info = info_of(mat)
    interface = interface_from_paths([sbx])
    meta = complete_metadata(interface)
    assert [s["name"] for s in meta["Ophys"]["PhotonSeries"]] == ["TwoPhotonSeriesPMT0", "TwoPhotonSeriesPMT1"]
    path = ophysio.write_nwb(interface, tmp_path / "scanbox.nwb", meta)
    calibration = info.calibration[int(info.config.magnification) - 1]
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        for channel, name in enumerate(("PMT0", "PMT1")):
            series = nwbfile.acquisition[f"TwoPhotonSeries{name}"]
            expected = expected_from_bytes(sbx, mat, channel)
            np.testing.assert_array_equal(series.data[:], expected.swapaxes(1, 2))  # NWB: (t, x, y, z)
            assert series.rate == pytest.approx(expected_rate(mat))
            plane = series.imaging_plane
            np.testing.assert_allclose(plane.grid_spacing, np.array([calibration.x, calibration.y, 25.0]) * 1e-6)
            assert plane.excitation_lambda == 920.0
            assert "planes at z = 0, 25, 50 um" in plane.description
            device = plane.device
            assert device.name == "Scanbox"
            model = getattr(device, "model", None)  # pynwb 3.1+ keeps the manufacturer on the device's model
            assert "Neurolabware" in (device.manufacturer, getattr(model, "manufacturer", None))
            assert "Nikon 16x/0.8w/WD3.0" in plane.device.description
    messages = [m for m in inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi"))
                if m.importance in (Importance.ERROR, Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]
    assert messages == [], [(m.check_function_name, m.message) for m in messages]


def test_open_imaging_takes_plane_and_channel_options():
    from .test_reader import _synthetic

    sbx, mat = _synthetic("optotune-volume-two-channels")
    with open_imaging(sbx, channel_name="PMT1", plane_index=3) as ex:
        np.testing.assert_array_equal(ex.get_series(), expected_from_bytes(sbx, mat, 1, 3))


def test_neuroconvs_interface_name_is_bound_to_the_format():
    from ophysio.conversion.interfaces import SbxImagingInterface, interface_for_format

    assert interface_for_format("scanbox") is SbxImagingInterface and SbxImagingInterface.format_id == "scanbox"
    assert list(SbxImagingInterface.get_source_schema()) == ["file_path", "sampling_frequency", "channel_name",
                                                              "plane_index"]
