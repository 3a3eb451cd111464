"""extractor.to_dask() and extractor.to_xarray(): lazy, chunked like NWB, carried through views, computed on a
process cluster; the coordinates and attributes of the DataArray; a clear error without the optional packages.

Every format's conformance case also checks ``to_dask().compute() == get_series()`` and the xarray time
coordinate (ExtractorTests); this module checks what the suite cannot: which reads a computation makes,
views, sources without a rate, and a distributed LocalCluster of worker processes (one for the module).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ophysio.errors import MissingExtraError
from ophysio.extractors import MultiImagingExtractor, NumpyImagingExtractor, open_imaging
from ophysio.extractors.arrays import DASK_CHUNK_BYTES, chunk_samples_for
from ophysio.testing.synthetic import movie

da = pytest.importorskip("dask.array")

PLANAR = movie(23, 9, 7, dtype="int16")
VOLUME = movie(10, 6, 5, planes=3, dtype="uint16")


class CountingExtractor(NumpyImagingExtractor):
    """An in-memory extractor that records every raw read ``(start, stop)``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reads: list[tuple[int, int]] = []

    def _read_series(self, start, stop, out):
        self.reads.append((start, stop))
        super()._read_series(start, stop, out)


# ---------------------------------------------------------------------- chunks and reads
def test_the_chunks_are_whole_samples_of_the_nwb_chunk_size():
    from ophysio.conversion.chunks import DEFAULT_CHUNK_BYTES, chunk_shape_for

    assert DASK_CHUNK_BYTES == 10 * DEFAULT_CHUNK_BYTES == 10 * 1024**2
    samples = np.zeros((1000, 128, 128), dtype="uint16")  # 32 KiB a sample: 32 in an NWB chunk, 320 in a dask one
    big = NumpyImagingExtractor(samples, sampling_frequency=10.0)
    assert chunk_samples_for(big) == 10 * chunk_shape_for(big)[0] == 320
    odd = NumpyImagingExtractor(np.zeros((1000, 100, 70), dtype="int16"), sampling_frequency=10.0)  # 14,000 B
    assert chunk_samples_for(odd) % chunk_shape_for(odd)[0] == 0  # a whole number of NWB chunks
    array = big.to_dask()
    assert array.chunks == ((320, 320, 320, 40), (128,), (128,))
    assert big.to_dask(chunk_samples=400).chunks[0] == (400, 400, 200)
    assert big.to_dask(chunk_samples=5000).chunks[0] == (1000,)
    small = NumpyImagingExtractor(PLANAR, sampling_frequency=10.0)
    assert small.to_dask().chunks[0] == (23,)  # fewer samples than a chunk holds: one chunk


def test_nothing_is_read_until_computed_and_each_chunk_is_one_read():
    extractor = CountingExtractor(PLANAR, sampling_frequency=10.0)
    array = extractor.to_dask(chunk_samples=5)
    assert array.shape == PLANAR.shape and array.dtype == PLANAR.dtype
    assert extractor.reads == []
    np.testing.assert_array_equal(array.compute(scheduler="sync"), PLANAR)
    assert sorted(extractor.reads) == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 23)]


def test_a_selection_reads_only_the_samples_it_selects():
    extractor = CountingExtractor(PLANAR, sampling_frequency=10.0)
    array = extractor.to_dask(chunk_samples=10)
    np.testing.assert_array_equal(array[12].compute(scheduler="sync"), PLANAR[12])
    np.testing.assert_array_equal(array[3:6, 2:5].compute(scheduler="sync"), PLANAR[3:6, 2:5])
    read = sum(stop - start for start, stop in extractor.reads)
    assert read <= 1 + 3, extractor.reads  # not the two chunks of 10 samples they fall in


def test_reductions_match_numpy():
    extractor = NumpyImagingExtractor(PLANAR, sampling_frequency=10.0)
    array = extractor.to_dask(chunk_samples=4)
    np.testing.assert_allclose(array.mean(axis=0).compute(), PLANAR.mean(axis=0))
    np.testing.assert_array_equal(array.max(axis=(1, 2)).compute(), PLANAR.max(axis=(1, 2)))


