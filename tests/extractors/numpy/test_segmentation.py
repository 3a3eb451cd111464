"""NumpySegmentationExtractor through the segmentation conformance suite: dense and sparse masks, planar
and volumetric, background components, .npy files read lazily, recorded times."""

import numpy as np
import pytest

from ophysio.errors import FormatError, MetadataError
from ophysio.extractors import NumpySegmentationExtractor
from ophysio.testing.conformance import copy_source
from ophysio.testing.segmentation import SegmentationTests

RNG = np.random.default_rng(7)
ROWS, COLUMNS, PLANES, SAMPLES = 9, 11, 3, 40


def _sparse(n: int, volumetric: bool, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(n):
        count = int(rng.integers(1, 12))
        flat = rng.choice(ROWS * COLUMNS, size=count, replace=False)
        rows, columns = np.unravel_index(flat, (ROWS, COLUMNS))
        weights = rng.random(count).astype(np.float32) + 0.1
        if volumetric:
            plane = np.full(count, int(rng.integers(PLANES)))
            masks.append(np.column_stack([rows, columns, plane, weights]))
        else:
            masks.append(np.column_stack([rows, columns, weights]))
    return masks


def _dense(masks, shape) -> np.ndarray:
    out = np.zeros((*shape, len(masks)), dtype=np.float32)
    for i, m in enumerate(masks):
        out[(*m[:, :-1].astype(int).T, i)] = m[:, -1]
    return out


RAW = RNG.random((SAMPLES, 5)).astype(np.float32)
NEUROPIL = RNG.random((SAMPLES, 5)).astype(np.float32)
DFF = RNG.standard_normal((SAMPLES, 5))
BACKGROUND = RNG.random((SAMPLES, 2)).astype(np.float32)
PLANAR = _sparse(5, False, 1)
VOLUME = _sparse(5, True, 2)
BG_MASKS = _sparse(2, False, 3)
MEAN = RNG.random((ROWS, COLUMNS))
TIMES = np.cumsum(RNG.random(SAMPLES) + 0.05)


def _case(name: str, folder=None) -> dict:
    """Keywords of each case; traces given as .npy paths in ``folder`` for the file cases."""
    if name == "dense-planar-background":
        return dict(image_masks=_dense(PLANAR, (ROWS, COLUMNS)), raw=RAW, neuropil=NEUROPIL, dff=DFF,
                    background=BACKGROUND, background_pixel_masks=BG_MASKS, movie_dims=(ROWS, COLUMNS),
                    sampling_frequency=30.0, accepted_list=[0, 3], rejected_list=[1], mean_image=MEAN,
                    roi_ids=[0, 1, 2, 3, 4])
    if name == "sparse-planar-ids":
        return dict(pixel_masks=PLANAR, movie_dims=(ROWS, COLUMNS), raw=RAW, deconvolved=DFF,
                    roi_ids=["a", "b", "c", "d", "e"], timestamps=TIMES, images={"max": MEAN})
    if name == "sparse-volume":
        return dict(pixel_masks=VOLUME, movie_dims=(ROWS, COLUMNS, PLANES), raw=RAW,
                    images={"mean": np.stack([MEAN] * PLANES, axis=-1)}, sampling_frequency=5.0)
    if name == "npy-files":
        np.save(folder / "raw.npy", RAW)
        np.save(folder / "masks.npy", _dense(PLANAR, (ROWS, COLUMNS)))
        np.save(folder / "background.npy", BACKGROUND)
        return dict(image_masks=folder / "masks.npy", raw=folder / "raw.npy", background=folder / "background.npy",
                    background_image_masks=_dense(BG_MASKS, (ROWS, COLUMNS)), sampling_frequency=10.0)
    raise KeyError(name)


EXPECTED = {
    "dense-planar-background": dict(ids=[0, 1, 2, 3, 4], masks=PLANAR, traces={"raw": RAW, "neuropil": NEUROPIL,
                                    "dff": DFF, "background": BACKGROUND}, images={"mean": MEAN}, accepted=[0, 3],
                                    rejected=[1], rate=30.0),
    "sparse-planar-ids": dict(ids=list("abcde"), masks=PLANAR, traces={"raw": RAW, "deconvolved": DFF},
                              images={"max": MEAN}, accepted=list("abcde"), rejected=[], times=TIMES),
    "sparse-volume": dict(ids=[0, 1, 2, 3, 4], masks=VOLUME, traces={"raw": RAW},
                          images={"mean": np.stack([MEAN] * PLANES, axis=-1)}, rate=5.0),
    "npy-files": dict(ids=[0, 1, 2, 3, 4], masks=PLANAR, traces={"raw": RAW, "background": BACKGROUND}, images={},
                      rate=10.0),
}


class TestNumpySegmentation(SegmentationTests):
    cases = list(EXPECTED)

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path_factory):
        self.folder = tmp_path_factory.mktemp("npyseg")

    def make_extractor(self, case):
        return NumpySegmentationExtractor(**_case(case, self.folder))

    def make_shrinkable(self, case, tmp_path):
        if case != "npy-files":
            return None
        kwargs = _case(case, self.folder)  # writes the files
        source = copy_source(self.folder, tmp_path)
        kwargs.update(raw=source / "raw.npy", image_masks=source / "masks.npy", background=source / "background.npy")
        return NumpySegmentationExtractor(**kwargs), [source / "raw.npy", source / "background.npy"]

    def expected_roi_ids(self, case):
        return EXPECTED[case]["ids"]

    def expected_pixel_masks(self, case):
        return EXPECTED[case]["masks"]

    def expected_traces(self, case):
        return EXPECTED[case]["traces"]

    def expected_images(self, case):
        return EXPECTED[case]["images"]

    def expected_accepted(self, case):
        return EXPECTED[case].get("accepted")

    def expected_rejected(self, case):
        return EXPECTED[case].get("rejected")

    def expected_sampling_frequency(self, case):
        return EXPECTED[case].get("rate")

    def expected_timestamps(self, case):
        return EXPECTED[case].get("times")


