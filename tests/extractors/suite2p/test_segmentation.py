"""suite2p segmentations: the real 2-plane, 2-channel run and synthetic runs (cropped images, combined/,
Fortran-ordered traces, planes of different lengths), through SegmentationTests against numpy reads of
suite2p's documented files."""

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from ophysio import open_imaging, open_segmentation
from ophysio.errors import CorruptFileError, FileSetError, FormatError, SelectionError
from ophysio.extractors import Suite2pSegmentationExtractor
from ophysio.extractors.registry import detect_format
from ophysio.testing.conformance import copy_source
from ophysio.testing.data import sample_file
from ophysio.testing.segmentation import SegmentationTests
from ophysio.testing.synthetic import write_suite2p_segmentation

FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-suite2p-seg-"))


def _real() -> Path:
    return sample_file("segmentation/suite2p")


def _synthetic() -> Path:
    root = FOLDER / "synthetic" / "suite2p"
    if not root.exists():
        write_suite2p_segmentation(FOLDER / "synthetic", num_planes=3, rois_per_plane=(5, 0, 4),
                                   num_frames=(30, 31, 30), crop=(2, 3))
    return root


def _fortran() -> Path:
    root = FOLDER / "fortran" / "suite2p"
    if not root.exists():
        write_suite2p_segmentation(FOLDER / "fortran", num_planes=1, rois_per_plane=7, num_frames=25, num_channels=1,
                                   crop=None, fortran=True, combined=False)
    return root


# ---------------------------------------------------------------------- independent reads of the files
def _planes(root: Path, plane_name: str | None) -> list[Path]:
    if plane_name is not None:
        return [root / plane_name]
    return sorted((p for p in root.iterdir() if p.name.startswith("plane")), key=lambda p: int(p.name[5:]))


def _ops(folder: Path) -> dict:
    return np.load(folder / "ops.npy", allow_pickle=True).item()


def _expected(root: Path, plane_name=None, channel="chan1") -> dict:
    folders = _planes(root, plane_name)
    volumetric = len(folders) > 1
    files = {"raw": "F", "neuropil": "Fneu", "deconvolved": "spks"}
    if channel == "chan2":
        files = {"raw": "F_chan2", "neuropil": "Fneu_chan2"}
    masks, traces, iscell = [], {k: [] for k in files}, []
    frames = min(np.load(f / "F.npy").shape[1] for f in folders)
    for p, folder in enumerate(folders):
        for roi in np.load(folder / "stat.npy", allow_pickle=True):
            columns = [roi["ypix"], roi["xpix"]] + ([np.full(len(roi["ypix"]), p)] if volumetric else [])
            masks.append(np.column_stack([*columns, roi["lam"]]).astype(np.float64))
        for name, file in files.items():
            traces[name].append(np.load(folder / f"{file}.npy")[:, :frames].T)
        iscell.append(np.load(folder / "iscell.npy"))
    iscell = np.concatenate(iscell)
    ids = list(range(len(masks)))
    images = []
    other = "chan2" if channel == "chan1" else "chan1"
    has_other = (folders[0] / ("F_chan2.npy" if other == "chan2" else "F.npy")).is_file()
    for folder in folders:
        ops = _ops(folder)
        (y0, y1), (x0, x1) = ops["yrange"], ops["xrange"]
        placed = {}
        for key in ("max_proj", "Vcorr"):
            full = np.zeros((ops["Ly"], ops["Lx"]), dtype=ops[key].dtype)
            full[y0:y1, x0:x1] = ops[key]
            placed[key] = full
        entry = {"mean": ops["meanImg" if channel == "chan1" else "meanImg_chan2"], "mean_enhanced": ops["meanImgE"],
                 "max": placed["max_proj"], "correlation": placed["Vcorr"]}
        if "meanImg_chan2_corrected" in ops:
            entry["mean_chan2_corrected"] = ops["meanImg_chan2_corrected"]
        if has_other:
            entry[f"mean_{other}"] = ops["meanImg_chan2" if other == "chan2" else "meanImg"]
        images.append(entry)
    if volumetric:
        images = {k: np.stack([im[k] for im in images], axis=-1) for k in images[0]}
    else:
        images = images[0]
    return {
        "ids": ids, "masks": masks, "images": images, "rate": float(_ops(folders[0])["fs"]),
        "traces": {k: np.concatenate(v, axis=1) for k, v in traces.items()},
        "accepted": [i for i in ids if iscell[i, 0] == 1], "rejected": [i for i in ids if iscell[i, 0] == 0],
        "properties": {"iscell_probability": iscell[:, 1]},
    }


