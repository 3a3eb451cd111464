"""Segmentations in the napari reader, through npe2's own API: a suite2p folder, a CaImAn HDF5 file and a
Minian folder open as labels layers (and their summary images as image layers); a suite2p run with its
movie gives the movie's layers and the segmentation's. The labels are compared with label images drawn
from independent reads of the files (numpy for suite2p's stat.npy, h5py + scipy.sparse for CaImAn's A,
zarr for Minian's A), never with ophysio's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ophysio.napari
from ophysio.extractors import open_imaging

from ..extractors.test_segmentation_arrays import (
    caiman_expected,
    labels_by_loop,
    minian_var,
    suite2p_expected,
)

npe2 = pytest.importorskip("npe2")
pytest.importorskip("dask.array")

MANIFEST = Path(ophysio.napari.__file__).with_name("napari.yaml")


@pytest.fixture(scope="module")
def plugin():
    """npe2's plugin manager with ophysio's manifest (as in test_reader.py)."""
    manager = npe2.PluginManager.instance()
    manager.discover()
    try:
        manager.get_manifest("ophysio")
    except KeyError:
        manager.register(npe2.PluginManifest.from_file(MANIFEST))
    return manager


def read(path) -> list[tuple]:
    return npe2.read([str(path)], stack=False, plugin_name="ophysio")


def by_kind(layers, kind):
    return [layer for layer in layers if layer[2] == kind]


def suite2p_labels(expected: dict, keep: np.ndarray) -> np.ndarray:
    """suite2p's ROIs (those ``keep`` selects, labelled by their position + 1) as napari shows a volume:
    (planes, rows, columns)."""
    rows, cols, planes = expected["shape"]
    chosen = np.flatnonzero(keep)
    masks = [((np.full(len(y), plane), y, x), lam) for plane, y, x, lam in (expected["stat"][k] for k in chosen)]
    return labels_by_loop(masks, (planes, rows, cols), labels=chosen + 1)


def test_a_suite2p_folder_gives_accepted_and_rejected_labels(shared_data, plugin):
    folder = shared_data / "segmentation" / "suite2p"
    expected = suite2p_expected(folder)
    assert ophysio.napari.get_reader(str(folder)) is ophysio.napari.read
    layers = read(folder)  # the sample has no data.bin: the segmentation alone
    images, labels = by_kind(layers, "image"), by_kind(layers, "labels")
    assert [kind for _, _, kind in layers[-2:]] == ["labels", "labels"]  # the labels above the images
    (accepted, akw, _), (rejected, rkw, _) = labels
    assert akw["name"] == "suite2p accepted ROIs" and rkw["name"] == "suite2p rejected ROIs"
    assert akw["visible"] and not rkw["visible"]
    assert akw["axis_labels"] == ("z", "y", "x") and len(akw["scale"]) == 3
    assert np.issubdtype(np.asarray(accepted).dtype, np.integer)
    np.testing.assert_array_equal(accepted, suite2p_labels(expected, expected["accepted"]))
    np.testing.assert_array_equal(rejected, suite2p_labels(expected, ~expected["accepted"]))
    pandas = pytest.importorskip("pandas")
    table = pandas.DataFrame(akw["features"])  # napari's features: a row per label, row 0 the background
    n = len(expected["stat"])
    assert len(table) == n + 1 and list(table["label"]) == list(range(n + 1))
    np.testing.assert_array_equal(table["accepted"][1:], expected["accepted"])
    np.testing.assert_array_equal(table["plane"][1:], [plane for plane, *_ in expected["stat"]])
    assert list(table["roi_id"][1:]) == list(range(n))
    meta = akw["metadata"]["ophysio"]
    assert meta["format"] == "suite2p" and meta["shown_roi_ids"] == list(np.flatnonzero(expected["accepted"]))
    # the summary images, planes first; shown alone (no movie), the first one visible
    names = [keywords["name"] for _, keywords, _ in images]
    assert "suite2p mean" in names and [kw["visible"] for _, kw, _ in images].count(True) == 1
    mean = images[names.index("suite2p mean")][0]
    for plane in (0, 1):
        ops = np.load(folder / f"plane{plane}" / "ops.npy", allow_pickle=True).item()
        np.testing.assert_array_equal(mean[plane], ops["meanImg"])


def test_a_caiman_file_gives_one_labels_layer(shared_data, plugin):
    path = shared_data / "segmentation" / "caiman" / "caiman_analysis.hdf5"
    assert ophysio.napari.get_reader(str(path)) is ophysio.napari.read  # not declined as an HDF5 without movie
    dense = caiman_expected(path)["dense"]  # no component evaluation in the sample: every ROI accepted
    layers = read(path)
    (data, keywords, kind), = layers  # no movie and no correlation image in the file
    assert kind == "labels" and keywords["name"] == "caiman_analysis.hdf5 ROIs"
    masks = [(np.nonzero(m), m[np.nonzero(m)]) for m in dense]
    np.testing.assert_array_equal(data, labels_by_loop(masks, dense.shape[1:]))
    assert keywords["axis_labels"] == ("y", "x") and len(keywords["features"]["label"]) == dense.shape[0] + 1
    assert np.unique(data).size > 50  # most of the 72 components own a pixel


def test_a_minian_folder_gives_labels_and_the_max_projection(shared_data, plugin):
    folder = shared_data / "segmentation" / "minian" / "segmented_data_3units_100frames"
    layers = read(folder)
    (image, ikw, _), = by_kind(layers, "image")
    (labels, lkw, _), = by_kind(layers, "labels")
    np.testing.assert_array_equal(image, minian_var(folder, "max_proj", ["height", "width"]))
    assert ikw["name"] == f"{folder.name} max" and ikw["visible"]
    footprints = minian_var(folder, "A", ["unit_id", "height", "width"])
    masks = [(np.nonzero(m), m[np.nonzero(m)]) for m in footprints]
    np.testing.assert_array_equal(labels, labels_by_loop(masks, footprints.shape[1:]))
    assert set(np.unique(labels)) == {0, 1, 2, 3}  # the background component (b) is not a ROI


def test_a_suite2p_run_with_its_movie_gives_both(tmp_path, plugin):
    from ophysio.examples import write_example

    root, _ = write_example("suite2p_session", tmp_path)  # data.bin per plane and the segmentation
    expected = suite2p_expected(root)
    layers = read(root)
    kinds = [kind for _, _, kind in layers]
    movie = [layer for layer in layers if "image" not in layer[1]["metadata"]["ophysio"] and layer[2] == "image"]
    assert len(movie) == 2 and all(a is b for a, b in zip(layers, movie))  # two channels, shown first
    for data, keywords, _ in movie:
        channel = keywords["metadata"]["ophysio"]["channel_name"]
        samples = open_imaging(root, channel_name=channel).get_series(0, 2)
        np.testing.assert_array_equal(np.asarray(data[:2]), samples.transpose(0, 3, 1, 2))
    assert kinds[-2:] == ["labels", "labels"]
    summary = [layer for layer in layers[2:] if layer[2] == "image"]
    assert summary and not any(keywords["visible"] for _, keywords, _ in summary)  # the movie stays in view
    (accepted, akw, _), (rejected, _, _) = by_kind(layers, "labels")
    np.testing.assert_array_equal(accepted, suite2p_labels(expected, expected["accepted"]))
    np.testing.assert_array_equal(rejected, suite2p_labels(expected, ~expected["accepted"]))
    # the labels lie over the movie: the same spatial axes, scale and units
    _, movie_keywords, _ = movie[0]
    assert akw["axis_labels"] == movie_keywords["axis_labels"][1:]
    assert akw["scale"] == movie_keywords["scale"][1:] and akw["units"] == movie_keywords["units"][1:]
    assert accepted.shape == movie[0][0].shape[1:]


def test_a_plane_folder_is_a_planar_segmentation(shared_data, plugin):
    folder = shared_data / "segmentation" / "suite2p" / "plane1"
    labels = by_kind(read(folder), "labels")
    stat = np.load(folder / "stat.npy", allow_pickle=True)
    iscell = np.load(folder / "iscell.npy")[:, 0] > 0.5
    ops = np.load(folder / "ops.npy", allow_pickle=True).item()
    chosen = np.flatnonzero(iscell)
    masks = [((stat[k]["ypix"], stat[k]["xpix"]), stat[k]["lam"]) for k in chosen]
    expected = labels_by_loop(masks, (int(ops["Ly"]), int(ops["Lx"])), labels=chosen + 1)
    assert labels[0][1]["axis_labels"] == ("y", "x")
    np.testing.assert_array_equal(labels[0][0], expected)
