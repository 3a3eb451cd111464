"""write_nwb(..., backend="zarr"): NWB-Zarr stores through hdmf-zarr, read back with NWBZarrIO.

hdmf-zarr 0.13 needs zarr<3 while the test extra has zarr 3, so these tests skip in the main test
environment; ``.ci/run`` runs this module in a second environment with ``ophysio[nwb-zarr]`` and sets
``OPHYSIO_REQUIRE_NWB_ZARR=1``, which turns a missing hdmf-zarr into an error instead of a skip.
"""

import os
import sys

import numpy as np
import pytest

from ophysio.cli import main
from ophysio.conversion.nwb import read_source_metadata, write_nwb
from ophysio.conversion.nwb.zarr import MissingBackendError
from ophysio.errors import MetadataError, OphysioError
from ophysio.extractors import NumpyImagingExtractor
from ophysio.testing.synthetic import movie

from .test_metadata import COMPLETE


@pytest.fixture
def nwbzarrio():
    if os.environ.get("OPHYSIO_REQUIRE_NWB_ZARR"):
        import hdmf_zarr  # CI's nwb-zarr environment: a missing hdmf-zarr is a failure
    else:
        hdmf_zarr = pytest.importorskip("hdmf_zarr")
    return hdmf_zarr.NWBZarrIO


def expected(extractor, stop=None):
    """Independent expectation: the extractor's samples in NWB's (t, x=column, y=row[, z]) layout."""
    return np.swapaxes(np.asarray(extractor.get_series(0, stop)), 1, 2)


def read_series(io_class, path, name="TwoPhotonSeries"):
    with io_class(str(path), mode="r") as io:
        series = io.read().acquisition[name]
        data = series.data
        return data[:], np.asarray(series.get_timestamps()), data.chunks, data.compressor, data.filters


class CountingExtractor(NumpyImagingExtractor):
    """Records the largest number of samples read at once (the write must stream whole chunks)."""

    largest_read = 0

    def _read_series(self, start, stop, out):
        self.largest_read = max(self.largest_read, stop - start)
        super()._read_series(start, stop, out)


@pytest.mark.parametrize(
    "shape, dtype, irregular, compression, codec",
    [
        ((41, 24, 20), "int16", True, "gzip", "GZip"),
        ((11, 16, 12, 3), "uint16", False, "zstd:5", "Zstd"),
        ((9, 8, 10), ">i2", True, "blosc:zstd:5", "Blosc"),
        ((7, 6, 5), "float32", False, "none", None),
        ((12, 8, 8), "uint8", False, "gzip:6", "GZip"),
    ],
)
def test_pixels_and_timestamps_read_back_exactly(tmp_path, nwbzarrio, shape, dtype, irregular, compression, codec):
    planes = shape[3] if len(shape) > 3 else None
    data = movie(*shape[:3], planes, dtype=np.dtype(dtype).newbyteorder("=")).astype(dtype)
    n = shape[0]
    times = np.cumsum(np.full(n, 0.05)) + np.linspace(0, 0.01, n) ** 2 if irregular else None
    extractor = CountingExtractor(data, sampling_frequency=20.0, timestamps=times)
    per_chunk = 4
    seen = []
    path = write_nwb(extractor, tmp_path / "out.nwb.zarr", COMPLETE, backend="zarr", compression=compression,
                     chunk_bytes=per_chunk * data[0].nbytes, progress_callback=lambda d, t: seen.append((d, t)))
    assert extractor.largest_read == per_chunk  # streamed chunk by chunk: bounded memory
    assert path.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nwb.zarr"]  # no temporary left behind
    pixels, read_times, chunks, compressor, filters = read_series(nwbzarrio, path)
    assert pixels.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(pixels, expected(extractor))
    if irregular:
        np.testing.assert_array_equal(read_times, times)
    else:
        np.testing.assert_allclose(read_times, np.arange(n) / 20.0, atol=1e-12)
    assert chunks == (per_chunk, *pixels.shape[1:])  # whole frames
    assert seen[-1] == (n, n) and [d for d, _ in seen] == sorted({d for d, _ in seen})
    assert (type(compressor).__name__ if compressor is not None else None) == codec
    if codec == "Zstd":
        assert compressor.level == 5
    if codec == "Blosc":
        assert (compressor.cname, compressor.clevel, compressor.shuffle) == ("zstd", 5, 1)
    if codec in ("GZip", "Zstd") and pixels.dtype.itemsize > 1:
        assert [type(f).__name__ for f in filters] == ["Shuffle"]
        assert filters[0].elementsize == pixels.dtype.itemsize


