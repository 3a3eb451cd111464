"""The spec shape docs/batch.rst shows (a shared, unnamed Ophys.ImagingPlane entry) keeps what the source
records: the shared values merge over the source's planes field by field, never replace them."""

import copy
from pathlib import Path

import h5py
import numpy as np
import pytest
from ruamel.yaml import YAML

from ophysio.conversion.batch import load_batch_spec, plan_sessions
from ophysio.conversion.batch.worker import _convert_task
from ophysio.conversion.metadata import merge_metadata
from ophysio.testing.data import sample_file

DOCS = Path(__file__).parents[3] / "docs" / "batch.rst"


def documented_spec() -> dict:
    """The first YAML block of docs/batch.rst, as a user copies it."""
    lines = DOCS.read_text().splitlines()
    start = lines.index(".. code-block:: yaml") + 2
    block = []
    for line in lines[start:]:
        if line and not line.startswith("   "):
            break
        block.append(line[3:])
    return YAML(typ="safe", pure=True).load("\n".join(block))


def test_documented_spec_keeps_the_source_plane_facts(tmp_path):
    source = sample_file("scanimage/ScanImageBigTIFFv57.tif")
    spec = documented_spec()
    shared = spec["metadata"]["Ophys"]["ImagingPlane"]
    assert len(shared) == 1 and "name" not in shared[0]  # the shape under test
    spec["sessions"] = [{"session_id": "a", "source": str(source), "metadata": {"Subject": {"subject_id": "m12"}}}]
    path = tmp_path / "sessions.yaml"
    with open(path, "w") as fh:
        YAML(typ="safe", pure=True).dump(spec, fh)
    task, = plan_sessions(load_batch_spec(path), tmp_path / "out")
    outcome = _convert_task(task)
    assert outcome["status"] == "done", outcome
    with h5py.File(task.target, "r") as f:
        planes = f["general/optophysiology"]
        assert sorted(planes) == ["ImagingPlaneChannel1", "ImagingPlaneChannel2"]
        for name in planes:
            plane = planes[name]
            # the shared values...
            assert plane["indicator"][()] == b"GCaMP6f" and plane["excitation_lambda"][()] == 920.0
            assert plane["Green"]["emission_lambda"][()] == 510.0 and plane["Green"]["description"][()] == b"green PMT"
            # ...over what the source recorded
            assert plane["imaging_rate"][()] == pytest.approx(198.247, rel=1e-4)
            np.testing.assert_allclose(plane["grid_spacing"][:], [4.21875e-06, 4.21875e-06])
            np.testing.assert_allclose(plane["origin_coords"][:], [-0.000135, -0.000135, -0.003789])
            assert b"ScanImage reference space" in plane["reference_frame"][()]
            assert plane["description"][()].startswith(b"scanimage acquisition, channel")


def test_entries_merge_by_name_then_position_and_renames_follow():
    source = {"Ophys": {
        "Device": [{"name": "Microscope", "manufacturer": "Vidrio"}],
        "ImagingPlane": [{"name": "P1", "device": "Microscope", "imaging_rate": 30.0,
                          "optical_channel": [{"name": "Ch1", "description": "PMT 1"}]},
                         {"name": "P2", "device": "Microscope", "imaging_rate": 30.0}],
        "PhotonSeries": [{"name": "S1", "imaging_plane": "P1"}, {"name": "S2", "imaging_plane": "P2"}],
    }}
    before = copy.deepcopy(source)
    user = {"Ophys": {"Device": [{"name": "Bergamo"}],  # renamed: merged in order
                      "ImagingPlane": [{"name": "P2", "indicator": "GCaMP8m"},  # by name
                                       {"name": "Soma", "optical_channel": [{"emission_lambda": 510.0}]}]}}
    merged = merge_metadata(source, user)["Ophys"]
    assert merged["Device"] == [{"name": "Bergamo", "manufacturer": "Vidrio"}]
    p1, p2 = merged["ImagingPlane"]
    assert p2 == {"name": "P2", "device": "Bergamo", "imaging_rate": 30.0, "indicator": "GCaMP8m"}
    assert p1["name"] == "Soma" and p1["imaging_rate"] == 30.0 and p1["device"] == "Bergamo"
    assert p1["optical_channel"] == [{"name": "Ch1", "description": "PMT 1", "emission_lambda": 510.0}]
    assert [s["imaging_plane"] for s in merged["PhotonSeries"]] == ["Soma", "P2"]
    assert source == before  # inputs untouched
