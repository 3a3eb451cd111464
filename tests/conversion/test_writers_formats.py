"""HDF5, MAT, suite2p and Zarr writers beyond the shared suite (tests/conversion/writers/): options and limits."""

from __future__ import annotations

import numpy as np
import pytest

from ophysio.conversion.writers import WriterError, open_writer, write_imaging
from ophysio.conversion.writers.mat import MAT_V5_LIMIT
from ophysio.extractors import NumpyImagingExtractor
from ophysio.testing.synthetic import movie

from ._writer_cases import RATE, channel_movies, irregular_times, make_source


def _stack(movies):
    """Our layout with a last channel axis when there are several channels."""
    return movies[0] if len(movies) == 1 else np.stack(movies, axis=-1)


# ---------------------------------------------------------------- HDF5
@pytest.mark.parametrize("shuffle", [True, False])
def test_hdf5_threaded_gzip_chunks_with_partial_last_chunk(tmp_path, shuffle):
    import h5py

    movies = channel_movies("multichannel")
    times = irregular_times(6)
    with open_writer(tmp_path / "g.h5", compression="gzip", compression_level=6, shuffle=shuffle,
                     chunks=(4, 9, 7, 2, 2), max_workers=2) as writer:
        for a, b in ((0, 1), (1, 5), (5, 6)):  # batches across chunk boundaries, unknown total
            writer.write_frames([m[a:b] for m in movies], timestamps=times[a:b])
    with h5py.File(tmp_path / "g.h5") as f:
        mov = f["mov"]
        assert (mov.compression, mov.compression_opts, mov.shuffle) == ("gzip", 6, shuffle)
        assert mov.shape == (6, 9, 7, 2, 2) and mov.maxshape[0] is None
        np.testing.assert_array_equal(mov[:], np.stack(movies, axis=-1))
        np.testing.assert_array_equal(f["timestamps"][:], times)


def test_hdf5_dataset_name_chunks_and_attributes(tmp_path):
    import h5py

    m = movie(20, 8, 6, dtype="float32")
    out = write_imaging(m, tmp_path / "m.h5", sampling_frequency=RATE, dataset="group/data", chunks=(4, 8, 6),
                        attributes={"lab": "x"}, timestamps=False)
    with h5py.File(out) as f:
        assert f["group/data"].chunks == (4, 8, 6)
        assert f["group/data"].attrs["lab"] == "x"
        assert "timestamps" not in f["group"]
        np.testing.assert_array_equal(f["group/data"][:], m)


def test_hdf5_read_back_by_ophysio(tmp_path):
    from ophysio.extractors.hdf5 import Hdf5ImagingExtractor

    movies = channel_movies("multichannel")
    out = write_imaging(make_source("multichannel"), tmp_path / "m.h5")
    for c, expected in enumerate(movies):
        ext = Hdf5ImagingExtractor(out, channel_index=c)
        assert ext.get_sample_shape() == expected.shape[1:] and ext.dtype == expected.dtype
        np.testing.assert_array_equal(ext.get_series(), expected)
        assert ext.get_sampling_frequency() == RATE


