"""Inscopix cell sets: the real IDPS cell set and synthetic ones (dropped, cropped and blank samples, every
status, an old file version without CellActivity, no cells) through SegmentationTests against a numpy read
of isxcore's CellSetFile layout (tests/extractors/inscopix/reference.py); side by side with Inscopix's own
``isx`` where it is installed; lazy reads; damaged files; detection; a conversion to NWB read back."""

import json
import os
import shutil
import struct
import tempfile
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pytest

from ophysio import open_imaging, open_segmentation
from ophysio._synth.inscopix import write_isxd, write_isxd_cellset
from ophysio.errors import CorruptFileError, FormatError, UnknownFormatError
from ophysio.extractors import InscopixImagingExtractor, InscopixSegmentationExtractor
from ophysio.extractors.registry import detect_format, read_head
from ophysio.testing.data import sample_file
from ophysio.testing.segmentation import SegmentationTests

from . import reference

FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-inscopix-cellset-"))


def _real() -> Path:
    return sample_file("segmentation/inscopix/cellset.isxd")


def _once(name: str, **kwargs) -> Path:
    path = FOLDER / name
    if not path.exists():
        write_isxd_cellset(path, **kwargs)
    return path


def _synthetic() -> Path:
    return _once("synthetic.isxd", cells=7, num_times=40, rows=13, columns=17, dropped=(3, 20), cropped=("8 - 10",),
                 blank=(31,), statuses=[0, 1, 2, 2, 1, 0, 0], seed=3)


def _old_version() -> Path:
    return _once("version0.isxd", cells=3, num_times=25, rows=9, columns=6, file_version=0, statuses=[2, 0, 1],
                 period=(1, 20), seed=4)


def _empty() -> Path:
    return _once("empty.isxd", images=np.zeros((0, 8, 5), dtype=np.float32), traces=np.zeros((0, 12)))


CASES = {"real": _real, "synthetic": _synthetic, "version0": _old_version, "no-cells": _empty}


def _expected(case: str) -> dict:
    return reference.cell_set(CASES[case]())


class TestInscopixSegmentation(SegmentationTests):
    cases = list(CASES)

    def make_extractor(self, case):
        return InscopixSegmentationExtractor(CASES[case]())

    def make_shrinkable(self, case, tmp_path):
        copy = tmp_path / "copy.isxd"
        shutil.copyfile(CASES[case](), copy)
        return InscopixSegmentationExtractor(copy), [copy]

    def expected_roi_ids(self, case):
        return list(range(len(_expected(case)["names"])))

    def expected_image_masks(self, case):
        return np.moveaxis(_expected(case)["images"], 0, -1)

    def expected_traces(self, case):
        return {"raw": np.ascontiguousarray(_expected(case)["traces"].T)}

    def expected_images(self, case):
        return {}

    def expected_accepted(self, case):
        return [k for k, s in enumerate(_expected(case)["statuses"]) if s == "accepted"]

    def expected_rejected(self, case):
        return [k for k, s in enumerate(_expected(case)["statuses"]) if s == "rejected"]

    def expected_properties(self, case):
        expected = _expected(case)
        properties = {"status": np.array(expected["statuses"], dtype=str),
                      "cell_name": np.array(expected["names"], dtype=str)}
        if expected["activity"] is not None:
            properties["is_active"] = np.array(expected["activity"], dtype=bool)
        return properties

    def expected_sampling_frequency(self, case):
        return float(1 / _expected(case)["period"])

    def expected_timestamps(self, case):
        expected = _expected(case)
        return np.arange(expected["num_times"]) * float(expected["period"])


# ---------------------------------------------------------------------- the real cell set
def test_the_real_cell_set_facts():
    path = _real()
    header, _ = reference.footer(path)
    with InscopixSegmentationExtractor(path) as seg:
        assert seg.get_image_shape() == (366, 398) and seg.get_num_rois() == 4 and seg.get_num_samples() == 5444
        assert seg.get_cell_names() == ["C0", "C1", "C2", "C3"]
        assert list(seg.get_property("status")) == ["accepted", "accepted", "accepted", "rejected"]
        assert seg.get_trace_names() == ["raw"] and seg.native_mask_type == "image"
        assert seg.get_metadata() == header
        assert seg.channel_name == "green"  # idps.channel: the channel the cells were extracted from
        facts = seg.get_acquisition_facts()
        start = Fraction(header["timingInfo"]["start"]["secsSinceEpoch"]["num"],
                         header["timingInfo"]["start"]["secsSinceEpoch"]["den"])
        assert facts.session_start_time.timestamp() == pytest.approx(float(start), abs=1e-6)
        assert facts.device_name == "Inscopix NVista3" and facts.manufacturer == "Inscopix"
        assert facts.software == "Inscopix AcquisitionSW" and facts.software_version == "1.5.2"
        assert facts.pixel_size_um is None  # no calibrated lens ("None"): spacingInfo's 6 um is the sensor pitch
        assert facts.frame_rate_hz == pytest.approx(1e6 / 100013)
    assert detect_format(path, kind="segmentation").id == "inscopix"
    assert type(open_segmentation(path)) is InscopixSegmentationExtractor


