"""zstd and blosc compression of NWB photon series through hdf5plugin: exact pixels, the filters stored."""

import sys

import h5py
import numpy as np
import pytest

from ophysio.cli import main
from ophysio.conversion._compress import MissingPluginError
from ophysio.conversion.nwb import Compression, write_nwb
from ophysio.extractors import NumpyImagingExtractor
from ophysio.testing.synthetic import movie

from .test_metadata import COMPLETE

hdf5plugin = pytest.importorskip("hdf5plugin")  # in the test extra: runs in CI

ZSTD, BLOSC = hdf5plugin.ZSTD_ID, hdf5plugin.BLOSC_ID
SHUFFLE = h5py.h5z.FILTER_SHUFFLE
BLOSC_CNAME_CODES = {"blosclz": 0, "lz4": 1, "lz4hc": 2, "zlib": 4, "zstd": 5}


def filters_of(dataset) -> list[tuple[int, tuple]]:
    """(filter id, client values) of each filter in the pipeline, read from the creation property list."""
    plist = dataset.id.get_create_plist()
    return [(plist.get_filter(i)[0], tuple(plist.get_filter(i)[2])) for i in range(plist.get_nfilters())]


def read_back_with_pynwb(path):
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        series = io.read().acquisition["TwoPhotonSeries"]
        return series.data[:], np.asarray(series.get_timestamps())


def expected(extractor):
    return np.swapaxes(np.asarray(extractor.get_series()), 1, 2)


@pytest.mark.parametrize(
    "compression, pipeline",
    [
        ("zstd", [(SHUFFLE, None), (ZSTD, (3,))]),
        ("zstd:12", [(SHUFFLE, None), (ZSTD, (12,))]),
        ("blosc", [(BLOSC, ("lz4", 5, 1))]),
        ("blosc:zstd:7", [(BLOSC, ("zstd", 7, 1))]),
        (Compression("blosc", 2, shuffle=False, cname="zlib"), [(BLOSC, ("zlib", 2, 0))]),
        (Compression("zstd", 1, shuffle=False), [(ZSTD, (1,))]),
    ],
)
def test_plugin_compression_reads_back_exactly_with_the_expected_filters(tmp_path, compression, pipeline):
    times = np.cumsum(np.full(41, 0.05)) + np.linspace(0, 0.01, 41) ** 2  # irregular: stored as timestamps
    extractor = NumpyImagingExtractor(movie(41, 24, 20, dtype="int16"), sampling_frequency=20.0, timestamps=times)
    # 6 samples per chunk: several chunks and a padded edge chunk go through the plugin
    path = write_nwb(extractor, tmp_path / "p.nwb", COMPLETE, compression=compression,
                     chunk_bytes=6 * 24 * 20 * 2)
    pixels, read_times = read_back_with_pynwb(path)
    np.testing.assert_array_equal(pixels, expected(extractor))
    np.testing.assert_array_equal(read_times, times)
    with h5py.File(path, "r") as f:
        dataset = f["acquisition/TwoPhotonSeries/data"]
        assert dataset.chunks == (6, 20, 24)
        stored = filters_of(dataset)
        assert [code for code, _ in stored] == [code for code, _ in pipeline]
        for (code, values), (_, want) in zip(stored, pipeline):
            if code == ZSTD:
                assert values == want
            elif code == BLOSC:  # blosc's client values: 4 reserved/filled slots, then level, shuffle, compressor
                cname, level, shuffle = want
                assert values[4:] == (level, shuffle, BLOSC_CNAME_CODES[cname])
        # the chunk on disk is really compressed: smaller than the raw chunk for this smooth movie
        assert dataset.id.get_storage_size() < dataset.size * dataset.dtype.itemsize


def test_zstd_float_volume_and_uint8(tmp_path):
    for data in (movie(9, 12, 10, planes=3, dtype="float32"), movie(15, 8, 8, dtype="uint8")):
        extractor = NumpyImagingExtractor(data, sampling_frequency=7.0)
        path = write_nwb(extractor, tmp_path / f"{data.dtype}.nwb", COMPLETE, compression="zstd:5")
        pixels, times = read_back_with_pynwb(path)
        assert pixels.dtype == data.dtype
        np.testing.assert_array_equal(pixels, expected(extractor))
        np.testing.assert_allclose(times, np.arange(len(data)) / 7.0)


@pytest.mark.parametrize(
    "text, method, level, cname",
    [("zstd", "zstd", None, None), ("ZSTD:22", "zstd", 22, None), ("blosc", "blosc", None, None),
     ("blosc:lz4hc", "blosc", None, "lz4hc"), ("blosc:zstd:5", "blosc", 5, "zstd"), ("gzip:0", "gzip", 0, None)],
)
def test_parse(text, method, level, cname):
    parsed = Compression.parse(text)
    assert (parsed.method, parsed.level, parsed.cname) == (method, level, cname)


@pytest.mark.parametrize("text", ["zstd:0", "zstd:23", "zstd:x", "blosc:brotli", "blosc:zstd:10", "blosc:zstd:5:1",
                                  "lzf:3", "gzip:10", "zstd:3:4"])
def test_parse_rejects_bad_options(text):
    with pytest.raises(ValueError, match="compression"):
        Compression.parse(text)


def test_without_hdf5plugin_a_clear_error_and_no_file(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "hdf5plugin", None)  # import hdf5plugin now raises ImportError
    extractor = NumpyImagingExtractor(movie(5, 4, 4), sampling_frequency=5.0)
    for compression in ("zstd", "blosc:zstd:5"):
        with pytest.raises(MissingPluginError, match=r'pip install "ophysio\[hdf5plugin\]"'):
            write_nwb(extractor, tmp_path / "n.nwb", COMPLETE, compression=compression)
    assert list(tmp_path.iterdir()) == []
    assert issubclass(MissingPluginError, ImportError)


def test_cli_convert_with_zstd_and_blosc(tmp_path, capsys):
    from ophysio.testing.synthetic import write_example

    source, _ = write_example("numpy", tmp_path / "source")  # the example the CLI converts, written again
    want = np.load(source).swapaxes(1, 2)
    for compression, code in (("zstd", ZSTD), ("blosc:zstd:3", BLOSC)):
        out = tmp_path / f"{compression.replace(':', '_')}.nwb"
        assert main(["convert", "--example", "numpy", "-o", str(out), "--no-progress",
                     "--compression", compression]) == 0
        assert "wrote" in capsys.readouterr().out
        with h5py.File(out, "r") as f:
            assert code in [c for c, _ in filters_of(f["acquisition/TwoPhotonSeries/data"])]
        pixels, _ = read_back_with_pynwb(out)
        np.testing.assert_array_equal(pixels, want)


def test_cli_reports_a_missing_plugin(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "hdf5plugin", None)
    out = tmp_path / "z.nwb"
    assert main(["convert", "--example", "numpy", "-o", str(out), "--no-progress", "--compression", "zstd"]) == 1
    assert "hdf5plugin" in capsys.readouterr().err
    assert not out.exists()


def test_cli_rejects_a_bad_compression_as_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", "--example", "numpy", "-o", str(tmp_path / "b.nwb"), "--compression", "zstd:99"])
    assert exit_info.value.code == 2
    assert "level must be an integer 1-22" in capsys.readouterr().err