# ---------------------------------------------------------------- MAT
def test_mat_v5_refuses_2gb_before_reading(tmp_path):
    class Huge(NumpyImagingExtractor):
        def _read_series(self, start, stop, out):
            raise AssertionError("nothing may be read before the size check")

    big = np.broadcast_to(np.zeros((1, 512, 512), np.uint16), (MAT_V5_LIMIT // (512 * 512 * 2) + 1, 512, 512))
    with pytest.raises(WriterError, match="version='7.3'"):
        write_imaging(Huge(big, RATE), tmp_path / "big.mat", version="5")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(WriterError, match="uncompressed"):
        open_writer(tmp_path / "x.mat", version="5", compression="gzip", sampling_frequency=1.0)


@pytest.mark.parametrize("dtype", ["bool", "float32", "float64", "int8", "uint32", "int64"])
def test_mat_v5_streamed_over_time_for_every_class(tmp_path, dtype):
    from scipy.io import loadmat

    m = movie(7, 5, 3, planes=2, dtype=dtype)
    times = irregular_times(7)
    with open_writer(tmp_path / "v5.mat", version="5", variable="frames") as writer:
        for a, b in ((0, 3), (3, 4), (4, 7)):  # unknown length: sizes are patched at close
            writer.write_frames(m[a:b], timestamps=times[a:b])
    got = loadmat(tmp_path / "v5.mat")
    from scipy.io import whosmat

    matlab_class = {"bool": "logical", "float32": "single", "float64": "double"}.get(dtype, dtype)
    assert whosmat(tmp_path / "v5.mat")[0] == ("frames", (5, 3, 2, 7), matlab_class)
    expected_dtype = np.uint8 if dtype == "bool" else m.dtype  # scipy returns MATLAB logicals as uint8
    assert got["frames"].dtype == expected_dtype and got["frames"].shape == (5, 3, 2, 7)
    np.testing.assert_array_equal(got["frames"], m.transpose(1, 2, 3, 0))
    np.testing.assert_array_equal(got["timestamps"], times[None, :])
    assert str(got["dims"][0]) == "YXZT"
    assert got["fs"][0, 0] == pytest.approx(1 / np.median(np.diff(times)))


def test_mat_v73_open_writer_and_bool(tmp_path):
    import h5py

    m = movie(6, 5, 4, dtype="bool")
    with open_writer(tmp_path / "b.mat", sampling_frequency=2.0, variable="mask") as writer:
        writer.write_frames(m[:4])
        writer.write_frames(m[4:])
    with h5py.File(tmp_path / "b.mat") as f:
        assert f["mask"].attrs["MATLAB_class"] == b"logical"
        np.testing.assert_array_equal(f["mask"][:].transpose(0, 2, 1).astype(bool), m)


# ---------------------------------------------------------------- suite2p
def test_suite2p_int16_policy_never_clips(tmp_path):
    from ophysio.extractors.suite2p import Suite2pImagingExtractor

    m = movie(8, 6, 5, dtype="uint16")
    assert m.max() > 32767
    with pytest.raises(WriterError, match="int16='scale'"):
        write_imaging(m, tmp_path / "suite2p", sampling_frequency=RATE)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(WriterError, match="cannot store exactly"):
        write_imaging(np.full((2, 3, 3), 0.5, np.float32), tmp_path / "suite2p", sampling_frequency=RATE)
    out = write_imaging(m, tmp_path / "suite2p", sampling_frequency=RATE, int16="scale")
    ops = np.load(out / "plane0" / "ops.npy", allow_pickle=True).item()
    mapping = ops["ophysio_int16"]
    assert mapping["policy"] == "scale" and mapping["source_dtype"] == "uint16"
    stored = Suite2pImagingExtractor(out).get_series()
    assert stored.min() == -32768 and stored.max() == 32767
    restored = (stored + 32768.0) / mapping["scale"] + mapping["offset"]
    assert np.abs(restored - m).max() <= 0.5 / mapping["scale"] + 1e-9
    small = movie(4, 6, 5, dtype="uint16") % 1000  # fits: stored exactly
    out = write_imaging(small, tmp_path / "exact", format="suite2p", sampling_frequency=RATE)
    np.testing.assert_array_equal(Suite2pImagingExtractor(out).get_series(), small)


def test_suite2p_limits(tmp_path):
    src = [NumpyImagingExtractor(movie(3, 4, 4, channel=c), RATE, channel_name=f"c{c}") for c in range(3)]
    with pytest.raises(WriterError, match="one or two channels"):
        write_imaging(src, tmp_path / "suite2p")
    with pytest.raises(WriterError, match="value_range"):
        with open_writer(tmp_path / "live", format="suite2p", int16="scale", sampling_frequency=1.0) as writer:
            writer.write_frames(movie(3, 4, 4, dtype="float32"))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- Zarr
def test_zarr_shards_and_unaligned_batches(tmp_path):
    zarr = pytest.importorskip("zarr")

    m = movie(23, 8, 6, dtype="int16")
    with open_writer(tmp_path / "s.zarr", sampling_frequency=RATE, chunks=(2, 8, 6), shards=(6, 8, 6),
                     compression="blosc") as writer:
        for a in range(0, 23, 5):  # batches that never line up with the shards
            writer.write_frames(m[a : a + 5])
    array = zarr.open_array(tmp_path / "s.zarr" / "0", mode="r")
    assert array.shards == (6, 8, 6) and array.chunks == (2, 8, 6)
    np.testing.assert_array_equal(array[:], m)
    with pytest.raises(WriterError, match="multiples"):
        write_imaging(m, tmp_path / "bad.zarr", sampling_frequency=RATE, chunks=(4, 8, 6), shards=(6, 8, 6))
    assert not (tmp_path / "bad.zarr").exists()