def test_undecided_cells_are_neither_accepted_nor_rejected():
    with InscopixSegmentationExtractor(_synthetic()) as seg:
        status = list(seg.get_property("status"))
        undecided = [k for k, s in enumerate(status) if s == "undecided"]
        assert undecided == [1, 4]
        assert not set(undecided) & (set(seg.get_accepted_list()) | set(seg.get_rejected_list()))
        assert seg.get_accepted_list() == [0, 5, 6] and seg.get_rejected_list() == [2, 3]


def test_dropped_cropped_and_blank_samples_are_nan_on_the_time_grid():
    with InscopixSegmentationExtractor(_synthetic()) as seg:
        traces = seg.get_traces()
        assert traces.shape == (40, 7)
        missing = np.flatnonzero(np.isnan(traces).all(axis=1))
        np.testing.assert_array_equal(missing, [3, 8, 9, 10, 20, 31])
        assert not np.isnan(np.delete(traces, missing, axis=0)).any()
        np.testing.assert_allclose(seg.get_timestamps(), np.arange(40) * 0.05)  # gaps stay on the grid


def test_a_time_slice_of_a_few_cells_reads_only_their_bytes(monkeypatch):
    path = _real()
    seg = InscopixSegmentationExtractor(path)
    read: list[int] = []
    original = os.preadv

    def counting(fd, buffers, offset, *args):
        got = original(fd, buffers, offset, *args)
        read.append(got)
        return got

    monkeypatch.setattr(os, "preadv", counting)
    values = seg.get_traces([3, 1], 100, 150)
    assert sum(read) == 2 * 50 * 4
    expected = reference.cell_set(path)["traces"]
    np.testing.assert_array_equal(values, expected[[3, 1], 100:150].T)
    read.clear()
    seg.get_roi_image_masks([2])
    assert sum(read) == 366 * 398 * 4
    seg.close()


# ---------------------------------------------------------------------- detection and the movie reader
def test_a_cell_set_is_segmentation_and_a_movie_is_imaging(tmp_path):
    from ophysio.extractors.inscopix.sniff import sniff_isxd_cellset

    cells = _real()
    with pytest.raises(FormatError, match="open_segmentation") as info:
        open_imaging(cells)
    assert "cellset.isxd" in str(info.value)
    with pytest.raises(FormatError, match="open_segmentation"):
        InscopixImagingExtractor(cells)
    movie = write_isxd(tmp_path / "movie.isxd", num_times=4, rows=3, columns=5)
    assert sniff_isxd_cellset(movie, read_head(movie)) is not True
    assert sniff_isxd_cellset(cells, read_head(cells)) is True
    with pytest.raises(UnknownFormatError):
        detect_format(movie, kind="segmentation")
    with pytest.raises(FormatError, match="open_imaging"):
        InscopixSegmentationExtractor(movie)


# ---------------------------------------------------------------------- damaged files
def _split(path: Path) -> tuple[bytes, dict]:
    data = path.read_bytes()
    length = struct.unpack("<Q", data[-8:])[0]
    return data[: len(data) - 9 - length], json.loads(data[len(data) - 9 - length : len(data) - 9])


def _join(path: Path, data: bytes, header: dict) -> Path:
    text = json.dumps(header, indent=4, sort_keys=True).encode()
    path.write_bytes(data + text + b"\0" + struct.pack("<Q", len(text)))
    return path


def _edited(tmp_path: Path, edit) -> Path:
    data, header = _split(_synthetic())
    result = edit(data, header)  # edits the header in place, or gives new (data, header)
    if isinstance(result, tuple):
        data, header = result
    return _join(tmp_path / "edited.isxd", data, header)


