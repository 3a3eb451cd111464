"""A segmentation's traces, masks and images as dask/xarray arrays, and its masks as one label image, on the
real suite2p, CaImAn and Minian samples: values against numpy / h5py + scipy.sparse / zarr reads of the files
as the pipelines document them (never ophysio against itself), times against the files' times, reads made
per chunk, pickled chunk tasks, views carried through.
"""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse

from ophysio import open_segmentation
from ophysio.errors import MissingExtraError, SelectionError
from ophysio.extractors.segmentation.masks import label_image

da = pytest.importorskip("dask.array")
xr = pytest.importorskip("xarray")


# ---------------------------------------------------------------------- independent reads of the samples
def suite2p_expected(root: Path) -> dict:
    """The planes of a suite2p run read with numpy as suite2p saves them: ROIs numbered across the planes."""
    planes = sorted(root.glob("plane*"), key=lambda p: int(p.name[5:]))
    stat, raw, neuropil, spks, iscell, ops = [], [], [], [], [], None
    for plane, folder in enumerate(planes):
        for roi in np.load(folder / "stat.npy", allow_pickle=True):
            stat.append((plane, np.asarray(roi["ypix"]), np.asarray(roi["xpix"]), np.asarray(roi["lam"])))
        raw.append(np.load(folder / "F.npy"))
        neuropil.append(np.load(folder / "Fneu.npy"))
        spks.append(np.load(folder / "spks.npy"))
        iscell.append(np.load(folder / "iscell.npy")[:, 0] > 0.5)
        ops = ops or np.load(folder / "ops.npy", allow_pickle=True).item()
    frames = min(f.shape[1] for f in raw)
    traces = {name: np.concatenate([f[:, :frames] for f in parts]).T
              for name, parts in (("raw", raw), ("neuropil", neuropil), ("deconvolved", spks))}
    return {"stat": stat, "traces": traces, "accepted": np.concatenate(iscell), "rate": float(ops["fs"]),
            "shape": (int(ops["Ly"]), int(ops["Lx"]), len(planes)), "frames": frames}


def caiman_expected(path: Path) -> dict:
    """CNMF.save's estimates read with h5py: A a CSC matrix over pixels flattened in Fortran order."""
    with h5py.File(path, "r") as f:
        est = f["estimates"]
        rows, cols = (int(v) for v in f["params/data/dims"][()])
        a = scipy.sparse.csc_matrix((est["A/data"][()], est["A/indices"][()], est["A/indptr"][()]),
                                    shape=tuple(est["A/shape"][()]))
        dense = np.stack([a[:, k].toarray().ravel().reshape((rows, cols), order="F") for k in range(a.shape[1])])
        traces = {"raw": (est["C"][()] + est["YrA"][()]).T, "denoised": est["C"][()].T,
                  "deconvolved": est["S"][()].T, "dff": est["F_dff"][()].T, "background": est["f"][()].T}
        rate = float(f["params/data/fr"][()])
    return {"dense": dense, "traces": traces, "rate": rate}


def minian_var(folder: Path, name: str, order: list[str]) -> np.ndarray:
    """A Minian variable read with zarr, its axes in ``order`` by the dims xarray recorded."""
    zarr = pytest.importorskip("zarr")
    path = folder / f"{name}.zarr" / name
    dims = json.loads((path / ".zattrs").read_text())["_ARRAY_DIMENSIONS"]
    data = zarr.open_array(str(path), mode="r")[...]
    for dim in order:  # a dim xarray squeezed out (one background component) comes back as length 1
        if dim not in dims:
            data, dims = data[..., np.newaxis], [*dims, dim]
    return np.transpose(data, [dims.index(d) for d in order])


def minian_times(folder: Path) -> np.ndarray:
    zarr = pytest.importorskip("zarr")
    frames = zarr.open_array(str(folder / "C.zarr" / "frame"), mode="r")[...]
    with open(folder / "timeStamps.csv", newline="") as fh:
        ms = {int(r["Frame Number"]): float(r["Time Stamp (ms)"]) for r in csv.DictReader(fh)}
    return np.array([ms[int(i)] for i in frames]) / 1000.0