def test_several_series_source_metadata_and_stub(tmp_path, nwbzarrio):
    from ophysio.conversion.interfaces import ImagingInterface
    from ophysio.conversion.metadata import merge_metadata

    first = NumpyImagingExtractor(movie(30, 10, 12, dtype="uint16"), sampling_frequency=10.0, channel_name="Green")
    second = NumpyImagingExtractor(movie(30, 10, 12, dtype="uint16", channel=1), sampling_frequency=10.0,
                                   channel_name="Red")
    interface = ImagingInterface([first, second])
    planes = interface.get_metadata()["Ophys"]["ImagingPlane"]
    for plane in planes:
        plane.update(excitation_lambda=920.0, indicator="GCaMP6f", location="VISp")
        plane["optical_channel"][0]["emission_lambda"] = 510.0
    meta = merge_metadata(COMPLETE, {"Ophys": {"ImagingPlane": planes}})
    path = write_nwb(interface, tmp_path / "two.nwb.zarr", meta, backend="zarr")
    for name, extractor in (("TwoPhotonSeriesGreen", first), ("TwoPhotonSeriesRed", second)):
        np.testing.assert_array_equal(read_series(nwbzarrio, path, name)[0], expected(extractor))
    headers = read_source_metadata(path)
    assert sorted(headers) == ["TwoPhotonSeriesGreen", "TwoPhotonSeriesRed"]
    assert headers["TwoPhotonSeriesRed"]["format"] == "numpy"
    stub = write_nwb(first, tmp_path / "stub.nwb.zarr", COMPLETE, backend="zarr", stub_test=True, stub_samples=7)
    np.testing.assert_array_equal(read_series(nwbzarrio, stub)[0], expected(first, 7))


