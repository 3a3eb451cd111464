"""MATLAB .mat movies: the real v5 compressed denoise.mat, synthetic v7.3 and v5 files."""

import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from ophysio._synth.binary import matlab_movie
from ophysio.errors import FormatError, MetadataError, SelectionError
from ophysio.extractors import open_imaging
from ophysio.extractors.mat import MatImagingExtractor
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.data import sample_file
from ophysio.testing.synthetic import movie, write_mat_v5, write_mat_v73

from ...conversion._writer_cases import channel_movies, irregular_times, make_source
from ...memory_helpers import traced_peak

FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-mat-"))
DENOISE = "mat/denoise.mat"


def _once(name, writer, **kwargs) -> Path:
    path = FOLDER / name
    if not path.exists():
        writer(path, **kwargs)
    return path


def _written_by_ophysio(version: str) -> Path:
    """ophysio's own MAT writer: 2 volumetric channels with irregular timestamps (MATLAB Y x X x Z x C x T)."""
    path = FOLDER / f"written-v{version}.mat"
    if not path.exists():
        from ophysio.conversion.writers import write_imaging

        write_imaging(make_source("multichannel", timestamps=True), path, version=version)
    return path


CASES = {
    "denoise-v5-compressed": (lambda: sample_file(DENOISE), {"dims": "YXCT", "sampling_frequency": 4.0}),
    "v73-yxt-fr": (lambda: _once("v73.mat", write_mat_v73, variables={
        "movie": matlab_movie(11, 7, 9), "fr": np.array([[15.0]]), "other": np.zeros((3, 3))}), {}),
    "v73-yxct-ch1": (lambda: _once("v73c.mat", write_mat_v73, num_frames=6, rows=5, columns=4, dims="YXCT",
                                   num_channels=2, chunks=True), {"dims": "YXCT", "channel_index": 1,
                                                                  "sampling_frequency": 2.0}),
    "v73-yxzt": (lambda: _once("v73z.mat", write_mat_v73, variables={
        "vol": matlab_movie(5, 6, 4, "YXZT", num_planes=3, dtype="int16")}),
        {"dims": "YXZT", "sampling_frequency": 1.0}),
    "v5-memmap-fr": (lambda: _once("v5.mat", write_mat_v5, variables={
        "mov": matlab_movie(9, 8, 6, dtype="float32"), "fs": 12.0, "notes": "hello"}), {}),
    "v5-compressed-yxct-ch0": (lambda: _once("v5c.mat", write_mat_v5, num_frames=7, rows=4, columns=6,
                                             dims="YXCT", num_channels=2, compressed=True),
                               {"dims": "YXCT", "channel_name": "channel_0", "sampling_frequency": 3.0}),
    "v5-per-channel-ch2": (lambda: _once("v5ch.mat", write_mat_v5, variables={
        "ch1": matlab_movie(5, 4, 3, dtype="uint8"), "ch2": 2 * matlab_movie(5, 4, 3, dtype="uint8")}),
        {"channel_name": "ch2", "sampling_frequency": 3.0}),
    # the writer stores the source's channel names (ch0, ch1) in its channel_names variable
    "ophysio-writer-v73-ch1": (lambda: _written_by_ophysio("7.3"), {"channel_name": "ch1"}),
    "ophysio-writer-v5-ch0": (lambda: _written_by_ophysio("5"), {"channel_name": "ch0"}),
}


def _expected(case: str) -> np.ndarray:
    """Independent readings: scipy.io.loadmat (v5) or h5py (v7.3, axes reversed), to (T, Y, X[, Z])."""
    path = CASES[case][0]()
    if case == "denoise-v5-compressed":
        data = scipy.io.loadmat(path)["dataOut"]  # MATLAB Y x X x C x T
        return np.ascontiguousarray(data[:, :, 0, :].transpose(2, 0, 1))
    if case.startswith("ophysio-writer"):
        channel = int(case[-1])
        if "v73" in case:
            with h5py.File(path, "r") as f:  # stored (T, C, Z, X, Y)
                return np.ascontiguousarray(f["mov"][()][:, channel].transpose(0, 3, 2, 1))
        data = scipy.io.loadmat(path)["mov"]  # MATLAB Y x X x Z x C x T
        return np.ascontiguousarray(data[:, :, :, channel, :].transpose(3, 0, 1, 2))
    if case.startswith("v73"):
        with h5py.File(path, "r") as f:
            if case == "v73-yxt-fr":
                return np.ascontiguousarray(f["movie"][()].transpose(0, 2, 1))  # stored (T, X, Y)
            if case == "v73-yxct-ch1":
                return np.ascontiguousarray(f["movie"][()][:, 1].transpose(0, 2, 1))  # stored (T, C, X, Y)
            return np.ascontiguousarray(f["vol"][()].transpose(0, 3, 2, 1))  # stored (T, Z, X, Y)
    data = scipy.io.loadmat(path)
    if case == "v5-memmap-fr":
        return np.ascontiguousarray(data["mov"].transpose(2, 0, 1))
    if case == "v5-compressed-yxct-ch0":
        return np.ascontiguousarray(data["movie"][:, :, 0, :].transpose(2, 0, 1))
    return np.ascontiguousarray(data["ch2"].transpose(2, 0, 1))


