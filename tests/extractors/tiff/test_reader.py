"""Plain TIFF, ImageJ hyperstacks, interleaved pages and multi-file series."""

import functools
import glob
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ophysio import open_imaging
from ophysio._synth.tiff import (
    write_imagej_hyperstack,
    write_interleaved_tiff,
    write_scanimage_legacy,
    write_tiff_movie,
    write_tiff_series,
)
from ophysio.errors import CorruptFileError, FileSetError, FormatError, MetadataError, SelectionError
from ophysio.extractors import MultiImagingExtractor
from ophysio.extractors.tiff import TiffImagingExtractor, resolve_tiff_paths
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.data import sample_file
from ophysio.testing.synthetic import movie


@functools.cache
def folder() -> Path:
    path = Path(tempfile.mkdtemp(prefix="ophysio-tiff-"))
    import atexit

    atexit.register(shutil.rmtree, path, True)
    return path


@functools.cache
def written(name: str):
    f = folder()
    if name == "planar":
        return write_tiff_movie(f / "planar.tif", 12, 16, 12)
    if name == "zlib":
        return write_tiff_movie(f / "zlib.tif", 9, 20, 14, dtype="int16", compression="zlib")
    if name == "zlib-bigendian":
        return write_tiff_movie(f / "zbe.tif", 7, 10, 9, dtype="float32", compression="zlib", byteorder=">")
    if name == "zlib-predictor":
        return write_tiff_movie(f / "zpred.tif", 6, 13, 11, dtype="int16", compression="zlib", predictor=True,
                                rowsperstrip=5, byteorder=">")
    if name == "lzma":
        return write_tiff_movie(f / "lzma.tif", 5, 12, 9, compression="lzma")
    if name == "zlib-tiled":
        return write_tiff_movie(f / "tiled.tif", 4, 20, 14, compression="zlib", tile=(16, 16))
    if name == "bigendian":
        return write_tiff_movie(f / "be.tif", 8, 11, 7, byteorder=">")
    if name == "bigtiff-strips":
        return write_tiff_movie(f / "big.tif", 6, 15, 8, bigtiff=True, rowsperstrip=4)
    if name == "imagej-stack":
        return write_tiff_movie(f / "ij.tif", 10, 8, 6, imagej_rate=20.0)
    if name == "imagej-hyperstack":
        return write_imagej_hyperstack(f / "hyper.tif", frames=4, slices=3, channels=2)
    if name.startswith("interleaved-"):
        order = name.split("-")[1]
        return write_interleaved_tiff(f / f"{name}.tif", 4, channels=2, planes=3, dimension_order=order)
    if name == "series":
        return write_tiff_series(f / "series", num_files=11, samples_per_file=2)
    # codecs that tifffile decodes through imagecodecs, read through a shared tifffile handle
    if name == "lzw":
        return write_tiff_movie(f / "lzw.tif", 24, 32, 20, compression="lzw")
    if name == "lzw-predictor":
        return write_tiff_movie(f / "lzwpred.tif", 16, 24, 18, dtype="int16", compression="lzw", predictor=True,
                                rowsperstrip=8)
    if name == "zstd":
        return write_tiff_movie(f / "zstd.tif", 24, 32, 20, dtype="float32", compression="zstd")
    if name == "series-lzw":
        return write_tiff_series(f / "series-lzw", num_files=6, samples_per_file=3, compression="lzw")
    raise KeyError(name)


def with_codecs(make):
    """``make`` once imagecodecs (the optional ``codecs`` extra) is importable, else skip the case."""
    def wrapped(w=_same):
        pytest.importorskip("imagecodecs")
        return make(w)

    return wrapped


def _pages_of(path):
    with tifffile.TiffFile(path) as tif:
        return np.stack([page.asarray() for page in tif.pages])


def _same(path):
    return path


def relocator(source, copy):
    """A path mapper: paths (or a list of them, or a glob) under ``source`` to the same under ``copy``."""
    def w(path):
        if isinstance(path, (list, tuple)):
            return [w(p) for p in path]
        text = str(path)
        return type(path)(str(copy) + text[len(str(source)):]) if text.startswith(str(source)) else path
    return w


