"""The HDF5 writer through WriterTests: the dataset read back with h5py, its dimension labels and attributes."""

import numpy as np
import pytest

from ophysio.testing.writers import WriterTests, channel_movies, irregular_times


def _stack(movies):
    """Our layout with a last channel axis when there are several channels."""
    return movies[0] if len(movies) == 1 else np.stack(movies, axis=-1)


class TestHDF5Writer(WriterTests):
    format = "hdf5"
    output_name = "m.h5"
    source_timestamps = True
    option_sets = [{}, {"compression": "gzip", "compression_level": 3}, {"compression": "lzf"}]

    def read_back(self, path, case, options):
        import h5py

        channels = len(channel_movies(case))
        with h5py.File(path) as f:
            data = f["mov"][:]
        return [data] if channels == 1 else [data[..., c] for c in range(channels)]

    def check_written(self, path, case, options):
        import h5py

        movies = channel_movies(case)
        times = irregular_times(movies[0].shape[0])
        with h5py.File(path) as f:
            mov = f["mov"]
            labels = "TYX" + ("Z" if movies[0].ndim == 4 else "") + ("C" if len(movies) > 1 else "")
            assert [d.label for d in mov.dims] == list(labels)
            assert [str(s) for s in mov.attrs["DIMENSION_LABELS"]] == list(labels)
            assert mov.dtype == movies[0].dtype
            np.testing.assert_array_equal(mov[:], _stack(movies))
            np.testing.assert_array_equal(f[mov.attrs["timestamps"]][:], times)
            assert mov.attrs["fr"] == mov.attrs["sampling_frequency"] == pytest.approx(1 / np.median(np.diff(times)))
            assert list(mov.attrs["channel_names"]) == [f"ch{c}" for c in range(len(movies))]
            assert mov.chunks is not None and mov.chunks[1:] == mov.shape[1:]
            assert mov.compression == options.get("compression")
