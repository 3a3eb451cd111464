"""Containment: references in a dataset are followed only inside its folder, unless allow_outside= says more.

Each malicious dataset is built in tmp_path as ``tmp_path/dataset/...`` referring to
``tmp_path/outside/...`` (or /etc/passwd); the same reference kept inside the folder still reads, equal to
an independent read, and ``allow_outside`` lets the outside one through.
"""

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from ophysio import open_imaging
from ophysio.errors import ContainmentError, FormatError, OptionError, SelectionError
from ophysio.extractors.hdf5 import Hdf5ImagingExtractor
from ophysio.extractors.mat import MatImagingExtractor
from ophysio.testing.synthetic import movie

MOVIE = movie(5, 6, 4, dtype="uint16")  # (T, Y, X)


@pytest.fixture
def folders(tmp_path):
    inside, outside = tmp_path / "dataset", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    return inside, outside


def _movie_file(path: Path, data=MOVIE, name="mov") -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset(name, data=data)
    return path


def _independent(path: Path, name="mov") -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f[name][()]


def _linking(path: Path, **links) -> Path:
    with h5py.File(path, "w") as f:
        for name, link in links.items():
            f[name] = link
    return path


# ---------------------------------------------------------------------------------------------------- HDF5
def test_external_link_out_of_the_folder_is_refused_and_named(folders):
    inside, outside = folders
    _movie_file(outside / "secret.h5")
    path = _linking(inside / "a.h5", ext=h5py.ExternalLink("../outside/secret.h5", "/mov"))
    with pytest.raises(ContainmentError, match=r"a\.h5: the external link /ext \(to '\.\./outside/secret\.h5'"):
        Hdf5ImagingExtractor(path, dataset="ext", sampling_frequency=10)
    absolute = _linking(inside / "b.h5", ext=h5py.ExternalLink(str(outside / "secret.h5"), "/"))
    with pytest.raises(ContainmentError, match="outside the dataset's folder"):
        Hdf5ImagingExtractor(absolute, dataset="ext/mov", sampling_frequency=10)
    with pytest.raises(PermissionError):  # the built-in that fits
        open_imaging(path, dataset="ext", sampling_frequency=10)
    for allow in (True, [outside], str(outside)):
        ex = Hdf5ImagingExtractor(path, dataset="ext", sampling_frequency=10, allow_outside=allow)
        np.testing.assert_array_equal(ex.get_series(), MOVIE)
    ex = open_imaging(absolute, dataset="ext/mov", sampling_frequency=10, allow_outside=True)
    np.testing.assert_array_equal(ex.get_series(), MOVIE)


def test_external_link_inside_the_folder_is_followed(folders):
    inside, _ = folders
    _movie_file(inside / "sub.h5")
    (inside / "deeper").mkdir()
    _movie_file(inside / "deeper" / "more.h5", MOVIE + 1)
    path = _linking(inside / "a.h5", ext=h5py.ExternalLink("sub.h5", "/mov"),
                    grp=h5py.ExternalLink("deeper/more.h5", "/"))
    ex = Hdf5ImagingExtractor(path, dataset="ext", sampling_frequency=10)
    np.testing.assert_array_equal(ex.get_series(), _independent(inside / "sub.h5"))
    ex = Hdf5ImagingExtractor(path, dataset="/grp/mov", sampling_frequency=10)
    np.testing.assert_array_equal(ex.get_series(), _independent(inside / "deeper" / "more.h5"))


def test_a_symlink_inside_the_folder_that_leads_outside_counts_as_outside(folders):
    inside, outside = folders
    _movie_file(outside / "secret.h5")
    os.symlink(outside / "secret.h5", inside / "sub.h5")
    path = _linking(inside / "a.h5", ext=h5py.ExternalLink("sub.h5", "/mov"))
    with pytest.raises(ContainmentError, match=r"'sub\.h5'.*secret\.h5"):
        Hdf5ImagingExtractor(path, dataset="ext", sampling_frequency=10)


def test_a_chain_of_links_is_checked_to_its_end(folders):
    inside, outside = folders
    _movie_file(outside / "secret.h5")
    _linking(inside / "hop.h5", onward=h5py.ExternalLink("../outside/secret.h5", "/mov"))
    path = _linking(inside / "a.h5", ext=h5py.ExternalLink("hop.h5", "/"), soft=h5py.SoftLink("/ext/onward"))
    with pytest.raises(ContainmentError, match=r"hop\.h5: the external link /onward"):
        Hdf5ImagingExtractor(path, dataset="soft", sampling_frequency=10)


