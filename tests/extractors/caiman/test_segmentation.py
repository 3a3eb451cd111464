"""CaImAn segmentations: the real CNMF-E run and synthetic files (accepted/rejected lists, quality metrics,
a correlation image, a single background component, no YrA), through SegmentationTests against h5py +
scipy.sparse reads of CaImAn's documented layout; a conversion to NWB read back; damaged files."""

import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse

from ophysio import open_segmentation
from ophysio.errors import CorruptFileError, FormatError, OphysioError
from ophysio.extractors import CaimanSegmentationExtractor
from ophysio.extractors.registry import detect_format
from ophysio.testing.data import sample_file
from ophysio.testing.segmentation import SegmentationTests

FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-caiman-"))


def _real() -> Path:
    return sample_file("segmentation/caiman/caiman_analysis.hdf5")


def _write(path: Path, *, rows=12, cols=9, rois=6, frames=40, backgrounds=1, yra=True, quality=True, cn=True,
           seed=0) -> Path:
    """A CaImAn-like file as CNMF.save writes it (None as the scalar string 'NoneType')."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    dense = np.zeros((rows * cols, rois))
    for k in range(rois):
        pixels = rng.choice(rows * cols, size=int(rng.integers(1, 8)), replace=False)
        dense[pixels, k] = rng.random(len(pixels)) + 0.1
    a = scipy.sparse.csc_matrix(dense)
    none = np.array(b"NoneType", dtype=object)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        est = f.create_group("estimates")
        g = est.create_group("A")
        g["data"], g["indices"], g["indptr"] = a.data, a.indices.astype(np.int32), a.indptr.astype(np.int32)
        g["shape"] = np.array(a.shape, dtype=np.int32)
        est.create_dataset("C", data=rng.random((rois, frames)), chunks=(rois, 8))
        est["S"] = rng.random((rois, frames)).astype(np.float32)
        est["F_dff"] = none
        est["YrA"] = rng.standard_normal((rois, frames)) if yra else none
        if backgrounds == 1:
            est["b"] = rng.random(rows * cols)
            est["f"] = rng.random((1, frames))
        else:
            est["b"], est["f"] = none, none
        if quality:
            est["idx_components"] = np.array([0, 2, 3], dtype=np.int64)
            est["idx_components_bad"] = np.array([1, 4, 5], dtype=np.int64)
            est["SNR_comp"] = rng.random(rois) * 10
            est["r_values"] = rng.random(rois)
            est["cnn_preds"] = none
        else:
            est["idx_components"] = none
        est["Cn"] = rng.random((rows, cols)).astype(np.float32) if cn else none
        data = f.create_group("params/data")
        data["dims"] = np.array([rows, cols], dtype=np.int32)
        data["fr"] = 15.5
        data["caiman_version"] = np.array(b"1.9.0", dtype=object)
        f["params/quality/min_SNR"] = 2.5
    return path


def _synthetic() -> Path:
    return _write(FOLDER / "synthetic.hdf5")


def _bare() -> Path:
    return _write(FOLDER / "bare.hdf5", rows=7, cols=11, rois=3, frames=25, backgrounds=0, yra=False,
                  quality=False, cn=False, seed=1)


# ---------------------------------------------------------------------- independent reads of the layout
def _present(est, key):
    return key in est and est[key].shape != () and est[key].size > 0


def _expected(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        est = f["estimates"]
        rows, cols = (int(v) for v in f["params/data/dims"][()])
        a = scipy.sparse.csc_matrix((est["A/data"][()], est["A/indices"][()], est["A/indptr"][()]),
                                    shape=tuple(est["A/shape"][()]))
        footprints = a.toarray().reshape(rows, cols, -1, order="F")  # the documented Fortran-order pixels
        masks = []
        for k in range(a.shape[1]):
            r, c = np.nonzero(footprints[:, :, k])
            masks.append(np.column_stack([r, c, footprints[r, c, k]]))
        traces = {"denoised": est["C"][()].T, "deconvolved": est["S"][()].T}
        if _present(est, "YrA"):
            traces["raw"] = (est["C"][()] + est["YrA"][()]).T
        if _present(est, "F_dff"):
            traces["dff"] = est["F_dff"][()].T
        if _present(est, "f"):
            traces["background"] = est["f"][()].T
        ids = list(range(a.shape[1]))
        accepted, rejected = ids, []
        if _present(est, "idx_components"):
            accepted = sorted(est["idx_components"][()].tolist())
            rejected = sorted(est["idx_components_bad"][()].tolist())
        properties = {}
        for key, name in (("SNR_comp", "snr"), ("r_values", "r_values")):
            if _present(est, key):
                properties[name] = est[key][()]
        images = {"correlation": est["Cn"][()]} if _present(est, "Cn") else {}
        background = []
        if _present(est, "b"):
            b = est["b"][()].reshape(rows * cols, -1)
            for j in range(b.shape[1]):
                image = b[:, j].reshape(rows, cols, order="F")
                r, c = np.nonzero(image)
                background.append(np.column_stack([r, c, image[r, c]]))
        return {"ids": ids, "masks": masks, "traces": traces, "accepted": accepted, "rejected": rejected,
                "properties": properties, "images": images, "rate": float(f["params/data/fr"][()]),
                "background": background, "shape": (rows, cols)}


CASES = {"real": _real, "synthetic": _synthetic, "bare": _bare}


class TestCaimanSegmentation(SegmentationTests):
    cases = list(CASES)

    def make_extractor(self, case):
        return CaimanSegmentationExtractor(CASES[case]())

    def make_shrinkable(self, case, tmp_path):
        copy = tmp_path / "copy.hdf5"
        shutil.copyfile(CASES[case](), copy)
        return CaimanSegmentationExtractor(copy), [copy]

    def expected_roi_ids(self, case):
        return _expected(CASES[case]())["ids"]

    def expected_pixel_masks(self, case):
        return _expected(CASES[case]())["masks"]

    def expected_traces(self, case):
        return _expected(CASES[case]())["traces"]

    def expected_images(self, case):
        return _expected(CASES[case]())["images"]

    def expected_accepted(self, case):
        return _expected(CASES[case]())["accepted"]

    def expected_rejected(self, case):
        return _expected(CASES[case]())["rejected"]

    def expected_properties(self, case):
        return _expected(CASES[case]())["properties"]

    def expected_sampling_frequency(self, case):
        return _expected(CASES[case]())["rate"]


# ---------------------------------------------------------------------- what is special to CaImAn
def _sorted(mask):
    mask = np.asarray(mask, dtype=np.float64)
    return mask[np.lexsort((mask[:, 1], mask[:, 0]))]


@pytest.mark.parametrize("case", ["real", "synthetic"])
def test_background_is_kept_apart_with_its_masks_and_traces(case):
    expected = _expected(CASES[case]())
    with CaimanSegmentationExtractor(CASES[case]()) as ex:
        assert ex.get_background_ids() == [f"background{i}" for i in range(len(expected["background"]))]
        assert ex.get_num_rois() == len(expected["masks"])  # the background is not among the ROIs
        for got, want in zip(ex.get_background_pixel_masks(), expected["background"]):
            np.testing.assert_array_equal(_sorted(got), _sorted(want))
        np.testing.assert_array_equal(ex.get_traces(ex.get_background_ids(), name="background"),
                                      expected["traces"]["background"])


def test_the_real_run_facts():
    path = _real()
    with h5py.File(path, "r") as f:
        dims = tuple(int(v) for v in f["params/data/dims"][()])
        version = f["params/data/caiman_version"][()].decode()
        n = int(f["estimates/A/shape"][1])
        frames = f["estimates/C"].shape[1]
    with CaimanSegmentationExtractor(path) as ex:
        assert ex.get_image_shape() == dims and ex.get_num_rois() == n and ex.get_num_samples() == frames
        assert ex.get_trace_names() == ["raw", "dff", "deconvolved", "denoised", "background"]
        facts = ex.get_acquisition_facts()
        assert facts.software == "CaImAn" and facts.software_version == version
        params = ex.get_metadata()["params"]
        assert params["data"]["decay_time"] == 0.4 and params["data"]["mmap_C"] is None
        np.testing.assert_array_equal(params["data"]["dims"], dims)
    assert detect_format(path, kind="segmentation").id == "caiman"
    assert type(open_segmentation(path)).__name__ == "CaimanSegmentationExtractor"


def test_other_hdf5_files_are_not_caiman(tmp_path):
    movie = tmp_path / "movie.h5"
    with h5py.File(movie, "w") as f:
        f["mov"] = np.zeros((4, 5, 6), dtype=np.uint16)
        f.create_group("estimates")["C"] = np.zeros((2, 4))  # no A, no params
    assert detect_format(movie).id == "hdf5"
    from ophysio.extractors.caiman.sniff import sniff_caiman
    from ophysio.extractors.registry import read_head

    assert sniff_caiman(movie, read_head(movie)) is not True
    with pytest.raises(OphysioError):
        detect_format(movie, kind="segmentation")


def test_a_truncated_file_is_an_error_naming_it(tmp_path):
    copy = tmp_path / "cut.hdf5"
    data = _real().read_bytes()
    copy.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="cut.hdf5"):
        ex = CaimanSegmentationExtractor(copy)
        for name in ex.get_trace_names():
            ex.get_traces(name=name)


def test_inconsistent_footprints_are_a_format_error(tmp_path):
    path = tmp_path / "bad.hdf5"
    shutil.copyfile(_synthetic(), path)
    with h5py.File(path, "r+") as f:
        f["params/data/dims"][...] = [5, 5]
    with pytest.raises(FormatError, match="bad.hdf5.*pixels"):
        CaimanSegmentationExtractor(path)


def test_conversion_to_nwb_reads_back(tmp_path):
    from ophysio.conversion.segmentation_interface import segmentation_interface_from_path

    path = _real()
    expected = _expected(path)
    user = {"NWBFile": {"session_start_time": "2024-05-01T10:00:00+02:00", "session_description": "a session"},
            "Subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"},
            "Ophys": {"ImagingPlane": [{"excitation_lambda": 920.0, "indicator": "GCaMP6f", "location": "VISp",
                                        "optical_channel": [{"emission_lambda": 510.0}]}]}}
    out = segmentation_interface_from_path(path).run_conversion(tmp_path / "caiman.nwb", user)
    ophys = "processing/ophys"
    with h5py.File(out, "r") as f:
        table = f[f"{ophys}/ImageSegmentation/PlaneSegmentation"]
        np.testing.assert_array_equal(table["id"][:], expected["ids"])
        rows, cols = expected["shape"]
        masks = table["image_mask"][:]  # (ROI, x = column, y = row)
        for i, mask in enumerate(expected["masks"]):
            image = np.zeros((cols, rows), dtype=masks.dtype)
            image[mask[:, 1].astype(int), mask[:, 0].astype(int)] = mask[:, 2]
            np.testing.assert_array_equal(masks[i], image)
        background = f[f"{ophys}/ImageSegmentation/BackgroundPlaneSegmentation"]
        assert len(background["image_mask"]) == len(expected["background"])
        raw = f[f"{ophys}/Fluorescence/RoiResponseSeries"]
        np.testing.assert_array_equal(raw["data"][:], expected["traces"]["raw"])
        assert raw["starting_time"].attrs["rate"] == expected["rate"]
        np.testing.assert_array_equal(f[f"{ophys}/Fluorescence/Deconvolved/data"][:], expected["traces"]["deconvolved"])
        np.testing.assert_array_equal(f[f"{ophys}/Fluorescence/Denoised/data"][:], expected["traces"]["denoised"])
        np.testing.assert_array_equal(f[f"{ophys}/Fluorescence/Background/data"][:], expected["traces"]["background"])
        np.testing.assert_array_equal(f[f"{ophys}/DfOverF/DfOverF/data"][:], expected["traces"]["dff"])
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(out), "r") as io:  # pynwb reads what was written
        nwb = io.read()
        series = nwb.processing["ophys"]["Fluorescence"]["RoiResponseSeries"]
        assert series.rate == expected["rate"] and series.data.shape == expected["traces"]["raw"].shape
    from nwbinspector import Importance, inspect_nwbfile, load_config

    messages = list(inspect_nwbfile(nwbfile_path=str(out), config=load_config("dandi")))
    bad = [m for m in messages if m.importance in (Importance.ERROR, Importance.CRITICAL,
                                                   Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], [(m.check_function_name, m.object_name, m.message) for m in bad]


def test_the_hdf5_sniff_leaves_a_caiman_file_to_caiman_through_the_memo():
    from ophysio.extractors.caiman.sniff import sniff_caiman
    from ophysio.extractors.hdf5.sniff import sniff_hdf5
    from ophysio.extractors.registry import read_head

    path = _real()
    assert sniff_hdf5(path, read_head(path)) is True  # alone, any HDF5 file
    head = read_head(path)
    assert sniff_caiman(path, head) is True
    assert "CaImAn" in sniff_hdf5(path, head)  # after the caiman sniff saw the layout
