"""EXTRACT segmentations: the real EXTRACT 1.1.0 output and synthetic files of both layouts (EXTRACT's
``output``, CIAtah's ``extractAnalysisOutput``; rejected cells, one cell, no images), through SegmentationTests
against h5py reads of the documented MAT v7.3 layout; orientation checked on the real file; a conversion to
NWB read back and inspected; damaged and malformed files."""

import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from ophysio import open_segmentation
from ophysio.errors import FormatError, OphysioError
from ophysio.extractors import ExtractSegmentationExtractor
from ophysio.extractors.registry import detect_format
from ophysio.testing.data import sample_file
from ophysio.testing.segmentation import SegmentationTests
from ophysio.testing.synthetic import write_extract_segmentation

FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-extract-"))


def _real() -> Path:
    return sample_file("segmentation/extract/extract_public_output.mat")


def _once(name: str, **kwargs) -> Path:
    path = FOLDER / f"{name}.mat"
    if not path.exists():
        write_extract_segmentation(path, **kwargs)
    return path


#: case -> (path maker, keywords to open it with)
CASES = {
    "real": (_real, {"sampling_frequency": 20.0}),
    "new": (lambda: _once("new", bad=(1, 3)), {"sampling_frequency": 12.5}),
    "legacy": (lambda: _once("legacy", layout="legacy", bad=(0,), total_time=6.0), {}),
    "legacy-named": (lambda: _once("named", layout="legacy", struct_name="myRun", preprocess=False, images=False,
                                   rows=9, columns=31, cells=3, frames=17, seed=4), {"sampling_frequency": 7.0}),
    "one-cell": (lambda: _once("one", cells=1, rows=11, columns=13, frames=30, seed=2), {"sampling_frequency": 5.0}),
    "no-cells": (lambda: _once("none", cells=0, rows=8, columns=6, frames=12), {"sampling_frequency": 5.0}),
}


def _open(case) -> ExtractSegmentationExtractor:
    make, kwargs = CASES[case]
    return ExtractSegmentationExtractor(make(), **kwargs)


# ---------------------------------------------------------------------- independent reads of the layout
def _struct(f: h5py.File) -> tuple[str, bool]:
    for name in f:
        if name.startswith("#") or not isinstance(f[name], h5py.Group):
            continue
        if "spatial_weights" in f[name] and "temporal_weights" in f[name]:
            return name, True
        if "filters" in f[name] and "traces" in f[name]:
            return name, False
    raise AssertionError("no EXTRACT struct")


def _expected(case) -> dict:
    make, kwargs = CASES[case]
    with h5py.File(make(), "r") as f:
        name, new = _struct(f)
        s = f[name]
        footprints, trace = s["spatial_weights" if new else "filters"], s["temporal_weights" if new else "traces"]
        if footprints.attrs.get("MATLAB_empty"):  # no cells: MATLAB stores the empty arrays' sizes
            dense = np.zeros(tuple(footprints[()]))
            traces = np.zeros((int(trace[()][0 if new else 1]), 0))
        else:
            stored = footprints[()]
            # MATLAB h x w x K is stored (K, w, h); one cell (h x w) is stored (w, h)
            dense = stored.T if stored.ndim == 3 else stored.T[:, :, np.newaxis]
            # new: temporal_weights T x K stored (K, T); legacy: traces K x T stored (T, K)
            traces = trace[()].T if new else trace[()]
        preprocess = "config" in s and "preprocess" in s["config"] and bool(s["config/preprocess"][()].ravel()[0])
        images = {}
        for ours, theirs in (("summary", "summary_image"), ("max", "max_image"), ("baseline", "F_per_pixel")):
            if f"info/{theirs}" in s:
                images[ours] = s[f"info/{theirs}"][()].T
        k = dense.shape[2]
        bad = s["info/cellcheck/is_bad"][()].ravel() if "info/cellcheck/is_bad" in s else np.zeros(k)
        rate = kwargs.get("sampling_frequency")
        if rate is None and "time/totalTime" in s:
            rate = traces.shape[0] / float(s["time/totalTime"][()].ravel()[0])
    masks = []
    for i in range(k):
        r, c = np.nonzero(dense[:, :, i])
        masks.append(np.column_stack([r, c, dense[r, c, i]]))
    ids = list(range(k))
    return {"dense": dense, "masks": masks, "traces": {"dff" if preprocess else "raw": traces}, "images": images,
            "rejected": [i for i in ids if bad[i]], "accepted": [i for i in ids if not bad[i]], "ids": ids,
            "rate": rate}


class TestExtractSegmentation(SegmentationTests):
    cases = list(CASES)

    def make_extractor(self, case):
        return _open(case)

    def make_shrinkable(self, case, tmp_path):
        make, kwargs = CASES[case]
        copy = tmp_path / "copy.mat"
        shutil.copyfile(make(), copy)
        return ExtractSegmentationExtractor(copy, **kwargs), [copy]

    def expected_roi_ids(self, case):
        return _expected(case)["ids"]

    def expected_pixel_masks(self, case):
        return _expected(case)["masks"]

    def expected_image_masks(self, case):
        return _expected(case)["dense"]

    def expected_traces(self, case):
        return _expected(case)["traces"]

    def expected_images(self, case):
        return _expected(case)["images"]

    def expected_accepted(self, case):
        return _expected(case)["accepted"]

    def expected_rejected(self, case):
        return _expected(case)["rejected"]

    def expected_sampling_frequency(self, case):
        return _expected(case)["rate"]