def labels_by_loop(masks, shape, labels=None) -> np.ndarray:
    """The label image drawn ROI by ROI (label k + 1 for the k-th mask, or ``labels[k]``; given in increasing
    order): a pixel goes to a later ROI only if it weighs it strictly more."""
    image = np.zeros(shape, dtype=np.int64)
    best = np.zeros(shape)
    for k, (index, weights) in enumerate(masks):
        for where, weight in zip(zip(*index), weights):
            if weight > best[where]:
                best[where], image[where] = weight, (k + 1 if labels is None else labels[k])
    return image


@pytest.fixture(scope="module")
def suite2p(shared_data):
    return shared_data / "segmentation" / "suite2p"


@pytest.fixture(scope="module")
def caiman(shared_data):
    return shared_data / "segmentation" / "caiman" / "caiman_analysis.hdf5"


@pytest.fixture(scope="module")
def minian(shared_data):
    return shared_data / "segmentation" / "minian" / "segmented_data_3units_100frames"


# ---------------------------------------------------------------------- traces
def test_suite2p_traces_as_a_dataset(suite2p):
    expected = suite2p_expected(suite2p)
    extractor = open_segmentation(suite2p)
    data = extractor.to_xarray()
    assert isinstance(data, xr.Dataset) and sorted(data.data_vars) == ["deconvolved", "neuropil", "raw"]
    for name, values in expected["traces"].items():
        assert data[name].dims == ("time", "roi") and isinstance(data[name].data, da.Array)
        np.testing.assert_array_equal(data[name].values, values)
    np.testing.assert_allclose(data["time"].values, np.arange(expected["frames"]) / expected["rate"])
    np.testing.assert_array_equal(data["time"].values, extractor.get_timestamps())
    assert data["time"].attrs["units"] == "s"
    np.testing.assert_array_equal(data["roi"].values, np.arange(len(expected["stat"])))
    np.testing.assert_array_equal(data["accepted"].values, expected["accepted"])
    np.testing.assert_array_equal(data["plane"].values, [plane for plane, *_ in expected["stat"]])
    centroid_y = [np.average(y, weights=w) for _, y, _, w in expected["stat"]]
    np.testing.assert_allclose(data["centroid_y"].values, centroid_y)
    np.testing.assert_allclose(data["centroid_z"].values, [plane for plane, *_ in expected["stat"]])
    assert "iscell_probability" in data.coords and data["iscell_probability"].dims == ("roi",)
    attrs = json.loads(json.dumps(data.attrs))  # JSON-able
    assert attrs["format"] == "suite2p" and attrs["sampling_frequency_hz"] == expected["rate"]
    assert attrs["software"] == "suite2p" and data["channel"].item() == "chan1"
    # label-based selection: the accepted ROIs of plane 1
    chosen = data["raw"].where(data["accepted"] & (data["plane"] == 1), drop=True)
    keep = expected["accepted"] & (np.array([plane for plane, *_ in expected["stat"]]) == 1)
    np.testing.assert_array_equal(chosen.values, expected["traces"]["raw"][:, keep])


def test_caiman_traces_and_background(caiman):
    expected = caiman_expected(caiman)
    extractor = open_segmentation(caiman)
    data = extractor.to_xarray()
    assert sorted(data.data_vars) == sorted(expected["traces"])
    for name, values in expected["traces"].items():
        np.testing.assert_allclose(data[name].values, values, rtol=1e-12)
    assert data["background"].dims == ("time", "background_component")
    assert data["raw"].dims == ("time", "roi") and data.sizes["roi"] == expected["dense"].shape[0]
    np.testing.assert_allclose(data["time"].values, np.arange(1000) / expected["rate"])
    one = extractor.to_xarray("dff")
    assert isinstance(one, xr.DataArray) and one.name == "dff" and "background_component" not in one.coords
    np.testing.assert_allclose(one.values, expected["traces"]["dff"], rtol=1e-12)
    assert one.attrs["format"] == "caiman" and "time_coordinate" in one.attrs


