"""Femtonics MESc: the conformance suite on every unit and channel of the real sample and on synthetic files,
and what is special to the format (selection by name, static helpers, facts, metadata, timing)."""

from __future__ import annotations

import inspect
import json
import warnings
from datetime import datetime, timedelta, timezone

import h5py
import numpy as np
import pytest

from ophysio.errors import SelectionError
from ophysio.extractors import FemtonicsImagingExtractor, detect_format, open_imaging
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.data import sample_file

from ._cases import CASES, P29, SESSIONS, SINGLE, _made, _text, expected_series, expected_times


class TestFemtonics(ExtractorTests):
    cases = list(CASES)

    def make_extractor(self, case):
        maker, kwargs = CASES[case]
        return FemtonicsImagingExtractor(maker(), **kwargs)

    def make_shrinkable(self, case, tmp_path):
        maker, kwargs = CASES[case]
        extractor = FemtonicsImagingExtractor(copy_source(maker(), tmp_path), **kwargs)
        return extractor, extractor.get_file_paths()

    def expected_series(self, case):
        return expected_series(case)

    def expected_sampling_frequency(self, case):
        return expected_times(case)[0]

    def expected_timestamps(self, case):
        return expected_times(case)[1]


def test_synthetic_pixels_are_the_written_movie_in_rows_and_columns():
    """The writer's movie (frames, rows, columns) comes back as written: rows are YDim, columns XDim."""
    ex = FemtonicsImagingExtractor(CASES["single-defaults"][0]())
    assert ex.get_image_shape() == (SINGLE.rows, SINGLE.columns) == (20, 28)
    np.testing.assert_array_equal(ex.get_series(), SINGLE.pixels(0))
    ex = FemtonicsImagingExtractor(CASES["sessions-s1-u2-UR"][0](), session_name="MSession_1", munit_name="MUnit_2",
                                   channel_name="UR")
    np.testing.assert_array_equal(ex.get_series(), SESSIONS[1][2].pixels(1))


def test_real_sample_is_read_as_roiextractors_reads_it():
    """p29.mesc: (5, 512, 512) uint16 per channel; the channels hold other values, the units too."""
    series = {(u, c): FemtonicsImagingExtractor(sample_file(P29), munit_name=u, channel_name=c).get_series()
              for u in ("MUnit_0", "MUnit_1") for c in ("UG", "UR")}
    assert all(s.shape == (5, 512, 512) and s.dtype == np.uint16 for s in series.values())
    assert not np.array_equal(series["MUnit_0", "UG"], series["MUnit_0", "UR"])
    assert not np.array_equal(series["MUnit_0", "UG"], series["MUnit_1", "UG"])


def test_detection_picks_femtonics_before_hdf5(tmp_path):
    assert detect_format(sample_file(P29)).id == "femtonics"
    # the MESc layout decides, not the name: a MESc file called .h5 is not taken by the generic HDF5 format
    renamed = tmp_path / "session.h5"
    renamed.write_bytes(sample_file(P29).read_bytes())
    assert detect_format(renamed).id == "femtonics"
    ex = open_imaging(renamed, munit_name="MUnit_1", channel_name="UG")
    assert type(ex) is FemtonicsImagingExtractor
    plain = tmp_path / "movie.h5"
    with h5py.File(plain, "w") as f:
        f.create_dataset("mov", data=np.zeros((3, 4, 5), np.uint8)).attrs["fr"] = 5.0
        f.create_group("MSession_0")  # a session group without units is not the MESc layout
    assert detect_format(plain).id == "hdf5"


