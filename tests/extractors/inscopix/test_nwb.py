"""Inscopix movies to NWB: OnePhotonSeries with the microscope, its settings, the start time, the times and (where
Inscopix calibrates the lens) the pixel size; nwbinspector's DANDI configuration finds nothing."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from pynwb import NWBHDF5IO

import ophysio
from ophysio.conversion.interfaces import interface_from_paths
from ophysio.extractors import InscopixImagingExtractor
from ophysio.testing.data import sample_file
from ophysio.testing.interfaces import InterfaceTests, complete_metadata

from . import reference


def real(name):
    return sample_file(f"inscopix/{name}.isxd")


def json_start(path):
    header, _ = reference.footer(path)
    start = header["timingInfo"]["start"]
    seconds = start["secsSinceEpoch"]["num"] / start["secsSinceEpoch"]["den"]
    zone = timezone(timedelta(seconds=start["utcOffset"]))
    return datetime.fromtimestamp(0, timezone.utc) + timedelta(seconds=seconds), zone


class TestInscopixRealInterface(InterfaceTests):
    """Every real sample through the generic interface (pixels, times, start time, nwbinspector)."""

    cases = ["movie_longer_than_3_min", "multiplane_movie"]
    #: a 33 x 29 movie of 1248 frames is fine; the 10 volumes of the multiplane sample are shorter than a side
    inspector_skip = ("check_data_orientation",)

    def make_interface(self, case, folder):
        return interface_from_paths([real(case)])

    def expected_metadata(self, case):
        header, _ = reference.footer(real(case))
        scope = header["extraProperties"]["microscope"]
        return {"Ophys.Device[0].name": f"Inscopix {scope['type']}",
                "Ophys.Device[0].manufacturer": "Inscopix",
                "Ophys.PhotonSeries[0].type": "OnePhotonSeries",
                "Ophys.PhotonSeries[0].name": "OnePhotonSeries"}


@pytest.mark.parametrize("name", ["movie_longer_than_3_min", "multiplane_movie"])
def test_facts_of_the_real_samples(name):
    path = real(name)
    header, _ = reference.footer(path)
    props = header["extraProperties"]
    facts = InscopixImagingExtractor(path).get_acquisition_facts()
    start, zone = json_start(path)
    assert facts.session_start_time == start and facts.session_start_time.utcoffset() == zone.utcoffset(None)
    scope = props["microscope"]
    assert facts.device_name == f"Inscopix {scope['type']}" and facts.manufacturer == "Inscopix"
    for words in (scope["serial"], f"gain {scope['gain']:g}", f"exposure {scope['exp']:g} ms",
                  f"power {scope['led']['exPower']:g} mW/mm^2"):
        assert words in facts.device_description
    assert facts.software == "Inscopix AcquisitionSW"
    assert facts.software_version == props["producer"]["versionBE"].split("-")[0]
    assert facts.source_header is not None and facts.source_header["timingInfo"] == header["timingInfo"]


def test_pixel_size_only_where_inscopix_calibrates_the_lens():
    # no lens recorded: spacingInfo's pixel size (the sensor's pitch, 72 um here) is not a size in the tissue
    assert InscopixImagingExtractor(real("movie_longer_than_3_min")).get_acquisition_facts().pixel_size_um is None
    # the ProView DC integrated lens 1050-005442: 0.80 um per sensor pixel at every efocus, 8x downsampled
    facts = InscopixImagingExtractor(real("multiplane_movie")).get_acquisition_facts()
    assert facts.pixel_size_um == pytest.approx((6.4, 6.4))
    assert facts.field_of_view_um == pytest.approx((640.0, 1024.0))


def test_nwb_of_the_multiplane_sample(tmp_path):
    path = real("multiplane_movie")
    interface = interface_from_paths([path])
    out = ophysio.write_nwb(interface, tmp_path / "multiplane.nwb", complete_metadata(interface))
    pixels, _, header = reference.raw_frames(path)
    with NWBHDF5IO(str(out), "r") as io:
        nwbfile = io.read()
        series = nwbfile.acquisition["OnePhotonSeries"]
        assert type(series).__name__ == "OnePhotonSeries"
        # (samples, x, y, planes): volume 0 holds the file's frames 0, 1, 2
        np.testing.assert_array_equal(series.data[0], np.moveaxis(pixels[:3], 0, -1).swapaxes(0, 1))
        plane = series.imaging_plane
        assert plane.grid_spacing[:2] == pytest.approx([6.4e-6, 6.4e-6])
        assert "planes at efocus 0, 500, 900" in plane.device.description
        assert plane.device.name == "Inscopix Dual Color"
        start, _ = json_start(path)
        assert nwbfile.session_start_time == start
        assert series.rate == pytest.approx(InscopixImagingExtractor(path).get_sampling_frequency())


def test_dropped_frames_become_timestamps_in_nwb(tmp_path):
    from ophysio.examples import write_example

    path, options = write_example("inscopix", tmp_path / "source")
    interface = interface_from_paths([path], **options)
    out = ophysio.write_nwb(interface, tmp_path / "example.nwb", complete_metadata(interface))
    with NWBHDF5IO(str(out), "r") as io:
        series = io.read().acquisition["OnePhotonSeries"]
        assert series.timestamps is not None  # samples 40 and 41 were dropped: a gap
        np.testing.assert_allclose(series.timestamps[:], reference.frame_times(path), atol=1e-9)
        assert np.diff(series.timestamps[:]).max() == pytest.approx(0.15)


def test_facts_of_a_movie_without_session_settings(tmp_path):
    """isx.Movie.write leaves extraProperties null: the facts say what the footer still has."""
    from ophysio._synth.inscopix import write_isxd

    path = write_isxd(tmp_path / "bare.isxd", num_times=4, rows=5, columns=6, extra_properties=None)
    header, end = reference.footer(path)
    import json
    import struct

    header["extraProperties"] = None
    text = json.dumps(header, indent=4, sort_keys=True).encode()
    path.write_bytes(path.read_bytes()[:end] + text + b"\0" + struct.pack("<Q", len(text)))
    facts = InscopixImagingExtractor(path).get_acquisition_facts()
    assert facts.device_name == "Inscopix microscope" and facts.manufacturer == "Inscopix"
    assert facts.software == "isxcore" and facts.software_version == "1.9.0"
    assert facts.pixel_size_um is None
    assert facts.session_start_time == json_start(path)[0]
