"""Damaged MESc files: truncated, missing groups or channels, garbled attributes, chunks never written, links
out of the folder. Each is an ophysio error (or a warning for what reading does not depend on) naming the file."""

from __future__ import annotations

import os
import shutil
import warnings

import h5py
import numpy as np
import pytest

from ophysio._synth.femtonics import MescUnit, mesc_text, write_femtonics
from ophysio.errors import ContainmentError, CorruptFileError, FileSetError, FormatError, MetadataError, SelectionError
from ophysio.extractors import FemtonicsImagingExtractor, detect_format, get_format, open_imaging
from ophysio.extractors.registry import read_head
from ophysio.testing.data import sample_file

from ._cases import P29

UNIT = "MSession_0/MUnit_0"


@pytest.fixture
def mesc(tmp_path):
    """A fresh one-unit, two-channel MESc file to damage."""
    return write_femtonics(tmp_path / "unit.mesc", [[MescUnit(frames=6, rows=8, columns=10)]])


def _set(path, key, value, group=UNIT):
    with h5py.File(path, "r+") as f:
        if value is None:
            del f[group].attrs[key]
        else:
            f[group].attrs[key] = value


def _open(path, **kwargs):
    return FemtonicsImagingExtractor(path, **{"channel_name": "UG", **kwargs})


@pytest.mark.parametrize("keep", [0.5, 0.1, 2000])
def test_truncated_file_is_a_corrupt_file_error_naming_it(tmp_path, keep):
    path = tmp_path / "p29.mesc"
    data = sample_file(P29).read_bytes()
    path.write_bytes(data[: int(len(data) * keep) if keep < 1 else keep])
    assert detect_format(path).id == "femtonics"  # damaged, but named .mesc: the MESc reader reports it
    for opener in (lambda: FemtonicsImagingExtractor(path, munit_name="MUnit_0", channel_name="UG"),
                   lambda: open_imaging(path, munit_name="MUnit_0", channel_name="UG").get_series()):
        with pytest.raises(CorruptFileError, match="p29.mesc"):
            opener()
    for helper in (FemtonicsImagingExtractor.get_available_sessions,
                   FemtonicsImagingExtractor.get_available_munits):
        with pytest.raises(CorruptFileError, match="p29.mesc"):
            helper(path)


def test_truncated_file_under_another_name_is_left_to_other_formats(tmp_path):
    path = tmp_path / "cut.h5"
    path.write_bytes(sample_file(P29).read_bytes()[:3000])
    verdict = get_format("femtonics").check(path, read_head(path))
    assert verdict is not True and "could not be listed" in verdict


def test_not_hdf5_and_missing_file(tmp_path):
    path = tmp_path / "notes.mesc"
    path.write_bytes(b"not an HDF5 file at all" * 10)
    assert get_format("femtonics").check(path, read_head(path)) == "no HDF5 signature (MESc files are HDF5)"
    with pytest.raises(FormatError, match="notes.mesc is not an HDF5 file"):
        FemtonicsImagingExtractor(path)
    with pytest.raises(FileSetError, match="nope.mesc"):
        FemtonicsImagingExtractor(tmp_path / "nope.mesc")
    with pytest.raises(FileSetError, match="nope.mesc"):
        FemtonicsImagingExtractor.get_available_sessions(tmp_path / "nope.mesc")