def test_defaults_and_clear_errors_listing_what_exists():
    single = FemtonicsImagingExtractor(CASES["single-defaults"][0]())
    assert (single.session_name, single.munit_name, single.channel_name) == ("MSession_0", "MUnit_0", "UG")
    path = sample_file(P29)
    with pytest.raises(SelectionError, match=r"2 units \['MUnit_0', 'MUnit_1'\]: pass munit_name="):
        FemtonicsImagingExtractor(path)
    with pytest.raises(SelectionError, match=r"2 channels \['UG', 'UR'\].*pass channel_name="):
        FemtonicsImagingExtractor(path, munit_name="MUnit_0")
    with pytest.raises(ValueError, match=r"no session 'MSession_3'; its sessions: \['MSession_0'\]"):
        FemtonicsImagingExtractor(path, session_name="MSession_3", munit_name="MUnit_0", channel_name="UG")
    with pytest.raises(SelectionError, match=r"no unit 'MUnit_7'.*\['MUnit_0', 'MUnit_1'\]"):
        FemtonicsImagingExtractor(path, munit_name="MUnit_7", channel_name="UG")
    with pytest.raises(SelectionError, match=r"channel 'UB' is not in .*p29.mesc: MSession_0/MUnit_1.*\['UG', 'UR'"):
        FemtonicsImagingExtractor(path, munit_name="MUnit_1", channel_name="UB")
    sessions = CASES["sessions-s1-u2-UR"][0]()
    with pytest.raises(SelectionError, match=r"2 sessions \['MSession_0', 'MSession_1'\]: pass session_name="):
        FemtonicsImagingExtractor(sessions, munit_name="MUnit_0", channel_name="UG")


def test_static_helpers_have_roiextractors_names_and_answer_from_the_file():
    path = sample_file(P29)
    with h5py.File(path, "r") as f:
        units = sorted(f["MSession_0"])
        names = [_text(f["MSession_0/MUnit_0"].attrs[f"Channel_{k}_Name"]) for k in range(2)]
    assert FemtonicsImagingExtractor.get_available_sessions(path) == ["MSession_0"]
    assert FemtonicsImagingExtractor.get_available_munits(path, "MSession_0") == units
    assert FemtonicsImagingExtractor.get_available_channels(path, "MSession_0", "MUnit_0") == names == ["UG", "UR"]
    assert FemtonicsImagingExtractor.get_available_munits(path) == units  # one session: the default
    for name, params in {"get_available_sessions": ["file_path"],
                         "get_available_munits": ["file_path", "session_name"],
                         "get_available_channels": ["file_path", "session_name", "munit_name"]}.items():
        assert list(inspect.signature(getattr(FemtonicsImagingExtractor, name)).parameters) == params
    assert list(inspect.signature(FemtonicsImagingExtractor).parameters) == [
        "file_path", "session_name", "munit_name", "channel_name"]
    sessions = CASES["sessions-s1-u2-UR"][0]()
    assert FemtonicsImagingExtractor.get_available_munits(sessions, "MSession_1") == ["MUnit_0", "MUnit_1", "MUnit_2"]
    with pytest.raises(SelectionError, match="pass session_name="):
        FemtonicsImagingExtractor.get_available_munits(sessions)
    with pytest.raises(SelectionError, match="no session 'MSession_9'"):
        FemtonicsImagingExtractor.get_available_channels(sessions, "MSession_9", "MUnit_0")
    unnamed = CASES["unnamed-Channel_1"][0]()
    assert FemtonicsImagingExtractor.get_available_channels(unnamed) == ["Channel_0", "Channel_1"]


def test_units_are_listed_in_numeric_order(tmp_path):
    from ophysio._synth.femtonics import MescUnit, write_femtonics

    path = write_femtonics(tmp_path / "many.mesc", [[MescUnit(frames=1, rows=2, columns=3, channels=("UG",))] * 12])
    units = FemtonicsImagingExtractor.get_available_munits(path)
    assert units == [f"MUnit_{j}" for j in range(12)]  # MUnit_10 after MUnit_9, not after MUnit_1


