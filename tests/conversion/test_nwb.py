"""write_nwb on in-memory extractors: exact pixels and times on read-back, options, atomicity."""

import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO

from ophysio.conversion.converter import NWBConverter
from ophysio.conversion.interfaces import ImagingInterface
from ophysio.conversion.metadata import merge_metadata
from ophysio.conversion.nwb import read_source_metadata, series_timing, write_nwb
from ophysio.errors import MetadataError
from ophysio.extractors import NumpyImagingExtractor
from ophysio.testing.synthetic import movie

from .test_metadata import COMPLETE


def read_series(path, name="TwoPhotonSeries"):
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        series = nwbfile.acquisition[name]
        return series.data[:], np.asarray(series.get_timestamps()), series


def expected(extractor, stop=None):
    """Independent expectation: the extractor's samples in NWB's (t, x=column, y=row[, z]) layout."""
    return np.swapaxes(np.asarray(extractor.get_series(0, stop)), 1, 2)


@pytest.mark.parametrize(
    "shape, dtype",
    [((53, 37, 29), "int16"), ((11, 16, 12, 3), "uint16"), ((9, 8, 10), ">i2"), ((7, 6, 5), "float32"),
     ((12, 8, 8), "uint8")],
)
def test_pixels_and_rate_read_back_exactly(tmp_path, shape, dtype):
    planes = shape[3] if len(shape) > 3 else None
    data = movie(*shape[:3], planes, dtype=np.dtype(dtype).newbyteorder("=")).astype(dtype)
    extractor = NumpyImagingExtractor(data, sampling_frequency=12.5)
    path = write_nwb(extractor, tmp_path / "out.nwb", COMPLETE, max_workers=2)
    pixels, times, _ = read_series(path)
    assert pixels.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(pixels, expected(extractor))
    np.testing.assert_allclose(times, extractor.get_timestamps(), atol=1e-9)


def test_many_chunks_with_a_padded_edge_chunk(tmp_path):
    data = movie(50, 64, 40, dtype="int16")
    extractor = NumpyImagingExtractor(data, sampling_frequency=30.0)
    seen = []
    # 7 samples per chunk: 8 chunks, the last one of 1 sample (stored padded)
    write_nwb(extractor, tmp_path / "c.nwb", COMPLETE, chunk_bytes=7 * data[0].nbytes, max_workers=2,
              progress_callback=lambda d, t: seen.append((d, t)))
    with h5py.File(tmp_path / "c.nwb", "r") as f:
        dataset = f["acquisition/TwoPhotonSeries/data"]
        assert dataset.chunks == (7, 40, 64) and dataset.compression == "gzip" and dataset.shuffle
        np.testing.assert_array_equal(dataset[()], expected(extractor))
    assert seen[-1] == (50, 50) and len(seen) == 8


def test_irregular_timestamps_are_written_regular_ones_are_not(tmp_path):
    data = movie(20, 8, 6)
    irregular = np.cumsum(np.r_[0.5, np.full(19, 0.1)]) + np.r_[np.zeros(10), np.full(10, 0.003)]
    ex = NumpyImagingExtractor(data, sampling_frequency=10.0, timestamps=irregular)
    write_nwb(ex, tmp_path / "irr.nwb", COMPLETE)
    _, times, series = read_series(tmp_path / "irr.nwb")
    assert series.timestamps is not None and series.rate is None
    np.testing.assert_array_equal(times, irregular)

    jitter = 2.0 + np.arange(20) / 10.0 + np.r_[0, 4e-7, -4e-7, np.zeros(17)]
    ex = NumpyImagingExtractor(data, sampling_frequency=10.0, timestamps=jitter)
    assert series_timing(ex)[2] is None
    write_nwb(ex, tmp_path / "reg.nwb", COMPLETE)
    _, times, series = read_series(tmp_path / "reg.nwb")
    assert series.timestamps is None and series.rate == 10.0 and series.starting_time == 2.0
    assert np.max(np.abs(times - jitter)) <= 1e-6