@pytest.mark.parametrize("edit, error, words", [
    (lambda d, h: h["timingInfo"].__setitem__("numTimes", 41), CorruptFileError, "bytes come before the footer"),
    (lambda d, h: h["spacingInfo"]["numPixels"].__setitem__("x", 16), CorruptFileError, "7 cells"),
    (lambda d, h: [h[key].append(value) for key, value in (("CellNames", "C7"), ("CellStatuses", 0),
                                                           ("CellActivity", True), ("CellColors", 1))],
     CorruptFileError, "8 cells"),
    (lambda d, h: h["CellNames"].append("C7"), FormatError, "8 cell names but 7 CellStatuses"),
    (lambda d, h: (d[:-4], h), CorruptFileError, "truncated"),
    (lambda d, h: (d + b"\0" * 4, h), CorruptFileError, "bytes come before the footer"),
    (lambda d, h: h["CellStatuses"].pop(), FormatError, "CellStatuses"),
    (lambda d, h: h["CellStatuses"].__setitem__(0, 7), FormatError, "status codes"),
    (lambda d, h: h["CellActivity"].pop(), FormatError, "CellActivity"),
    (lambda d, h: h.pop("CellNames"), FormatError, "no CellNames"),
    (lambda d, h: h["spacingInfo"].pop("numPixels"), FormatError, "numPixels"),
    (lambda d, h: h["spacingInfo"]["numPixels"].__setitem__("y", -3), FormatError, "numPixels"),
    (lambda d, h: h.__setitem__("dataType", "uint16"), FormatError, "dataType"),
    (lambda d, h: h["timingInfo"].__setitem__("period", {"num": 0, "den": 1}), FormatError, "period"),
    (lambda d, h: h["timingInfo"].pop("numTimes"), FormatError, "numTimes"),
    (lambda d, h: h["timingInfo"].__setitem__("numTimes", 10 ** 15), CorruptFileError, "before the footer"),
])
def test_a_footer_that_does_not_describe_the_data_is_a_format_error(tmp_path, edit, error, words):
    path = _edited(tmp_path, edit)
    with pytest.raises(error, match=words) as info:
        InscopixSegmentationExtractor(path)
    assert "edited.isxd" in str(info.value)