class TestMat(ExtractorTests):
    def expected_timestamps(self, case):
        return irregular_times(6) if case.startswith("ophysio-writer") else None

    cases = list(CASES)

    def make_extractor(self, case):
        maker, kwargs = CASES[case]
        return MatImagingExtractor(maker(), **kwargs)

    def make_shrinkable(self, case, tmp_path):
        maker, kwargs = CASES[case]
        extractor = MatImagingExtractor(copy_source(maker(), tmp_path), **kwargs)
        return extractor, extractor.get_file_paths()

    def expected_series(self, case):
        return _expected(case)

    def expected_sampling_frequency(self, case):
        if case.startswith("ophysio-writer"):
            return make_source("multichannel", timestamps=True)["ch0"].get_sampling_frequency()
        return {"v73-yxt-fr": 15.0, "v5-memmap-fr": 12.0}.get(case, CASES[case][1].get("sampling_frequency"))


def test_denoise_facts():
    ex = MatImagingExtractor(sample_file(DENOISE), dims="YXCT", sampling_frequency=4.0)
    assert ex.variable == "dataOut" and ex.get_num_samples() == 10 and ex.get_image_shape() == (64, 64)
    assert ex.get_dtype() == np.dtype("uint16")
    meta = ex.get_metadata()
    assert meta["version"] == "5.0" and meta["matlab_shape"] == (64, 64, 1, 10)
    assert "PCWIN64" in meta["header"] and meta["storage"].startswith("compressed")
    with pytest.raises(MetadataError, match="pass dims= in MATLAB order"):
        MatImagingExtractor(sample_file(DENOISE), sampling_frequency=4.0)


def test_matlab_order_is_undone():
    """MATLAB movie(y, x, t) is get_series()[t, y, x] for v7.3 and v5 alike."""
    expected = movie(11, 7, 9, dtype="uint16")
    ex = MatImagingExtractor(CASES["v73-yxt-fr"][0]())
    np.testing.assert_array_equal(ex.get_series(), expected)
    assert ex.get_metadata()["sampling_frequency_source"] == "variable fr"
    np.testing.assert_array_equal(
        MatImagingExtractor(CASES["v5-memmap-fr"][0]()).get_series(), movie(9, 8, 6, dtype="float32"))
    vol = MatImagingExtractor(CASES["v73-yxzt"][0](), dims="YXZT", sampling_frequency=1.0)
    np.testing.assert_array_equal(vol.get_series(), movie(5, 6, 4, planes=3, dtype="int16"))
    plane = MatImagingExtractor(CASES["v73-yxzt"][0](), dims="YXZT", plane_index=2, sampling_frequency=1.0)
    np.testing.assert_array_equal(plane.get_series(), movie(5, 6, 4, planes=3, dtype="int16")[..., 2])


def test_uncompressed_v5_is_memory_mapped_not_loaded():
    ex = MatImagingExtractor(CASES["v5-memmap-fr"][0]())
    assert ex.get_metadata()["storage"] == "memory-mapped"
    ex.get_series(2, 4)
    assert ex._array is None and ex._memmap is not None
    ex.close()
    assert ex._memmap is None


