"""write_imaging to HDF5 and MAT, then open_imaging(path) with no keywords: the source comes back whole.

Pixels, dtype, shape, rate, irregular timestamps and channel names are read from what our writers
store beside the movie (HDF5: the ``timestamps`` and ``channel_names`` attributes; MAT: the ``dims``,
``timestamps`` and ``channel_names`` variables). Files without those extras read as before; damaged ones
are clear errors, and MAT channel names that do not fit are ignored.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import ophysio
from ophysio._synth.binary import matlab_movie
from ophysio.conversion.writers import WriterError, write_imaging
from ophysio.errors import MetadataError, SelectionError
from ophysio.extractors import NumpyImagingExtractor
from ophysio.extractors.hdf5 import Hdf5ImagingExtractor
from ophysio.extractors.mat import MatImagingExtractor
from ophysio.testing.synthetic import movie, write_mat_v5, write_mat_v73

from ._writer_cases import CASES, RATE, channel_movies, irregular_times, make_source

OUTPUTS = {"hdf5": ("m.h5", {}), "mat-7.3": ("m.mat", {"version": "7.3"}), "mat-5": ("m.mat", {"version": "5"})}


def _source_rate(source) -> float:
    first = source if not isinstance(source, dict) else next(iter(source.values()))
    return first.get_sampling_frequency()


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("output", list(OUTPUTS))
def test_open_imaging_gives_back_the_source(tmp_path, output, case):
    name, options = OUTPUTS[output]
    source = make_source(case, timestamps=True)
    movies = channel_movies(case)
    times = irregular_times(movies[0].shape[0])
    out = write_imaging(source, tmp_path / name, **options)
    # both writers store the source's names (MAT: a C x L char matrix channel_names)
    names = [f"ch{c}" for c in range(len(movies))]
    for c, expected in enumerate(movies):
        ext = ophysio.open_imaging(out, **({"channel_name": names[c]} if len(movies) > 1 else {}))
        assert type(ext) is (Hdf5ImagingExtractor if output == "hdf5" else MatImagingExtractor)
        assert ext.get_channel_names() == names and ext.channel_name == names[c]
        assert ext.shape == expected.shape and ext.dtype == expected.dtype
        np.testing.assert_array_equal(ext.get_series(), expected)
        np.testing.assert_array_equal(ext.get_timestamps(), times)
        np.testing.assert_array_equal(ext.get_native_timestamps(), times)
        assert ext.get_sampling_frequency() == _source_rate(source)
        meta = ext.get_metadata()
        if output == "hdf5":
            assert meta["timestamps_source"] == "dataset timestamps"
        else:
            assert meta["timestamps_source"] == "variable timestamps" and meta["dims_source"] == "variable dims"
            assert meta["matlab_dims"] == "YX" + ("Z" if expected.ndim == 4 else "") + (
                "C" if len(movies) > 1 else "") + "T"


@pytest.mark.parametrize("output", list(OUTPUTS))
def test_regular_source_reads_back_its_rate_and_times(tmp_path, output):
    name, options = OUTPUTS[output]
    out = write_imaging(make_source("planar"), tmp_path / name, **options)
    ext = ophysio.open_imaging(out)
    assert ext.get_sampling_frequency() == RATE
    np.testing.assert_array_equal(ext.get_timestamps(), np.arange(ext.get_num_samples()) / RATE)


# ---------------------------------------------------------------- HDF5 without or with damaged extras
def _h5(tmp_path, case="multichannel", **options):
    return write_imaging(make_source(case, timestamps=True), tmp_path / "m.h5", **options)


def test_hdf5_without_extras_reads_as_before(tmp_path):
    out = _h5(tmp_path, timestamps=False)
    with h5py.File(out, "r+") as f:
        assert "timestamps" not in f and "timestamps" not in f["mov"].attrs
        del f["mov"].attrs["channel_names"]
    ext = Hdf5ImagingExtractor(out, channel_index=1)
    assert ext.get_channel_names() == ["channel_0", "channel_1"] and ext.get_native_timestamps() is None
    np.testing.assert_array_equal(ext.get_series(), channel_movies("multichannel")[1])
    rate = ext.get_sampling_frequency()
    np.testing.assert_array_equal(ext.get_timestamps(), np.arange(ext.get_num_samples()) / rate)


def test_hdf5_channel_names_that_do_not_fit_are_left_for_generic_ones(tmp_path):
    out = _h5(tmp_path)
    with h5py.File(out, "r+") as f:
        f["mov"].attrs["channel_names"] = np.array(["only one"], dtype=object)
    assert Hdf5ImagingExtractor(out).get_channel_names() == ["channel_0", "channel_1"]
    with h5py.File(out, "r+") as f:
        f["mov"].attrs["channel_names"] = np.array(["same", "same"], dtype=object)
    assert Hdf5ImagingExtractor(out).get_channel_names() == ["channel_0", "channel_1"]


def test_hdf5_timestamps_named_by_path_and_reference(tmp_path):
    out = _h5(tmp_path, case="planar", dataset="acq/movie")
    times = irregular_times(11)
    with h5py.File(out, "r+") as f:
        assert f["acq/movie"].attrs["timestamps"] == "/acq/timestamps"
        f["acq/movie"].attrs["timestamps"] = "timestamps"  # relative to the movie's group
    np.testing.assert_array_equal(Hdf5ImagingExtractor(out).get_timestamps(), times)
    with h5py.File(out, "r+") as f:
        f["acq/movie"].attrs["timestamps"] = f["acq/timestamps"].ref
    np.testing.assert_array_equal(Hdf5ImagingExtractor(out).get_timestamps(), times)
    with h5py.File(out, "r+") as f:
        f["acq/movie"].attrs["timestamps"] = 3.5  # not a name: left alone, as before
    assert Hdf5ImagingExtractor(out).get_native_timestamps() is None


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: f.__delitem__("timestamps"), r"names '/timestamps', which is not a dataset"),
        (lambda f: _replace(f, "timestamps", np.arange(5.0)), r"timestamps dataset timestamps holds 5 times for 6"),
        (lambda f: _replace(f, "timestamps", np.zeros((6, 2))), r"timestamps dataset timestamps is float64 of shape"),
        (lambda f: _replace(f, "timestamps", np.array([b"a"] * 6)), r"not a 1-D array of numbers"),
        (lambda f: f["timestamps"].__setitem__(3, np.nan), r"timestamp 3 is nan"),
        (lambda f: f["timestamps"].__setitem__(4, 0.0), r"go backwards at sample 4"),
    ],
    ids=["missing", "short", "2-D", "text", "nan", "backwards"],
)
def test_hdf5_damaged_timestamps_are_clear_errors(tmp_path, damage, message):
    out = _h5(tmp_path)
    with h5py.File(out, "r+") as f:
        damage(f)
    with pytest.raises(MetadataError, match=message) as info:
        ophysio.open_imaging(out, channel_name="ch0")
    assert str(out) in str(info.value)


def _replace(group, name: str, data: np.ndarray) -> None:
    del group[name]
    group[name] = data


# ---------------------------------------------------------------- MAT without or with damaged extras
def test_mat_numeric_dims_and_text_timestamps_are_someone_elses(tmp_path):
    """A numeric `dims` (sizes) and a char `timestamps` are not ours: the file reads as before."""
    data = matlab_movie(6, 5, 4, dtype="uint16")
    for path in (write_mat_v5(tmp_path / "v5.mat", variables={"mov": data, "fs": 2.0, "dims": np.array([[5, 4, 6]]),
                                                              "timestamps": "not times"}),
                 write_mat_v73(tmp_path / "v73.mat", variables={"mov": data, "fs": np.array([[2.0]]),
                                                                "dims": np.array([[5.0, 4.0, 6.0]])})):
        ext = ophysio.open_imaging(path)
        assert ext.get_metadata()["dims_source"] == "default for 3-D variables"
        assert ext.get_native_timestamps() is None
        np.testing.assert_array_equal(ext.get_series(), movie(6, 5, 4, dtype="uint16"))


@pytest.mark.parametrize("compressed", [False, True])
def test_mat_v5_extras_from_scipy_savemat(tmp_path, compressed):
    """MATLAB's own -v7 files (compressed elements, char as miUTF8/miUINT16) carry the same variables."""
    data = matlab_movie(7, 4, 5, "YXCT", 2, dtype="int16")
    times = irregular_times(7)
    path = write_mat_v5(tmp_path / "s.mat", variables={"mov": data, "fs": 3.0, "dims": "YXCT",
                                                       "timestamps": times[None, :]}, compressed=compressed)
    ext = ophysio.open_imaging(path, channel_name="channel_1")
    np.testing.assert_array_equal(ext.get_series(), movie(7, 4, 5, dtype="int16", channel=1))
    np.testing.assert_array_equal(ext.get_timestamps(), times)
    # dims= given still wins over the file's variable
    with pytest.raises(MetadataError, match="one distinct letter per stored axis"):
        MatImagingExtractor(path, dims="YXT")


