"""The conformance test of the toy format (docs/adding_a_format.rst): a format's whole test, as a newcomer writes it."""

import numpy as np
from toy_format import SPEC, ToyImagingExtractor, write_toy

from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.synthetic import movie

MOVIE = movie(20, 12, 9, dtype="uint16")  # pixel values are a known function of (sample, row, column)


class TestToyFormat(ExtractorTests):
    cases = ["small.toy"]

    @classmethod
    def setup_class(cls):
        import tempfile

        cls.folder = tempfile.mkdtemp()
        write_toy(f"{cls.folder}/small.toy", MOVIE, rate=30.0)

    def make_extractor(self, case):
        return ToyImagingExtractor(f"{self.folder}/{case}")

    def expected_series(self, case):
        return MOVIE  # what was written, known without the reader

    def expected_sampling_frequency(self, case):
        return 30.0

    def make_shrinkable(self, case, tmp_path):
        copy = copy_source(f"{self.folder}/{case}", tmp_path)
        return ToyImagingExtractor(copy), [copy]


def test_the_spec_sniffs_and_loads(tmp_path):
    path = write_toy(tmp_path / "a.toy", MOVIE[:2], rate=5.0)
    head = path.read_bytes()[:512]
    assert SPEC.sniff(path, head) is True
    assert SPEC.sniff(path, b"II*\x00") == "no TOY1 magic"
    assert SPEC.load_class() is ToyImagingExtractor
    np.testing.assert_array_equal(ToyImagingExtractor(path).get_series(), MOVIE[:2])