# case -> (make extractor, expected series, expected rate); the extractor maker takes a path mapper
def _cases():
    planar = dict(sampling_frequency=30.0)
    return {
        "planar": (lambda w=_same: TiffImagingExtractor(w(written("planar")), **planar),
                   lambda: movie(12, 16, 12, dtype="uint16"),
                   30.0),
        "zlib": (lambda w=_same: TiffImagingExtractor(w(written("zlib")), 5.0),
                 lambda: movie(9, 20, 14, dtype="int16"), 5.0),
        "zlib-bigendian": (lambda w=_same: TiffImagingExtractor(w(written("zlib-bigendian")), 5.0),
                          lambda: movie(7, 10, 9, dtype="float32"), 5.0),
        "zlib-predictor": (lambda w=_same: TiffImagingExtractor(w(written("zlib-predictor")), 5.0),
                           lambda: movie(6, 13, 11, dtype="int16"), 5.0),
        "lzma-tifffile-path": (lambda w=_same: TiffImagingExtractor(w(written("lzma")), 5.0),
                               lambda: movie(5, 12, 9, dtype="uint16"),
                               5.0),
        "zlib-tiled-tifffile-path": (lambda w=_same: TiffImagingExtractor(w(written("zlib-tiled")), 5.0),
                                     lambda: movie(4, 20, 14, dtype="uint16"), 5.0),
        "bigendian": (lambda w=_same: TiffImagingExtractor(w(written("bigendian")), 5.0),
                      lambda: movie(8, 11, 7, dtype="uint16"),
                      5.0),
        "bigtiff-strips": (lambda w=_same: TiffImagingExtractor(w(written("bigtiff-strips")), 2.0),
                           lambda: movie(6, 15, 8, dtype="uint16"), 2.0),
        "imagej-stack": (lambda w=_same: TiffImagingExtractor(w(written("imagej-stack"))),
                         lambda: movie(10, 8, 6, dtype="uint16"),
                         20.0),
        # ImageJ hyperstack TZCYX: channel 1 as (T, Y, X, Z), read independently by tifffile through its axes
        "imagej-hyperstack-c1": (lambda w=_same: TiffImagingExtractor(w(written("imagej-hyperstack")),
                                                                      channel_name="1"),
                                 lambda: tifffile.imread(written("imagej-hyperstack"))[:, :, 1].transpose(0, 2, 3, 1),
                                 4.0),
        "interleaved-CZT-c0": (lambda w=_same: TiffImagingExtractor(w(written("interleaved-CZT")), 3.0, num_channels=2,
                                                            num_planes=3, dimension_order="CZT", channel_name="0"),
                               lambda: movie(4, 10, 8, planes=3, dtype="uint16", channel=0), 3.0),
        "interleaved-ZCT-c1": (lambda w=_same: TiffImagingExtractor(w(written("interleaved-ZCT")), 3.0, num_channels=2,
                                                            num_planes=3, dimension_order="ZCT", channel_name="1"),
                               lambda: movie(4, 10, 8, planes=3, dtype="uint16", channel=1), 3.0),
        "interleaved-TZC-c1": (lambda w=_same: TiffImagingExtractor(w(written("interleaved-TZC")), 3.0, num_channels=2,
                                                            num_planes=3, channel_name="1"),
                               lambda: movie(4, 10, 8, planes=3, dtype="uint16", channel=1), 3.0),
        "series-folder": (lambda w=_same: TiffImagingExtractor(w(written("series"))[0].parent, 10.0),
                          lambda: movie(22, 10, 8, dtype="uint16"), 10.0),
        "series-glob": (lambda w=_same: TiffImagingExtractor(w(str(written("series")[0].parent / "series_*.tif")),
                                                             10.0),
                        lambda: movie(22, 10, 8, dtype="uint16"), 10.0),
        "series-list": (lambda w=_same: TiffImagingExtractor(file_paths=w(written("series")[3:6]),
                                                             sampling_frequency=10.0),
                        lambda: movie(22, 10, 8, dtype="uint16")[6:12], 10.0),
        "lzw": (with_codecs(lambda w: TiffImagingExtractor(w(written("lzw")), 5.0)),
                lambda: movie(24, 32, 20, dtype="uint16"), 5.0),
        "lzw-predictor": (with_codecs(lambda w: TiffImagingExtractor(w(written("lzw-predictor")), 5.0)),
                          lambda: movie(16, 24, 18, dtype="int16"), 5.0),
        "zstd": (with_codecs(lambda w: TiffImagingExtractor(w(written("zstd")), 5.0)),
                 lambda: movie(24, 32, 20, dtype="float32"), 5.0),
        "series-lzw": (with_codecs(lambda w: TiffImagingExtractor(w(written("series-lzw")[0].parent), 10.0)),
                       lambda: movie(18, 10, 8, dtype="uint16"), 10.0),
        # views and a concatenation over compressed parts: the parts' tifffile handles are shared by the views
        "concatenated-lzw-views": (
            with_codecs(lambda w: MultiImagingExtractor([
                TiffImagingExtractor(w(written("lzw")), 5.0).slice_samples(4, 20).slice_field_of_view(0, 10, 0, 8),
                TiffImagingExtractor(w(written("series-lzw")[0].parent), 5.0),
                TiffImagingExtractor(w(written("lzw")), 5.0).slice_field_of_view(2, 12, 3, 11).slice_samples(0, 6),
            ])),
            lambda: np.concatenate([movie(24, 32, 20, dtype="uint16")[4:20, :10, :8],
                                    movie(18, 10, 8, dtype="uint16"),
                                    movie(24, 32, 20, dtype="uint16")[:6, 2:12, 3:11]]),
            5.0),
        # a real file read as a plain TIFF: every page a frame, compared with tifffile page by page
        "real-ome-as-plain": (lambda w=_same: TiffImagingExtractor(w(sample_file("ome_tiff/pmmp_demo_seq.ome.tiff")),
                                                                   50.0),
                              lambda: _pages_of(sample_file("ome_tiff/pmmp_demo_seq.ome.tiff")), 50.0),
    }


