"""The OME-TIFF writer through WriterTests: pages read back with tifffile, OME-XML, DeltaT and the sidecar."""

import numpy as np

from ophysio.testing.writers import WriterTests, channel_movies, irregular_times

from .._writer_cases import CASES, ome_delta_t, read_sidecar
from .._writer_cases import read_tiff_pages as tiff_pages


def _planes(case):
    return CASES[case][3] or 1


def _fields(case):
    return [{"stage_z": float(i) * 0.5, "ok": True} for i in range(CASES[case][0])]


class TestOmeTiffWriter(WriterTests):
    format = "ome_tiff"
    output_name = "movie.ome.tif"
    source_timestamps = True
    option_sets = [{"pixel_size_um": (0.8, 0.6), "plane_spacing_um": 2.5}]

    def case_options(self, case):
        return {"frame_metadata": _fields(case)}

    def read_back(self, path, case, options):
        return tiff_pages(path, _planes(case), len(channel_movies(case)))

    def check_written(self, path, case, options):
        import tifffile

        expected = channel_movies(case)
        samples = expected[0].shape[0]
        times = irregular_times(samples)
        fields = _fields(case)
        assert sorted(p.name for p in path.parent.iterdir()) == ["movie.ome.tif", "movie.ome.tif_frame_metadata.json"]
        with tifffile.TiffFile(path) as tif:
            assert tif.is_ome and tif.is_bigtiff
            xml = tif.ome_metadata
            series = tif.series[0]
            assert series.shape[0] == samples
        assert f'SizeT="{samples}"' in xml and f'SizeZ="{_planes(case)}"' in xml and f'SizeC="{len(expected)}"' in xml
        assert 'PhysicalSizeX="0.6"' in xml and 'PhysicalSizeY="0.8"' in xml and 'PhysicalSizeZ="2.5"' in xml
        for c in range(len(expected)):
            assert f'Name="ch{c}"' in xml
        per_page = _planes(case) * len(expected)
        np.testing.assert_array_equal(ome_delta_t(path), np.repeat(times, per_page))  # exact: repr of floats
        records = read_sidecar(path)
        assert len(records) == samples * per_page
        np.testing.assert_allclose([r["runner_time_ms"] for r in records], np.repeat(times, per_page) * 1000,
                                   rtol=1e-15)
        assert [r["index"]["t"] for r in records] == list(np.repeat(np.arange(samples), per_page))
        assert [r["stage_z"] for r in records] == list(np.repeat([f["stage_z"] for f in fields], per_page))