def test_discovery_does_not_follow_external_links(folders):
    inside, outside = folders
    _movie_file(outside / "secret.h5")
    path = _linking(inside / "a.h5", ext=h5py.ExternalLink("../outside/secret.h5", "/mov"))
    with h5py.File(path, "a") as f:
        f.create_dataset("small", data=np.zeros((2, 2)))
    with pytest.raises(FormatError, match="no 3-D or higher numeric dataset"):  # the linked one is not seen
        Hdf5ImagingExtractor(path, sampling_frequency=10)


def _virtual(path: Path, source: str, shape=MOVIE.shape) -> Path:
    layout = h5py.VirtualLayout(shape=shape, dtype=MOVIE.dtype)
    layout[:] = h5py.VirtualSource(source, "mov", shape=shape)
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("mov", layout)
    return path


def test_virtual_dataset_sources_out_of_the_folder_are_refused(folders):
    inside, outside = folders
    _movie_file(outside / "secret.h5")
    path = _virtual(inside / "v.h5", "../outside/secret.h5")  # discovered, then refused before any read
    with pytest.raises(ContainmentError, match=r"v\.h5: the virtual dataset /mov's source '\.\./outside/secret\.h5'"):
        Hdf5ImagingExtractor(path, sampling_frequency=10)
    ex = Hdf5ImagingExtractor(path, sampling_frequency=10, allow_outside=[outside])
    np.testing.assert_array_equal(ex.get_series(), MOVIE)
    _movie_file(inside / "source.h5", MOVIE + 2)
    ex = Hdf5ImagingExtractor(_virtual(inside / "ok.h5", "source.h5"), sampling_frequency=10)
    np.testing.assert_array_equal(ex.get_series(), _independent(inside / "source.h5"))


def test_a_virtual_source_in_the_folder_that_stores_its_values_outside_is_refused(folders):
    inside, outside = folders
    (outside / "raw.bin").write_bytes(MOVIE.tobytes())
    with h5py.File(inside / "source.h5", "w") as f:
        f.create_dataset("mov", shape=MOVIE.shape, dtype=MOVIE.dtype,
                         external=[(str(outside / "raw.bin"), 0, MOVIE.nbytes)])
    path = _virtual(inside / "v.h5", "source.h5")
    with pytest.raises(ContainmentError, match=r"source\.h5: the external raw storage .*raw\.bin' of dataset /mov"):
        Hdf5ImagingExtractor(path, sampling_frequency=10)


def _external_raw(path: Path, target: str, shape, dtype="uint16", name="mov") -> Path:
    count = int(np.prod(shape)) * np.dtype(dtype).itemsize
    with h5py.File(path, "w") as f:
        f.create_dataset(name, shape=shape, dtype=dtype, external=[(target, 0, count)])
    return path


def test_external_raw_storage_out_of_the_folder_is_refused(folders):
    inside, outside = folders
    passwd = _external_raw(inside / "p.h5", "/etc/passwd", (2, 2, 2), "uint8")
    with pytest.raises(ContainmentError, match=r"p\.h5: the external raw storage '/etc/passwd' of dataset /mov"):
        Hdf5ImagingExtractor(passwd, sampling_frequency=10)
    (outside / "raw.bin").write_bytes(MOVIE.tobytes())
    path = _external_raw(inside / "e.h5", str(outside / "raw.bin"), MOVIE.shape)
    with pytest.raises(ContainmentError, match="raw.bin"):
        Hdf5ImagingExtractor(path, sampling_frequency=10)
    np.testing.assert_array_equal(
        Hdf5ImagingExtractor(path, sampling_frequency=10, allow_outside=True).get_series(), MOVIE)
    (inside / "raw.bin").write_bytes((MOVIE + 3).tobytes())
    ok = _external_raw(inside / "ok.h5", str(inside / "raw.bin"), MOVIE.shape)
    expected = np.fromfile(inside / "raw.bin", dtype=MOVIE.dtype).reshape(MOVIE.shape)
    np.testing.assert_array_equal(Hdf5ImagingExtractor(ok, sampling_frequency=10).get_series(), expected)