CASES = _cases()


class TestTiff(ExtractorTests):
    cases = list(CASES)

    def make_extractor(self, case):
        return CASES[case][0]()

    def make_shrinkable(self, case, tmp_path):
        with CASES[case][0]() as original:
            folder = Path(original.get_file_paths()[0]).parent
        extractor = CASES[case][0](relocator(folder, copy_source(folder, tmp_path)))
        return extractor, extractor.get_file_paths()

    def expected_series(self, case):
        return CASES[case][1]()

    def expected_sampling_frequency(self, case):
        return CASES[case][2]


def test_natural_order_of_folder_and_glob():
    paths = written("series")
    names = [Path(p).name for p in resolve_tiff_paths(paths[0].parent)]
    assert names[:3] == ["series_1.tif", "series_2.tif", "series_3.tif"] and names[-1] == "series_11.tif"
    assert resolve_tiff_paths(str(paths[0].parent / "*.tif")) == resolve_tiff_paths(paths[0].parent)
    assert sorted(glob.glob(str(paths[0].parent / "*.tif")))[1].endswith("series_10.tif")  # lexical would misorder


def test_compressed_pages_are_decoded_one_at_a_time(monkeypatch):
    import ophysio.extractors._tiff.read as tr

    inflated, decoded = [], []
    inflate, decode = tr.inflate_page, tr.decode_tifffile_page
    monkeypatch.setattr(tr, "inflate_page", lambda fd, index, local, out: (
        inflated.append((local, out.shape)), inflate(fd, index, local, out)))
    monkeypatch.setattr(tr, "decode_tifffile_page", lambda index, ifd, page, out: (
        decoded.append((ifd, out.shape)), decode(index, ifd, page, out)))
    ex = TiffImagingExtractor(written("zlib"), 5.0)  # deflate strips: inflated by ophysio with zlib
    np.testing.assert_array_equal(ex.get_series(2, 5), movie(9, 20, 14, dtype="int16")[2:5])
    assert sorted(inflated) == [(2, (20, 14)), (3, (20, 14)), (4, (20, 14))] and not decoded
    ex = TiffImagingExtractor(written("lzma"), 5.0)  # other codecs: tifffile, one page each
    np.testing.assert_array_equal(ex.get_series(1, 3), movie(5, 12, 9, dtype="uint16")[1:3])
    assert sorted(decoded) == [(1, (12, 9)), (2, (12, 9))]