CASES = {
    "real-volume-chan1": (_real, {}),
    "real-plane0-chan1": (_real, {"plane_name": "plane0"}),
    "real-plane1-chan2": (_real, {"plane_name": "plane1", "channel_name": "chan2"}),
    "synthetic-volume-chan2": (_synthetic, {"channel_name": "chan2"}),
    "synthetic-plane2-cropped": (_synthetic, {"plane_name": "plane2"}),
    "fortran-traces": (_fortran, {}),
}


class TestSuite2pSegmentation(SegmentationTests):
    cases = list(CASES)

    def make_extractor(self, case):
        maker, kwargs = CASES[case]
        return Suite2pSegmentationExtractor(maker(), **kwargs)

    def make_shrinkable(self, case, tmp_path):
        maker, kwargs = CASES[case]
        extractor = Suite2pSegmentationExtractor(copy_source(maker(), tmp_path), **kwargs)
        names = {"F.npy", "Fneu.npy", "spks.npy", "F_chan2.npy", "Fneu_chan2.npy"}
        return extractor, [p for p in extractor.get_file_paths() if Path(p).name in names]

    def _expected(self, case):
        maker, kwargs = CASES[case]
        return _expected(maker(), kwargs.get("plane_name"), kwargs.get("channel_name", "chan1"))

    def expected_roi_ids(self, case):
        return self._expected(case)["ids"]

    def expected_pixel_masks(self, case):
        return self._expected(case)["masks"]

    def expected_traces(self, case):
        return self._expected(case)["traces"]

    def expected_images(self, case):
        return self._expected(case)["images"]

    def expected_accepted(self, case):
        return self._expected(case)["accepted"]

    def expected_rejected(self, case):
        return self._expected(case)["rejected"]

    def expected_properties(self, case):
        return self._expected(case)["properties"]

    def expected_sampling_frequency(self, case):
        return self._expected(case)["rate"]


# ---------------------------------------------------------------------- what is special to suite2p
def test_the_real_run_reads_every_plane_and_both_channels():
    root = _real()
    assert Suite2pSegmentationExtractor.get_available_planes(root) == ["plane0", "plane1"]
    assert Suite2pSegmentationExtractor.get_available_channels(root) == ["chan1", "chan2"]
    volume = Suite2pSegmentationExtractor(root)
    assert volume.is_volumetric and volume.get_num_planes() == 2 and volume.get_num_rois() == 15 + 25
    np.testing.assert_array_equal(volume.get_roi_planes(), [0] * 15 + [1] * 25)
    for channel in ("chan1", "chan2"):
        for p in (0, 1):
            single = Suite2pSegmentationExtractor(root, channel_name=channel, plane_name=f"plane{p}")
            plane = Suite2pSegmentationExtractor(root, channel_name=channel).select_plane(p)
            assert plane.get_roi_ids() == [i + 15 * p for i in single.get_roi_ids()]
            np.testing.assert_array_equal(plane.get_traces(), single.get_traces())
            for a, b in zip(plane.get_roi_pixel_masks(), single.get_roi_pixel_masks()):
                np.testing.assert_array_equal(a, b)
            redcell = np.load(root / f"plane{p}" / "redcell.npy")
            np.testing.assert_array_equal(single.get_property("redcell"), redcell[:, 0] == 1)
            np.testing.assert_array_equal(single.get_property("redcell_probability"), redcell[:, 1])
    chan2 = Suite2pSegmentationExtractor(root, channel_name="chan2", plane_name="plane0")
    assert chan2.get_trace_names() == ["raw", "neuropil"]  # suite2p deconvolves the functional channel only
    np.testing.assert_array_equal(chan2.get_traces(name="neuropil"), np.load(root / "plane0" / "Fneu_chan2.npy").T)


def test_scalar_statistics_and_overlap_are_properties():
    root = _real()
    ex = Suite2pSegmentationExtractor(root, plane_name="plane1")
    stat = np.load(root / "plane1" / "stat.npy", allow_pickle=True)
    for key in ("npix", "radius", "compact", "skew", "std", "footprint", "aspect_ratio"):
        np.testing.assert_array_equal(ex.get_property(key), [roi[key] for roi in stat])
        assert ex.get_property_description(key)
    np.testing.assert_array_equal(ex.get_property("overlap_pixels"), [int(roi["overlap"].sum()) for roi in stat])
    flags = ex.get_roi_overlap_flags([3, 0])
    np.testing.assert_array_equal(flags[0], stat[3]["overlap"])
    assert len(flags[1]) == len(ex.get_roi_pixel_masks([0])[0])
    centroids = ex.get_property("roi_centroids")
    med = np.array([roi["med"] for roi in stat])
    assert np.median(np.abs(centroids - med)) < 1.5  # suite2p's median pixel lies near the weighted centroid