def test_missing_sessions_units_and_channels(tmp_path):
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f.create_dataset("mov", data=np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(FormatError, match=r"plain.h5 has no MSession_<n> group.*holds mov"):
        FemtonicsImagingExtractor(plain)
    assert FemtonicsImagingExtractor.get_available_sessions(plain) == []
    empty = tmp_path / "empty.mesc"
    with h5py.File(empty, "w") as f:
        f.create_group("MSession_0")
    with pytest.raises(FormatError, match="empty.mesc: MSession_0 holds no MUnit_<n> group"):
        FemtonicsImagingExtractor(empty)
    assert FemtonicsImagingExtractor.get_available_munits(empty) == []
    with h5py.File(empty, "r+") as f:
        f.create_group("MSession_0/MUnit_0")
    with pytest.raises(FormatError, match="empty.mesc: MSession_0/MUnit_0 holds no Channel_<k> dataset"):
        FemtonicsImagingExtractor(empty)


def test_missing_channel_dataset_leaves_the_others(mesc):
    with h5py.File(mesc, "r+") as f:
        del f[f"{UNIT}/Channel_1"]
    assert FemtonicsImagingExtractor.get_available_channels(mesc) == ["UG"]
    assert FemtonicsImagingExtractor(mesc).channel_name == "UG"  # the one left is the default
    with pytest.raises(SelectionError, match=r"channel 'UR' is not in .*unit.mesc: MSession_0/MUnit_0.*\['UG'\]"):
        FemtonicsImagingExtractor(mesc, channel_name="UR")


def test_channel_that_is_not_a_movie(mesc):
    with h5py.File(mesc, "r+") as f:
        del f[f"{UNIT}/Channel_0"]
        f[f"{UNIT}/Channel_0"] = np.zeros(5, np.uint16)
        f[f"{UNIT}/Channel_1"].attrs["x"] = 1
    with pytest.raises(FormatError, match=r"unit.mesc: MSession_0/MUnit_0/Channel_0 is uint16 of shape \(5,\)"):
        _open(mesc)


@pytest.mark.parametrize("value, message", [
    (np.bytes_(b"fast"), r"attribute ZAxisConversionConversionLinearScale is .*not a number"),
    (np.float64(np.nan), r"ZAxisConversionConversionLinearScale is nan, not a finite number"),
    (np.float64(-32.0), r"frame period .* is -32.0 ms, not a positive time"),
    (np.array([1.0, 2.0]), r"ZAxisConversionConversionLinearScale is .*not a number"),
    (None, r"records no frame period \(attribute ZAxisConversionConversionLinearScale is missing\)"),
])
def test_garbled_frame_period_is_a_metadata_error_naming_file_and_attribute(mesc, value, message):
    _set(mesc, "ZAxisConversionConversionLinearScale", value)
    with pytest.raises(MetadataError, match=r"unit.mesc: MSession_0/MUnit_0.*" + message):
        _open(mesc)


def test_time_axis_units(mesc):
    _set(mesc, "ZAxisConversionUnitName", mesc_text("\u00b5m"))
    with pytest.raises(MetadataError, match=r"unit.mesc: MSession_0/MUnit_0 is a z-stack.*in \u00b5m"):
        _open(mesc)
    _set(mesc, "ZAxisConversionUnitName", mesc_text("furlong"))
    with pytest.raises(MetadataError, match="'furlong', which is not a time unit"):
        _open(mesc)
    _set(mesc, "ZAxisConversionUnitName", np.array([1.5, 0.0]))
    with pytest.raises(MetadataError, match="ZAxisConversionUnitName is .*not a text"):
        _open(mesc)
    _set(mesc, "ZAxisConversionUnitName", mesc_text("s"))
    _set(mesc, "ZAxisConversionConversionLinearScale", np.float64(0.25))
    assert _open(mesc).get_sampling_frequency() == 4.0
    _set(mesc, "ZAxisConversionUnitName", None)  # no unit: milliseconds, as roiextractors assumes, with a warning
    with pytest.warns(UserWarning, match="unit.mesc: MSession_0/MUnit_0 names no unit .*milliseconds"):
        assert _open(mesc).get_sampling_frequency() == 4000.0


def test_garbled_first_frame_time(mesc):
    _set(mesc, "ZAxisConversionConversionLinearOffset", np.float64(np.inf))
    with pytest.raises(MetadataError, match="unit.mesc.*ZAxisConversionConversionLinearOffset is inf"):
        _open(mesc)


def test_garbled_xml_is_kept_as_text_with_a_warning(mesc):
    _set(mesc, "MeasurementParamsXML", np.bytes_(b"<Task Type='x'><Devices><Gear"))
    ex = _open(mesc)
    np.testing.assert_array_equal(ex.get_series(), MescUnit(frames=6, rows=8, columns=10).pixels(0))
    with pytest.warns(UserWarning, match="unit.mesc: MSession_0/MUnit_0 attribute MeasurementParamsXML is not "
                                         "well-formed XML"):
        meta = ex.get_metadata()
    assert "not well-formed" in meta["xml"]["MeasurementParamsXML"]["error"]
    assert meta["unit_attrs"]["MeasurementParamsXML"] == "<Task Type='x'><Devices><Gear"
    assert ex._get_metadata()["pmt_settings"] == {}


def test_xml_entities_are_refused(mesc):
    bomb = b'<!DOCTYPE t [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><Task Type="&b;"/>'
    _set(mesc, "MeasurementParamsXML", np.bytes_(bomb))
    with pytest.warns(UserWarning, match="declares a document type or entities; refused"):
        meta = _open(mesc).get_metadata()
    assert "refused" in meta["xml"]["MeasurementParamsXML"]["error"]


def test_garbled_channel_name_falls_back_to_the_dataset_name(mesc):
    _set(mesc, "Channel_0_Name", np.array([1.5, 2.5]))
    with pytest.warns(UserWarning, match=r"unit.mesc: MSession_0/MUnit_0: attribute Channel_0_Name is not a text"):
        names = FemtonicsImagingExtractor.get_available_channels(mesc)
    assert names == ["Channel_0", "UR"]
    with pytest.warns(UserWarning, match="Channel_0_Name is not a text"):
        assert FemtonicsImagingExtractor(mesc, channel_name="Channel_0").channel_name == "Channel_0"


def test_repeated_channel_names_fall_back_to_dataset_names(mesc):
    _set(mesc, "Channel_1_Name", mesc_text("UG"))
    with pytest.warns(UserWarning, match=r"channel names \['UG', 'UG'\] repeat"):
        ex = FemtonicsImagingExtractor(mesc, channel_name="Channel_1")
    assert ex.get_channel_names() == ["Channel_0", "Channel_1"]
    np.testing.assert_array_equal(ex.get_series(), MescUnit(frames=6, rows=8, columns=10).pixels(1))


def test_garbled_measurement_date_leaves_the_start_time_out(mesc):
    _set(mesc, "MeasurementDatePosix", np.bytes_(b"yesterday"))
    with _open(mesc) as ex, pytest.warns(UserWarning, match="unit.mesc: MSession_0/MUnit_0: MeasurementDatePosix "
                                                           ".* not a valid time"):
        assert ex.get_acquisition_facts().session_start_time is None
    _set(mesc, "MeasurementDatePosix", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _open(mesc).get_acquisition_facts().session_start_time is None  # not recorded: nothing to say


def test_dims_that_disagree_with_the_data(mesc):
    _set(mesc, "ZDim", np.uint64(9))
    with pytest.warns(UserWarning, match="unit.mesc: MSession_0/MUnit_0: ZDim is 9 but its dataset holds 6 frames"):
        assert _open(mesc).get_num_samples() == 6
    _set(mesc, "ZDim", np.uint64(6))
    _set(mesc, "XDim", np.uint64(8))
    _set(mesc, "YDim", np.uint64(10))  # swapped: the frame is 8 x 10 (rows x columns)
    with pytest.warns(UserWarning, match="frames are 8 x 10 but YDim x XDim is 10 x 8; the pixel sizes cannot"):
        ex = _open(mesc)
    with ex:
        facts = ex.get_acquisition_facts()
    assert facts.pixel_size_um is None and facts.origin_um is None
    _set(mesc, "XDim", np.bytes_(b"ten"))
    with pytest.warns(UserWarning, match="attribute XDim is .*not a number"):
        assert _open(mesc).get_acquisition_facts().pixel_size_um is None


def test_chunks_never_written_are_an_error_not_zeros(mesc):
    with h5py.File(mesc, "r+") as f:
        good = f[f"{UNIT}/Channel_0"][()]
        del f[f"{UNIT}/Channel_0"]
        dset = f.create_dataset(f"{UNIT}/Channel_0", shape=good.shape, dtype=good.dtype, chunks=(1, 8, 10),
                                compression="gzip")
        dset[:3] = good[:3]  # the acquisition stopped: frames 3.. were never written
    ex = _open(mesc)
    np.testing.assert_array_equal(ex.get_series(0, 3), good[:3])
    with pytest.raises(CorruptFileError, match=r"unit.mesc: dataset MSession_0/MUnit_0/Channel_0 has 3 of its 6 "
                                               r"chunks stored; samples 3:4 were never written"):
        ex.get_series()


def test_external_link_out_of_the_folder_is_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    other = write_femtonics(outside / "other.mesc", [[MescUnit(frames=2, rows=3, columns=4)]])
    inside = tmp_path / "data"
    inside.mkdir()
    path = write_femtonics(inside / "linked.mesc", [[MescUnit(frames=2, rows=3, columns=4)]])
    with h5py.File(path, "r+") as f:
        del f[f"{UNIT}/Channel_0"]
        f[f"{UNIT}/Channel_0"] = h5py.ExternalLink(os.fspath(other), f"{UNIT}/Channel_0")
    with pytest.raises(ContainmentError, match="linked.mesc"):
        _open(path)
    shutil.copy(other, inside / "other.mesc")  # inside the dataset's folder it is followed
    with h5py.File(path, "r+") as f:
        del f[f"{UNIT}/Channel_0"]
        f[f"{UNIT}/Channel_0"] = h5py.ExternalLink("other.mesc", f"{UNIT}/Channel_0")
    np.testing.assert_array_equal(_open(path).get_series(), MescUnit(frames=2, rows=3, columns=4).pixels(0))


def test_channel_link_to_a_group_is_a_format_error(mesc):
    with h5py.File(mesc, "r+") as f:
        del f[f"{UNIT}/Channel_0"]
        f[f"{UNIT}/Channel_0"] = h5py.SoftLink("/MSession_0")
    with pytest.raises(FormatError, match="unit.mesc: MSession_0/MUnit_0/Channel_0 is a group, not a dataset"):
        _open(mesc)
    assert FemtonicsImagingExtractor(mesc, channel_name="UR").get_num_samples() == 6
