"""A Micro-Manager dataset to NWB through the generic interface, read back with pynwb and h5py."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import tifffile

from ophysio import write_nwb
from ophysio._synth.micromanager import mmstack_expected, write_mmstack
from ophysio.conversion.interfaces import interface_from_paths
from ophysio.testing.interfaces import complete_metadata


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mm")
    data = write_mmstack(folder / "acq", prefix="acq", frames=40, channel_names=("GCaMP", "tdTomato"), slices=3,
                         rows=24, columns=20, images_per_file=100, z_step_um=1.5, z_start_um=-20.0,
                         pixel_size_um=0.325, interval_ms=100.0)
    interface = interface_from_paths(data.folder, photon_series_type="OnePhotonSeries")
    path = write_nwb(interface, folder / "acq.nwb", complete_metadata(interface))
    interface.close()
    return data, path


def test_nwb_holds_the_data_times_and_facts(written):
    from pynwb import NWBHDF5IO

    data, path = written
    elapsed = {}
    for f in data.all_files:  # the times as recorded, read with tifffile from each image's JSON
        with tifffile.TiffFile(f) as tif:
            pages = {page.offset: page for page in tif.pages}
            for c, z, t, _, offset in tif.micromanager_metadata["IndexMap"].tolist():
                record = pages[offset].tags[51123].value
                record = json.loads(record) if isinstance(record, str) else record
                elapsed[(c, z, t)] = record["ElapsedTime-ms"] / 1000.0
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        assert nwbfile.session_start_time.isoformat() == "2024-03-05T14:22:31.123000-08:00"
        assert sorted(nwbfile.acquisition) == ["OnePhotonSeriesGCaMP", "OnePhotonSeriesTdTomato"]
        for channel, name in enumerate(["OnePhotonSeriesGCaMP", "OnePhotonSeriesTdTomato"]):
            series = nwbfile.acquisition[name]
            np.testing.assert_array_equal(series.data[:], np.swapaxes(mmstack_expected(40, 24, 20, 3, channel), 1, 2))
            np.testing.assert_array_equal(series.timestamps[:], [elapsed[(channel, 0, t)] for t in range(40)])
            plane = series.imaging_plane
            np.testing.assert_allclose(plane.grid_spacing[:], [0.325e-6, 0.325e-6, 1.5e-6])
            assert "planes at z = -20, -18.5, -17 um" in plane.description
            assert plane.device.name == "C13440-20CU"
            assert "HamamatsuHam_DCAM" in plane.device.description and "Micro-Manager 2.0.3" in plane.device.description
            assert plane.imaging_rate == pytest.approx(10.0, rel=0.01)
    with h5py.File(path, "r") as f:  # the summary metadata kept whole with the source header
        text = json.dumps({k: f[k][()].decode() if isinstance(f[k][()], bytes) else str(f[k][()])
                           for k in _datasets(f)})
        assert "MicroManagerVersion" in text and "AxisOrder" in text


def _datasets(group, prefix=""):
    out = []
    for key, item in group.items():
        if isinstance(item, h5py.Dataset) and item.dtype.kind in "OSU" and item.shape == ():
            out.append(f"{prefix}{key}")
        elif isinstance(item, h5py.Group):
            out += _datasets(item, f"{prefix}{key}/")
    return out


def test_nwbinspector_dandi_reports_nothing(written):
    from nwbinspector import Importance, inspect_nwbfile, load_config

    _, path = written
    messages = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")))
    bad = [m for m in messages if m.importance in (Importance.ERROR, Importance.CRITICAL,
                                                   Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], [(m.check_function_name, m.message) for m in bad]