def test_overwrite_failure_and_refused_options_leave_nothing(tmp_path, nwbzarrio):
    extractor = NumpyImagingExtractor(movie(20, 8, 8), sampling_frequency=5.0)
    path = tmp_path / "s.nwb.zarr"
    write_nwb(extractor, path, COMPLETE, backend="zarr")
    with pytest.raises(FileExistsError, match="overwrite"):
        write_nwb(extractor, path, COMPLETE, backend="zarr")
    write_nwb(extractor, path, COMPLETE, backend="zarr", overwrite=True, stub_test=True, stub_samples=5)
    assert read_series(nwbzarrio, path)[0].shape == (5, 8, 8)

    def fail(done, total):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):  # fails mid-write: the old store stays as it was
        write_nwb(extractor, path, COMPLETE, backend="zarr", overwrite=True, progress_callback=fail,
                  chunk_bytes=4 * 64 * 2)
    assert read_series(nwbzarrio, path)[0].shape == (5, 8, 8)
    with pytest.raises(MetadataError, match="excitation_lambda"):
        write_nwb(extractor, tmp_path / "m.nwb.zarr", {"NWBFile": COMPLETE["NWBFile"], "Subject": COMPLETE["Subject"]},
                  backend="zarr")
    with pytest.raises(OphysioError, match="HDF5 filter"):
        write_nwb(extractor, tmp_path / "l.nwb.zarr", COMPLETE, backend="zarr", compression="lzf")
    with pytest.raises(OphysioError, match="append"):
        write_nwb(extractor, path, COMPLETE, backend="zarr", append=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.nwb.zarr"]


def test_pynwb_validation_and_nwbinspector_dandi_find_no_violation(tmp_path, nwbzarrio):
    """nwbinspector reads NWB-Zarr (through hdmf-zarr). Its own pynwb validation step fails on any Zarr
    store with pynwb 4.2 + hdmf-zarr 0.13 (pynwb passes ``driver`` to ``ZarrIO.load_namespaces``), so
    pynwb's validator runs here on an open NWBZarrIO and the inspector with ``skip_validate=True``."""
    import pynwb

    if not os.environ.get("OPHYSIO_REQUIRE_NWB_ZARR"):  # CI's nwb-zarr environment installs nwbinspector
        pytest.importorskip("nwbinspector")
    from nwbinspector import Importance, inspect_nwbfile, load_config

    ex = NumpyImagingExtractor(movie(140, 16, 120), sampling_frequency=30.0, timestamps=np.arange(140) ** 1.01)
    full = write_nwb(ex, tmp_path / "full.nwb.zarr", COMPLETE, backend="zarr")
    stub = write_nwb(ex, tmp_path / "stub.nwb.zarr", COMPLETE, backend="zarr", stub_test=True)
    short = write_nwb(ex, tmp_path / "short.nwb.zarr", COMPLETE, backend="zarr", stub_test=True, stub_samples=10)

    def inspect(path):
        with nwbzarrio(str(path), mode="r") as io:
            assert list(pynwb.validate(io=io)) == []
        messages = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi"), skip_validate=True))
        important = (Importance.ERROR, Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)
        return [(m.check_function_name, m.message) for m in messages if m.importance in important]

    for path in (full, stub):
        assert inspect(path) == []
    # the checks really ran on the Zarr store: a 10-sample stub (time not the longest axis) is flagged
    assert [name for name, _ in inspect(short)] == ["check_data_orientation"]


def test_cli_convert_backend_zarr(tmp_path, nwbzarrio, capsys):
    from ophysio.testing.synthetic import write_example

    source, _ = write_example("numpy", tmp_path / "source")
    out = tmp_path / "cli.nwb.zarr"
    assert main(["convert", "--example", "numpy", "-o", str(out), "--no-progress", "--backend", "zarr",
                 "--compression", "zstd"]) == 0
    assert "wrote" in capsys.readouterr().out
    pixels, _, _, compressor, _ = read_series(nwbzarrio, out)
    np.testing.assert_array_equal(pixels, np.load(source).swapaxes(1, 2))
    assert type(compressor).__name__ == "Zstd"


def test_without_hdmf_zarr_a_clear_error_and_nothing_written(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "hdmf_zarr", None)  # import hdmf_zarr now raises ImportError
    extractor = NumpyImagingExtractor(movie(5, 4, 4), sampling_frequency=5.0)
    with pytest.raises(MissingBackendError, match=r'pip install "ophysio\[nwb-zarr\]"'):
        write_nwb(extractor, tmp_path / "n.nwb.zarr", COMPLETE, backend="zarr")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OphysioError, match="unknown backend"):
        write_nwb(extractor, tmp_path / "n.nwb", COMPLETE, backend="n5")


def test_a_segmentation_reads_back_from_nwb_zarr(tmp_path, nwbzarrio):
    """The real suite2p run into an NWB-Zarr store: pixel masks (x = column), traces, images, the header."""
    from ophysio.conversion.segmentation_interface import segmentation_interface_from_path
    from ophysio.testing.data import sample_file

    root = sample_file("segmentation/suite2p")
    meta = {**COMPLETE, "Ophys": {"ImagingPlane": [{"excitation_lambda": 920.0, "indicator": "GCaMP6f",
                                                    "location": "VISp", "optical_channel": [
                                                        {"emission_lambda": 510.0}, {"emission_lambda": 580.0}]}]}}
    interface = segmentation_interface_from_path(root, mask_type="pixel")
    out = interface.run_conversion(tmp_path / "seg.nwb.zarr", meta, backend="zarr")
    stat = np.load(root / "plane1" / "stat.npy", allow_pickle=True)
    with nwbzarrio(str(out), mode="r") as io:
        ophys = io.read().processing["ophys"]
        table = ophys["ImageSegmentation"]["PlaneSegmentationPlane1"]
        assert len(table) == len(stat)
        mask = np.array(table["pixel_mask"][0].tolist())
        np.testing.assert_array_equal(mask[:, 0], stat[0]["xpix"])
        np.testing.assert_array_equal(mask[:, 1], stat[0]["ypix"])
        np.testing.assert_array_equal(ophys["Fluorescence"]["RoiResponseSeriesChan2Plane1"].data[:],
                                      np.load(root / "plane1" / "F_chan2.npy").T)
        ops = np.load(root / "plane0" / "ops.npy", allow_pickle=True).item()
        np.testing.assert_array_equal(ophys["SegmentationImages"]["mean_image_PlaneSegmentationPlane0"].data[:],
                                      ops["meanImg"].T)
    assert read_source_metadata(out)["PlaneSegmentationPlane1"]["format"] == "suite2p"