def test_stub_overwrite_and_existing_output(tmp_path):
    data = movie(150, 8, 8)
    ex = NumpyImagingExtractor(data, sampling_frequency=5.0)
    path = tmp_path / "s.nwb"
    write_nwb(ex, path, COMPLETE, stub_test=True)
    pixels, times, _ = read_series(path)
    assert pixels.shape == (100, 8, 8)
    np.testing.assert_array_equal(pixels, expected(ex, 100))
    wide = NumpyImagingExtractor(movie(150, 4, 120), sampling_frequency=5.0)  # stub keeps time the longest axis
    write_nwb(wide, tmp_path / "w.nwb", COMPLETE, stub_test=True)
    assert read_series(tmp_path / "w.nwb")[0].shape == (120, 120, 4)
    (tmp_path / "w.nwb").unlink()
    with pytest.raises(FileExistsError, match="overwrite"):
        write_nwb(ex, path, COMPLETE)
    write_nwb(ex, path, COMPLETE, overwrite=True, stub_test=True, stub_samples=10)
    assert read_series(path)[0].shape == (10, 8, 8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.nwb"]  # no temporary left behind


@pytest.mark.filterwarnings("ignore:lzf compression may not be available")
@pytest.mark.parametrize("compression, filters", [("lzf", "lzf"), ("none", None), ("gzip:9", "gzip")])
def test_compression_options(tmp_path, compression, filters):
    ex = NumpyImagingExtractor(movie(30, 16, 16, dtype="uint16"), sampling_frequency=5.0)
    write_nwb(ex, tmp_path / "x.nwb", COMPLETE, compression=compression)
    with h5py.File(tmp_path / "x.nwb", "r") as f:
        dataset = f["acquisition/TwoPhotonSeries/data"]
        assert dataset.compression == filters
        if compression == "gzip:9":
            assert dataset.compression_opts == 9
        np.testing.assert_array_equal(dataset[()], expected(ex))
    with pytest.raises(ValueError, match="unknown compression"):
        write_nwb(ex, tmp_path / "y.nwb", COMPLETE, compression="brotli")


def test_failed_conversion_leaves_nothing(tmp_path):
    ex = NumpyImagingExtractor(movie(10, 4, 4), sampling_frequency=5.0)
    with pytest.raises(MetadataError, match="excitation_lambda"):
        write_nwb(ex, tmp_path / "x.nwb", {"NWBFile": COMPLETE["NWBFile"], "Subject": COMPLETE["Subject"]})

    def boom(done, total):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        write_nwb(ex, tmp_path / "x.nwb", COMPLETE, progress_callback=boom)
    assert list(tmp_path.iterdir()) == []


def test_several_streams_append_and_header_table(tmp_path):
    green = NumpyImagingExtractor(movie(12, 6, 5, channel=0), sampling_frequency=4.0, channel_name="Green")
    red = NumpyImagingExtractor(movie(12, 6, 5, channel=1), sampling_frequency=4.0, channel_name="Red")
    interface = ImagingInterface([green, red])
    meta = interface.get_metadata()
    assert [s["name"] for s in meta["Ophys"]["PhotonSeries"]] == ["TwoPhotonSeriesGreen", "TwoPhotonSeriesRed"]
    planes = meta["Ophys"]["ImagingPlane"]
    for plane in planes:
        plane.update(excitation_lambda=920.0, indicator="GCaMP6f", location="VISp")
        plane["optical_channel"][0]["emission_lambda"] = 510.0
    user = merge_metadata(COMPLETE, {"Ophys": {"ImagingPlane": planes}})
    path = write_nwb(interface, tmp_path / "two.nwb", user)
    for name, ex in (("TwoPhotonSeriesGreen", green), ("TwoPhotonSeriesRed", red)):
        np.testing.assert_array_equal(read_series(path, name)[0], expected(ex))
    headers = read_source_metadata(path)
    assert set(headers) == {"TwoPhotonSeriesGreen", "TwoPhotonSeriesRed"}
    assert headers["TwoPhotonSeriesRed"]["format"] == "numpy"

    # two streams with the same channel name still get distinct series
    same = ImagingInterface([NumpyImagingExtractor(movie(3, 4, 4), sampling_frequency=1.0) for _ in range(2)])
    names = [s["name"] for s in same.get_metadata()["Ophys"]["PhotonSeries"]]
    assert names == ["TwoPhotonSeriesChannel0Stream0", "TwoPhotonSeriesChannel0Stream1"]

    # append a third series to the existing file
    extra = NumpyImagingExtractor(movie(7, 6, 5, seed=3), sampling_frequency=4.0)
    extra_meta = {"Ophys": {"ImagingPlane": [dict(COMPLETE["Ophys"]["ImagingPlane"][0], name="PlaneB")],
                            "PhotonSeries": [{"name": "Later", "imaging_plane": "PlaneB"}]}}
    write_nwb(extra, path, extra_meta, append=True)
    np.testing.assert_array_equal(read_series(path, "Later")[0], expected(extra))
    np.testing.assert_array_equal(read_series(path, "TwoPhotonSeriesGreen")[0], expected(green))
    assert set(read_source_metadata(path)) == {"TwoPhotonSeriesGreen", "TwoPhotonSeriesRed", "Later"}


def test_split_planes_and_converter_alignment(tmp_path):
    volume = NumpyImagingExtractor(movie(6, 5, 4, planes=3), sampling_frequency=2.0)
    interface = ImagingInterface(volume, split_planes=True)
    meta = interface.get_metadata()
    assert [s["name"] for s in meta["Ophys"]["PhotonSeries"]] == [f"TwoPhotonSeriesPlane{p}" for p in range(3)]
    other = ImagingInterface(NumpyImagingExtractor(movie(8, 5, 4, seed=1), sampling_frequency=2.0))
    other.align_by_interpolation([0.0, 10.0], [100.0, 120.0])  # other clock runs at half speed, offset 100 s
    converter = NWBConverter({"Vol": interface, "Ref": other})
    meta = converter.get_metadata()
    for plane in meta["Ophys"]["ImagingPlane"]:
        plane.update(excitation_lambda=920.0, indicator="GCaMP6f", location="VISp")
        plane["optical_channel"][0]["emission_lambda"] = 510.0
    path = converter.run_conversion(tmp_path / "c.nwb", merge_metadata(COMPLETE, {"Ophys": meta["Ophys"]}))
    for p in range(3):
        pixels = read_series(path, f"TwoPhotonSeriesPlane{p}Vol")[0]
        np.testing.assert_array_equal(pixels, np.swapaxes(volume.get_series()[..., p], 1, 2))
    _, times, _ = read_series(path, "TwoPhotonSeriesRef")
    np.testing.assert_allclose(times, 100.0 + 2.0 * np.arange(8) / 2.0)


def test_nwbinspector_dandi_finds_no_violation(tmp_path):
    from nwbinspector import Importance, inspect_nwbfile, load_config

    ex = NumpyImagingExtractor(movie(140, 16, 120), sampling_frequency=30.0, timestamps=np.arange(140) ** 1.01)
    full = write_nwb(ex, tmp_path / "full.nwb", COMPLETE)
    stub = write_nwb(ex, tmp_path / "stub.nwb", COMPLETE, stub_test=True)
    for path in (full, stub):
        messages = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")))
        # ERROR too: it is what nwbinspector reports when it cannot read or validate a file at all
        bad = [m for m in messages
               if m.importance in (Importance.ERROR, Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]
        assert bad == [], [(m.check_function_name, m.message) for m in bad]


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from ophysio.conversion.nwb import write_nwb
    from ophysio.extractors import NumpyImagingExtractor
    sys.path.insert(0, sys.argv[2])
    from test_metadata import COMPLETE

    def slow(done, total):
        print("written", done, flush=True)
        time.sleep(30)

    ex = NumpyImagingExtractor(np.zeros((400, 128, 128), dtype="int16"), sampling_frequency=30.0)
    write_nwb(ex, sys.argv[1], COMPLETE, progress_callback=slow)
    """
)


def test_killed_conversion_leaves_no_file(tmp_path):
    import os

    out = tmp_path / "killed.nwb"
    here = os.path.dirname(__file__)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(out), here], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("written"), line
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert all(name.startswith(".killed.nwb.") and name.endswith(".partial") for name in leftovers)


@pytest.mark.parametrize("engine", ["zlib", "isal"])
def test_both_deflate_engines_write_standard_gzip_chunks(tmp_path, engine):
    from ophysio.conversion.nwb import Compression

    ex = NumpyImagingExtractor(movie(40, 24, 20, dtype="int16"), sampling_frequency=5.0)
    write_nwb(ex, tmp_path / "e.nwb", COMPLETE, compression=Compression(engine=engine), chunk_bytes=6 * 24 * 20 * 2)
    with h5py.File(tmp_path / "e.nwb", "r") as f:  # HDF5's own gzip+shuffle filters decode what was written
        dataset = f["acquisition/TwoPhotonSeries/data"]
        assert dataset.compression == "gzip" and dataset.shuffle and dataset.chunks == (6, 20, 24)
        np.testing.assert_array_equal(dataset[()], expected(ex))


def test_add_to_own_nwbfile_streams_through_hdmf_iterator(tmp_path):
    from datetime import datetime, timezone

    from pynwb import NWBFile

    ex = NumpyImagingExtractor(movie(33, 10, 7, planes=2, dtype="uint16"), sampling_frequency=3.0)
    interface = ImagingInterface(ex)
    nwbfile = NWBFile(session_description="own", identifier="x", session_start_time=datetime.now(timezone.utc))
    interface.add_to_nwbfile(nwbfile, merge_metadata(interface.get_metadata(), COMPLETE), compression="gzip:2")
    with NWBHDF5IO(str(tmp_path / "own.nwb"), "w") as io:
        io.write(nwbfile)
    pixels, times, _ = read_series(tmp_path / "own.nwb")
    np.testing.assert_array_equal(pixels, expected(ex))
    np.testing.assert_allclose(times, np.arange(33) / 3.0)