def test_variable_discovery_and_errors(tmp_path):
    path = write_mat_v5(tmp_path / "two.mat", variables={"a": np.zeros((3, 4, 5), "u2"), "b": np.ones((3, 4, 5), "u2")})
    with pytest.raises(FormatError, match=r"(?s)none is clearly it.*a 3x4x5.*b 3x4x5.*variable="):
        MatImagingExtractor(path, sampling_frequency=1.0)
    assert MatImagingExtractor(path, variable="b", sampling_frequency=1.0).get_series().min() == 1
    with pytest.raises(SelectionError, match="no numeric 3-D or higher variable 'c'; variables: a 3x4x5 uint16"):
        MatImagingExtractor(path, variable="c", sampling_frequency=1.0)
    no_rate = MatImagingExtractor(path, variable="a")
    assert no_rate.get_sampling_frequency() is None
    with pytest.raises(MetadataError, match="no sampling rate .*no scalar variable"):
        no_rate.get_timestamps()
    v73 = write_mat_v73(tmp_path / "s.mat", variables={"small": np.zeros((2, 2, 2), "u1"),
                                                        "big": np.zeros((4, 4, 8), "u1")})
    assert MatImagingExtractor(v73, sampling_frequency=1.0).variable == "big"
    bad = tmp_path / "v4.mat"
    bad.write_bytes(b"\x00" * 200)
    with pytest.raises(FormatError, match="no 'MATLAB 5.0' or 'MATLAB 7.3'"):
        MatImagingExtractor(bad, sampling_frequency=1.0)


def test_truncated_v5_is_a_clear_error(tmp_path):
    path = CASES["v5-memmap-fr"][0]()
    cut = tmp_path / "cut.mat"
    cut.write_bytes(path.read_bytes()[:400])
    with pytest.raises(FormatError, match="runs past the end of the file"):
        MatImagingExtractor(cut, sampling_frequency=1.0)


def test_open_imaging_picks_mat_by_content(tmp_path):
    ex = open_imaging(sample_file(DENOISE), dims="YXCT", sampling_frequency=4.0)
    assert isinstance(ex, MatImagingExtractor)
    ex = open_imaging(CASES["v73-yxt-fr"][0]())  # HDF5 inside, but the MAT header text decides
    assert isinstance(ex, MatImagingExtractor) and ex.get_metadata()["version"] == "7.3"
    renamed = tmp_path / "movie.h5"  # the MAT header wins over the suffix: MATLAB's axis order is undone
    renamed.write_bytes(CASES["v73-yxt-fr"][0]().read_bytes())
    ex = open_imaging(renamed)
    assert isinstance(ex, MatImagingExtractor)
    np.testing.assert_array_equal(ex.get_series(), movie(11, 7, 9, dtype="uint16"))


def test_damaged_v5_headers_are_clear_errors(tmp_path):
    data = bytearray(CASES["v5-memmap-fr"][0]().read_bytes())
    data[136:144] = b"\xff" * 8  # the first matrix's array-flags tag
    bad = tmp_path / "bad.mat"
    bad.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="bad.mat"):
        MatImagingExtractor(bad, sampling_frequency=1.0)


def test_v73_compressed_chunks_get_a_chunk_cache(tmp_path):
    import pickle

    path = tmp_path / "big.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        # written whole: never-written chunks would read as fill values, which ophysio refuses as data
        dset = f.create_dataset("movie", data=np.full((64, 512, 512), 7, "u2"), chunks=(64, 64, 64),
                                compression="gzip")  # MATLAB 512 x 512 x 64
        dset.attrs["MATLAB_class"] = np.bytes_("uint16")
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file".ljust(116) + bytes(8) + b"\x00\x02IM")
    ex = MatImagingExtractor(path, sampling_frequency=1.0)
    assert ex._file.opener.keywords["rdcc_nbytes"] >= 64 * 512 * 512 * 2
    clone = pickle.loads(pickle.dumps(ex))
    assert int(clone.get_series(3, 4).sum()) == 512 * 512 * 7
    clone.close()
    ex.close()


@pytest.mark.parametrize("version", ["7.3", "5"])
def test_our_writers_extras_are_read(version):
    """The ``dims`` char variable gives the axis order, the ``timestamps`` variable the times."""
    path = _written_by_ophysio(version)
    ex = MatImagingExtractor(path, channel_index=1)
    meta = ex.get_metadata()
    assert meta["matlab_dims"] == "YXZCT" and meta["dims_source"] == "variable dims"
    assert meta["timestamps_source"] == "variable timestamps"
    if version == "7.3":
        with h5py.File(path, "r") as f:
            stored = f["timestamps"][()]
            assert "".join(map(chr, f["dims"][()].ravel())) == "YXZCT"
    else:
        stored = scipy.io.loadmat(path)["timestamps"]
        assert scipy.io.loadmat(path)["dims"][0] == "YXZCT"
    np.testing.assert_array_equal(ex.get_native_timestamps(), stored.ravel())
    np.testing.assert_array_equal(ex.get_series(), channel_movies("multichannel")[1])