def test_minian_times_are_the_recorded_ones(minian):
    extractor = open_segmentation(minian)
    data = extractor.to_xarray()
    np.testing.assert_allclose(data["time"].values, minian_times(minian))
    assert "recorded" in data.attrs["time_coordinate"]
    np.testing.assert_array_equal(data["denoised"].values, minian_var(minian, "C", ["frame", "unit_id"]))
    np.testing.assert_array_equal(data["background"].values, minian_var(minian, "f", ["frame", "unit_id"]))


def test_each_chunk_reads_only_its_samples(caiman, monkeypatch):
    extractor = open_segmentation(caiman)
    reads = []
    original = type(extractor)._read_traces

    def counting(self, name, start, stop, positions):
        reads.append((name, start, stop, len(positions)))
        return original(self, name, start, stop, positions)

    monkeypatch.setattr(type(extractor), "_read_traces", counting)
    traces = extractor.to_dask("deconvolved", chunk_samples=300)
    assert traces.chunks == ((300, 300, 300, 100), (72,))
    assert all(stop == start for _, start, stop, _ in reads)  # nothing read before compute (a dtype at most)
    reads.clear()
    traces.compute(scheduler="sync")
    assert sorted(reads) == [("deconvolved", s, min(s + 300, 1000), 72) for s in (0, 300, 600, 900)]
    reads.clear()
    part = traces[310:320, 5:8].compute(scheduler="sync")
    assert reads == [("deconvolved", 310, 320, 3)]
    np.testing.assert_allclose(part, caiman_expected(caiman)["traces"]["deconvolved"][310:320, 5:8])


def test_chunk_tasks_pickle_and_compute_in_processes(caiman):
    extractor = open_segmentation(caiman)
    expected = caiman_expected(caiman)["traces"]["raw"]
    traces = extractor.to_dask("raw", chunk_samples=250)
    restored = pickle.loads(pickle.dumps(traces))
    np.testing.assert_allclose(restored.compute(scheduler="sync"), expected, rtol=1e-12)
    mean = extractor.to_xarray("raw", chunk_samples=400).mean("time").compute(scheduler="processes", num_workers=2)
    np.testing.assert_allclose(mean.values, expected.mean(axis=0), rtol=1e-12)


def test_views_are_carried_through(suite2p):
    expected = suite2p_expected(suite2p)
    extractor = open_segmentation(suite2p)
    view = extractor.slice_samples(20, 120).select_rois([3, 30, 7])
    data = view.to_xarray("neuropil", chunk_samples=32)
    np.testing.assert_array_equal(data["roi"].values, [3, 30, 7])
    np.testing.assert_array_equal(data.values, expected["traces"]["neuropil"][20:120][:, [3, 30, 7]])
    np.testing.assert_allclose(data["time"].values, np.arange(20, 120) / expected["rate"])
    np.testing.assert_array_equal(data["accepted"].values, expected["accepted"][[3, 30, 7]])


def test_an_unknown_trace_and_bad_chunks_are_errors(caiman):
    extractor = open_segmentation(caiman)
    with pytest.raises(SelectionError, match="neuropil"):
        extractor.to_xarray("neuropil")
    with pytest.raises(SelectionError):
        extractor.to_dask("neuropil")
    with pytest.raises(ValueError, match="at least 1"):
        extractor.to_dask("raw", chunk_samples=0)
    with pytest.raises(TypeError):
        extractor.to_dask("raw", chunk_samples=True)


def test_missing_packages_name_the_extra(caiman, monkeypatch):
    import sys

    extractor = open_segmentation(caiman)
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(MissingExtraError, match=r"ophysio\[xarray\]"):
        extractor.to_xarray()
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(MissingExtraError, match=r"ophysio\[dask\]"):
        extractor.to_dask()