def test_imagej_metadata_and_layout():
    ex = TiffImagingExtractor(written("imagej-hyperstack"), channel_name="0")
    meta = ex.get_metadata()
    assert meta["imagej"]["channels"] == 2 and meta["imagej"]["slices"] == 3 and meta["imagej"]["frames"] == 4
    assert ex.dimension_order == "CZT" and ex.get_channel_names() == ["0", "1"]
    assert ex.get_sampling_frequency() == 4.0  # finterval = 0.25 s
    assert ex.get_sample_shape() == (12, 10, 3)


def test_rate_is_required_only_for_times_unless_stated():
    ex = TiffImagingExtractor(written("planar"))  # opening for pixels needs no rate
    assert ex.get_sampling_frequency() is None
    with pytest.raises(MetadataError, match=r"no ImageJ finterval or fps\); pass sampling_frequency="):
        ex.get_timestamps()
    with pytest.raises(MetadataError, match="sampling_frequency="):
        ex.slice_samples(1, 3).get_timestamps()  # a view says its parent's reason
    ex.set_times(np.arange(ex.get_num_samples()) * 0.5)
    assert ex.get_timestamps()[2] == 1.0 and ex.get_sampling_frequency() is None
    with pytest.raises(MetadataError, match="positive"):
        TiffImagingExtractor(written("planar"), -1.0)


def test_layout_errors():
    path = written("interleaved-CZT")
    with pytest.raises(SelectionError, match="channel_name"):
        TiffImagingExtractor(path, 1.0, num_channels=2, num_planes=3, dimension_order="CZT")
    with pytest.raises(SelectionError, match=r"channel '2' is not in .*; interleaved channels: \['0', '1'\]"):
        TiffImagingExtractor(path, 1.0, num_channels=2, dimension_order="CZT", channel_name="2")
    with pytest.raises(MetadataError, match="dimension_order"):
        TiffImagingExtractor(path, 1.0, dimension_order="XYZ")
    with pytest.raises(FormatError, match="not a whole number"):  # 24 pages, 5 planes, T fastest
        TiffImagingExtractor(path, 1.0, num_planes=5, dimension_order="TZC")
    with pytest.warns(UserWarning, match="incomplete sample"):
        ex = TiffImagingExtractor(path, 1.0, num_planes=5, dimension_order="ZCT")
    assert ex.get_num_samples() == 4


def test_missing_files_and_mismatched_series(tmp_path):
    with pytest.raises(FileSetError, match="does not exist"):
        TiffImagingExtractor(tmp_path / "nope.tif", 1.0)
    with pytest.raises(FileSetError, match="no file matches"):
        TiffImagingExtractor(str(tmp_path / "*.tif"), 1.0)
    with pytest.raises(FileSetError, match="either file_path"):
        TiffImagingExtractor(sampling_frequency=1.0)
    a = write_tiff_movie(tmp_path / "a.tif", 3, 8, 8)
    b = write_tiff_movie(tmp_path / "b.tif", 3, 8, 9)
    with pytest.raises(FormatError, match="must match"):
        TiffImagingExtractor(file_paths=[a, b], sampling_frequency=1.0)


@pytest.mark.parametrize("name", ["planar", "zlib"])
def test_truncated_files_are_clear_errors(tmp_path, name):
    data = Path(written(name)).read_bytes()
    path = tmp_path / "cut.tif"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CorruptFileError, match="truncated"):
        TiffImagingExtractor(path, 1.0)