# ---------------------------------------------------------------------- compressed v5 variables in slabs
def _compressed_matrix(name: str, class_code: int, shape: tuple, mi_type: int, values: bytes) -> bytes:
    """One miCOMPRESSED element holding an miMATRIX, built byte by byte as the MAT-file format describes
    (little-endian), so that the stored type can differ from the class as MATLAB may write it."""
    import struct
    import zlib

    def element(kind: int, payload: bytes) -> bytes:
        return struct.pack("<II", kind, len(payload)) + payload + b"\0" * (-len(payload) % 8)

    content = (element(6, struct.pack("<II", class_code, 0)) + element(5, struct.pack(f"<{len(shape)}i", *shape))
               + element(1, name.encode()) + element(mi_type, values))
    matrix = struct.pack("<II", 14, len(content)) + content
    stream = zlib.compress(matrix)
    return struct.pack("<II", 15, len(stream)) + stream  # compressed elements are not padded


def _mat_header() -> bytes:
    text = b"MATLAB 5.0 MAT-file, written by the ophysio tests"
    return text.ljust(116, b" ") + b"\0" * 8 + b"\x00\x01IM"


def test_compressed_v5_reads_slabs_in_any_order(monkeypatch, tmp_path):
    from ophysio.extractors._matlab import v5 as _matv5

    # small checkpoints and read steps: many of both in a small file
    monkeypatch.setattr(_matv5, "CHECKPOINT_BYTES", 1024)
    monkeypatch.setattr(_matv5, "_READ_BYTES", 1000)
    data = matlab_movie(40, 9, 11, "YXCT", num_channels=2, dtype="int16")  # MATLAB 9 x 11 x 2 x 40
    path = write_mat_v5(tmp_path / "c.mat", variables={"movie": data}, compressed=True)
    expected = scipy.io.loadmat(path)["movie"][:, :, 1, :].transpose(2, 0, 1)
    ex = MatImagingExtractor(path, dims="YXCT", channel_index=1, sampling_frequency=5.0)
    assert ex.get_metadata()["storage"] == "compressed: decompressed up to the samples read"
    rng = np.random.default_rng(3)
    pairs = [(0, 40), (30, 40), (2, 3), (39, 40), (10, 25), (0, 1)] + [
        tuple(sorted(rng.integers(0, 41, 2))) for _ in range(40)]
    for start, stop in pairs:
        np.testing.assert_array_equal(ex.get_series(start, stop), expected[start:stop], err_msg=f"{start}:{stop}")
    values = ex._values
    end = values._values_at + 40 * 9 * 11 * 2 * 2  # the values end 15840 bytes after they start
    assert [c[0] for c in values._checkpoints] == list(range(0, end, 1024))  # each saved once, in order
    ex.close()
    np.testing.assert_array_equal(ex.get_series(5, 9), expected[5:9])  # reopens after close


def test_compressed_v5_stored_in_a_smaller_type_than_its_class(tmp_path):
    # MATLAB may store a double array whose values are small integers as miUINT8 (type 2)
    matlab = (np.arange(6 * 5 * 8) % 251).astype(np.uint8).reshape((6, 5, 8), order="F")  # Y x X x T
    values = matlab.tobytes(order="F")
    path = tmp_path / "compact.mat"
    path.write_bytes(_mat_header() + _compressed_matrix("mov", 6, matlab.shape, 2, values)
                     + _compressed_matrix("fr", 6, (1, 1), 9, np.float64(7.5).tobytes()))
    reference = scipy.io.loadmat(path, mat_dtype=True)["mov"]
    assert reference.dtype == np.float64
    ex = MatImagingExtractor(path)
    assert ex.dtype == np.float64 and ex.get_sampling_frequency() == 7.5
    assert ex.get_metadata()["storage"] == "compressed: decompressed up to the samples read"
    np.testing.assert_array_equal(ex.get_series(), reference.transpose(2, 0, 1))
    np.testing.assert_array_equal(ex.get_series(3, 5), matlab.transpose(2, 0, 1)[3:5].astype(np.float64))


def test_compressed_v5_memory_stays_at_the_samples_read(tmp_path):
    # 256 x 256 x 500 uint16: 65.5 MB of values; MATLAB order Y x X x T
    rng = np.random.default_rng(0)
    frames = np.zeros((500, 256, 256), np.uint16)
    frames[:, ::7, ::5] = rng.integers(0, 4000, frames[:, ::7, ::5].shape)
    path = write_mat_v5(tmp_path / "big.mat", variables={"mov": frames.transpose(1, 2, 0), "fr": 10.0},
                        compressed=True)
    ex = MatImagingExtractor(path)
    last, peak = traced_peak(lambda: ex.get_series(490, 500))
    np.testing.assert_array_equal(last, frames[490:500])
    assert peak < 12 * 1024**2, f"peak {peak / 1e6:.1f} MB for 1.3 MB of samples of a 65.5 MB variable"
    np.testing.assert_array_equal(ex.get_series(0, 3), frames[0:3])  # back to the start