def test_a_truncated_file_is_an_error_naming_it(tmp_path):
    data = _real().read_bytes()
    for size in (len(data) // 2, len(data) - 5, 7):
        cut = tmp_path / "cut.isxd"
        cut.write_bytes(data[:size])
        with pytest.raises(CorruptFileError, match="cut.isxd"):
            InscopixSegmentationExtractor(cut)


def test_cut_short_while_open_is_an_error_not_zeros(tmp_path):
    path = shutil.copyfile(_real(), tmp_path / "c.isxd")
    seg = InscopixSegmentationExtractor(path)
    expected = reference.cell_set(_real())
    with open(path, "r+b") as fh:
        fh.truncate(600_000)  # inside the trace of cell 0
    with pytest.raises(CorruptFileError, match="c.isxd"):
        seg.get_traces([0])
    with pytest.raises(CorruptFileError, match="c.isxd"):
        seg.get_roi_image_masks([3])
    np.testing.assert_array_equal(seg.get_roi_image_masks([0])[..., 0], expected["images"][0])
    seg.close()


# ---------------------------------------------------------------------- NWB
def test_conversion_to_nwb_reads_back(tmp_path):
    from ophysio.conversion.segmentation_interface import segmentation_interface_from_path

    path = _real()
    expected = reference.cell_set(path)
    user = {"NWBFile": {"session_description": "a session"},
            "Subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "M", "age": "P90D"},
            "Ophys": {"ImagingPlane": [{"excitation_lambda": 475.0, "indicator": "GCaMP6f", "location": "CA1",
                                        "optical_channel": [{"emission_lambda": 520.0}]}]}}
    out = segmentation_interface_from_path(path).run_conversion(tmp_path / "cellset.nwb", user)
    ophys = "processing/ophys"
    with h5py.File(out, "r") as f:
        assert f["session_start_time"][()].decode().startswith("2021-04-01T12:03:53.290011")
        table = f[f"{ophys}/ImageSegmentation/PlaneSegmentation"]
        np.testing.assert_array_equal(table["id"][:], [0, 1, 2, 3])
        masks = table["image_mask"][:]  # (ROI, x = column, y = row)
        np.testing.assert_array_equal(masks, np.swapaxes(expected["images"], 1, 2))
        np.testing.assert_array_equal(table["Accepted"][:], [True, True, True, False])
        np.testing.assert_array_equal(table["Rejected"][:], [False, False, False, True])
        assert [s.decode() for s in table["status"][:]] == expected["statuses"]
        assert [s.decode() for s in table["cell_name"][:]] == expected["names"]
        raw = f[f"{ophys}/Fluorescence/RoiResponseSeries"]
        np.testing.assert_array_equal(raw["data"][:], expected["traces"].T)
        assert raw["starting_time"].attrs["rate"] == pytest.approx(1e6 / 100013)
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        series = nwb.processing["ophys"]["Fluorescence"]["RoiResponseSeries"]
        assert series.data.shape == (5444, 4)
    from nwbinspector import Importance, inspect_nwbfile, load_config

    messages = list(inspect_nwbfile(nwbfile_path=str(out), config=load_config("dandi")))
    bad = [m for m in messages if m.importance in (Importance.ERROR, Importance.CRITICAL,
                                                   Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], [(m.check_function_name, m.object_name, m.message) for m in bad]


# ---------------------------------------------------------------------- side by side with isx, where it installs
@pytest.fixture
def isx():
    return pytest.importorskip("isx", reason="the isx package (Inscopix's reader) is not installed here")


def _isx_written(isx, path: Path) -> Path:
    """A cell set written by isx itself, with dropped and cropped samples and every status."""
    if path.exists():
        path.unlink()
    timing = isx.Timing(num_samples=16, period=isx.Duration.from_msecs(40), dropped=[2], cropped=[[5, 7]])
    writer = isx.CellSet.write(str(path), timing, isx.Spacing(num_pixels=(6, 9)))
    rng = np.random.default_rng(7)
    for k in range(4):
        writer.set_cell_data(k, rng.random((6, 9)).astype(np.float32), rng.random(16).astype(np.float32), f"cell{k}")
    writer.set_cell_status(0, "accepted")
    writer.set_cell_status(2, "rejected")
    writer.flush()
    return path


@pytest.mark.parametrize("case", ["real", "synthetic", "version0", "isx-written"])
def test_as_isx_reads_it(isx, case, tmp_path):
    path = _isx_written(isx, tmp_path / "isx.isxd") if case == "isx-written" else CASES[case]()
    cells = isx.CellSet.read(str(path))
    with InscopixSegmentationExtractor(path) as seg:
        n = cells.num_cells
        assert seg.get_num_rois() == n and seg.get_roi_ids() == list(range(n))
        assert seg.get_cell_names() == [cells.get_cell_name(k) for k in range(n)]
        statuses = [cells.get_cell_status(k) for k in range(n)]
        assert list(seg.get_property("status")) == statuses
        assert seg.get_accepted_list() == [k for k, s in enumerate(statuses) if s == "accepted"]
        assert seg.get_rejected_list() == [k for k, s in enumerate(statuses) if s == "rejected"]
        assert seg.get_image_shape() == tuple(cells.spacing.num_pixels)
        assert seg.get_num_samples() == cells.timing.num_samples
        assert seg.get_sampling_frequency() == pytest.approx(1 / cells.timing.period.secs_float, rel=1e-12)
        offsets = np.array([o.secs_float for o in cells.timing.get_offsets_since_start()])
        np.testing.assert_allclose(seg.get_timestamps(), offsets, atol=1e-9)
        images, traces = seg.get_roi_image_masks(), seg.get_traces()
        for k in range(n):
            np.testing.assert_array_equal(images[..., k], cells.get_cell_image_data(k))
            np.testing.assert_array_equal(traces[:, k], cells.get_cell_trace_data(k))
        start = seg.get_acquisition_facts().session_start_time
        assert start.replace(tzinfo=None) == cells.timing.start.to_datetime()


def test_a_footer_whose_keys_are_not_sorted_is_still_a_cell_set(tmp_path):
    from ophysio.extractors.inscopix.sniff import sniff_isxd_cellset

    data, header = _split(_synthetic())
    ordered = {"type": header.pop("type"), **header}  # "type" first, not last
    text = json.dumps(ordered).encode()
    path = tmp_path / "unsorted.isxd"
    path.write_bytes(data + text + b"\0" + struct.pack("<Q", len(text)))
    assert sniff_isxd_cellset(path, read_head(path)) is True
    with open_segmentation(path) as seg:
        np.testing.assert_array_equal(seg.get_traces(), reference.cell_set(_synthetic())["traces"].T)
    ordered["type"] = 0
    text = json.dumps(ordered).encode()
    path.write_bytes(data + text + b"\0" + struct.pack("<Q", len(text)))
    assert "type 0" in sniff_isxd_cellset(path, read_head(path))