def test_damaged_compressed_page_is_a_clear_error(tmp_path):
    import ophysio.extractors._tiff.index as tp

    data = bytearray(Path(written("zlib")).read_bytes())
    index = tp.index_tiff(written("zlib"))
    start = int(index.data_offsets[4])
    data[start : start + 40] = b"\xff" * 40
    path = tmp_path / "damaged.tif"
    path.write_bytes(bytes(data))
    ex = TiffImagingExtractor(path, 1.0)
    np.testing.assert_array_equal(ex.get_series(0, 4), movie(9, 20, 14, dtype="int16")[:4])
    with pytest.raises(CorruptFileError, match="IFD 4: .*could not be decoded"):
        ex.get_series(4, 5)


def test_imagej_images_count_must_match(tmp_path):
    path = tmp_path / "ij.tif"
    with tifffile.TiffWriter(path) as tif:
        for frame in movie(3, 6, 5, dtype="uint16"):
            tif.write(frame, description="ImageJ=1.53t\nimages=5\nslices=5\n", metadata=None)
    with pytest.raises(FormatError, match="images=5 but the file holds 3 pages"):
        TiffImagingExtractor(path, 1.0)


@pytest.mark.parametrize("name", ["planar", "zlib", "imagej-stack", "imagej-hyperstack"])
def test_open_imaging_picks_plain_tiff(name):
    kwargs = {"channel_name": "0"} if name == "imagej-hyperstack" else {"sampling_frequency": 1.0}
    assert isinstance(open_imaging(written(name), **kwargs), TiffImagingExtractor)


def test_open_imaging_takes_a_list():
    ex = open_imaging(written("series"), sampling_frequency=10.0)
    assert isinstance(ex, TiffImagingExtractor) and ex.get_num_samples() == 22


def test_open_imaging_tells_legacy_from_plain(tmp_path):
    legacy = write_scanimage_legacy(tmp_path / "legacy.tif", version="5.1")
    assert type(open_imaging(legacy)).__name__ == "ScanImageLegacyImagingExtractor"
    assert isinstance(open_imaging(legacy, format="tiff", sampling_frequency=1.0), TiffImagingExtractor)


REAL_FORMATS = {
    "scanimage/ScanImageBigTIFFv57.tif": "scanimage",
    "scanimage/vol_no_flyback_00001_00001.tif": "scanimage",
    "scanimage/vol_one_ch_multi_files/vol_one_ch_multi_files_00001_00001.tif": "scanimage",
    "scanimage_legacy/sample_scanimage_version_3_8.tiff": "scanimage_legacy",
    "ome_tiff/pmmp_demo_t.ome.tiff": "ome_tiff",
    "ome_tiff/pmmp_demo_tc.ome.tiff": "ome_tiff",
    "ome_tiff/pmmp_demo_tz.ome.tiff": "ome_tiff",
    "ome_tiff/pmmp_demo_seq.ome.tiff": "ome_tiff",
}


@pytest.mark.parametrize("relative", list(REAL_FORMATS))
def test_detection_of_every_real_tiff(relative):
    from ophysio.extractors import detect_format

    assert detect_format(sample_file(relative)).id == REAL_FORMATS[relative]


def test_detection_of_every_synthetic_tiff_kind(tmp_path):
    from ophysio._synth.scanimage import write_scanimage
    from ophysio._synth.tiff import write_ome_tiff
    from ophysio.extractors import detect_format

    kinds = {
        "scanimage": write_scanimage(tmp_path / "modern", num_samples=2, rows=8, columns=8)[0],
        "ome_tiff": write_ome_tiff(tmp_path / "x.ome.tif", size_t=2),
        "tiff": written("imagej-hyperstack"),
    }
    for version in ("3.8", "4.2", "5.0", "5.1"):
        path = write_scanimage_legacy(tmp_path / f"legacy{version}.tif", version=version, num_samples=2)
        assert detect_format(path).id == "scanimage_legacy", version
    for name in ("planar", "zlib", "bigendian", "bigtiff-strips", "imagej-stack"):
        assert detect_format(written(name)).id == "tiff", name
    for expected, path in kinds.items():
        assert detect_format(path).id == expected, path
    # an OME-TIFF without the .ome suffix is still OME by content
    plain_name = tmp_path / "renamed.tif"
    plain_name.write_bytes(Path(kinds["ome_tiff"]).read_bytes())
    assert detect_format(plain_name).id == "ome_tiff"