def test_facts_from_the_unit_attributes_of_the_real_sample():
    path = sample_file(P29)
    ex = FemtonicsImagingExtractor(path, munit_name="MUnit_1", channel_name="UR")
    facts = ex.get_acquisition_facts()
    with h5py.File(path, "r") as f:
        a = f["MSession_0/MUnit_1"].attrs
        start = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(
            seconds=int(a["MeasurementDatePosix"]), microseconds=int(a["MeasurementDateNanoSecs"]) / 1000)
        dx, dy = float(a["XAxisConversionConversionLinearScale"]), float(a["YAxisConversionConversionLinearScale"])
        x0 = float(a["XAxisConversionConversionLinearOffset"])
        translation, version = a["GeomTransTransl"], _text(a["CreatingMEScVersion"])
        revision, setup = int(a["CreatingMEScRevision"]), _text(a["ExperimenterSetupID"])
        assert _text(a["XAxisConversionUnitName"]) == "\u00b5m" and x0 == dx / 2  # the first pixel's centre
    assert facts.session_start_time == start and start.tzinfo is not None
    assert start.isoformat() == "2017-09-29T08:28:20.238506+00:00"
    assert facts.pixel_size_um == (dy, dx)
    assert facts.plane_depths_um == (float(translation[2]),)
    assert facts.origin_um == pytest.approx((translation[1], translation[0], translation[2]))
    assert facts.field_of_view_um == pytest.approx((512 * dy, 512 * dx))
    assert facts.manufacturer == "Femtonics" and facts.software == "MESc"
    assert version == "MESc 3.3" and facts.software_version == "3.3"
    assert f"revision {revision}" in facts.device_description and setup in facts.device_description
    assert facts.channel_names == ("UG", "UR") and facts.channel_name == "UR"
    assert facts.frame_rate_hz == pytest.approx(1000 / 32.29672617170252)
    assert facts.excitation_wavelength_nm is None and facts.emission_wavelengths_nm is None


def test_pixel_sizes_follow_rows_and_columns():
    """A synthetic unit with Y 2.0 um and X 1.5 um per pixel: (row height, column width) = (2.0, 1.5)."""
    facts = FemtonicsImagingExtractor(CASES["single-defaults"][0]()).get_acquisition_facts()
    assert facts.pixel_size_um == (2.0, 1.5)
    assert facts.field_of_view_um == (20 * 2.0, 28 * 1.5)
    assert facts.origin_um == pytest.approx((-20.0, -21.0, SINGLE.stage_z_um))
    crop = FemtonicsImagingExtractor(CASES["single-defaults"][0]()).slice_field_of_view(2, 10, 4, 12)
    moved = (-20.0 + 2 * 2.0, -21.0 + 4 * 1.5, SINGLE.stage_z_um)
    assert crop.get_acquisition_facts().origin_um == pytest.approx(moved)


def test_timestamps_are_the_z_axis_when_it_starts_later():
    ex = FemtonicsImagingExtractor(CASES["single-defaults"][0]())
    np.testing.assert_allclose(ex.get_native_timestamps(), (12.5 + np.arange(9) * SINGLE.frame_period) / 1e3,
                               rtol=0, atol=1e-12)
    assert ex.has_recorded_times()
    real = FemtonicsImagingExtractor(sample_file(P29), munit_name="MUnit_0", channel_name="UG")
    assert real.get_native_timestamps() is None  # first frame at 0: only the rate, as roiextractors says
    assert real.get_frame_period() == pytest.approx(32.29672617170252e-3)


def test_metadata_holds_every_attribute_decoded_and_is_json():
    path = sample_file(P29)
    ex = FemtonicsImagingExtractor(path, munit_name="MUnit_0", channel_name="UG")
    meta = ex.get_metadata()
    json.dumps(meta)  # plain JSON values, no default= needed
    with h5py.File(path, "r") as f:
        unit, root = f["MSession_0/MUnit_0"], f["/"]
        assert set(meta["unit_attrs"]) == set(unit.attrs)
        assert set(meta["file_attrs"]) == set(root.attrs) and set(meta["session_attrs"]) == set(f["MSession_0"].attrs)
        for key in ("Channel_0_Name", "CreatingMEScVersion", "ExperimenterUsername", "ZAxisConversionUnitName"):
            assert meta["unit_attrs"][key] == _text(unit.attrs[key])
        assert meta["unit_attrs"]["MeasurementParamsXML"] == unit.attrs["MeasurementParamsXML"].decode("latin-1")
        assert meta["unit_attrs"]["XDim"] == 512 and meta["unit_attrs"]["GeomTransRot"] == [0.0, 0.0, 0.0, 1.0]
        assert meta["unit_attrs"]["PointsPositions0"] is None  # an empty attribute
        assert meta["file_attrs"]["Vendor"] == root.attrs["Vendor"].decode()
        uuid = bytes(root.attrs["Uuid"]).hex()
        assert meta["file_attrs"]["Uuid"].replace("-", "") == uuid
    xml = meta["xml"]["MeasurementParamsXML"]
    assert xml["Type"] == "TaskResonantScan" and xml["params"]["SizeX"] == 512
    assert xml["devices"]["PMT_UG"] == {"type": "PMT", "warmup_time": -0.2, "reference_voltage": 65.0,
                                        "channel_name": "UG"}
    assert xml["axes"]["SlowZ"]["AttributePosition"] == meta["unit_attrs"]["GeomTransTransl"][2]
    assert meta["xml"]["ViewerParamsXML"]["params"]["ChannelNameMap"] == "UG UR"
    assert (meta["session_name"], meta["munit_name"], meta["dataset"]) == ("MSession_0", "MUnit_0",
                                                                           "MSession_0/MUnit_0/Channel_0")


