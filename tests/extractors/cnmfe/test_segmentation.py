"""CNMF-E segmentations: synthetic MAT v7.3 files written as MATLAB saves CNMF-E's results (the Sources2D
struct with sparse or dense A and S, CIAtah's cnmfeAnalysisOutput, one neuron, no C_raw/Cn, the field of view
from Cn), through SegmentationTests against h5py + scipy.sparse reads of the documented layout; a saved
Sources2D object, MAT v5 and malformed files; a conversion to NWB read back and inspected."""

import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse

from ophysio import open_segmentation
from ophysio.errors import FormatError, OphysioError
from ophysio.extractors import CnmfeSegmentationExtractor
from ophysio.extractors.registry import detect_format
from ophysio.testing.segmentation import SegmentationTests
from ophysio.testing.synthetic import write_cnmfe_segmentation

FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-cnmfe-"))


def _once(name: str, **kwargs) -> Path:
    path = FOLDER / f"{name}.mat"
    if not path.exists():
        write_cnmfe_segmentation(path, **kwargs)
    return path


#: case -> (path maker, keywords to open it with)
CASES = {
    "sparse": (lambda: _once("sparse"), {}),
    "dense": (lambda: _once("dense", sparse_a=False, sparse_s=False, struct_name="results", seed=1), {}),
    "ciatah": (lambda: _once("ciatah", layout="ciatah", rows=15, columns=21, cells=4, frames=33, seed=2),
               {"sampling_frequency": 10.0}),
    "bare": (lambda: _once("bare", c_raw=False, cn=False, tags=False, fs=None, seed=3), {"sampling_frequency": 20.0}),
    "one-neuron": (lambda: _once("one", cells=1, rows=12, columns=9, frames=21, seed=4), {}),
    "fov-from-cn": (lambda: _once("from_cn", options=False, sparse_a=False, rows=10, columns=17, seed=5), {}),
}


def _open(case) -> CnmfeSegmentationExtractor:
    make, kwargs = CASES[case]
    return CnmfeSegmentationExtractor(make(), **kwargs)


# ---------------------------------------------------------------------- independent reads of the layout
def _matrix(obj) -> np.ndarray:
    """A MATLAB matrix in MATLAB's orientation: sparse (data, ir, jc = CSC) or dense (stored transposed)."""
    if "MATLAB_sparse" in obj.attrs:
        jc = obj["jc"][()]
        shape = (int(obj.attrs["MATLAB_sparse"]), len(jc) - 1)
        return scipy.sparse.csc_matrix((obj["data"][()], obj["ir"][()], jc), shape=shape).toarray()
    return obj[()].T


def _has(group, key) -> bool:
    return key in group and not group[key].attrs.get("MATLAB_empty", 0)


def _expected(case) -> dict:
    make, kwargs = CASES[case]
    with h5py.File(make(), "r") as f:
        name = next(n for n in f if not n.startswith("#"))
        s = f[name]
        if "extractedImages" in s:  # CIAtah: d1 x d2 x K footprints, C, C_raw, S
            dense = s["extractedImages"][()].T
            keys = {"denoised": "extractedSignals", "raw": "extractedSignalsEst", "deconvolved": "extractedPeaks"}
        else:
            if "options" in s and "d1" in s["options"]:
                d1, d2 = int(s["options/d1"][()].ravel()[0]), int(s["options/d2"][()].ravel()[0])
            else:
                d2, d1 = s["Cn"].shape
            a = _matrix(s["A"])  # d x K, pixels column-major
            dense = a.reshape(d1, d2, a.shape[1], order="F")
            keys = {"denoised": "C", "raw": "C_raw", "deconvolved": "S"}
        traces = {ours: _matrix(s[theirs]).T for ours, theirs in keys.items() if _has(s, theirs)}
        images = {"correlation": s["Cn"][()].T} if _has(s, "Cn") else {}
        rate = kwargs.get("sampling_frequency")
        if rate is None:
            rate = float(s["Fs"][()].ravel()[0])
        properties = {"tags": s["tags"][()].ravel()} if _has(s, "tags") else {}
    k = dense.shape[2]
    masks = []
    for i in range(k):
        r, c = np.nonzero(dense[:, :, i])
        masks.append(np.column_stack([r, c, dense[r, c, i]]))
    return {"dense": dense, "masks": masks, "traces": traces, "images": images, "ids": list(range(k)),
            "rate": rate, "properties": properties}