def test_chunk_samples_must_be_a_positive_integer():
    extractor = NumpyImagingExtractor(PLANAR, sampling_frequency=10.0)
    with pytest.raises(ValueError, match="at least 1"):
        extractor.to_dask(chunk_samples=0)
    with pytest.raises(TypeError):
        extractor.to_dask(chunk_samples=2.5)
    with pytest.raises(TypeError):
        extractor.to_dask(chunk_samples=True)
    assert extractor.to_dask(chunk_samples=np.int64(7)).chunks[0] == (7, 7, 7, 2)


def test_no_samples_give_an_empty_array():
    extractor = NumpyImagingExtractor(PLANAR, sampling_frequency=10.0).slice_samples(5, 5)
    array = extractor.to_dask()
    assert array.shape == (0, 9, 7)
    assert array.compute().shape == (0, 9, 7)


def test_big_endian_samples_keep_their_dtype():
    data = PLANAR.astype(">i2")
    array = NumpyImagingExtractor(data, sampling_frequency=10.0).to_dask(chunk_samples=6)
    assert array.dtype == np.dtype(">i2")
    got = array.compute()
    assert got.dtype == np.dtype(">i2")
    np.testing.assert_array_equal(got, PLANAR)


# ---------------------------------------------------------------------- views
def _views():
    planar = NumpyImagingExtractor(PLANAR, sampling_frequency=30.0)
    volume = NumpyImagingExtractor(VOLUME, sampling_frequency=5.0)
    binned = np.rint(PLANAR[:21].reshape(7, 3, 9, 7).astype(float).mean(axis=1)).astype("int16")
    return {
        "slice": (planar.slice_samples(2, -1), PLANAR[2:-1]),
        "crop": (planar.slice_field_of_view(1, 8, 2, 6), PLANAR[:, 1:8, 2:6]),
        "crop-of-slice": (planar.slice_samples(4).slice_field_of_view(column_start=3), PLANAR[4:, :, 3:]),
        "plane": (volume.select_plane(-1), VOLUME[..., 2]),
        "volume-crop": (volume.slice_field_of_view(row_end=4), VOLUME[:, :4]),
        "binned": (planar.bin_samples(3), binned),
        "concatenation": (MultiImagingExtractor([planar, planar.slice_samples(0, 4)]),
                          np.concatenate([PLANAR, PLANAR[:4]])),
        # corrections: their pixels are checked in their own tests; here the array is the view's read
        "scan-phase": (planar.correct_scan_phase(1.0), None),
        "plane-registration": (volume.register_planes([(0, 0), (1, 0), (0, -1)]), None),
        "crop-of-scan-phase": (planar.correct_scan_phase(-1.0).slice_field_of_view(2, 7), None),
    }


@pytest.mark.parametrize("name", list(_views()))
def test_views_are_carried_through(name):
    view, expected = _views()[name]
    if expected is None:
        expected = view.get_series()
    array = view.to_dask(chunk_samples=4)
    assert array.shape == expected.shape and array.dtype == expected.dtype
    np.testing.assert_array_equal(array.compute(scheduler="threads"), expected)


def test_a_view_reads_only_its_samples():
    extractor = CountingExtractor(PLANAR, sampling_frequency=10.0)
    extractor.slice_samples(10, 14).to_dask().compute(scheduler="sync")
    assert extractor.reads == [(10, 14)]


# ---------------------------------------------------------------------- xarray
xr = pytest.importorskip("xarray")


