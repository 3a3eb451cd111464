"""The TIFF writer through WriterTests: pages in TZC order read back with tifffile, ImageJ metadata."""

import numpy as np
import pytest

from ophysio.testing.writers import RATE, WriterTests, channel_movies

from .._writer_cases import CASES
from .._writer_cases import read_tiff_pages as tiff_pages


def _planes(case):
    return CASES[case][3] or 1


class TestTiffWriter(WriterTests):
    format = "tiff"
    output_name = "movie.tif"
    option_sets = [{}, {"compression": "zlib", "compression_level": 6}, {"imagej": False}]

    def read_back(self, path, case, options):
        return tiff_pages(path, _planes(case), len(channel_movies(case)))

    def check_written(self, path, case, options):
        import tifffile

        expected = channel_movies(case)
        assert [p.name for p in path.parent.iterdir()] == ["movie.tif"]
        with tifffile.TiffFile(path) as tif:
            assert tif.is_bigtiff
            if options.get("imagej", True):
                meta = tif.imagej_metadata
                assert meta["images"] == expected[0].shape[0] * _planes(case) * len(expected)
                assert meta["finterval"] == pytest.approx(1 / RATE, rel=1e-12)
                assert meta.get("channels", 1) == len(expected) and meta.get("slices", 1) == _planes(case)
                axes = tif.series[0].axes
                data = tif.series[0].asarray()
                # tifffile's own ImageJ reading agrees with the documented TZCYX order
                assert axes == "T" + ("Z" if _planes(case) > 1 else "") + ("C" if len(expected) > 1 else "") + "YX"
            else:
                assert tif.imagej_metadata is None and 270 not in tif.pages.first.tags  # no description at all
                assert len(tif.pages) == expected[0].shape[0] * _planes(case) * len(expected)
                data = None
        if data is not None and case == "planar":
            np.testing.assert_array_equal(data, expected[0])