def test_compressed_v5_with_time_not_last_is_read_whole(tmp_path):
    data = matlab_movie(6, 4, 5, dtype="uint16")  # MATLAB 4 x 5 x 6 (Y x X x T)
    path = write_mat_v5(tmp_path / "t.mat", variables={"mov": np.ascontiguousarray(data.transpose(2, 0, 1))},
                        compressed=True)  # MATLAB 6 x 4 x 5: T x Y x X
    ex = MatImagingExtractor(path, dims="TYX", sampling_frequency=2.0)
    assert ex.get_metadata()["storage"] == "compressed: decompressed into memory on first read"
    np.testing.assert_array_equal(ex.get_series(1, 4), data.transpose(2, 0, 1)[1:4])


@pytest.mark.parametrize("damage", ["garbled", "cut-stream"])
def test_damaged_compressed_v5_values_are_clear_errors(tmp_path, damage):
    from ophysio.errors import CorruptFileError

    rng = np.random.default_rng(1)
    frames = rng.integers(0, 60000, (50, 32, 32), dtype=np.uint16)  # incompressible: the stream is long
    path = write_mat_v5(tmp_path / "ok.mat", variables={"fr": 3.0, "mov": frames.transpose(1, 2, 0)},
                        compressed=True)
    data = bytearray(path.read_bytes())
    import struct

    first = 136 + struct.unpack_from("<I", data, 132)[0]  # the movie's element follows the rate's
    if damage == "garbled":
        data[first + 20000 : first + 20400] = rng.integers(0, 256, 400, dtype=np.uint8).tobytes()
    else:  # the element keeps its length, but its zlib stream stops halfway through the values
        import zlib

        count = struct.unpack_from("<I", data, first + 4)[0]
        stream = zlib.decompress(bytes(data[first + 8 : first + 8 + count]))
        short = zlib.compress(stream[: len(stream) // 2])
        data[first + 8 : first + 8 + count] = short + b"\0" * (count - len(short))
    bad = tmp_path / "bad.mat"
    bad.write_bytes(bytes(data))
    ex = MatImagingExtractor(bad)
    np.testing.assert_array_equal(ex.get_series(0, 2), frames[0:2])  # what comes before the damage is read
    with pytest.raises(CorruptFileError, match=r"bad\.mat: compressed variable mov"):
        ex.get_series(40, 50)
    with pytest.raises(CorruptFileError, match=r"bad\.mat: compressed variable mov"):  # and again, not stuck
        ex.get_series(45, 50)


def test_rate_behind_a_damaged_compressed_movie_is_a_clear_error(tmp_path):
    from ophysio.errors import CorruptFileError

    frames = np.random.default_rng(2).integers(0, 60000, (50, 32, 32), dtype=np.uint16)
    path = write_mat_v5(tmp_path / "ok.mat", variables={"mov": frames.transpose(1, 2, 0), "fr": 3.0},
                        compressed=True)
    data = bytearray(path.read_bytes())
    data[400:800] = bytes(400)  # inside the movie's zlib stream, which scipy crosses to reach fr
    bad = tmp_path / "bad.mat"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"bad\.mat: variable fr cannot be read"):
        MatImagingExtractor(bad)


def test_damaged_compressed_v5_read_whole_is_a_clear_error(tmp_path):
    import struct

    from ophysio.errors import CorruptFileError

    frames = np.random.default_rng(4).integers(0, 60000, (30, 32, 32), dtype=np.uint16)  # MATLAB T x Y x X
    path = write_mat_v5(tmp_path / "ok.mat", variables={"fr": 3.0, "mov": frames}, compressed=True)
    data = bytearray(path.read_bytes())
    first = 136 + struct.unpack_from("<I", data, 132)[0]  # the movie's element follows the rate's
    data[first + 20000 : first + 20100] = bytes(100)
    bad = tmp_path / "bad.mat"
    bad.write_bytes(bytes(data))
    ex = MatImagingExtractor(bad, dims="TYX")  # time first: not contiguous in the stream, read whole by scipy
    assert ex.get_metadata()["storage"] == "compressed: decompressed into memory on first read"
    with pytest.raises(CorruptFileError, match=r"bad\.mat: variable mov cannot be read"):
        ex.get_series(0, 2)