def test_relative_external_raw_storage_resolves_against_the_working_directory(folders, monkeypatch):
    inside, outside = folders
    (outside / "raw.bin").write_bytes(MOVIE.tobytes())
    path = _external_raw(inside / "e.h5", "raw.bin", MOVIE.shape)
    monkeypatch.chdir(outside)  # where libhdf5 looks for a relative external file
    with pytest.raises(ContainmentError, match="'raw.bin'"):
        Hdf5ImagingExtractor(path, sampling_frequency=10)


def test_timestamps_stored_outside_are_refused(folders):
    inside, outside = folders
    times = np.arange(MOVIE.shape[0], dtype="<f8")
    (outside / "t.bin").write_bytes(times.tobytes())
    with h5py.File(inside / "t.h5", "w") as f:
        f.create_dataset("mov", data=MOVIE).attrs["timestamps"] = "times"
        f.create_dataset("times", shape=times.shape, dtype="<f8", external=[(str(outside / "t.bin"), 0, times.nbytes)])
    with pytest.raises(ContainmentError, match="of dataset /times"):
        Hdf5ImagingExtractor(inside / "t.h5", sampling_frequency=10)


def test_allow_outside_takes_a_bool_or_existing_folders(folders):
    inside, _ = folders
    path = _movie_file(inside / "m.h5")
    with pytest.raises(OptionError, match="not an existing folder"):
        Hdf5ImagingExtractor(path, sampling_frequency=10, allow_outside="True")
    with pytest.raises(OptionError, match="True, False, a folder or a list of folders"):
        Hdf5ImagingExtractor(path, sampling_frequency=10, allow_outside=1)


# ---------------------------------------------------------------------------------------------------- MAT v7.3
def _mat_v73(path: Path, build) -> Path:
    from ophysio.testing.synth.binary import _mat_header

    with h5py.File(path, "w", userblock_size=512) as f:
        build(f)
    with open(path, "r+b") as fh:
        fh.write(_mat_header(b"7.3"))
    return path


def test_mat_v73_references_out_of_the_folder_are_refused(folders):
    inside, outside = folders
    stored = np.ascontiguousarray(MOVIE)  # HDF5 lists MATLAB's Y x X x T reversed
    (outside / "raw.bin").write_bytes(stored.tobytes())

    def external_movie(f):
        d = f.create_dataset("movie", shape=stored.shape, dtype=stored.dtype,
                             external=[(str(outside / "raw.bin"), 0, stored.nbytes)])
        d.attrs["MATLAB_class"] = np.bytes_("uint16")

    path = _mat_v73(inside / "m.mat", external_movie)
    with pytest.raises(ContainmentError, match=r"m\.mat: the external raw storage .*raw\.bin' of dataset /movie"):
        MatImagingExtractor(path, sampling_frequency=10)
    ex = open_imaging(path, sampling_frequency=10, allow_outside=True)
    np.testing.assert_array_equal(ex.get_series(), stored.transpose(0, 2, 1))

    _movie_file(outside / "secret.h5")
    linked = _mat_v73(inside / "l.mat", lambda f: f.__setitem__("movie", h5py.ExternalLink(
        "../outside/secret.h5", "/mov")))
    with pytest.raises(SelectionError, match="variables: none"):  # variables are listed without following links
        MatImagingExtractor(linked, variable="movie", sampling_frequency=10)

    def rate_outside(f):
        f.create_dataset("movie", data=stored).attrs["MATLAB_class"] = np.bytes_("uint16")
        fr = np.array([[30.0]])
        (outside / "fr.bin").write_bytes(fr.tobytes())
        d = f.create_dataset("fr", shape=(1, 1), dtype="<f8", external=[(str(outside / "fr.bin"), 0, 8)])
        d.attrs["MATLAB_class"] = np.bytes_("double")

    with pytest.raises(ContainmentError, match="of dataset /fr"):
        MatImagingExtractor(_mat_v73(inside / "r.mat", rate_outside))

    def inside_movie(f):
        (inside / "raw.bin").write_bytes(stored.tobytes())
        d = f.create_dataset("movie", shape=stored.shape, dtype=stored.dtype,
                             external=[(str(inside / "raw.bin"), 0, stored.nbytes)])
        d.attrs["MATLAB_class"] = np.bytes_("uint16")

    ex = MatImagingExtractor(_mat_v73(inside / "ok.mat", inside_movie), sampling_frequency=10)
    expected = np.fromfile(inside / "raw.bin", dtype=stored.dtype).reshape(stored.shape).transpose(0, 2, 1)
    np.testing.assert_array_equal(ex.get_series(), expected)