# ---------------------------------------------------------------------- what is special to EXTRACT
def test_the_real_run_facts_and_orientation():
    path = _real()
    with ExtractSegmentationExtractor(path, 20.0) as ex:
        assert ex.get_image_shape() == (50, 50) and ex.get_num_rois() == 20 and ex.get_num_samples() == 2000
        assert ex.layout == "new" and ex.output_struct_name == "output" and ex.native_mask_type == "image"
        assert ex.get_trace_names() == ["dff"]  # config.preprocess is on: EXTRACT's traces are in dF/F
        assert ex.image_fields == {"summary": "summary_image", "max": "max_image", "baseline": "F_per_pixel"}
        facts = ex.get_acquisition_facts()
        assert facts.software == "EXTRACT" and facts.software_version == "1.1.0"
        meta = ex.get_metadata()
        assert meta["config"]["avg_cell_radius"] == 7.0 and meta["config"]["trace_output_option"] == "raw"
        assert meta["config"]["thresholds"]["T_min_snr"] == 5.0 and meta["config"]["is_pixel_valid"] == []
        assert meta["info"]["version"] == "1.1.0"
        masks = ex.get_roi_image_masks()
        images = ex.get_images_dict()
        with h5py.File(path, "r") as f:
            # where cell finding found each cell (MATLAB 2 x K, 1-based [row; column]): an orientation fixed
            # independently of the footprints' storage
            found = f["output/info/summary/init_summary/max_locations"][()] - 1
    peaks = np.array([np.unravel_index(np.argmax(masks[:, :, k]), masks.shape[:2]) for k in range(20)])
    assert np.median(np.hypot(*(peaks - found).T)) < 3
    assert np.median(np.hypot(*(peaks - found[:, ::-1]).T)) > 8  # the transposed reading would be far off
    # the images in the same orientation as the masks: both bright where the cells are
    support = masks.max(axis=2)
    for name in ("summary", "max"):
        straight = np.corrcoef(images[name].ravel(), support.ravel())[0, 1]
        transposed = np.corrcoef(images[name].T.ravel(), support.ravel())[0, 1]
        assert straight > 0.8 and straight > transposed + 0.3, name
    assert detect_format(path, kind="segmentation").id == "extract"
    assert type(open_segmentation(path)).__name__ == "ExtractSegmentationExtractor"


def test_the_rate_is_given_or_from_the_legacy_total_time_else_unknown():
    from ophysio.errors import RateUnknownError

    with ExtractSegmentationExtractor(_real()) as ex:  # the conformance cases have rates (their views time)
        assert ex.get_sampling_frequency() is None
        with pytest.raises(RateUnknownError, match="sampling_frequency"):
            ex.get_timestamps()
    with _open("legacy") as ex:
        assert ex.get_sampling_frequency() == pytest.approx(60 / 6.0)
    with ExtractSegmentationExtractor(CASES["legacy"][0](), sampling_frequency=30.0) as ex:
        assert ex.get_sampling_frequency() == 30.0


def test_the_struct_is_found_by_name_or_fields():
    path = CASES["legacy-named"][0]()
    with ExtractSegmentationExtractor(path, 7.0) as ex:
        assert ex.output_struct_name == "myRun" and ex.layout == "legacy" and ex.get_trace_names() == ["raw"]
    with ExtractSegmentationExtractor(path, 7.0, output_struct_name="myRun") as ex:
        assert ex.get_num_rois() == 3
    with pytest.raises(FormatError, match="no struct named 'output'"):
        ExtractSegmentationExtractor(path, 7.0, output_struct_name="output")


def _copy_and(tmp_path, case, edit) -> Path:
    copy = tmp_path / "bad.mat"
    shutil.copyfile(CASES[case][0](), copy)
    with h5py.File(copy, "r+") as f:
        edit(f)
    return copy


@pytest.mark.parametrize("edit, message", [
    (lambda f: f["output"].move("temporal_weights", "tw"), "spatial_weights and temporal_weights"),
    (lambda f: (f["output"].__delitem__("temporal_weights"),
                f["output"].create_dataset("temporal_weights", data=np.zeros((4, 60), np.float32))),
     "4 cells but the footprints 5"),
    (lambda f: (f["output/info"].__delitem__("max_image"),
                f["output/info"].create_dataset("max_image", data=np.zeros((24, 20)))), "max image"),
    (lambda f: (f["output"].__delitem__("spatial_weights"),
                f["output"].create_dataset("spatial_weights", data=np.zeros((2, 3, 4, 5), np.float32))),
     "4 dimensions"),
    (lambda f: (f["output"].__delitem__("temporal_weights"), f["output"].create_group("temporal_weights")),
     "temporal_weights"),
])
def test_malformed_files_are_format_errors(tmp_path, edit, message):
    path = _copy_and(tmp_path, "new", edit)
    with pytest.raises(FormatError, match=message):
        ExtractSegmentationExtractor(path, 10.0, output_struct_name="output")