# ---------------------------------------------------------------------- masks, images, labels
def test_caiman_masks_in_fortran_order(caiman):
    expected = caiman_expected(caiman)["dense"]
    extractor = open_segmentation(caiman)
    masks = extractor.masks_to_xarray(chunk_rois=20)
    assert masks.dims == ("roi", "y", "x") and masks.data.chunks[0] == (20, 20, 20, 12)
    np.testing.assert_allclose(masks.values, expected, rtol=1e-6)
    np.testing.assert_allclose(masks.isel(roi=5).values, expected[5], rtol=1e-6)
    with h5py.File(caiman, "r") as f:
        rows, cols = (int(v) for v in f["params/data/dims"][()])
        b = f["estimates/b"][()]
    background = extractor.masks_to_xarray(background=True)
    assert background.dims == ("background_component", "y", "x")
    np.testing.assert_allclose(background.values, np.stack([b[:, k].reshape((rows, cols), order="F")
                                                             for k in range(b.shape[1])]), rtol=1e-6)


def test_caiman_label_image(caiman):
    dense = caiman_expected(caiman)["dense"]
    masks = [(np.nonzero(m), m[np.nonzero(m)]) for m in dense]
    expected = labels_by_loop(masks, dense.shape[1:])
    labels = open_segmentation(caiman).get_label_image()
    assert labels.shape == (128, 128) and np.issubdtype(labels.dtype, np.integer)
    np.testing.assert_array_equal(labels, expected)
    overlapping = (dense > 0).sum(axis=0) > 1
    assert overlapping.any()  # the sample's footprints overlap: the largest weight decides
    assert set(np.unique(labels)) <= set(range(dense.shape[0] + 1))


def test_suite2p_volume_masks_and_labels(suite2p):
    expected = suite2p_expected(suite2p)
    rows, cols, planes = expected["shape"]
    extractor = open_segmentation(suite2p)
    masks = extractor.masks_to_xarray()
    assert masks.dims == ("roi", "y", "x", "z") and masks.shape == (len(expected["stat"]), rows, cols, planes)
    for k in (0, 17, 39):
        plane, y, x, lam = expected["stat"][k]
        dense = np.zeros((rows, cols, planes), dtype=np.float32)
        dense[y, x, plane] = lam
        np.testing.assert_array_equal(masks[k].values, dense)
    loop = labels_by_loop([((y, x, np.full(len(y), plane)), lam) for plane, y, x, lam in expected["stat"]],
                          (rows, cols, planes))
    np.testing.assert_array_equal(extractor.get_label_image(), loop)
    accepted_ids = list(np.flatnonzero(expected["accepted"]))
    only = extractor.get_label_image(accepted_ids)
    assert set(np.unique(only)) - {0} <= {k + 1 for k in accepted_ids}  # labels keep the ROIs' positions


def test_images_as_data_arrays(minian, suite2p):
    images = open_segmentation(minian).images_to_xarray()
    assert list(images) == ["max"] and images["max"].dims == ("y", "x")
    np.testing.assert_array_equal(images["max"].values, minian_var(minian, "max_proj", ["height", "width"]))
    volume = open_segmentation(suite2p).images_to_xarray()
    ops = np.load(suite2p / "plane1" / "ops.npy", allow_pickle=True).item()
    assert volume["mean"].dims == ("y", "x", "z")
    np.testing.assert_array_equal(volume["mean"].isel(z=1).values, ops["meanImg"])


def test_label_image_rules():
    shape = (4, 5)
    masks = [np.array([[0, 0, 1.0], [1, 1, 0.5], [2, 2, 0.0]]),  # a zero weight belongs to no ROI
             np.array([[1, 1, 0.7], [0, 0, 1.0], [3, 4, np.nan]]),  # wins (1, 1); ties (0, 0): smaller label
             np.zeros((0, 3))]
    labels = label_image(masks, shape)
    expected = np.zeros(shape, dtype=int)
    expected[0, 0], expected[1, 1] = 1, 2
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(label_image(masks, shape, labels=[10, 20, 30]), expected * 10)
    with pytest.raises(ValueError):
        label_image(masks, shape, labels=[1])