def test_background_masks_and_traces_are_kept_apart_from_the_rois():
    ex = NumpySegmentationExtractor(**_case("dense-planar-background"))
    assert ex.get_background_ids() == ["background0", "background1"]
    assert ex.get_num_rois() == 5 and ex.get_num_background_components() == 2
    np.testing.assert_array_equal(ex.get_background_image_masks(), _dense(BG_MASKS, (ROWS, COLUMNS)))
    np.testing.assert_array_equal(ex.get_traces(["background1"], name="background"), BACKGROUND[:, [1]])
    subset = ex.select_rois([4, "background1"])
    assert subset.get_roi_ids() == [4] and subset.get_background_ids() == ["background1"]
    np.testing.assert_array_equal(subset.get_traces(name="background"), BACKGROUND[:, [1]])


def test_a_volumetric_segmentation_splits_into_planes():
    ex = NumpySegmentationExtractor(**_case("sparse-volume"))
    planes = ex.get_roi_planes()
    np.testing.assert_array_equal(planes, [int(m[0, 2]) for m in VOLUME])
    parts = ex.split_planes()
    assert [p.get_roi_ids() for p in parts] == [[i for i in range(5) if planes[i] == p] for p in range(PLANES)]
    for part in parts:
        for roi_id, mask in zip(part.get_roi_ids(), part.get_roi_pixel_masks()):
            np.testing.assert_array_equal(mask, np.delete(VOLUME[roi_id], 2, axis=1))
        np.testing.assert_array_equal(part.get_traces(), RAW[:, part.get_roi_ids()])


def test_bad_arrays_are_refused_with_the_reason():
    with pytest.raises(FormatError, match="image_masks .dense. or pixel_masks"):
        NumpySegmentationExtractor(raw=RAW)
    with pytest.raises(FormatError, match="movie_dims"):
        NumpySegmentationExtractor(pixel_masks=PLANAR)
    with pytest.raises(FormatError, match="outside the field of view"):
        NumpySegmentationExtractor(pixel_masks=[np.array([[ROWS, 0, 1.0]])], movie_dims=(ROWS, COLUMNS))
    with pytest.raises(FormatError, match=r"shape \(samples, 5\)"):
        NumpySegmentationExtractor(pixel_masks=PLANAR, movie_dims=(ROWS, COLUMNS), raw=RAW[:, :4])
    with pytest.raises(MetadataError, match="timestamps"):
        NumpySegmentationExtractor(pixel_masks=PLANAR, movie_dims=(ROWS, COLUMNS), raw=RAW, timestamps=TIMES[:-1])
