"""NWB: the conformance suite on every format's example converted by ophysio and on files pynwb wrote, and
what is special to the format (orientation, round trips against the source, selection, facts, timing,
refusals, detection, the command line)."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone

import h5py
import numpy as np
import pytest

from ophysio.errors import FormatError, MetadataError, SelectionError
from ophysio.extractors import NwbImagingExtractor, detect_format, open_imaging
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.synthetic import movie

from ._cases import (
    CASES,
    EXAMPLE_CASES,
    PYNWB_SPECS,
    NwbSeriesSpec,
    case_file,
    converted,
    expected_series,
    expected_times,
    pynwb_file,
    write_nwb_series,
)


class TestNwb(ExtractorTests):
    cases = CASES

    def make_extractor(self, case):
        path, name = case_file(case)
        return NwbImagingExtractor(path, name)

    def make_shrinkable(self, case, tmp_path):
        path, name = case_file(case)
        extractor = NwbImagingExtractor(copy_source(path, tmp_path), name)
        return extractor, extractor.get_file_paths()

    def expected_series(self, case):
        return expected_series(*case_file(case))

    def expected_sampling_frequency(self, case):
        return expected_times(*case_file(case))[0]

    def expected_timestamps(self, case):
        return expected_times(*case_file(case))[1]


@pytest.mark.parametrize("example", EXAMPLE_CASES)
def test_every_series_of_a_conversion_reads_back_as_its_source(example):
    """ophysio writes (time, x=columns, y=rows); reading undoes it: the source's samples bit for bit, its times,
    its rate and the facts the conversion carried (pixel size, origin, depths, device, start time)."""
    path, names, interface = converted(example)
    with interface:
        _compare_with_sources(path, names, interface)


def _compare_with_sources(path, names, interface):
    for (source, _), name in zip(interface.streams(), names):
        with NwbImagingExtractor(path, name) as nwb:
            assert nwb.get_series().dtype == source.dtype
            np.testing.assert_array_equal(nwb.get_series(), source.get_series())
            assert nwb.get_sample_shape() == source.get_sample_shape()
            assert nwb.is_volumetric is source.is_volumetric
            np.testing.assert_allclose(nwb.get_timestamps(), source.get_timestamps(), rtol=0, atol=1e-6)
            assert nwb.get_sampling_frequency() == pytest.approx(source.get_sampling_frequency(), rel=1e-9)
            got, want = nwb.get_acquisition_facts(), source.get_acquisition_facts()
            for field in ("pixel_size_um", "origin_um", "plane_depths_um", "field_of_view_um", "plane_spacing_um"):
                if getattr(want, field) is not None:
                    np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=1e-9, err_msg=field)
            if want.device_name is not None:
                assert got.device_name == want.device_name
            if want.manufacturer is not None:
                assert got.manufacturer == want.manufacturer
            if want.session_start_time is not None:
                start = want.session_start_time
                assert got.session_start_time.replace(tzinfo=None) == (
                    start.astimezone(timezone.utc).replace(tzinfo=None) if start.tzinfo else start)
            if want.line_rate_hz is not None:
                assert got.line_rate_hz == pytest.approx(want.line_rate_hz)
            # what the conversion completed (tests/extractors' complete_metadata) comes back as facts
            assert (got.indicator, got.brain_region, got.excitation_wavelength_nm) == ("GCaMP6f", "VISp", 920.0)
            assert got.emission_wavelength_nm == 510.0
            header = nwb.get_metadata()
            assert header["source"]["format"] == source.format_id
            assert header["source"]["files"] == [str(p) for p in source.get_file_paths()]


def test_pynwb_orientation_is_time_x_y():
    """pynwb documents data as (time, x, y): x is the column. A frame of 14 rows and 19 columns is stored
    (19, 14) and read back as the movie handed to pynwb (transposed on the way in)."""
    spec = PYNWB_SPECS["2p-planar-rate-chunked-gzip"][0]
    path = pynwb_file("2p-planar-rate-chunked-gzip")
    with h5py.File(path, "r") as f:
        assert f["acquisition/TwoPhotonSeries/data"].shape == (23, 19, 14)
    with NwbImagingExtractor(path) as ex:
        assert ex.get_image_shape() == (14, 19)
        np.testing.assert_array_equal(ex.get_series(), spec.data)
        np.testing.assert_array_equal(ex[3, 2, 5], spec.data[3, 2, 5])


def test_pynwb_facts_are_read_from_the_imaging_plane():
    spec = PYNWB_SPECS["2p-volume-rate-start"][0]
    with NwbImagingExtractor(pynwb_file("2p-volume-rate-start")) as ex:
        facts = ex.get_acquisition_facts()
        assert ex.photon_series_type == "TwoPhotonSeries"
        assert facts.pixel_size_um == pytest.approx(spec.pixel_size_um)
        assert facts.plane_spacing_um == pytest.approx(5.0)
        assert facts.origin_um == pytest.approx(spec.origin_um)
        assert facts.plane_depths_um == pytest.approx((-150.0, -145.0, -140.0))  # origin z + spacing per plane
        assert (facts.device_name, facts.device_description) == ("Mesoscope", "Mesoscope (synthetic)")
        assert (facts.indicator, facts.brain_region) == ("GCaMP6f", "VISp")
        assert facts.excitation_wavelength_nm == 920.0 and facts.emission_wavelength_nm == 510.0
        assert facts.session_start_time == datetime(2024, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
        assert facts.volume_rate_hz == 4.0 and facts.frame_rate_hz is None
        assert ex.channel_name == "Green"
        # starting_time 2.5: recorded times 2.5 + index / 4
        assert ex.has_recorded_times()
        np.testing.assert_allclose(ex.get_timestamps(), 2.5 + np.arange(11) / 4.0)
    with NwbImagingExtractor(pynwb_file("2p-planar-rate-chunked-gzip")) as ex:
        assert ex.get_acquisition_facts().field_of_view_um == pytest.approx((17.5, 14.25))
        assert not ex.has_recorded_times()  # starting at 0 with a rate: the regular times
        assert ex.get_native_timestamps() is None


def test_timestamps_are_read_a_slice_at_a_time(monkeypatch):
    path = pynwb_file("2p-planar-timestamps-contiguous")
    times = expected_times(path, "TwoPhotonSeries")[1]
    with NwbImagingExtractor(path) as ex:
        reads = []
        original = ex._read_timestamps

        def spy(start, stop):
            reads.append((start, stop))
            return original(start, stop)

        monkeypatch.setattr(ex, "_read_timestamps", spy)
        np.testing.assert_array_equal(ex.get_timestamps(5, 8), times[5:8])
        assert reads == [(5, 8)]
        assert ex.get_sampling_frequency() == 19.6  # the plane's imaging_rate agrees with the times (within 1%)
        np.testing.assert_array_equal(ex.get_timestamps(), times)


def test_rate_from_timestamps_when_the_plane_disagrees():
    path = pynwb_file("1p-volume-timestamps")
    rate, times = expected_times(path, "OnePhotonSeries")
    with NwbImagingExtractor(path) as ex:
        assert ex.get_sampling_frequency() == pytest.approx(1 / np.median(np.diff(times)))
        assert ex.photon_series_type == "OnePhotonSeries"


def test_selection_lists_the_series(tmp_path):
    path = write_nwb_series(tmp_path / "two.nwb", [
        NwbSeriesSpec("Green", movie(4, 5, 6, dtype="uint16")),
        NwbSeriesSpec("Red", movie(4, 5, 6, dtype="uint16", channel=1), channel="Red", device="Other"),
        NwbSeriesSpec("Green", movie(4, 5, 6, dtype="uint16", seed=3), module="ophys"),
    ])
    with pytest.raises(SelectionError, match=r"3 photon series \(/acquisition/Green, /acquisition/Red, "
                                             r"/processing/ophys/Green\): pass optical_series_name="):
        NwbImagingExtractor(path)
    with pytest.raises(SelectionError, match="2 photon series are named 'Green'"):
        NwbImagingExtractor(path, "Green")
    with pytest.raises(SelectionError, match="no photon series 'Blue'"):
        NwbImagingExtractor(path, "Blue")
    with NwbImagingExtractor(path, "Red") as red:
        np.testing.assert_array_equal(red.get_series(), movie(4, 5, 6, dtype="uint16", channel=1))
        assert red.get_acquisition_facts().device_name == "Other"
    with NwbImagingExtractor(path, "/processing/ophys/Green") as green:
        np.testing.assert_array_equal(green.get_series(), movie(4, 5, 6, dtype="uint16", seed=3))
        assert green.photon_series_path == "/processing/ophys/Green"


def test_roiextractors_keywords():
    import inspect

    params = inspect.signature(NwbImagingExtractor).parameters
    assert list(params)[:2] == ["file_path", "optical_series_name"]
    assert params["optical_series_name"].default is None


def test_external_file_series_is_refused(tmp_path):
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ophys import OpticalChannel, TwoPhotonSeries

    nwbfile = NWBFile(session_description="s", identifier="i",
                      session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    device = nwbfile.create_device(name="Scope")
    plane = nwbfile.create_imaging_plane(name="Plane", optical_channel=[OpticalChannel(
        name="G", description="g", emission_lambda=510.0)], description="p", device=device, excitation_lambda=920.0,
        imaging_rate=30.0, indicator="GCaMP6f", location="V1")
    nwbfile.add_acquisition(TwoPhotonSeries(name="TwoPhotonSeries", imaging_plane=plane, external_file=[
        "movie_00001.tif", "movie_00002.tif"], starting_frame=[0, 100], format="external", rate=30.0,
        num_samples=200, unit="n.a.", dimension=[64, 64]))
    with NWBHDF5IO(str(tmp_path / "external.nwb"), "w") as io:
        io.write(nwbfile)
    with pytest.raises(FormatError, match=r"keeps its frames in external files \(movie_00001.tif, movie_00002.tif\)"):
        NwbImagingExtractor(tmp_path / "external.nwb")


def test_files_without_photon_series_or_times_are_clear_errors(tmp_path):
    path = write_nwb_series(tmp_path / "s.nwb", [NwbSeriesSpec("TwoPhotonSeries", movie(4, 5, 6, dtype="uint16"))])
    bare = tmp_path / "bare.nwb"
    shutil.copy(path, bare)
    with h5py.File(bare, "r+") as f:
        del f["acquisition/TwoPhotonSeries"]
    with pytest.raises(SelectionError, match="holds no TwoPhotonSeries or OnePhotonSeries"):
        NwbImagingExtractor(bare)
    untimed = tmp_path / "untimed.nwb"
    shutil.copy(path, untimed)
    with h5py.File(untimed, "r+") as f:
        del f["acquisition/TwoPhotonSeries/starting_time"]
    with pytest.raises(MetadataError, match="neither timestamps nor starting_time"):
        NwbImagingExtractor(untimed)
    bad_rate = tmp_path / "bad_rate.nwb"
    shutil.copy(path, bad_rate)
    with h5py.File(bad_rate, "r+") as f:
        f["acquisition/TwoPhotonSeries/starting_time"].attrs["rate"] = -3.0
    with pytest.raises(MetadataError, match="rate -3.0"):
        NwbImagingExtractor(bad_rate)
    flat = tmp_path / "flat.nwb"
    shutil.copy(path, flat)
    with h5py.File(flat, "r+") as f:
        del f["acquisition/TwoPhotonSeries/data"]
        f["acquisition/TwoPhotonSeries/data"] = np.zeros((4, 5), "uint16")
    with pytest.raises(FormatError, match=r"shape \(4, 5\)"):
        NwbImagingExtractor(flat)


def test_damaged_timestamps_are_an_error_naming_the_file(tmp_path):
    path = write_nwb_series(tmp_path / "t.nwb", [NwbSeriesSpec("TwoPhotonSeries", movie(6, 5, 4, dtype="uint16"),
                                                               rate=None, timestamps=np.arange(6) / 10.0)])
    with h5py.File(path, "r+") as f:
        f["acquisition/TwoPhotonSeries/timestamps"][3] = np.nan
    with NwbImagingExtractor(path) as ex:
        np.testing.assert_array_equal(ex.get_timestamps(0, 3), np.arange(3) / 10.0)
        with pytest.raises(MetadataError, match=r"t.nwb: .*timestamps: the time of sample 3 is nan"):
            ex.get_timestamps()
    short = tmp_path / "short.nwb"
    write_nwb_series(short, [NwbSeriesSpec("TwoPhotonSeries", movie(6, 5, 4, dtype="uint16"), rate=None,
                                           timestamps=np.arange(6) / 10.0)])
    with h5py.File(short, "r+") as f:
        del f["acquisition/TwoPhotonSeries/timestamps"]
        f["acquisition/TwoPhotonSeries/timestamps"] = np.arange(5) / 10.0
    with pytest.raises(MetadataError, match="holds 5 times for 6 samples"):
        NwbImagingExtractor(short)


def test_truncated_file_is_an_error_naming_it(tmp_path):
    path = write_nwb_series(tmp_path / "cut.nwb", [NwbSeriesSpec("TwoPhotonSeries", movie(40, 32, 32, dtype="uint16"),
                                                                 chunks=(4, 32, 32))])
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size * 2 // 3)
    with pytest.raises(Exception) as info:  # noqa: PT011 - any ophysio error will do, if it names the file
        with NwbImagingExtractor(path) as ex:
            ex.get_series()
    assert "cut.nwb" in str(info.value)
    from ophysio.errors import OphysioError

    assert isinstance(info.value, OphysioError)


def test_external_link_outside_the_folder_is_refused(tmp_path):
    from ophysio.errors import ContainmentError

    outside = tmp_path / "outside"
    inside = tmp_path / "inside"
    outside.mkdir()
    inside.mkdir()
    with h5py.File(outside / "raw.h5", "w") as f:
        f["movie"] = np.zeros((3, 4, 5), "uint16")
    path = write_nwb_series(inside / "linked.nwb", [NwbSeriesSpec("TwoPhotonSeries", movie(3, 5, 4, dtype="uint16"))])
    with h5py.File(path, "r+") as f:
        del f["acquisition/TwoPhotonSeries/data"]
        f["acquisition/TwoPhotonSeries/data"] = h5py.ExternalLink(str(outside / "raw.h5"), "/movie")
    with pytest.raises(ContainmentError, match="external link"):
        NwbImagingExtractor(path)


def test_detection_content_first_before_hdf5(tmp_path):
    path = pynwb_file("2p-planar-rate-chunked-gzip")
    assert detect_format(path).id == "nwb"
    renamed = tmp_path / "session.h5"  # an NWB file named .h5 is still NWB, not a generic HDF5 movie
    shutil.copy(path, renamed)
    assert detect_format(renamed).id == "nwb"
    assert type(open_imaging(renamed)) is NwbImagingExtractor
    plain = tmp_path / "movie.nwb"  # HDF5 named .nwb without the NWB root attributes
    with h5py.File(plain, "w") as f:
        f.create_dataset("mov", data=np.zeros((3, 4, 5), np.uint8)).attrs["fr"] = 5.0
    assert detect_format(plain).id == "hdf5"
    no_groups = tmp_path / "versioned.h5"
    with h5py.File(no_groups, "w") as f:
        f.attrs["nwb_version"] = "2.7.0"
        f.create_dataset("mov", data=np.zeros((3, 4, 5), np.uint8)).attrs["fr"] = 5.0
    assert detect_format(no_groups).id == "hdf5"


def test_open_imaging_info_and_convert_to_other_formats(tmp_path, capsys):
    from ophysio.cli import main

    path, names, interface = converted("scanimage")
    assert main(["info", str(path), "-O", f"optical_series_name={names[0]}", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "nwb" and info["sample_shape"] == [128, 128] and info["channel_name"] == "Channel1"
    source = interface.streams()[0][0]
    interface.close()
    out = tmp_path / "back.tif"
    assert main(["convert", str(path), "-O", f"optical_series_name={names[0]}", "-o", str(out), "--no-progress"]) == 0
    import tifffile

    np.testing.assert_array_equal(tifffile.imread(out), source.get_series())
    h5_out = tmp_path / "back.h5"
    assert main(["convert", str(path), "-O", f"optical_series_name={names[1]}", "-o", str(h5_out),
                 "--no-progress"]) == 0
    with open_imaging(h5_out) as again, interface:
        np.testing.assert_array_equal(again.get_series(), interface.streams()[1][0].get_series())


def test_nwb_to_nwb_keeps_the_imaging_plane_facts(tmp_path):
    """A converted NWB file converted again needs nothing but the subject: indicator, location, wavelengths and
    geometry come from the first file."""
    import ophysio
    from ophysio.conversion.interfaces import interface_from_paths

    path = pynwb_file("2p-volume-rate-start")
    interface = interface_from_paths([path])
    meta = interface.get_metadata()
    plane = meta["Ophys"]["ImagingPlane"][0]
    assert (plane["indicator"], plane["location"], plane["excitation_lambda"]) == ("GCaMP6f", "VISp", 920.0)
    assert plane["optical_channel"][0]["emission_lambda"] == 510.0
    out = ophysio.write_nwb(interface, tmp_path / "again.nwb", {
        "NWBFile": {"session_description": "again"},
        "Subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"}})
    with NwbImagingExtractor(out) as again, NwbImagingExtractor(path) as first:
        np.testing.assert_array_equal(again.get_series(), first.get_series())
        assert again.get_acquisition_facts().origin_um == pytest.approx(first.get_acquisition_facts().origin_um)
        np.testing.assert_allclose(again.get_timestamps(), first.get_timestamps())
    interface.close()


def test_preview_reads_nwb_through_the_extractor(tmp_path):
    from ophysio.preview import preview

    path = pynwb_file("1p-planar-processing")
    session = preview(path, tmp_path / "preview")
    assert session.index.exists()
    assert [s.name for s in session.streams] == ["Corrected"]


def test_an_nwb_zarr_folder_is_detected_as_nwb_not_zarr(tmp_path):
    """The root attributes decide (hdmf-zarr writes nwb_version there); reading NWB-Zarr is tested in CI's
    nwb-zarr environment (test_nwb_zarr.py), which has hdmf-zarr to write the stores."""
    from ophysio.extractors import get_format
    from ophysio.extractors.registry import read_head

    store = tmp_path / "session.nwb.zarr"
    store.mkdir()
    (store / ".zgroup").write_text('{"zarr_format": 2}')
    (store / ".zattrs").write_text('{"nwb_version": "2.7.0", "neurodata_type": "NWBFile", "namespace": "core"}')
    assert detect_format(store).id == "nwb"
    assert get_format("zarr").check(store, read_head(store)) == "an NWB-Zarr store (read as nwb)"
    (store / ".zattrs").write_text('{"multiscales": []}')
    assert detect_format(store).id == "zarr"