def test_xarray_of_a_volume_with_recorded_geometry(shared_data):
    """ScanImage 2021 multi-file volume: recorded frame times, 0.84375 um pixels, 9 planes 2 um apart."""
    path = shared_data / "scanimage" / "vol_one_ch_multi_files" / "vol_one_ch_multi_files_00001_00001.tif"
    extractor = open_imaging(path)
    array = extractor.to_xarray()
    assert array.dims == ("time", "y", "x", "z") and array.shape == (100, 20, 20, 9)
    assert isinstance(array.data, da.Array)
    np.testing.assert_array_equal(array["time"].values, extractor.get_timestamps())
    facts = extractor.get_acquisition_facts()
    np.testing.assert_allclose(array["x"].values, np.arange(20) * facts.pixel_size_um[1])
    np.testing.assert_allclose(array["z"].values, facts.plane_depths_um)
    np.testing.assert_allclose(np.diff(array["z"].values), 2.0)
    assert array.name == "Channel 1" and array["channel"].item() == "Channel 1"
    attrs = json.loads(json.dumps(array.attrs))
    assert attrs["software"] == "ScanImage" and attrs["pixel_size_um"] == list(facts.pixel_size_um)
    assert attrs["session_start_time"] == facts.session_start_time.isoformat()
    assert "recorded" in attrs["time_coordinate"]
    assert attrs["file_paths"] == [str(p) for p in extractor.get_file_paths()]
    # label-based selection and a lazy reduction
    first = array.sel(time=array["time"][0]).isel(z=0).compute()
    np.testing.assert_array_equal(first.values, extractor.get_series(0, 1)[0, :, :, 0])
    np.testing.assert_array_equal(array.mean("time").compute().values, extractor.get_series().mean(axis=0))


def test_xarray_of_a_source_without_rate_has_the_sample_index_as_time(shared_data):
    extractor = open_imaging(shared_data / "hdf5" / "fly.hdf5")
    assert extractor.get_sampling_frequency() is None and not extractor.has_recorded_times()
    array = extractor.to_xarray()
    np.testing.assert_array_equal(array["time"].values, np.arange(161))
    assert array["time"].attrs["units"] == "sample"
    assert "no sampling rate" in array.attrs["time_coordinate"]
    assert "sampling_frequency_hz" not in array.attrs
    np.testing.assert_array_equal(array["x"].values, np.arange(512))  # no pixel size recorded
    assert array["x"].attrs["units"] == "pixel"


def test_xarray_time_from_rate_recorded_times_and_set_times():
    regular = NumpyImagingExtractor(PLANAR, sampling_frequency=4.0).to_xarray()
    np.testing.assert_allclose(regular["time"].values, np.arange(23) / 4.0)
    assert "sampling frequency (4 Hz)" in regular.attrs["time_coordinate"]
    recorded_times = 10 + np.cumsum(np.r_[0, np.full(22, 0.25)]) + np.r_[0, 0.01, np.zeros(21)]
    recorded = NumpyImagingExtractor(PLANAR, timestamps=recorded_times).to_xarray()
    np.testing.assert_array_equal(recorded["time"].values, recorded_times)
    assert "recorded" in recorded.attrs["time_coordinate"]
    extractor = NumpyImagingExtractor(PLANAR, sampling_frequency=4.0)
    extractor.set_times(np.arange(23) * 0.5 + 100)
    aligned = extractor.to_xarray()
    np.testing.assert_array_equal(aligned["time"].values, np.arange(23) * 0.5 + 100)
    assert "set_times" in aligned.attrs["time_coordinate"]
    # a view shows its parent's times
    np.testing.assert_array_equal(extractor.slice_samples(3, 8).to_xarray()["time"].values, np.arange(3, 8) * 0.5 + 100)


def test_xarray_of_a_planar_multichannel_source(shared_data):
    path = shared_data / "ome_tiff" / "pmmp_demo_tc.ome.tiff"
    for channel in ("DAPI", "FITC"):
        extractor = open_imaging(path, channel_name=channel)
        array = extractor.to_xarray()
        assert array.dims == ("time", "y", "x") and array.name == channel
        assert array.attrs["channel_names"] == ["DAPI", "FITC"]
        np.testing.assert_array_equal(array.values, extractor.get_series())