def test_cropped_max_projection_and_correlation_are_placed_in_the_field_of_view():
    root = _synthetic()
    ops = _ops(root / "plane0")
    assert ops["Vcorr"].shape == (24 - 4, 32 - 6)
    image = Suite2pSegmentationExtractor(root, plane_name="plane0").get_image("correlation")
    assert image.shape == (24, 32)
    np.testing.assert_array_equal(image[2:22, 3:29], ops["Vcorr"])
    assert not image[:2].any() and not image[:, :3].any() and not image[22:].any() and not image[:, 29:].any()


def test_the_combined_folder_reads_as_one_planar_segmentation():
    root = _synthetic()
    combined = Suite2pSegmentationExtractor(root, plane_name="combined")
    assert Suite2pSegmentationExtractor(root / "combined").get_roi_ids() == combined.get_roi_ids()
    assert not combined.is_volumetric and combined.get_image_shape() == (24, 32 * 3)
    stat = np.load(root / "combined" / "stat.npy", allow_pickle=True)
    assert combined.get_num_rois() == len(stat) == 9
    np.testing.assert_array_equal(combined.get_property("iplane"), [roi["iplane"] for roi in stat])
    np.testing.assert_array_equal(combined.get_traces(), np.load(root / "combined" / "F.npy").T)
    assert combined.get_num_samples() == 31  # combined pads the shorter planes; the volume keeps the common 30
    assert Suite2pSegmentationExtractor(root).get_num_samples() == 30


def test_detection_and_the_imaging_reader_are_unchanged():
    root = _real()
    assert detect_format(root, "segmentation").id == "suite2p"
    assert isinstance(open_segmentation(root / "plane0"), Suite2pSegmentationExtractor)
    assert open_segmentation(root / "plane0" / "F.npy").get_num_rois() == 15
    with pytest.raises(FileSetError, match="no registered movie"):  # a segmentation folder has no data.bin
        open_imaging(root)
    with pytest.raises(SelectionError, match="plane 'plane7'"):
        Suite2pSegmentationExtractor(root, plane_name="plane7")
    with pytest.raises(SelectionError, match="'chan3'"):
        Suite2pSegmentationExtractor(root, channel_name="chan3")


@pytest.fixture
def copied(tmp_path):
    target = tmp_path / "suite2p"
    shutil.copytree(_real(), target)
    return target


def test_damaged_files_are_errors_naming_them(copied):
    plane = copied / "plane0"
    np.save(plane / "F.npy", np.load(plane / "F.npy")[:-1])
    with pytest.raises(FormatError, match="F.npy .* 14 rows but stat.npy has 15 ROIs"):
        Suite2pSegmentationExtractor(copied, plane_name="plane0")
    np.save(plane / "F.npy", np.zeros((15, 250), dtype=np.float32))
    with open(plane / "Fneu.npy", "r+b") as fh:
        fh.truncate(2000)
    with pytest.raises(CorruptFileError, match="Fneu.npy"):
        Suite2pSegmentationExtractor(copied, plane_name="plane0")
    (plane / "Fneu.npy").unlink()
    np.save(plane / "iscell.npy", np.ones((3, 2)))
    with pytest.raises(FormatError, match=r"iscell.npy must hold \(15, 2\)"):
        Suite2pSegmentationExtractor(copied, plane_name="plane0")
    np.save(plane / "iscell.npy", np.ones((15, 2)))
    stat = np.load(plane / "stat.npy", allow_pickle=True)
    stat[3]["xpix"] = stat[3]["xpix"] + 500
    np.save(plane / "stat.npy", stat, allow_pickle=True)
    with pytest.raises(FormatError, match="stat.npy, ROI 3: a column index .* outside the field of view"):
        Suite2pSegmentationExtractor(copied, plane_name="plane0")
    (plane / "stat.npy").unlink()
    with pytest.raises(FileSetError, match="has no stat.npy"):
        Suite2pSegmentationExtractor(copied, plane_name="plane0")
    with open(copied / "plane1" / "stat.npy", "r+b") as fh:
        fh.truncate(100)
    with pytest.raises(CorruptFileError, match="stat.npy"):
        Suite2pSegmentationExtractor(copied, plane_name="plane1")


def test_an_image_of_the_wrong_size_is_left_out_with_a_warning(copied):
    ops = _ops(copied / "plane0")
    ops["Vcorr"] = ops["Vcorr"][:10, :7]
    np.save(copied / "plane0" / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    with pytest.warns(UserWarning, match=r"ops\['Vcorr'\] is \(10, 7\)"):
        ex = Suite2pSegmentationExtractor(copied, plane_name="plane0")
    assert "correlation" not in ex.get_images_dict() and "max" in ex.get_images_dict()
