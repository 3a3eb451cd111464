"""Metadata YAML files in neuroconv's layouts (0.10's keyed registries and the earlier lists) convert."""

import pytest
from pynwb import NWBHDF5IO
from ruamel.yaml import YAML

from ophysio.cli import main
from ophysio.conversion.metadata import Metadata, load_metadata
from ophysio.errors import MetadataError
from ophysio.testing.synthetic import write_npy

SESSION = {
    "NWBFile": {"session_start_time": "2024-05-01T10:00:00+02:00", "session_description": "neuroconv layout"},
    "Subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"},
}
PLANE = {"excitation_lambda": 920.0, "indicator": "GCaMP6f", "location": "VISp"}

KEYED = {  # what neuroconv 0.10's get_metadata_template gives, filled in (blanks left None are dropped)
    **SESSION,
    "DeviceModels": {"scope_model": {"name": "Bergamo", "manufacturer": "Thorlabs", "model_number": None,
                                     "description": None}},
    "Devices": {"scope": {"name": "TwoPhotonScope", "description": None, "device_model_metadata_key": "scope_model"}},
    "Ophys": {
        "ImagingPlanes": {"plane_key": {
            "name": "PlaneA", "description": None, "device_metadata_key": "scope", **PLANE, "imaging_rate": None,
            "optical_channel": [{"name": "Green", "description": "green PMT", "emission_lambda": 510.0}],
            "origin_coords": None, "origin_coords_unit": "meters", "grid_spacing": None,
            "grid_spacing_unit": "meters", "reference_frame": None}},
        "MicroscopySeries": {"plane_key": {"name": "Imaging", "description": "the movie", "unit": None,
                                           "imaging_plane_metadata_key": "plane_key", "field_of_view": None,
                                           "pmt_gain": None, "scan_line_rate": None}},
    },
}

LISTS = {  # neuroconv's earlier list layout, with the series under its NWB type
    **SESSION,
    "Ophys": {
        "Device": [{"name": "Miniscope", "manufacturer": "Open Ephys"}],
        "ImagingPlane": [{"name": "PlaneB", "device": "Miniscope", **PLANE,
                          "optical_channel": [{"name": "Green", "description": "", "emission_lambda": 510.0}]}],
        "OnePhotonSeries": [{"name": "Calcium", "imaging_plane": "PlaneB", "description": "one-photon movie"}],
    },
}


def _write(tmp_path, data):
    path = tmp_path / "neuroconv.yaml"
    yaml = YAML(typ="safe", pure=True)
    with open(path, "w") as fh:
        yaml.dump(data, fh)
    return path


@pytest.mark.parametrize("layout", ["keyed", "lists"])
def test_convert_with_a_neuroconv_yaml(tmp_path, capsys, layout):
    movie = write_npy(tmp_path / "m.npy", 6, 4, 5, dtype="int16")
    meta = _write(tmp_path, KEYED if layout == "keyed" else LISTS)
    out = tmp_path / "m.nwb"
    assert main(["convert", str(movie), "-O", "sampling_frequency=10", "--metadata", str(meta), "-o", str(out),
                 "--no-progress"]) == 0, capsys.readouterr().err
    with NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        if layout == "keyed":
            series = nwb.acquisition["Imaging"]
            assert type(series).__name__ == "TwoPhotonSeries" and series.description == "the movie"
            plane = nwb.imaging_planes["PlaneA"]
            device = nwb.devices["TwoPhotonScope"]
            assert device.model.manufacturer == "Thorlabs" and "Bergamo" in device.description
        else:
            series = nwb.acquisition["Calcium"]
            assert type(series).__name__ == "OnePhotonSeries"
            plane = nwb.imaging_planes["PlaneB"]
            assert plane.device.name == "Miniscope"
        assert series.imaging_plane is plane
        assert plane.indicator == "GCaMP6f" and plane.optical_channel[0].emission_lambda == 510.0
        assert plane.imaging_rate == 10.0  # the source's rate, kept under the user's plane


def test_load_reads_neuroconv_layouts_as_lists(tmp_path):
    data = load_metadata(_write(tmp_path, KEYED))
    assert "Devices" not in data and "ImagingPlanes" not in data["Ophys"]
    assert data["Ophys"]["PhotonSeries"] == [{"name": "Imaging", "description": "the movie",
                                              "imaging_plane": "PlaneA"}]
    meta = Metadata.from_dict(LISTS)
    assert [s.type for s in meta.Ophys.PhotonSeries] == ["OnePhotonSeries"]


def test_a_dangling_neuroconv_key_is_named(tmp_path):
    bad = {"Ophys": {"ImagingPlanes": {"p": {"device_metadata_key": "nowhere"}}}}
    with pytest.raises(MetadataError, match=r"Ophys\.ImagingPlanes\.p\.device_metadata_key: no Devices entry"):
        load_metadata(_write(tmp_path, bad))
