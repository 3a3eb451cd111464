"""HCImage .cxd files to NWB: OnePhotonSeries with the camera, the start time and the frame times; nwbinspector's
DANDI configuration finds nothing."""

import numpy as np
import olefile
from pynwb import NWBHDF5IO

import ophysio
from ophysio.conversion.interfaces import interface_from_paths
from ophysio.examples import write_example
from ophysio.testing.data import sample_file
from ophysio.testing.interfaces import InterfaceTests, complete_metadata

from .test_reader import olefile_frames


class TestHCImageInterface(InterfaceTests):
    """The real sample and the built-in example (irregular Time_From_Start) through the generic interface."""

    cases = ["real", "example"]
    #: 10 frames of 350 x 350 and 60 of 64 x 64: a time axis shorter than a side
    inspector_skip = ("check_data_orientation",)

    def make_interface(self, case, folder):
        if case == "real":
            return interface_from_paths([sample_file("hcimage/Data00676_stubbed.cxd")])
        path, options = write_example("hcimage", folder)
        return interface_from_paths([path], **options)

    def expected_metadata(self, case):
        return {"Ophys.Device[0].name": "Hamamatsu camera", "Ophys.Device[0].manufacturer": "Hamamatsu Photonics",
                "Ophys.PhotonSeries[0].type": "OnePhotonSeries"}


def test_real_sample_in_nwb(tmp_path):
    path = sample_file("hcimage/Data00676_stubbed.cxd")
    interface = interface_from_paths([path])
    out = ophysio.write_nwb(interface, tmp_path / "cxd.nwb", complete_metadata(interface))
    frames, times = olefile_frames(path)
    with olefile.OleFileIO(str(path)) as ole:
        created = ole.getctime("Field Data/Field 1")
    with NWBHDF5IO(str(out), "r") as io:
        nwbfile = io.read()
        series = nwbfile.acquisition["OnePhotonSeries"]
        assert type(series).__name__ == "OnePhotonSeries"
        np.testing.assert_array_equal(series.data[:], frames.swapaxes(1, 2))
        assert series.rate == 1 / 0.033338 and series.starting_time == 0.0
        assert nwbfile.session_start_time.replace(tzinfo=None) == created
        device = series.imaging_plane.device  # pynwb 4 keeps the manufacturer in the device's model
        assert "Hamamatsu Photonics" in (device.manufacturer, getattr(getattr(device, "model", None), "manufacturer",
                                                                       None))


def test_irregular_frame_times_become_timestamps(tmp_path):
    path, _ = write_example("hcimage", tmp_path / "source")
    interface = interface_from_paths([path])
    out = ophysio.write_nwb(interface, tmp_path / "example.nwb", complete_metadata(interface))
    with NWBHDF5IO(str(out), "r") as io:
        series = io.read().acquisition["OnePhotonSeries"]
        np.testing.assert_allclose(series.timestamps[:], olefile_frames(path)[1], atol=1e-12)
