"""Every reader format's interface through InterfaceTests, on the format's built-in example."""

from datetime import datetime, timezone

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


class TestBrukerInterface(_ExampleInterfaceTests):
    cases = ["bruker"]

    def expected_metadata(self, case):
        return {"NWBFile.session_start_time": datetime(2022, 11, 3, 11, 20, 34),
                "Ophys.Device[0].name": "Bruker Prairie View", "Ophys.Device[0].manufacturer": "Bruker",
                "Ophys.ImagingPlane[0].excitation_lambda": 920.0}


class TestThorInterface(_ExampleInterfaceTests):
    cases = ["thor"]

    def expected_metadata(self, case):
        from datetime import timedelta, timezone

        return {"NWBFile.session_start_time": datetime(2024, 2, 29, 14, 5, 6, tzinfo=timezone(timedelta(hours=-5))),
                "Ophys.PhotonSeries[0].name": "TwoPhotonSeriesChanA",
                "Ophys.PhotonSeries[1].name": "TwoPhotonSeriesChanB",
                "Ophys.Device[0].manufacturer": "Thorlabs",
                "Ophys.ImagingPlane[0].grid_spacing": [1.25e-6, 1.25e-6],
                "Ophys.ImagingPlane[0].excitation_lambda": 920.0}


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


class TestFemtonicsInterface(_ExampleInterfaceTests):
    cases = ["femtonics"]

    def expected_metadata(self, case):
        # the example's MeasurementDatePosix 1506671580 + MeasurementDateNanoSecs 903593500, in UTC
        return {"NWBFile.session_start_time": datetime(2017, 9, 29, 7, 53, 0, 903594, tzinfo=timezone.utc),
                "Ophys.Device[0].manufacturer": "Femtonics",
                "Ophys.PhotonSeries[0].name": "TwoPhotonSeriesUG",
                "Ophys.PhotonSeries[1].name": "TwoPhotonSeriesUR"}


class TestScanboxInterface(_ExampleInterfaceTests):
    cases = ["scanbox"]

    def expected_metadata(self, case):
        return {"Ophys.Device[0].name": "Scanbox", "Ophys.Device[0].manufacturer": "Neurolabware",
                "Ophys.PhotonSeries[0].name": "TwoPhotonSeriesPMT0",
                "Ophys.PhotonSeries[1].name": "TwoPhotonSeriesPMT1",
                "Ophys.ImagingPlane[0].excitation_lambda": 920.0}


class TestMicroManagerInterface(_ExampleInterfaceTests):
    cases = ["micromanager"]

    def expected_metadata(self, case):
        from datetime import timedelta

        return {"NWBFile.session_start_time": datetime(2024, 3, 5, 14, 22, 31, 123000, timezone(timedelta(hours=-8))),
                "Ophys.Device[0].name": "C13440-20CU"}


class TestInscopixInterface(_ExampleInterfaceTests):
    cases = ["inscopix"]

    def expected_metadata(self, case):
        return {"NWBFile.session_start_time": datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=timezone.utc),
                "Ophys.PhotonSeries[0].type": "OnePhotonSeries",
                "Ophys.Device[0].name": "Inscopix NVista3"}


class TestHCImageInterface(_ExampleInterfaceTests):
    cases = ["hcimage"]

    def expected_metadata(self, case):
        return {"NWBFile.session_start_time": datetime(2024, 5, 30, 15, 2, 49, 738000, tzinfo=timezone.utc),
                "Ophys.PhotonSeries[0].type": "OnePhotonSeries",
                "Ophys.Device[0].manufacturer": "Hamamatsu Photonics"}


class TestNwbInterface(_ExampleInterfaceTests):
    cases = ["nwb"]

    def expected_metadata(self, case):
        # what the example's ImagingPlane, Device and session record (ophysio._synth.nwb), back as metadata
        return {"NWBFile.session_start_time": datetime(2024, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
                "Ophys.Device[0].name": "Mesoscope",
                "Ophys.ImagingPlane[0].indicator": "GCaMP6f",
                "Ophys.ImagingPlane[0].location": "VISp",
                "Ophys.ImagingPlane[0].excitation_lambda": 920.0,
                "Ophys.ImagingPlane[0].grid_spacing": [0.75e-6, 1.25e-6],
                "Ophys.ImagingPlane[0].optical_channel[0].emission_lambda": 510.0}


class TestZarrInterface(_ExampleInterfaceTests):
    cases = ["zarr"]

    def expected_metadata(self, case):
        return {"Ophys.ImagingPlane[0].grid_spacing": [0.6e-6, 0.8e-6],
                "Ophys.ImagingPlane[0].imaging_rate": 25.0}


class TestVideoInterface(_ExampleInterfaceTests):
    cases = ["video"]

    def expected_metadata(self, case):
        return {"Ophys.PhotonSeries[0].type": "OnePhotonSeries", "Ophys.PhotonSeries[0].name": "OnePhotonSeries"}


class TestMiniscopeInterface(_ExampleInterfaceTests):
    cases = ["miniscope"]

    def expected_metadata(self, case):
        return {"NWBFile.session_start_time": datetime(2022, 9, 19, 9, 18, 41, 7000),
                "Ophys.PhotonSeries[0].type": "OnePhotonSeries", "Ophys.Device[0].name": "Miniscope"}
