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
    from ophysio._synth.binary import _mat_header

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


# ---------------------------------------------------------------------------------------------------- OME-TIFF
def _ome_dataset(folder: Path, second: str | None = None) -> list[Path]:
    """A 2-file OME-TIFF dataset (4 samples of 6 x 5, one channel); ``second`` replaces the FileName of the
    second file in the first file's OME-XML."""
    import tifffile

    from ophysio._synth.tiff import write_ome_tiff_multifile

    paths = write_ome_tiff_multifile(folder, num_files=2, size_t=4, channel_names=("G",), rows=6, columns=5)
    if second is not None:
        xml = tifffile.tiffcomment(paths[0])
        tifffile.tiffcomment(paths[0], xml.replace('FileName="multi_1.ome.tif"', f'FileName="{second}"').encode())
    return paths


def _tiff_pages(*paths: Path) -> np.ndarray:
    """The pages of the files in order, read by tifffile as plain TIFF (no OME-XML followed)."""
    import tifffile

    pages = [tifffile.imread(p, is_ome=False) for p in paths]
    return np.concatenate([page.reshape(-1, *page.shape[-2:]) for page in pages])


@pytest.mark.parametrize("absolute", [False, True])
def test_ome_tiffdata_file_names_out_of_the_folder_are_refused(folders, absolute):
    from ophysio.extractors.ome_tiff import OMETiffImagingExtractor

    inside, outside = folders
    second = str(outside / "part.ome.tif") if absolute else "../outside/part.ome.tif"
    paths = _ome_dataset(inside, second)
    os.replace(paths[1], outside / "part.ome.tif")
    with pytest.raises(ContainmentError, match=rf"multi_0\.ome\.tif: TiffData UUID FileName='{second}'"):
        OMETiffImagingExtractor(paths[0])
    ex = open_imaging(paths[0], allow_outside=[outside])
    np.testing.assert_array_equal(ex.get_series(), _tiff_pages(paths[0], outside / "part.ome.tif"))


def test_ome_dataset_inside_the_folder_reads_and_symlinks_out_are_refused(folders):
    from ophysio.extractors.ome_tiff import OMETiffImagingExtractor

    inside, outside = folders
    paths = _ome_dataset(inside)
    np.testing.assert_array_equal(OMETiffImagingExtractor(paths[0]).get_series(), _tiff_pages(*paths))
    os.replace(paths[1], outside / "part.ome.tif")
    os.symlink(outside / "part.ome.tif", paths[1])
    with pytest.raises(ContainmentError, match=r"FileName='multi_1\.ome\.tif' leads to .*outside"):
        OMETiffImagingExtractor(paths[0])


def _binary_only(folder: Path, companion: str) -> Path:
    """An OME-TIFF whose XML is a ``BinaryOnly`` pointer to ``companion`` (which is not written)."""
    import tifffile

    from ophysio._synth.tiff import _OME_NS

    path = folder / "main.ome.tif"
    xml = f'<OME xmlns="{_OME_NS}"><BinaryOnly MetadataFile="{companion}" UUID="urn:uuid:1"/></OME>'
    with tifffile.TiffWriter(path) as tif:
        for t in range(3):
            tif.write(MOVIE[t], description=xml.encode() if t == 0 else None, metadata=None, contiguous=False)
    return path


def _companion_text() -> str:
    from ophysio._synth.tiff import _OME_NS

    return (f'<OME xmlns="{_OME_NS}"><Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" '
            f'Type="uint16" SizeX="4" SizeY="6" SizeZ="1" SizeC="1" SizeT="3" TimeIncrement="0.1">'
            f'<Channel ID="Channel:0:0" Name="G" SamplesPerPixel="1"/>'
            f'<TiffData IFD="0" PlaneCount="3"><UUID FileName="main.ome.tif">urn:uuid:1</UUID></TiffData>'
            f'</Pixels></Image></OME>')


def test_ome_binary_only_companion_out_of_the_folder_is_refused(folders):
    from ophysio.extractors.ome_tiff import OMETiffImagingExtractor

    inside, outside = folders
    (outside / "c.companion.ome").write_text(_companion_text(), encoding="utf-8")
    path = _binary_only(inside, "../outside/c.companion.ome")
    with pytest.raises(ContainmentError, match=r"main\.ome\.tif: BinaryOnly MetadataFile='\.\./outside/c\.companion"):
        OMETiffImagingExtractor(path)
    ex = OMETiffImagingExtractor(path, allow_outside=True)
    np.testing.assert_array_equal(ex.get_series(), MOVIE[:3])
    (inside / "c.companion.ome").write_text(_companion_text(), encoding="utf-8")
    ok = _binary_only(inside, "c.companion.ome")
    np.testing.assert_array_equal(OMETiffImagingExtractor(ok).get_series(), _tiff_pages(ok))


def test_ome_frame_sidecar_linked_from_outside_is_refused(folders):
    from ophysio._synth.tiff import write_frame_metadata_sidecar, write_ome_tiff
    from ophysio.extractors.ome_tiff import OMETiffImagingExtractor

    inside, outside = folders
    sidecar = write_frame_metadata_sidecar(write_ome_tiff(outside / "m.ome.tif", size_t=4), 4)
    path = write_ome_tiff(inside / "m.ome.tif", size_t=4)
    os.symlink(sidecar, inside / sidecar.name)
    with pytest.raises(ContainmentError, match="frame metadata sidecar m.ome.tif_frame_metadata.json"):
        OMETiffImagingExtractor(path)
    assert OMETiffImagingExtractor(path, frame_metadata_path=False).timestamp_source is None
    assert OMETiffImagingExtractor(path, frame_metadata_path=sidecar).timestamp_source == "ElapsedTime-ms"


