"""A format declares the NWB series type its conversions write by default (FormatSpec.photon_series_type)."""

import dataclasses

import numpy as np
import pytest

from ophysio.conversion.interfaces import interface_for_extractor, interface_for_format
from ophysio.extractors import NumpyImagingExtractor, registry
from ophysio.extractors.spec import FormatSpec


def test_a_spec_takes_only_the_two_series_types():
    with pytest.raises(ValueError, match="photon_series_type"):
        FormatSpec("toy", (".toy",), None, "x:Y", "toy", photon_series_type="ThreePhotonSeries")
    assert FormatSpec("toy", (".toy",), None, "x:Y", "toy").photon_series_type == "TwoPhotonSeries"


def test_laser_scanning_formats_stay_two_photon():
    for format_id in ("scanimage", "tiff", "ome_tiff", "suite2p"):
        assert registry.get_format(format_id).photon_series_type == "TwoPhotonSeries"


@pytest.fixture
def one_photon_numpy(monkeypatch):
    """The registry with the numpy format declared one-photon."""
    specs = tuple(dataclasses.replace(spec, photon_series_type="OnePhotonSeries") if spec.id == "numpy" else spec
                  for spec in registry.FORMATS)
    monkeypatch.setattr(registry, "FORMATS", specs)


def _extractor():
    return NumpyImagingExtractor(np.zeros((4, 3, 2), dtype="uint16"), sampling_frequency=10.0)


def test_the_format_default_is_used_and_an_explicit_type_wins(one_photon_numpy):
    interface = interface_for_extractor(_extractor())
    assert interface.photon_series_type == "OnePhotonSeries"
    meta = interface.get_metadata()
    assert meta["Ophys"]["PhotonSeries"][0]["type"] == "OnePhotonSeries"
    assert meta["Ophys"]["PhotonSeries"][0]["name"].startswith("OnePhotonSeries")
    assert interface_for_extractor(_extractor(), photon_series_type="TwoPhotonSeries").photon_series_type == \
        "TwoPhotonSeries"
    bound = interface_for_format("numpy")(_extractor_array(), sampling_frequency=10.0)
    assert bound.photon_series_type == "OnePhotonSeries"


def test_without_a_declaration_the_series_are_two_photon():
    assert interface_for_extractor(_extractor()).photon_series_type == "TwoPhotonSeries"


def _extractor_array():
    return np.zeros((4, 3, 2), dtype="uint16")


def test_a_one_photon_series_of_a_source_with_a_field_of_view(tmp_path):
    """NWB's OnePhotonSeries has no field_of_view: the source's geometry stays in the imaging plane."""
    from pynwb import NWBHDF5IO

    import ophysio
    from ophysio.conversion.interfaces import interface_from_paths
    from ophysio.examples import write_example
    from ophysio.testing.interfaces import complete_metadata

    path, options = write_example("scanimage", tmp_path / "source")
    interface = interface_from_paths([path], photon_series_type="OnePhotonSeries", channel_name="Channel 1",
                                     **options)
    meta = complete_metadata(interface)
    assert meta["Ophys"]["PhotonSeries"][0]["field_of_view"]
    out = ophysio.write_nwb(interface, tmp_path / "one_photon.nwb", meta, timezone="UTC")
    with NWBHDF5IO(str(out), "r") as io:
        series = io.read().acquisition["OnePhotonSeries"]
        assert type(series).__name__ == "OnePhotonSeries"
        assert series.imaging_plane.grid_spacing is not None
