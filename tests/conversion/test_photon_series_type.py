"""A format declares the NWB type of its series (FormatSpec.photon_series_type); conversions follow it unless told."""

import dataclasses

import numpy as np
import pytest

from ophysio.conversion.interfaces import default_photon_series_type, interface_for_extractor, interface_from_paths
from ophysio.extractors import NumpyImagingExtractor, registry
from ophysio.extractors.spec import FormatSpec


@pytest.fixture
def one_photon_numpy(monkeypatch):
    """The numpy format, declared one-photon for the test."""
    specs = tuple(dataclasses.replace(spec, photon_series_type="OnePhotonSeries") if spec.id == "numpy" else spec
                  for spec in registry.FORMATS)
    monkeypatch.setattr(registry, "FORMATS", specs)


def test_a_spec_says_two_photon_unless_it_declares_otherwise():
    spec = FormatSpec("toy", (".toy",), None, "x:Y", "toy")
    assert spec.photon_series_type == "TwoPhotonSeries"
    with pytest.raises(ValueError, match="photon_series_type must be 'TwoPhotonSeries' or 'OnePhotonSeries'"):
        FormatSpec("toy", (".toy",), None, "x:Y", "toy", photon_series_type="ThreePhotonSeries")
    assert default_photon_series_type("scanimage") == "TwoPhotonSeries"
    assert default_photon_series_type("not-a-format") == "TwoPhotonSeries"


def test_the_interface_writes_the_format_default_unless_told(one_photon_numpy, tmp_path):
    extractor = NumpyImagingExtractor(np.zeros((4, 3, 2), np.uint16), 10.0)
    interface = interface_for_extractor(extractor)
    assert interface.photon_series_type == "OnePhotonSeries"
    meta = interface.get_metadata()
    assert [s["type"] for s in meta["Ophys"]["PhotonSeries"]] == ["OnePhotonSeries"]
    assert meta["Ophys"]["PhotonSeries"][0]["name"].startswith("OnePhotonSeries")
    assert interface_for_extractor(extractor, photon_series_type="TwoPhotonSeries").photon_series_type == \
        "TwoPhotonSeries"
    path = tmp_path / "m.npy"
    np.save(path, np.zeros((4, 3, 2), np.uint16))
    assert interface_from_paths(path, sampling_frequency=5.0).photon_series_type == "OnePhotonSeries"
    assert interface_from_paths(path, sampling_frequency=5.0,
                                photon_series_type="TwoPhotonSeries").photon_series_type == "TwoPhotonSeries"


def test_the_command_line_flags_override_the_default_and_not_both(one_photon_numpy, tmp_path, capsys):
    from ophysio.cli.entry_point import main

    path = tmp_path / "m.npy"
    np.save(path, np.zeros((4, 3, 2), np.uint16))
    assert main(["convert", str(path), "-O", "sampling_frequency=5", "--one-photon", "--two-photon", "-o",
                 str(tmp_path / "x.nwb")]) != 0
    assert "contradict" in capsys.readouterr().err