def test_the_file_opened_may_always_be_referred_to_even_through_a_symlink(folders):
    from ophysio.extractors._contain import ReferencePolicy

    inside, outside = folders
    real = _movie_file(outside / "real.h5")
    os.symlink(real, inside / "link.h5")
    policy = ReferencePolicy.for_dataset(inside, False, inside / "link.h5")
    assert policy.permits(inside / "link.h5") and policy.permits(real)
    assert not policy.permits(outside / "other.h5")
    with h5py.File(real, "a") as f:
        f["self"] = h5py.ExternalLink("link.h5", "/mov")  # found beside the file as opened
    ex = Hdf5ImagingExtractor(inside / "link.h5", dataset="self", sampling_frequency=10)
    np.testing.assert_array_equal(ex.get_series(), MOVIE)


# ---------------------------------------------------------------------------------------------------- suite2p
def _suite2p_with_reg_file(folder: Path, reg_file) -> Path:
    from ophysio.testing.synthetic import write_suite2p

    root = write_suite2p(folder, num_frames=4, rows=3, columns=5, num_planes=1, num_channels=1)
    plane = root / "plane0"
    (plane / "data.bin").unlink()
    ops = np.load(plane / "ops.npy", allow_pickle=True).item()
    ops["reg_file"] = os.fspath(reg_file)
    np.save(plane / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    return root


def test_suite2p_reg_file_out_of_the_folder_is_refused(folders):
    from ophysio.extractors.suite2p import Suite2pImagingExtractor

    inside, outside = folders
    frames = movie(4, 3, 5, dtype="int16")
    frames.astype("<i2").tofile(outside / "data.bin")
    root = _suite2p_with_reg_file(inside, outside / "data.bin")
    with pytest.raises(ContainmentError, match=r"plane0/ops\.npy: ops\['reg_file'\] = '.*outside/data\.bin'"):
        Suite2pImagingExtractor(root)
    with pytest.raises(ContainmentError):
        open_imaging(root / "plane0" / "ops.npy")
    ex = open_imaging(root, allow_outside=True)
    np.testing.assert_array_equal(ex.get_series(), np.fromfile(outside / "data.bin", "<i2").reshape(4, 3, 5))


def test_suite2p_reg_file_inside_the_folder_is_read(folders):
    from ophysio.extractors.suite2p import Suite2pImagingExtractor

    inside, _ = folders
    (inside / "fast").mkdir()
    (movie(4, 3, 5, dtype="int16") + 7).astype("<i2").tofile(inside / "fast" / "data.bin")
    root = _suite2p_with_reg_file(inside, inside / "fast" / "data.bin")
    ex = Suite2pImagingExtractor(inside)  # the folder given holds suite2p/ and fast/
    np.testing.assert_array_equal(ex.get_series(),
                                  np.fromfile(inside / "fast" / "data.bin", "<i2").reshape(4, 3, 5))
    with pytest.raises(ContainmentError, match="reg_file"):  # given the suite2p folder, fast/ is outside it
        Suite2pImagingExtractor(root)


def test_suite2p_binary_symlinked_from_outside_is_refused(folders):
    from ophysio.extractors.suite2p import Suite2pImagingExtractor

    inside, outside = folders
    movie(4, 3, 5, dtype="int16").astype("<i2").tofile(outside / "data.bin")
    root = _suite2p_with_reg_file(inside, "C:\\\\elsewhere\\\\data.bin")
    os.symlink(outside / "data.bin", root / "plane0" / "data.bin")
    with pytest.raises(ContainmentError, match="data.bin, found beside ops.npy, leads to"):
        Suite2pImagingExtractor(root)
    assert Suite2pImagingExtractor(root, allow_outside=[outside]).get_num_samples() == 4


# ---------------------------------------------------------------------------------------------------- CLI
def test_the_command_line_refuses_and_allows_with_reader_options(folders, tmp_path, capsys):
    from ophysio.cli import main

    inside, outside = folders
    _movie_file(outside / "secret.h5")
    path = _virtual(inside / "v.h5", "../outside/secret.h5")
    assert main(["info", str(path), "-O", "sampling_frequency=10"]) == 1
    err = capsys.readouterr().err
    assert "v.h5: the virtual dataset /mov's source '../outside/secret.h5'" in err and "allow_outside" in err
    for value in ("true", f'["{outside}"]', str(outside)):
        assert main(["info", str(path), "-O", "sampling_frequency=10", "-O", f"allow_outside={value}"]) == 0
        assert "samples:     5 of 6 x 4" in capsys.readouterr().out
    output = tmp_path / "out.h5"
    assert main(["convert", str(path), "--to", "hdf5", "-o", str(output), "--no-progress",
                 "-O", "sampling_frequency=10"]) == 1
    assert not output.exists()
    assert main(["convert", str(path), "--to", "hdf5", "-o", str(output), "--no-progress",
                 "-O", "sampling_frequency=10", "-O", "allow_outside=true"]) == 0
    np.testing.assert_array_equal(Hdf5ImagingExtractor(output).get_series(), MOVIE)