def test_roiextractors_summary_has_its_keys():
    """``_get_metadata`` (what neuroconv's FemtonicsImagingInterface reads) answers roiextractors' keys."""
    ex = FemtonicsImagingExtractor(sample_file(P29), munit_name="MUnit_1", channel_name="UR")
    summary = ex._get_metadata()
    assert set(summary) == {
        "session_name", "munit_name", "selected_channel", "available_channels", "available_sessions",
        "available_munits", "session_uuid", "pixel_size_micrometers", "image_shape_metadata", "session_start_time",
        "experimenter_info", "geometric_transformations", "mesc_version_info", "pmt_settings", "scan_parameters",
        "frame_duration_ms", "sampling_frequency_hz"}
    assert summary["pmt_settings"] == {"UG": {"voltage": 65.0, "warmup_time": -0.2},
                                       "UR": {"voltage": 70.0, "warmup_time": -0.2}}
    assert summary["image_shape_metadata"] == (512, 512, 5)
    assert summary["experimenter_info"]["username"] == "flaviod"
    assert summary["frame_duration_ms"] == pytest.approx(32.29672617170252)
    # the transformations as h5py reads them (float arrays): neuroconv formats them into the imaging plane's
    # description with f-strings, which must read as they do with roiextractors
    with h5py.File(sample_file(P29), "r") as f:
        attrs = f["MSession_0/MUnit_1"].attrs
        for key, name in (("translation", "GeomTransTransl"), ("rotation", "GeomTransRot"),
                          ("labeling_origin", "LabelingOriginTransl")):
            value = summary["geometric_transformations"][key]
            assert isinstance(value, np.ndarray) and value.dtype == attrs[name].dtype
            np.testing.assert_array_equal(value, attrs[name])
            assert f"{value}" == f"{attrs[name]}"


def test_synthetic_writer_mirrors_the_real_attribute_layout():
    """Every attribute of a real two-channel unit, its session and the root is in a synthetic file too, with
    the same type; channels are stored alike."""
    with h5py.File(sample_file(P29), "r") as real, h5py.File(_made("sessions.mesc", SESSIONS), "r") as synth:
        for group in ("/", "MSession_0", "MSession_0/MUnit_0"):
            assert set(real[group].attrs) == set(synth[group].attrs), group
            for key in real[group].attrs:
                real_type, synth_type = real[group].attrs.get_id(key).dtype, synth[group].attrs.get_id(key).dtype
                assert real_type.kind == synth_type.kind, (group, key)
        real_set, synth_set = real["MSession_0/MUnit_0/Channel_0"], synth["MSession_0/MUnit_0/Channel_0"]
        assert (real_set.dtype, real_set.compression, real_set.compression_opts) == \
            (synth_set.dtype, synth_set.compression, synth_set.compression_opts)
        assert synth_set.chunks == (1, *synth_set.shape[1:]) and real_set.chunks == (1, *real_set.shape[1:])


def test_no_warning_on_well_formed_files():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for maker, kwargs in CASES.values():
            ex = FemtonicsImagingExtractor(maker(), **kwargs)
            ex.get_acquisition_facts()
            ex.close()
