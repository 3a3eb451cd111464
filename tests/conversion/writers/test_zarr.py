"""The Zarr writer through WriterTests: the array read back with zarr, OME-NGFF 0.5 metadata, timestamps."""

import numpy as np
import pytest

from ophysio.testing.writers import WriterTests, channel_movies, irregular_times

zarr = pytest.importorskip("zarr")  # in the test extra (Python 3.11+)


class TestZarrWriter(WriterTests):
    format = "zarr"
    output_name = "m.ome.zarr"
    source_timestamps = True
    option_sets = [{"pixel_size_um": 0.7, "plane_spacing_um": 3.0}]
    memory_options = {"chunks": (8, 128, 128)}  # the default chunks are sized for files, not for this bound

    def read_back(self, path, case, options):
        movies = channel_movies(case)
        volumetric, channels = movies[0].ndim == 4, len(movies)
        stored = zarr.open_group(path, mode="r")["0"][:]  # t [c] [z] y x
        parts = [stored[:, c] for c in range(channels)] if channels > 1 else [stored]
        return [p.transpose(0, 2, 3, 1) if volumetric else p for p in parts]

    def check_written(self, path, case, options):
        movies = channel_movies(case)
        times = irregular_times(movies[0].shape[0])
        group = zarr.open_group(path, mode="r")
        array = group["0"]
        volumetric = movies[0].ndim == 4
        stored = [m.transpose(0, 3, 1, 2) if volumetric else m for m in movies]
        expected = stored[0] if len(stored) == 1 else np.stack(stored, axis=1)
        np.testing.assert_array_equal(array[:], expected)
        assert array.dtype == movies[0].dtype
        axes = ["t"] + (["c"] if len(movies) > 1 else []) + (["z"] if volumetric else []) + ["y", "x"]
        assert list(array.metadata.dimension_names) == axes
        np.testing.assert_array_equal(group["timestamps"][:], times)
        ome = group.attrs["ome"]
        assert ome["version"] == "0.5"
        ms = ome["multiscales"][0]
        assert [a["name"] for a in ms["axes"]] == axes
        scale = ms["datasets"][0]["coordinateTransformations"][0]["scale"]
        assert scale[0] == pytest.approx(np.median(np.diff(times))) and scale[-2:] == [0.7, 0.7]
        if volumetric:
            assert scale[axes.index("z")] == 3.0
        assert [ch["label"] for ch in ome["omero"]["channels"]] == [f"ch{c}" for c in range(len(movies))]