# ---------------------------------------------------------------------- optional packages
def test_a_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.array", None)
    extractor = NumpyImagingExtractor(PLANAR, sampling_frequency=10.0)
    with pytest.raises(MissingExtraError, match=r'pip install "ophysio\[dask\]"') as caught:
        extractor.to_dask()
    assert caught.value.extra == "dask"
    assert isinstance(caught.value, ImportError)


def test_a_missing_xarray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(MissingExtraError, match=r'pip install "ophysio\[xarray\]"'):
        NumpyImagingExtractor(PLANAR, sampling_frequency=10.0).to_xarray()


def test_the_core_imports_none_of_the_optional_array_packages(shared_data):
    code = (
        "import sys\n"
        "import ophysio, ophysio.extractors.arrays, ophysio.napari\n"
        f"extractor = ophysio.open_imaging({str(shared_data / 'thor' / '20231018-002')!r})\n"
        "extractor.get_series(0, 1)\n"
        "optional = {'dask', 'distributed', 'xarray', 'napari', 'npe2'}\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & optional)\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------- a distributed cluster of processes
@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    from ophysio.conversion.batch.run import _start_cluster

    client, cluster = _start_cluster(2, "1GiB")
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def sources(shared_data, tmp_path_factory):
    """(label, extractor) of real samples of several formats and of every built-in example ophysio opens alone."""
    from ophysio.conversion.interfaces import interface_from_paths
    from ophysio.examples import all_examples, write_example

    found = []
    real = ["scanimage/vol_one_ch_multi_files", "scanimage/ScanImageBigTIFFv57.tif",
            "scanimage_legacy/sample_scanimage_version_3_8.tiff", "ome_tiff/pmmp_demo_tz.ome.tiff",
            "hdf5/fly.hdf5", "thor/20231018-002"]
    for relative in real:
        for extractor in interface_from_paths(shared_data / relative).extractors:
            found.append((f"{relative} {extractor.channel_name}", extractor))
    folder = tmp_path_factory.mktemp("examples")
    for name in sorted(all_examples()):
        path, keywords = write_example(name, folder / name)
        raw = name == "binary"  # raw binary is not recognised from content: it is named
        for extractor in interface_from_paths(path, "binary" if raw else None, **keywords).extractors:
            found.append((f"example {name} {extractor.channel_name}", extractor))
    return found


def test_to_dask_computes_on_a_cluster_of_processes(client, sources):
    assert {format_id for _, ex in sources for format_id in [ex.format_id]} >= {
        "scanimage", "scanimage_legacy", "ome_tiff", "hdf5", "thor", "tiff", "numpy", "binary"}
    arrays = [ex.to_dask(chunk_samples=max(1, ex.get_num_samples() // 3)) for _, ex in sources]
    results = client.gather(client.compute(arrays))
    for (label, extractor), got in zip(sources, results):
        np.testing.assert_array_equal(got, extractor.get_series(), err_msg=label)
        assert got.dtype == extractor.dtype, label
    pids = set(client.run(os.getpid).values())  # the chunks were read in two other processes
    assert len(pids) == 2 and os.getpid() not in pids


def test_views_and_xarray_reductions_compute_on_a_cluster(client, shared_data):
    extractor = open_imaging(shared_data / "scanimage" / "vol_one_ch_multi_files" /
                             "vol_one_ch_multi_files_00001_00001.tif")
    full = extractor.get_series()
    view = extractor.slice_samples(10, 90).slice_field_of_view(2, 18, 0, 15).select_plane(4)
    got = client.compute(view.to_dask(chunk_samples=16)).result()
    np.testing.assert_array_equal(got, full[10:90, 2:18, 0:15, 4])
    mean = client.compute(extractor.to_xarray(chunk_samples=10).mean("time")).result()
    assert mean.dims == ("y", "x", "z")
    np.testing.assert_allclose(mean.values, full.mean(axis=0))