class TestCnmfeSegmentation(SegmentationTests):
    cases = list(CASES)

    def make_extractor(self, case):
        return _open(case)

    def make_shrinkable(self, case, tmp_path):
        make, kwargs = CASES[case]
        copy = tmp_path / "copy.mat"
        shutil.copyfile(make(), copy)
        return CnmfeSegmentationExtractor(copy, **kwargs), [copy]

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
        return _expected(case)["ids"]  # CNMF-E deletes the neurons it rejects

    def expected_rejected(self, case):
        return []

    def expected_properties(self, case):
        return _expected(case)["properties"]

    def expected_sampling_frequency(self, case):
        return _expected(case)["rate"]


# ---------------------------------------------------------------------- what is special to CNMF-E
def test_layouts_mask_forms_and_detection():
    with _open("sparse") as ex:
        assert ex.layout == "cnmfe" and ex.struct_name == "neuron_results" and ex.native_mask_type == "pixel"
        assert ex.get_trace_names() == ["raw", "deconvolved", "denoised"]
        assert ex.get_metadata()["options"]["gSig"] == 3.0 and ex.get_metadata()["Fs"] == 15.0
        assert ex.get_acquisition_facts().software == "CNMF-E"
    with _open("dense") as ex:
        assert ex.struct_name == "results" and ex.native_mask_type == "image"
    with _open("ciatah") as ex:
        assert ex.layout == "ciatah" and ex.native_mask_type == "image"
    for case in ("sparse", "ciatah"):
        path = CASES[case][0]()
        assert detect_format(path, kind="segmentation").id == "cnmfe"
        assert type(open_segmentation(path, **CASES[case][1])).__name__ == "CnmfeSegmentationExtractor"


def test_a_sparse_matrix_of_zeros_reads_as_zeros(tmp_path):
    import scipy.sparse

    from ophysio.testing.synthetic import write_mat_v73_tree

    path = tmp_path / "silent.mat"
    write_cnmfe_segmentation(path, cells=3, frames=20)
    with h5py.File(path, "r") as f:
        a = _matrix(f["neuron_results/A"])
        c = f["neuron_results/C"][()].T  # MATLAB K x T
    write_mat_v73_tree(path, {"neuron_results": {"A": scipy.sparse.csc_matrix(a), "C": c,
                                                  "S": scipy.sparse.csc_matrix((3, 20)), "Fs": 5.0,
                                                  "options": {"d1": 18.0, "d2": 26.0}}})
    with h5py.File(path, "r") as f:
        assert sorted(f["neuron_results/S"]) == ["jc"]  # no data, no ir
    with CnmfeSegmentationExtractor(path) as ex:
        np.testing.assert_array_equal(ex.get_traces(name="deconvolved"), np.zeros((20, 3)))
        np.testing.assert_array_equal(ex.get_traces(name="denoised"), c.T)


def test_an_unset_rate_is_unknown_until_given():
    from ophysio.errors import RateUnknownError

    with CnmfeSegmentationExtractor(CASES["bare"][0]()) as ex:
        assert ex.get_sampling_frequency() is None
        with pytest.raises(RateUnknownError, match="Fs is NaN"):
            ex.get_timestamps()


def test_a_saved_sources2d_object_says_how_to_save_a_struct(tmp_path):
    path = write_cnmfe_segmentation(tmp_path / "workspace.mat", layout="object")
    assert detect_format(path, kind="segmentation").id == "cnmfe"
    with pytest.raises(FormatError, match="Sources2D.*obj2struct"):
        open_segmentation(path)


def _copy_and(tmp_path, case, edit) -> Path:
    copy = tmp_path / "bad.mat"
    shutil.copyfile(CASES[case][0](), copy)
    with h5py.File(copy, "r+") as f:
        edit(f["neuron_results"] if "neuron_results" in f else f["results"])
    return copy


def _replace(group, name, data):
    del group[name]
    group.create_dataset(name, data=data)