def _mat(tmp_path, version: str):
    return write_imaging(make_source("volumetric", timestamps=True), tmp_path / f"v{version}.mat", version=version)


def _rewrite_v5(path, **changes):
    """The v5 file again with some small variables changed (scipy reads the rest)."""
    import scipy.io

    variables = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    variables.update(changes)
    return write_mat_v5(path, variables=variables)


@pytest.mark.parametrize("version", ["7.3", "5"])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timestamps": np.arange(6.0)[None, :]}, r"variable timestamps \(1x6 double\) does not hold one time per"),
        ({"timestamps": np.zeros((7, 2))}, r"variable timestamps \(7x2 double\) does not hold one time per"),
        ({"timestamps": np.array([[0.0, 1, 2, np.inf, 4, 5, 6]])}, r"timestamp 3 is inf"),
        ({"timestamps": np.array([[0.0, 1, 2, 3, 2, 5, 6]])}, r"go backwards at sample 4"),
        ({"dims": "YXT"}, r"char variable 'dims' \('YXT'\) does not fit variable mov"),
        ({"dims": "YXZT" * 5}, r"char variable 'dims' is 1x20, not an axis order"),
    ],
    ids=["short", "matrix", "inf", "backwards", "dims-wrong", "dims-long"],
)
def test_mat_damaged_extras_are_clear_errors(tmp_path, version, change, message):
    path = _mat(tmp_path, version)
    if version == "5":
        _rewrite_v5(path, **change)
    else:
        with h5py.File(path, "r+") as f:
            for name, value in change.items():
                del f[name]
                if isinstance(value, str):
                    codes = np.frombuffer(value.encode("ascii"), np.uint8).astype(np.uint16)[:, None]
                    f.create_dataset(name, data=codes).attrs["MATLAB_class"] = np.bytes_("char")
                else:
                    f.create_dataset(name, data=value.T).attrs["MATLAB_class"] = np.bytes_("double")
    with pytest.raises(MetadataError, match=message) as info:
        ophysio.open_imaging(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("version", ["7.3", "5"])
def test_mat_without_extras_reads_as_before(tmp_path, version):
    path = _mat(tmp_path, version)
    if version == "5":
        import scipy.io

        variables = {k: v for k, v in scipy.io.loadmat(path).items() if k in ("mov", "fs")}
        write_mat_v5(path, variables=variables)
    else:
        with h5py.File(path, "r+") as f:
            del f["dims"], f["timestamps"]
    with pytest.raises(MetadataError, match="pass dims= in MATLAB order"):
        ophysio.open_imaging(path)
    ext = ophysio.open_imaging(path, dims="YXZT")
    assert ext.get_native_timestamps() is None and ext.get_metadata()["dims_source"] == "given"
    np.testing.assert_array_equal(ext.get_series(), channel_movies("volumetric")[0])


# ---------------------------------------------------------------- MAT channel names
NAMED = ("GCaMP6f", "tdTomato red")  # different lengths: the shorter row is space-padded


def _named_source(case: str = "multichannel"):
    movies = channel_movies(case)
    times = irregular_times(movies[0].shape[0])
    exts = {name: NumpyImagingExtractor(m, None, timestamps=times, channel_name=name)
            for name, m in zip(NAMED, movies)}
    return exts, movies, times


def _char_rows(codes: np.ndarray) -> list[str]:
    return ["".join(chr(int(c)) for c in row) for row in codes]


@pytest.mark.parametrize("version", ["7.3", "5"])
@pytest.mark.parametrize("case", ["multichannel", "planar-2ch"])
def test_mat_channel_names_round_trip(tmp_path, version, case):
    if case == "planar-2ch":
        movies = [movie(8, 6, 5, None, "float32", channel=c) for c in range(2)]
        times = irregular_times(8)
        source = {name: NumpyImagingExtractor(m, None, timestamps=times, channel_name=name)
                  for name, m in zip(NAMED, movies)}
    else:
        source, movies, times = _named_source(case)
    out = write_imaging(source, tmp_path / "named.mat", version=version)
    for name, expected in zip(NAMED, movies):
        ext = ophysio.open_imaging(out, channel_name=name)
        assert type(ext) is MatImagingExtractor
        assert ext.get_channel_names() == list(NAMED) and ext.channel_name == name
        assert ext.dtype == expected.dtype and ext.shape == expected.shape
        np.testing.assert_array_equal(ext.get_series(), expected)
        np.testing.assert_array_equal(ext.get_timestamps(), times)
        assert ext.get_sampling_frequency() == source[name].get_sampling_frequency()
    # the channel index agrees with the names, and the generic names no longer select
    np.testing.assert_array_equal(MatImagingExtractor(out, channel_index=1).get_series(), movies[1])
    with pytest.raises(SelectionError, match="'channel_1' is not one of"):
        MatImagingExtractor(out, channel_name="channel_1")


@pytest.mark.parametrize("version", ["7.3", "5"])
def test_mat_channel_names_as_matlab_sees_them(tmp_path, version):
    """C x L char, rows space-padded (MATLAB's char({'GCaMP6f', 'tdTomato red'}))."""
    import scipy.io

    source, _, _ = _named_source()
    out = write_imaging(source, tmp_path / "named.mat", version=version)
    padded = ["GCaMP6f     ", "tdTomato red"]
    if version == "7.3":
        with h5py.File(out, "r") as f:
            dset = f["channel_names"]
            assert dset.attrs["MATLAB_class"] == b"char" and dset.attrs["MATLAB_int_decode"] == 2
            assert dset.dtype == np.uint16 and dset.shape == (12, 2)  # HDF5 lists MATLAB's 2 x 12 reversed
            assert _char_rows(dset[()].T) == padded
            assert _char_rows(f["dims"][()].T) == ["YXZCT"]  # the same convention as dims
    else:
        assert ("channel_names", (2,), "char") in scipy.io.whosmat(out)
        value = scipy.io.loadmat(out, variable_names=["channel_names"], chars_as_strings=False)["channel_names"]
        assert value.shape == (2, 12) and ["".join(row) for row in value] == padded
        assert list(scipy.io.loadmat(out, variable_names=["channel_names"])["channel_names"]) == padded


@pytest.mark.parametrize("version", ["7.3", "5"])
def test_mat_single_channel_name_is_one_row(tmp_path, version):
    src = NumpyImagingExtractor(channel_movies("planar")[0], RATE, channel_name="green")
    out = write_imaging(src, tmp_path / "one.mat", version=version)
    ext = ophysio.open_imaging(out)
    assert ext.get_channel_names() == ["green"] and ext.channel_name == "green"
    assert ophysio.open_imaging(out, channel_name="green").get_metadata()["matlab_dims"] == "YXT"


@pytest.mark.parametrize(
    "names",
    [
        np.array(["only one"]),  # one row for two channels
        np.array(["a", "b", "c"]),  # three rows
        np.array([[1.0, 2.0], [3.0, 4.0]]),  # numeric 2 x 2
        np.array(["same", "same"]),  # duplicates
        np.array(["    ", "red "]),  # an empty name
    ],
    ids=["one", "three", "numeric", "duplicates", "empty"],
)
def test_mat_v5_channel_names_that_do_not_fit_are_ignored(tmp_path, names):
    """A scipy-written v5 file whose channel_names does not name the C axis reads with generic names."""
    import scipy.io

    data = matlab_movie(7, 4, 5, "YXCT", 2, dtype="int16")
    path = write_mat_v5(tmp_path / "s.mat", variables={"mov": data, "fs": 3.0, "dims": "YXCT",
                                                       "channel_names": names})
    stored = scipy.io.loadmat(path, variable_names=["channel_names"])["channel_names"]
    assert stored.dtype.kind == ("f" if names.dtype.kind == "f" else "U")
    ext = ophysio.open_imaging(path, channel_name="channel_1")
    assert ext.get_channel_names() == ["channel_0", "channel_1"]
    np.testing.assert_array_equal(ext.get_series(), movie(7, 4, 5, dtype="int16", channel=1))


def test_mat_v5_channel_names_from_scipy_savemat(tmp_path):
    """A char matrix written by scipy (as MATLAB's save would) names the channels."""
    data = matlab_movie(7, 4, 5, "YXCT", 2, dtype="int16")
    path = write_mat_v5(tmp_path / "s.mat", variables={"mov": data, "fs": 3.0, "dims": "YXCT",
                                                       "channel_names": np.array(["red  ", "green"])})
    ext = ophysio.open_imaging(path, channel_name="green")
    assert ext.get_channel_names() == ["red", "green"]
    np.testing.assert_array_equal(ext.get_series(), movie(7, 4, 5, dtype="int16", channel=1))


def test_mat_v73_channel_names_that_do_not_fit_are_ignored(tmp_path):
    source, movies, _ = _named_source()
    out = write_imaging(source, tmp_path / "named.mat")
    for replace in (
        lambda f: f.create_dataset("channel_names", data=np.array([[97, 98]], np.uint16).T),  # 1 row
        lambda f: f.create_dataset("channel_names", data=np.array([[97, 97], [98, 98]], np.uint16)),  # same
        lambda f: f.create_dataset("channel_names", data=np.full((3, 2), 32, np.uint16)),  # empty names
    ):
        with h5py.File(out, "r+") as f:
            del f["channel_names"]
            replace(f).attrs["MATLAB_class"] = np.bytes_("char")
        ext = ophysio.open_imaging(out, channel_name="channel_1")
        assert ext.get_channel_names() == ["channel_0", "channel_1"]
        np.testing.assert_array_equal(ext.get_series(), movies[1])
        ext.close()  # the file is held open (CachedFile) until then
    with h5py.File(out, "r+") as f:  # the right shape but not char: someone else's
        del f["channel_names"]
        f["channel_names"] = np.array([[97, 98], [99, 100]], np.uint16)
        f["channel_names"].attrs["MATLAB_class"] = np.bytes_("uint16")
    assert ophysio.open_imaging(out).get_channel_names() == ["channel_0", "channel_1"]


@pytest.mark.parametrize("version", ["7.3", "5"])
def test_mat_non_ascii_channel_names_round_trip(tmp_path, version):
    """MATLAB chars are UTF-16 code units (v5: miUINT16, read with the file's byte order)."""
    movies = [movie(4, 3, 2, None, "uint8", channel=c) for c in range(2)]
    names = ["λ-GCaMP", "Ca²⁺ red"]
    src = {n: NumpyImagingExtractor(m, 5.0, channel_name=n) for n, m in zip(names, movies)}
    out = write_imaging(src, tmp_path / "u.mat", version=version)
    ext = ophysio.open_imaging(out, channel_name="Ca²⁺ red")
    assert ext.get_channel_names() == names
    np.testing.assert_array_equal(ext.get_series(), movies[1])


def test_mat_writer_refuses_channel_names_as_the_movie_variable(tmp_path):
    with pytest.raises(WriterError, match="cannot be called 'channel_names'"):
        write_imaging(make_source("planar"), tmp_path / "x.mat", variable="channel_names")