def test_compressed_reads_work_in_forked_workers():
    import multiprocessing as mp

    ex = TiffImagingExtractor(written("zlib"), 5.0)
    ex.get_series(0, 3)  # starts the decode pool in this process
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    with mp.get_context("fork").Pool(1) as pool:
        result = pool.apply_async(_sum_of_series, (ex,)).get(timeout=60)
    assert result == int(movie(9, 20, 14, dtype="int16").astype(np.int64).sum())


def _sum_of_series(extractor):
    return int(extractor.get_series().astype(np.int64).sum())


@pytest.mark.parametrize("name", ["tiff", "imagej_hyperstack", "ome_tiff", "scanimage_legacy"])
def test_built_in_examples_open(tmp_path, name):
    from ophysio.testing.synthetic import write_example

    path, kwargs = write_example(name, tmp_path)
    ex = open_imaging(path, **kwargs)
    assert ex.format_id == name.replace("imagej_hyperstack", "tiff") and ex.get_num_samples() > 1
    np.testing.assert_array_equal(ex[0], ex.get_series(0, 1)[0])


def test_imagej_file_with_one_ifd_and_all_images_after_it(tmp_path):
    # how ImageJ stores stacks over 4 GB: one IFD, images back to back (tifffile's truncate=True)
    data = movie(7, 9, 5, dtype="uint16")
    path = tmp_path / "raw_ij.tif"
    tifffile.imwrite(path, data, imagej=True, truncate=True, metadata={"axes": "TYX", "finterval": 0.5})
    from ophysio.extractors._tiff.index import index_tiff

    assert index_tiff(path).num_pages == 1
    ex = TiffImagingExtractor(path)
    assert ex.get_num_samples() == 7 and ex.get_sampling_frequency() == 2.0
    np.testing.assert_array_equal(ex[:], data)
    cut = tmp_path / "raw_ij_cut.tif"
    cut.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(FormatError, match="truncated"):
        TiffImagingExtractor(cut)


def test_from_folder_reads_the_matching_files_in_natural_order(tmp_path):
    data = movie(9, 6, 5, dtype="uint16")
    for name, part in (("run_2.tif", data[3:6]), ("run_10.tif", data[6:]), ("run_1.tif", data[:3])):
        tifffile.imwrite(tmp_path / name, part, photometric="minisblack")
    tifffile.imwrite(tmp_path / "other.tif", data[:1], photometric="minisblack")  # not matched by the pattern
    ex = TiffImagingExtractor.from_folder(tmp_path, file_pattern="run_*.tif", sampling_frequency=20.0)
    np.testing.assert_array_equal(ex.get_series(), data)
    assert [Path(p).name for p in ex.get_file_paths()] == ["run_1.tif", "run_2.tif", "run_10.tif"]
    assert ex.get_sampling_frequency() == 20.0
    assert isinstance(TiffImagingExtractor.__dict__["from_folder"], classmethod)
    two = movie(4, 6, 5, dtype="uint16")
    interleaved = np.stack([two, two + 1000], axis=1).reshape(8, 6, 5)  # channels fastest: "CTZ"
    (tmp_path / "sub").mkdir()
    tifffile.imwrite(tmp_path / "sub" / "a.tif", interleaved, photometric="minisblack")
    second = TiffImagingExtractor.from_folder(tmp_path / "sub", "*.tif", 5.0, dimension_order="CTZ",
                                              num_channels=2, channel_name="1")
    np.testing.assert_array_equal(second.get_series(), two + 1000)
    with pytest.raises(FileSetError, match="no file matches"):
        TiffImagingExtractor.from_folder(tmp_path, file_pattern="*.tiff", sampling_frequency=1.0)
    with pytest.raises(FileSetError, match="not a folder"):
        TiffImagingExtractor.from_folder(tmp_path / "run_1.tif", sampling_frequency=1.0)