@pytest.mark.parametrize("case, edit, message", [
    ("sparse", lambda s: s["options/d1"].write_direct(np.array([[7.0]])), "pixels"),
    ("sparse", lambda s: s["A/jc"].write_direct(np.array([0, 5, 3, 9, 12, 15, 99], dtype=np.uint64)),
     "not a consistent MATLAB sparse"),
    ("sparse", lambda s: _replace(s, "C", np.zeros((50, 4))), "4 cells but the footprints 6"),
    ("sparse", lambda s: _replace(s, "C_raw", np.zeros((49, 6))), "50 samples, the other traces 49"),
    ("dense", lambda s: _replace(s, "A", np.zeros((6, 100))), "not pixels"),
    ("dense", lambda s: _replace(s, "Cn", np.zeros((5, 5))), "correlation image"),
    ("sparse", lambda s: s.move("C", "C_old"), "no struct with CNMF-E's A and C"),
])
def test_malformed_files_are_format_errors(tmp_path, case, edit, message):
    path = _copy_and(tmp_path, case, edit)
    with pytest.raises(FormatError, match=message):
        CnmfeSegmentationExtractor(path)


def test_v5_and_other_files_are_refused(tmp_path):
    from ophysio.testing.synthetic import write_mat_v5, write_mat_v73

    with pytest.raises(FormatError, match="v7.3"):
        CnmfeSegmentationExtractor(write_mat_v5(tmp_path / "old.mat", {"neuron_results": np.zeros((2, 2))}))
    movie = write_mat_v73(tmp_path / "movie.mat")
    assert detect_format(movie).id == "mat"
    with pytest.raises(OphysioError):
        detect_format(movie, kind="segmentation")


def test_a_truncated_file_is_an_error_naming_it(tmp_path):
    copy = tmp_path / "cut.mat"
    data = CASES["sparse"][0]().read_bytes()
    copy.write_bytes(data[: len(data) // 2])
    with pytest.raises(OphysioError, match="cut.mat"):
        ex = CnmfeSegmentationExtractor(copy)
        for name in ex.get_trace_names():
            ex.get_traces(name=name)
        ex.get_roi_pixel_masks()


@pytest.mark.parametrize("case", ["sparse", "ciatah"])
def test_conversion_to_nwb_reads_back_and_passes_the_inspector(tmp_path, case):
    from nwbinspector import Importance, inspect_nwbfile, load_config

    from ophysio.conversion.segmentation_interface import segmentation_interface_from_path

    path, kwargs = CASES[case][0](), CASES[case][1]
    expected = _expected(case)
    user = {"NWBFile": {"session_start_time": "2024-05-01T10:00:00+02:00", "session_description": "a session"},
            "Subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"},
            "Ophys": {"ImagingPlane": [{"excitation_lambda": 470.0, "indicator": "GCaMP6f", "location": "CA1",
                                        "optical_channel": [{"emission_lambda": 510.0}]}]}}
    interface = segmentation_interface_from_path(path, mask_type="image", **kwargs)
    out = interface.run_conversion(tmp_path / "cnmfe.nwb", user)
    ophys = "processing/ophys"
    with h5py.File(out, "r") as f:
        table = f[f"{ophys}/ImageSegmentation/PlaneSegmentation"]
        np.testing.assert_array_equal(table["id"][:], expected["ids"])
        np.testing.assert_allclose(table["image_mask"][:], expected["dense"].transpose(2, 1, 0), rtol=1e-6)
        raw = f[f"{ophys}/Fluorescence/RoiResponseSeries"]
        np.testing.assert_array_equal(raw["data"][:], expected["traces"]["raw"])
        assert raw["starting_time"].attrs["rate"] == expected["rate"]
        np.testing.assert_array_equal(f[f"{ophys}/Fluorescence/Denoised/data"][:], expected["traces"]["denoised"])
        np.testing.assert_array_equal(f[f"{ophys}/Fluorescence/Deconvolved/data"][:],
                                      expected["traces"]["deconvolved"])
        np.testing.assert_array_equal(f[f"{ophys}/SegmentationImages/correlation_image"][:],
                                      expected["images"]["correlation"].T)
    messages = list(inspect_nwbfile(nwbfile_path=str(out), config=load_config("dandi")))
    bad = [m for m in messages if m.importance in (Importance.ERROR, Importance.CRITICAL,
                                                   Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], [(m.check_function_name, m.object_name, m.message) for m in bad]
