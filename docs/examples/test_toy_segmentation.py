"""The conformance test of the toy segmentation format (docs/adding_a_format.rst): its whole test."""

import numpy as np
from toy_segmentation import SEGMENTATION_SPEC, ToySegmentationExtractor, write_toyseg

from ophysio.testing.conformance import copy_source
from ophysio.testing.segmentation import SegmentationTests

RNG = np.random.default_rng(0)
MASKS = np.where(RNG.random((6, 10, 8)) > 0.85, RNG.random((6, 10, 8)), 0).astype(np.float32)
MASKS[:, 0, 0] = 1.0  # no ROI without a pixel
TRACES = RNG.standard_normal((40, 6)).astype(np.float32)


class TestToySegmentation(SegmentationTests):
    cases = ["cells.tsg"]

    @classmethod
    def setup_class(cls):
        import tempfile

        cls.folder = tempfile.mkdtemp()
        write_toyseg(f"{cls.folder}/cells.tsg", MASKS, TRACES, rate=15.0)

    def make_extractor(self, case):
        return ToySegmentationExtractor(f"{self.folder}/{case}")

    # what was written, known without the reader
    def expected_roi_ids(self, case):
        return list(range(6))

    def expected_image_masks(self, case):
        return np.moveaxis(MASKS, 0, -1)

    def expected_traces(self, case):
        return {"raw": TRACES}

    def expected_images(self, case):
        return {"max": MASKS.max(axis=0)}

    def expected_accepted(self, case):
        return [0, 2, 4]

    def expected_sampling_frequency(self, case):
        return 15.0

    def make_shrinkable(self, case, tmp_path):
        copy = copy_source(f"{self.folder}/{case}", tmp_path)
        return ToySegmentationExtractor(copy), [copy]


def test_the_spec_sniffs_and_loads(tmp_path):
    path = write_toyseg(tmp_path / "a.tsg", MASKS, TRACES, rate=5.0)
    assert SEGMENTATION_SPEC.sniff(path, path.read_bytes()[:64]) is True
    assert SEGMENTATION_SPEC.kind == "segmentation"
    assert SEGMENTATION_SPEC.load_class() is ToySegmentationExtractor
