"""Bruker acquisition facts against the PVScan XML parsed here with xml.etree, and the NWB file they make."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from ophysio import open_imaging, write_nwb
from ophysio._synth.bruker import write_bruker
from ophysio.conversion.interfaces import interface_from_paths
from ophysio.testing.data import sample_file
from ophysio.testing.interfaces import complete_metadata

REAL = "bruker/NCCR32_2022_11_03_IntoTheVoid_t_series-005"


def root_of(dataset):
    return ET.parse(dataset / f"{dataset.name}.xml").getroot()


def state_value(element, key, index=None):
    value = element.find(f"PVStateShard/PVStateValue[@key='{key}']")
    if index is None:
        return value.get("value")
    return value.find(f"IndexedValue[@index='{index}']").get("value")


def first_cycle_depths(root):
    """Each plane's z: the sum of the ZAxis device positions of the first cycle's frames."""
    depths = []
    for frame in root.find("Sequence").findall("Frame"):
        z = frame.find("PVStateShard/PVStateValue[@key='positionCurrent']/SubindexedValues[@index='ZAxis']")
        depths.append(sum(float(v.get("value")) for v in z.findall("SubindexedValue")))
    return depths


def test_real_sample_facts_are_the_xml():
    dataset = sample_file(REAL)
    root = root_of(dataset)
    with open_imaging(dataset) as ex:
        facts = ex.get_acquisition_facts()
        rows, columns = ex.get_image_shape()
        rate = ex.get_sampling_frequency()
    assert (facts.device_name, facts.manufacturer, facts.software) == ("Bruker Prairie View", "Bruker", "Prairie View")
    assert facts.software_version == root.get("version") == "5.6.64.400"
    assert root.get("version") in facts.device_description
    assert facts.session_start_time == datetime.strptime(root.get("date"), "%m/%d/%Y %I:%M:%S %p")
    dx, dy = float(state_value(root, "micronsPerPixel", "XAxis")), float(state_value(root, "micronsPerPixel", "YAxis"))
    assert facts.pixel_size_um == (dy, dx)
    depths = first_cycle_depths(root)
    assert facts.plane_depths_um == pytest.approx(depths) and len(depths) == 2
    assert facts.plane_spacing_um == pytest.approx(abs(depths[1] - depths[0]))
    assert facts.field_of_view_um == pytest.approx((rows * dy, columns * dx, 2 * abs(depths[1] - depths[0])))
    assert facts.objective == f"{state_value(root, 'objectiveLens')}, NA {state_value(root, 'objectiveLensNA')}"
    frame = root.find("Sequence/Frame")
    assert facts.frame_rate_hz == pytest.approx(1 / float(state_value(frame, "framePeriod")))
    assert facts.line_rate_hz == pytest.approx(1 / float(state_value(frame, "scanLinePeriod")))
    assert facts.volume_rate_hz == rate
    assert facts.excitation_wavelength_nm is None  # this XML records no laserWavelength
    assert facts.channel_names == ("Ch2",) and facts.source_header["state"]["objectiveLens"] == "16X"


def test_a_plane_has_its_depth_and_the_laser_its_wavelength(tmp_path):
    dataset = write_bruker(tmp_path, "v", num_samples=3, planes=3, laser_wavelength=920.0)
    depths = first_cycle_depths(root_of(dataset))
    chosen = open_imaging(dataset, plane_index=2).get_acquisition_facts()
    viewed = open_imaging(dataset).select_plane(2).get_acquisition_facts()
    for facts in (chosen, viewed):
        assert facts.plane_depths_um == pytest.approx((depths[2],))
        assert facts.plane_spacing_um is None and len(facts.field_of_view_um) == 2
        assert facts.excitation_wavelength_nm == 920.0
    planar = open_imaging(write_bruker(tmp_path, "p", num_samples=3)).get_acquisition_facts()
    assert planar.volume_rate_hz is None and planar.plane_spacing_um is None and len(planar.plane_depths_um) == 1


def test_real_sample_converts_to_nwb_exactly(tmp_path):
    dataset = sample_file(REAL)
    root = root_of(dataset)
    interface = interface_from_paths(dataset)
    assert type(interface).__name__ == "BrukerTiffImagingInterface"
    meta = complete_metadata(interface)
    path = write_nwb(interface, tmp_path / "bruker.nwb", meta, timezone="US/Central")
    ex = interface.extractor
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        series = nwbfile.acquisition["TwoPhotonSeries"]
        np.testing.assert_array_equal(series.data[:], np.swapaxes(ex.get_series(), 1, 2))
        np.testing.assert_allclose(series.get_timestamps(), ex.get_timestamps(), atol=1e-6)
        assert series.rate == pytest.approx(ex.get_sampling_frequency())
        device = nwbfile.devices["Bruker Prairie View"]
        assert device.model.manufacturer == "Bruker" and "5.6.64.400" in device.description
        plane = series.imaging_plane
        dx = float(state_value(root, "micronsPerPixel", "XAxis"))
        depths = first_cycle_depths(root)
        np.testing.assert_allclose(plane.grid_spacing, np.array([dx, dx, abs(depths[1] - depths[0])]) * 1e-6)
        assert all(f"{d:g}" in plane.description for d in depths)
        assert nwbfile.session_start_time.replace(tzinfo=None) == datetime(2022, 11, 3, 11, 20, 34)
        assert nwbfile.session_start_time.tzinfo is not None


def test_two_channels_make_two_series_and_pass_nwbinspector(tmp_path):
    from nwbinspector import Importance, inspect_nwbfile, load_config

    # more samples than rows or columns: nwbinspector takes a short movie for a transposed one
    dataset = write_bruker(tmp_path / "src", "two", num_samples=40, rows=24, columns=20, channels=(1, 2),
                           laser_wavelength=920.0)
    interface = interface_from_paths(dataset)
    meta = interface.get_metadata()
    assert [s["name"] for s in meta["Ophys"]["PhotonSeries"]] == ["TwoPhotonSeriesCh1", "TwoPhotonSeriesCh2"]
    path = write_nwb(interface, tmp_path / "two.nwb", complete_metadata(interface), timezone="UTC")
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        for ex, name in zip(interface.extractors, ("TwoPhotonSeriesCh1", "TwoPhotonSeriesCh2")):
            np.testing.assert_array_equal(nwbfile.acquisition[name].data[:], np.swapaxes(ex.get_series(), 1, 2))
            assert nwbfile.acquisition[name].imaging_plane.excitation_lambda == 920.0
    messages = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")))
    bad = [m for m in messages if m.importance in (Importance.ERROR, Importance.CRITICAL,
                                                    Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], [(m.check_function_name, m.message) for m in bad]
