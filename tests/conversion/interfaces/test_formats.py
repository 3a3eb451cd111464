"""Every reader format's interface through InterfaceTests, on the format's built-in example."""

from datetime import datetime

from ophysio.conversion.interfaces import interface_from_paths
from ophysio.examples import write_example
from ophysio.testing.interfaces import InterfaceTests


class _ExampleInterfaceTests(InterfaceTests):
    """Cases are names of built-in examples (``ophysio convert --example NAME``)."""

    format: str | None = None
    #: the examples are short movies (50 samples of 64 x 64 pixels, say): nwbinspector takes a time axis
    #: shorter than a frame for a transposed one; tests/conversion/test_nwb.py runs the check on a long one
    inspector_skip = ("check_data_orientation",)

    def make_interface(self, case, folder):
        path, options = write_example(case, folder)
        return interface_from_paths([path], format=self.format, **options)


class TestScanImageInterface(_ExampleInterfaceTests):
    cases = ["scanimage"]

    def expected_metadata(self, case):
        return {"NWBFile.session_start_time": datetime(2024, 3, 14, 9, 26, 53, 500000),
                "Ophys.PhotonSeries[0].name": "TwoPhotonSeriesChannel1",
                "Ophys.PhotonSeries[1].name": "TwoPhotonSeriesChannel2"}


class TestScanImageLegacyInterface(_ExampleInterfaceTests):
    cases = ["scanimage_legacy"]

    def expected_metadata(self, case):
        return {"NWBFile.session_start_time": datetime(2012, 3, 14, 9, 26, 53, 589000)}


class TestTiffInterface(_ExampleInterfaceTests):
    cases = ["tiff", "imagej_hyperstack"]


class TestOmeTiffInterface(_ExampleInterfaceTests):
    cases = ["ome_tiff"]

    def expected_metadata(self, case):
        return {"NWBFile.session_start_time": datetime(2024, 5, 6, 7, 8, 9)}


class TestNumpyInterface(_ExampleInterfaceTests):
    cases = ["numpy"]


class TestBinaryInterface(_ExampleInterfaceTests):
    cases = ["binary"]
    format = "binary"


class TestSuite2pInterface(_ExampleInterfaceTests):
    cases = ["suite2p"]


class TestHdf5Interface(_ExampleInterfaceTests):
    cases = ["caiman_hdf5"]


class TestMatInterface(_ExampleInterfaceTests):
    cases = ["mat_v73"]


class TestVideoInterface(_ExampleInterfaceTests):
    cases = ["video"]

    def expected_metadata(self, case):
        return {"Ophys.PhotonSeries[0].type": "OnePhotonSeries", "Ophys.PhotonSeries[0].name": "OnePhotonSeries"}


class TestMiniscopeInterface(_ExampleInterfaceTests):
    cases = ["miniscope"]

    def expected_metadata(self, case):
        return {"NWBFile.session_start_time": datetime(2022, 9, 19, 9, 18, 41, 7000),
                "Ophys.PhotonSeries[0].type": "OnePhotonSeries", "Ophys.Device[0].name": "Miniscope"}