def test_other_mat_files_are_not_extract(tmp_path):
    from ophysio.testing.synthetic import write_mat_v5, write_mat_v73

    movie = write_mat_v73(tmp_path / "movie.mat")
    assert detect_format(movie).id == "mat"  # the movie stays a mat movie
    with pytest.raises(OphysioError):
        detect_format(movie, kind="segmentation")
    with pytest.raises(FormatError, match="v7.3"):
        ExtractSegmentationExtractor(write_mat_v5(tmp_path / "old.mat"), 10.0)
    text = tmp_path / "notes.mat"
    text.write_text("not a MAT-file")
    with pytest.raises(FormatError, match="not a MATLAB v7.3"):
        ExtractSegmentationExtractor(text, 10.0)


def test_a_truncated_file_is_an_error_naming_it(tmp_path):
    copy = tmp_path / "cut.mat"
    data = _real().read_bytes()
    copy.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(OphysioError, match="cut.mat"):
        ex = ExtractSegmentationExtractor(copy, 10.0)
        ex.get_traces(name="dff")
        ex.get_roi_image_masks()


def test_conversion_to_nwb_reads_back_and_passes_the_inspector(tmp_path):
    from nwbinspector import Importance, inspect_nwbfile, load_config

    from ophysio.conversion.segmentation_interface import segmentation_interface_from_path

    path = _real()
    expected = _expected("real")
    user = {"NWBFile": {"session_start_time": "2024-05-01T10:00:00+02:00", "session_description": "a session"},
            "Subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"},
            "Ophys": {"ImagingPlane": [{"excitation_lambda": 920.0, "indicator": "GCaMP6f", "location": "VISp",
                                        "optical_channel": [{"emission_lambda": 510.0}]}]}}
    interface = segmentation_interface_from_path(path, sampling_frequency=20.0)
    out = interface.run_conversion(tmp_path / "extract.nwb", user)
    ophys = "processing/ophys"
    with h5py.File(out, "r") as f:
        table = f[f"{ophys}/ImageSegmentation/PlaneSegmentation"]
        np.testing.assert_array_equal(table["id"][:], expected["ids"])
        masks = table["image_mask"][:]  # (ROI, x = column, y = row)
        np.testing.assert_array_equal(masks, expected["dense"].transpose(2, 1, 0))
        dff = f[f"{ophys}/DfOverF/DfOverF"]
        np.testing.assert_array_equal(dff["data"][:], expected["traces"]["dff"])
        assert dff["starting_time"].attrs["rate"] == 20.0
        images = f[f"{ophys}/SegmentationImages"]
        np.testing.assert_array_equal(images["max_image"][:], expected["images"]["max"].T)
        np.testing.assert_array_equal(images["summary_image"][:], expected["images"]["summary"].T)
    messages = list(inspect_nwbfile(nwbfile_path=str(out), config=load_config("dandi")))
    bad = [m for m in messages if m.importance in (Importance.ERROR, Importance.CRITICAL,
                                                   Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], [(m.check_function_name, m.object_name, m.message) for m in bad]


def test_the_mat_movie_format_leaves_segmentation_results_to_their_formats(tmp_path):
    from ophysio import open_imaging
    from ophysio.errors import UnknownFormatError
    from ophysio.testing.synthetic import write_cnmfe_segmentation

    cnmfe = write_cnmfe_segmentation(tmp_path / "cnmfe.mat")
    for path, which in ((_real(), "extract"), (CASES["legacy"][0](), "extract"), (cnmfe, "cnmfe")):
        with pytest.raises(UnknownFormatError, match=f"mat: a MAT v7.3 file of {which} results"):
            detect_format(path)
        assert detect_format(path, kind="segmentation").id == which
    with open_imaging(_real(), format="mat", variable="output.spatial_weights") as movie:  # still readable as asked
        assert movie.get_num_samples() == 20


def test_legacy_traces_saved_frames_by_cells_are_read_too(tmp_path):
    """CIAtah's readers accept ``traces`` either way round (K x T or T x K); so does this one, by the cell count
    of ``filters``."""
    from ophysio.testing.synthetic import write_mat_v73_tree

    rng = np.random.default_rng(0)
    filters = rng.random((9, 7, 3)).astype(np.float32)  # h x w x K
    traces = rng.random((40, 3)).astype(np.float32)  # T x K: the other way round
    path = write_mat_v73_tree(tmp_path / "tk.mat", {"extractAnalysisOutput": {
        "filters": filters, "traces": traces, "time": {"totalTime": 4.0}}})
    with ExtractSegmentationExtractor(path) as ex:
        assert ex.get_num_rois() == 3 and ex.get_num_samples() == 40 and ex.get_sampling_frequency() == 10.0
        np.testing.assert_array_equal(ex.get_traces(name="raw"), traces)
        np.testing.assert_array_equal(ex.get_roi_image_masks(), filters)
