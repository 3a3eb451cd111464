"""write_imaging / open_writer: the common behaviour, TIFF and OME-TIFF read back independently."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ophysio
from ophysio.conversion._atomic import OutputExistsError
from ophysio.conversion.writers import WriterError, guess_writer_format, open_writer, write_imaging
from ophysio.errors import SelectionError, UnknownFormatError
from ophysio.extractors import NumpyImagingExtractor
from ophysio.testing.synthetic import movie

from ._writer_cases import CASES, RATE, channel_movies, irregular_times, make_source, ome_delta_t, read_sidecar
from ._writer_cases import read_tiff_pages as tiff_pages


def _planes(case):
    return CASES[case][3] or 1


def test_tiff_classic_and_unknown_compression(tmp_path):
    import tifffile

    m = movie(5, 8, 6, dtype="uint8")
    out = write_imaging(m, tmp_path / "small.tif", sampling_frequency=2.0, bigtiff=False)
    with tifffile.TiffFile(out) as tif:
        assert not tif.is_bigtiff
        np.testing.assert_array_equal(tif.asarray(), m)
    with pytest.raises(WriterError, match="unknown TIFF compression"):
        write_imaging(m, tmp_path / "x.tif", sampling_frequency=2.0, compression="jpeg2000")
    assert not (tmp_path / "x.tif").exists()


def test_ome_tiff_sidecar_is_valid_json_while_writing(tmp_path):
    m = movie(9, 6, 5, dtype="uint16")
    writer = open_writer(tmp_path / "live.ome.tif", sampling_frequency=10.0)
    partial = None
    for start in range(0, 9, 3):
        writer.write_frames(m[start : start + 3], frame_metadata=[{"i": start + i} for i in range(3)])
        partial = next(p for p in tmp_path.iterdir() if p.name.endswith("_frame_metadata.json"))
        records = json.loads(partial.read_text())["p0"]  # valid at every flush point
        assert [r["i"] for r in records] == list(range(start + 3))
        assert not (tmp_path / "live.ome.tif").exists()
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.ome.tif", "live.ome.tif_frame_metadata.json"]
    assert [r["runner_time_ms"] for r in read_sidecar(tmp_path / "live.ome.tif")] == [i * 100.0 for i in range(9)]


def test_ome_tiff_refuses_types_ome_lacks(tmp_path):
    with pytest.raises(WriterError, match="OME-TIFF stores"):
        write_imaging(np.zeros((2, 4, 4), np.int64), tmp_path / "a.ome.tif", sampling_frequency=1.0)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- common behaviour
def test_format_from_suffix_and_aliases(tmp_path):
    assert guess_writer_format("a.ome.tiff") == "ome_tiff"
    assert guess_writer_format("a.tif") == "tiff"
    assert guess_writer_format("a.h5") == "hdf5"
    assert guess_writer_format("a.mat") == "mat"
    assert guess_writer_format("x/suite2p") == "suite2p"
    assert guess_writer_format("a.zarr") == "zarr"
    assert guess_writer_format("anything", "ome_tiff") == "ome_tiff"
    assert guess_writer_format("anything", "ome-tiff") == "ome_tiff"  # the former id still works
    with pytest.raises(UnknownFormatError, match="pass format="):
        guess_writer_format("movie.xyz")
    with pytest.raises(UnknownFormatError, match="no writer"):
        guess_writer_format("movie.xyz", "avi")


def test_overwrite_is_required_and_replaces_only_when_complete(tmp_path):
    m = movie(4, 6, 5, dtype="uint16")
    target = tmp_path / "m.h5"
    target.write_bytes(b"old")
    with pytest.raises(OutputExistsError):
        write_imaging(m, target, sampling_frequency=1.0)
    assert target.read_bytes() == b"old"
    with pytest.raises(ZeroDivisionError):  # a failing replacement keeps the old file
        write_imaging(m, target, sampling_frequency=1.0, overwrite=True, callback=lambda done, total: 1 / 0)
    assert target.read_bytes() == b"old"
    write_imaging(m, target, sampling_frequency=1.0, overwrite=True)
    assert target.read_bytes()[:4] == b"\x89HDF"


def test_selection_of_samples_planes_and_channels(tmp_path):
    import h5py

    movies = channel_movies("multichannel")
    src = make_source("multichannel")
    out = write_imaging(src, tmp_path / "sel.h5", samples=(1, 5), planes=1, channels="ch1", target_chunk_mb=0.001)
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["mov"][:], movies[1][1:5, :, :, 1])
        assert [d.label for d in f["mov"].dims] == ["T", "Y", "X"]
        np.testing.assert_allclose(f["timestamps"][:], np.arange(1, 5) / RATE)
    out = write_imaging(src, tmp_path / "sel2.h5", planes=[1, 0], channels=[1, 0])
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["mov"][..., 0], movies[1][..., [1, 0]])
        np.testing.assert_array_equal(f["mov"][..., 1], movies[0][..., [1, 0]])
        assert list(f["mov"].attrs["channel_names"]) == ["ch1", "ch0"]
    with pytest.raises(SelectionError, match="plane 5"):
        write_imaging(src, tmp_path / "bad.h5", planes=5)
    with pytest.raises(SelectionError, match="'green'"):
        write_imaging(src, tmp_path / "bad.h5", channels="green")
    with pytest.raises(WriterError, match="no samples"):
        write_imaging(src, tmp_path / "bad.h5", samples=(3, 3))
    assert not (tmp_path / "bad.h5").exists()


def test_channels_must_agree(tmp_path):
    a = NumpyImagingExtractor(movie(5, 6, 5), RATE)
    b = NumpyImagingExtractor(movie(4, 6, 5), RATE)
    with pytest.raises(ValueError, match="number of samples"):
        write_imaging([a, b], tmp_path / "x.h5")
    c = NumpyImagingExtractor(movie(5, 6, 5), 2 * RATE)
    with pytest.raises(ValueError, match="Hz"):
        write_imaging([a, c], tmp_path / "x.h5")


def test_progress_bar_and_callback(tmp_path, capsys):
    m = movie(10, 6, 5, dtype="uint16")
    calls = []
    write_imaging(m, tmp_path / "a.tif", sampling_frequency=1.0, target_chunk_mb=3 * 60 / 2**20,
                  callback=lambda done, total: calls.append((done, total)))
    assert calls == [(3, 10), (6, 10), (9, 10), (10, 10)]
    write_imaging(m, tmp_path / "b.tif", sampling_frequency=1.0, progress=True)
    assert "10/10" in capsys.readouterr().err


def test_callback_exception_aborts_and_leaves_nothing(tmp_path):
    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_imaging(movie(10, 6, 5), tmp_path / "a.ome.tif", sampling_frequency=1.0, target_chunk_mb=0.0001,
                      callback=stop)
    assert list(tmp_path.iterdir()) == []


def test_open_writer_batches_timestamps_and_channels(tmp_path):
    import h5py

    movies = channel_movies("volumetric") + [movie(7, 10, 8, 3, "int16", channel=5)]
    times = irregular_times(7)
    with ophysio.open_writer(tmp_path / "live.h5", dataset="data") as writer:
        for a, b in ((0, 2), (2, 3), (3, 7)):
            writer.write_frames({"green": movies[0][a:b], "red": movies[1][a:b]}, timestamps=times[a:b])
        assert not (tmp_path / "live.h5").exists()
    with h5py.File(tmp_path / "live.h5") as f:
        np.testing.assert_array_equal(f["data"][..., 0], movies[0])
        np.testing.assert_array_equal(f["data"][..., 1], movies[1])
        np.testing.assert_array_equal(f["timestamps"][:], times)
        assert f["data"].attrs["fr"] == pytest.approx(1 / np.median(np.diff(times)))
        assert f["data"].maxshape[0] is None


def test_open_writer_rejects_inconsistent_batches(tmp_path):
    writer = open_writer(tmp_path / "a.tif", sampling_frequency=5.0)
    writer.write_frames(movie(2, 6, 5, dtype="uint16"))
    with pytest.raises(WriterError, match="shape"):
        writer.write_frames(movie(2, 6, 4, dtype="uint16"))
    assert list(tmp_path.iterdir()) == []  # a failed batch aborts the write
    with pytest.raises(WriterError, match="closed"):
        writer.write_frames(movie(2, 6, 5, dtype="uint16"))

    writer = open_writer(tmp_path / "b.tif", sampling_frequency=5.0)
    writer.write_frames(movie(2, 6, 5, dtype="uint16"))
    with pytest.raises(WriterError, match="dtype"):
        writer.write_frames(movie(2, 6, 5, dtype="int32"))
    with pytest.raises(WriterError, match="timestamps"):
        w = open_writer(tmp_path / "c.tif", sampling_frequency=5.0)
        w.write_frames(movie(2, 6, 5), timestamps=[0, 1])
        w.write_frames(movie(2, 6, 5))
    with pytest.raises(WriterError, match="no samples"):
        open_writer(tmp_path / "d.tif", sampling_frequency=5.0).close()
    with pytest.raises(ValueError, match="inside"):
        with open_writer(tmp_path / "e.tif", sampling_frequency=5.0) as w:
            w.write_frames(movie(2, 6, 5))
            raise ValueError("inside")
    assert list(tmp_path.iterdir()) == []


def test_single_frames_and_big_endian_input(tmp_path):
    import tifffile

    m = movie(3, 6, 5, dtype="uint16")
    with open_writer(tmp_path / "a.tif", sampling_frequency=5.0) as writer:
        for frame in m.astype(">u2"):
            writer.write_frames(frame)
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        data = tif.asarray()
    assert data.dtype == np.dtype("<u2")
    np.testing.assert_array_equal(data, m)


def test_lazy_export_from_ophysio():
    assert ophysio.write_imaging is write_imaging
    assert ophysio.open_writer is open_writer


def test_irregular_times_warn_where_the_format_keeps_only_the_rate(tmp_path):
    with pytest.warns(UserWarning, match="keeps only the rate"):
        write_imaging(make_source("planar", timestamps=True), tmp_path / "a.tif")


# ---------------------------------------------------------------- multi-file layouts
def test_split_per_channel_with_pattern(tmp_path):
    import tifffile

    movies = channel_movies("multichannel")
    paths = write_imaging(make_source("multichannel"), tmp_path / "run.ome.tif", split="channels",
                          pattern="{stem}_{channel_index}-{channel}{suffix}", target_chunk_mb=0.002)
    assert [p.name for p in paths] == ["run_0-ch0.ome.tif", "run_1-ch1.ome.tif"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p.name for p in paths] + [p.name + "_frame_metadata.json" for p in paths]
    )
    for path, expected in zip(paths, movies):
        np.testing.assert_array_equal(tiff_pages(path, expected.shape[3], 1)[0], expected)
        with tifffile.TiffFile(path) as tif:
            assert 'SizeC="1"' in tif.ome_metadata


def test_split_per_plane_and_failure_removes_every_part(tmp_path):
    import h5py

    movies = channel_movies("multichannel")
    paths = write_imaging(make_source("multichannel"), tmp_path / "vol.h5", split="planes")
    assert [p.name for p in paths] == ["vol_plane0.h5", "vol_plane1.h5"]
    for z, path in enumerate(paths):
        with h5py.File(path) as f:
            np.testing.assert_array_equal(f["mov"][:], np.stack([m[..., z] for m in movies], axis=-1))
            assert [d.label for d in f["mov"].dims] == ["T", "Y", "X", "C"]

    with pytest.raises(ZeroDivisionError):
        write_imaging(make_source("multichannel"), tmp_path / "bad.tif", split="channels", target_chunk_mb=0.0005,
                      callback=lambda done, total: done < 3 or 1 / 0)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("bad", ".bad"))]
    with pytest.raises(WriterError, match="same name"):
        write_imaging(make_source("multichannel"), tmp_path / "x.h5", split="channels", pattern="{stem}{suffix}")
    with pytest.raises(WriterError, match="split="):
        write_imaging(make_source("multichannel"), tmp_path / "x.h5", pattern="{stem}{suffix}")


def test_split_open_writer(tmp_path):
    from ophysio.extractors.suite2p import Suite2pImagingExtractor

    vol = movie(5, 6, 5, planes=2, dtype="int16")
    with open_writer(tmp_path / "s2p", format="suite2p", split="planes", sampling_frequency=RATE) as writer:
        writer.write_frames(vol[:2])
        writer.write_frames(vol[2:])
    assert writer.paths == [tmp_path / "s2p_plane0", tmp_path / "s2p_plane1"]
    for z, path in enumerate(writer.paths):
        np.testing.assert_array_equal(Suite2pImagingExtractor(path).get_series(), vol[..., z])


def test_per_channel_times_kept_by_ome_refused_elsewhere(tmp_path):
    movies = channel_movies("multichannel")
    times = np.stack([irregular_times(6), irregular_times(6) + 0.01], axis=1)  # (samples, channels)
    with open_writer(tmp_path / "pc.ome.tif") as writer:
        writer.write_frames(movies[:1] + movies[1:], timestamps=times)
    planes = movies[0].shape[3]
    expected = np.broadcast_to(times[:, None, :], (6, planes, 2)).reshape(-1)  # page order T, Z, C
    np.testing.assert_array_equal(ome_delta_t(tmp_path / "pc.ome.tif"), expected)
    records = read_sidecar(tmp_path / "pc.ome.tif")
    np.testing.assert_allclose([r["runner_time_ms"] for r in records], expected * 1000, rtol=1e-15)
    with pytest.raises(WriterError, match="one time per sample"):
        with open_writer(tmp_path / "pc.h5") as writer:
            writer.write_frames(movies, timestamps=times)
    assert not (tmp_path / "pc.h5").exists()


@pytest.mark.parametrize("compression", ["lzw", "zstd"])
def test_tiff_codecs_that_need_imagecodecs(tmp_path, compression):
    import importlib.util

    import tifffile

    m = movie(4, 6, 5, dtype="uint16")
    if importlib.util.find_spec("imagecodecs") is None:
        with pytest.raises(WriterError, match="imagecodecs"):
            write_imaging(m, tmp_path / "c.tif", sampling_frequency=1.0, compression=compression)
        assert list(tmp_path.iterdir()) == []
    else:
        out = write_imaging(m, tmp_path / "c.tif", sampling_frequency=1.0, compression=compression)
        with tifffile.TiffFile(out) as tif:
            np.testing.assert_array_equal(tif.asarray(), m)
