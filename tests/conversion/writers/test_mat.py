"""The MAT writer through WriterTests: v7.3 read back with h5py as MATLAB sees it, v5 with scipy.io."""

import numpy as np
import pytest

from ophysio.testing.writers import RATE, WriterTests, channel_movies, irregular_times


def _from_matlab(arr, case):
    """MATLAB's Y X [Z] [C] T array -> one (T, Y, X[, Z]) array per channel."""
    channels = len(channel_movies(case))
    out = []
    for c in range(channels):
        a = arr[..., c, :] if channels > 1 else arr
        out.append(np.moveaxis(a, -1, 0))
    return out


class TestMatV73Writer(WriterTests):
    format = "mat"
    output_name = "m.mat"
    source_timestamps = True

    def read_back(self, path, case, options):
        import h5py

        with h5py.File(path) as f:
            return _from_matlab(f["mov"][:].transpose(), case)  # MATLAB's view: the HDF5 axes reversed

    def check_written(self, path, case, options):
        import h5py

        movies = channel_movies(case)
        times = irregular_times(movies[0].shape[0])
        header = path.read_bytes()[:128]
        assert header.startswith(b"MATLAB 7.3 MAT-file") and header[124:128] == b"\x00\x02IM"
        from scipy.io.matlab import matfile_version

        assert matfile_version(str(path)) == (2, 0)  # scipy recognises the header as MATLAB 7.3 (HDF5-based)
        volumetric, channels = movies[0].ndim == 4, len(movies)
        matlab_dims = "YX" + ("Z" if volumetric else "") + ("C" if channels > 1 else "") + "T"
        # MATLAB's array (column-major, dims as MATLAB lists them) is the HDF5 dataset with its axes reversed.
        matlab_view = np.stack([m if volumetric else m[..., None] for m in movies], axis=-1)  # T Y X Z C
        matlab_view = matlab_view.transpose(1, 2, 3, 4, 0)  # Y X Z C T
        keep = [0, 1] + ([2] if volumetric else []) + ([3] if channels > 1 else []) + [4]
        matlab_view = matlab_view.reshape([matlab_view.shape[i] for i in keep])
        with h5py.File(path) as f:
            mov = f["mov"]
            assert mov.attrs["MATLAB_class"] == np.bytes_(movies[0].dtype.name)
            np.testing.assert_array_equal(mov[:].transpose(), matlab_view)
            assert f["fs"].shape == (1, 1) and f["fs"].attrs["MATLAB_class"] == b"double"
            assert f["fs"][0, 0] == pytest.approx(1 / np.median(np.diff(times)))
            np.testing.assert_array_equal(f["timestamps"][:].transpose(), times[None, :])  # MATLAB: 1 x T
            assert bytes(f["dims"][:].ravel().astype(np.uint8)).decode() == matlab_dims
            assert f["dims"].attrs["MATLAB_class"] == b"char"


class TestMatV5Writer(WriterTests):
    format = "mat"
    output_name = "m.mat"
    write_options = {"version": "5"}

    def read_back(self, path, case, options):
        from scipy.io import loadmat

        return _from_matlab(loadmat(path)["mov"], case)

    def check_written(self, path, case, options):
        from scipy.io import loadmat

        movies = channel_movies(case)
        got = loadmat(path)
        volumetric = movies[0].ndim == 4
        for c, m in enumerate(movies):
            arr = got["mov"][..., c, :] if len(movies) > 1 else got["mov"]
            expected = m.transpose(1, 2, 3, 0) if volumetric else m.transpose(1, 2, 0)
            assert arr.dtype == m.dtype
            np.testing.assert_array_equal(arr, expected)
        assert got["fs"][0, 0] == RATE
        np.testing.assert_allclose(got["timestamps"][0], np.arange(movies[0].shape[0]) / RATE)
