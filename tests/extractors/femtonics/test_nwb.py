"""The real MESc sample to NWB through the generic interface, read back with pynwb and checked against h5py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import h5py
import numpy as np
import pytest

import ophysio
from ophysio.conversion.interfaces import interface_from_paths
from ophysio.conversion.nwb import read_source_metadata
from ophysio.testing.data import sample_file
from ophysio.testing.interfaces import complete_metadata

from ._cases import P29, _text


def test_p29_unit_to_nwb_and_back(tmp_path):
    from nwbinspector import Importance, inspect_nwbfile, load_config
    from pynwb import NWBHDF5IO

    path = sample_file(P29)
    interface = interface_from_paths(path, munit_name="MUnit_1")  # both channels, one series each
    out = ophysio.write_nwb(interface, tmp_path / "p29.nwb", complete_metadata(interface), timezone="UTC")
    interface.close()
    with h5py.File(path, "r") as f:
        unit = f["MSession_0/MUnit_1"]
        a = unit.attrs
        pixels = {_text(a[f"Channel_{k}_Name"]): unit[f"Channel_{k}"][()] for k in range(2)}
        rate = 1000.0 / float(a["ZAxisConversionConversionLinearScale"])
        dx, dy = float(a["XAxisConversionConversionLinearScale"]), float(a["YAxisConversionConversionLinearScale"])
        tx, ty, tz = (float(v) for v in a["GeomTransTransl"])
        start = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(
            seconds=int(a["MeasurementDatePosix"]), microseconds=int(a["MeasurementDateNanoSecs"]) / 1000)
        version = _text(a["CreatingMEScVersion"])
    with NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert nwb.session_start_time == start
        assert set(nwb.acquisition) == {"TwoPhotonSeriesUG", "TwoPhotonSeriesUR"}
        for name, expected in pixels.items():
            series = nwb.acquisition[f"TwoPhotonSeries{name}"]
            np.testing.assert_array_equal(series.data[:], expected.swapaxes(1, 2))  # NWB: (time, x, y)
            assert series.rate == pytest.approx(rate, rel=1e-12) and series.starting_time == 0.0
            plane = series.imaging_plane
            np.testing.assert_allclose(plane.grid_spacing[:], [dx * 1e-6, dy * 1e-6])
            np.testing.assert_allclose(plane.origin_coords[:], [tx * 1e-6, ty * 1e-6, tz * 1e-6])
            assert plane.imaging_rate == pytest.approx(rate)
            assert plane.device.model.manufacturer == "Femtonics" and version in plane.device.description
            assert plane.optical_channel[0].name == name
    header = read_source_metadata(out)["TwoPhotonSeriesUR"]
    assert header["format"] == "femtonics" and header["files"] == [str(path)]
    assert header["metadata"]["unit_attrs"]["ExperimenterSetupID"] == "SN20150066006-MBMoser_1"
    # the stubbed sample has 5 frames of 512 x 512: nwbinspector takes a time axis that short for a transposed one
    messages = list(inspect_nwbfile(nwbfile_path=str(out), config=load_config("dandi"),
                                    ignore=["check_data_orientation"]))
    bad = [m for m in messages if m.importance in (Importance.ERROR, Importance.CRITICAL,
                                                   Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], [(m.check_function_name, m.message) for m in bad]
