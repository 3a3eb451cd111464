"""The reader plugin in a real napari viewer on Qt's offscreen platform, with a screenshot kept as an artefact.

napari and a Qt binding are not in the test extra (they take minutes to install), so this module skips in
the main test environment; the reader itself is tested through npe2 in ``test_reader.py``. To run it:
``pip install -e ".[napari]" pyqt5 pytest``, then ``OPHYSIO_REQUIRE_NAPARI_VIEWER=1 QT_API=pyqt5
QT_QPA_PLATFORM=offscreen xvfb-run -a python -m pytest -s tests/napari_plugin/test_viewer.py`` (needs the
system's xvfb); ``OPHYSIO_REQUIRE_NAPARI_VIEWER=1`` turns a missing napari, Qt binding or display into an
error instead of a skip. ``.ci/run`` does this in an environment of its own, built while the main tests
run, with xvfb from the system's packages. Qt's offscreen platform gets its OpenGL context from the X display
(Mesa's software rasteriser); without one napari cannot draw.

The screenshots are written to ``$OPHYSIO_ARTEFACTS`` when it is set (``.ci/run`` keeps them in
``.ci/artefacts/`` to look at), else under pytest's temporary folder; their paths are printed (``pytest -s``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from ophysio.extractors import open_imaging

REQUIRED = bool(os.environ.get("OPHYSIO_REQUIRE_NAPARI_VIEWER"))


def _artefact(tmp_path, name: str):
    """Where a screenshot goes: ``$OPHYSIO_ARTEFACTS`` (kept after the run) or the test's temporary folder."""
    from pathlib import Path

    folder = Path(os.environ["OPHYSIO_ARTEFACTS"]) if os.environ.get("OPHYSIO_ARTEFACTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt starts: no window on any screen


def _napari():
    """napari with a Qt binding and an OpenGL display, or a skip (an error when they are required)."""
    if REQUIRED:
        import napari
        import qtpy  # noqa: F401 - a Qt binding
    else:
        napari = pytest.importorskip("napari")
        try:
            import qtpy  # noqa: F401 - raises when no Qt binding is installed
        except Exception as exc:  # qtpy raises its own error type for a missing binding
            pytest.skip(f"no Qt binding for napari: {exc}")
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        message = "no display for OpenGL: run under xvfb-run (Qt's offscreen platform draws through it)"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return napari


def _canvas_image(viewer) -> np.ndarray:
    """The viewer's canvas as RGBA. napari's screenshot grabs the Qt OpenGL widget's framebuffer, which the
    offscreen platform leaves black; then the same vispy scene is rendered off-screen instead."""
    image = viewer.screenshot(canvas_only=True, flash=False)
    if np.unique(image.reshape(-1, image.shape[-1]), axis=0).shape[0] <= 2:
        image = viewer.window._qt_viewer.canvas._scene_canvas.render()
    return np.asarray(image)


def test_a_two_channel_source_in_a_napari_viewer(shared_data, tmp_path):
    napari = _napari()
    path = shared_data / "ome_tiff" / "pmmp_demo_tc.ome.tiff"
    viewer = napari.Viewer(show=True)  # shown on the offscreen platform: sized and drawn, on no screen
    try:
        layers = viewer.open(str(path), plugin="ophysio")
        assert [layer.name for layer in layers] == [f"{path.name} DAPI", f"{path.name} FITC"]
        first = open_imaging(path, channel_name="DAPI")
        rate = first.get_sampling_frequency()
        for layer, channel, colour in zip(layers, ("DAPI", "FITC"), ("green", "magenta")):
            assert type(layer.data).__module__.startswith("dask")  # lazy in the viewer too
            assert tuple(layer.axis_labels) == ("time", "y", "x")
            assert layer.colormap.name == colour and layer.blending == "additive"
            np.testing.assert_allclose(layer.scale, (1 / rate, 1.0, 1.0))
            assert [str(unit) for unit in layer.units] == ["second", "micrometer", "micrometer"]
            assert layer.metadata["ophysio"]["channel_name"] == channel
        viewer.dims.set_current_step(0, 3)  # the fourth sample: 3 / rate seconds on the time axis
        assert viewer.dims.point[0] == pytest.approx(3 / rate)
        shown = np.asarray(layers[1].data[3])
        np.testing.assert_array_equal(shown, open_imaging(path, channel_name="FITC").get_series(3, 4)[0])
        viewer.reset_view()
        image = _canvas_image(viewer)
        artefact = _artefact(tmp_path, "napari_ophysio_pmmp_demo_tc.png")
        from napari.utils.io import imsave

        imsave(str(artefact), image)
        print(f"\nnapari screenshot: {artefact}")
        assert artefact.stat().st_size > 0
        colours = np.unique(image[..., :3].reshape(-1, 3), axis=0)
        assert colours.shape[0] > 50, "the canvas shows no image"  # the two channels' pixels, blended
    finally:
        viewer.close()


def test_a_volume_series_in_a_napari_viewer(shared_data, tmp_path):
    napari = _napari()
    folder = shared_data / "scanimage" / "vol_one_ch_multi_files"
    viewer = napari.Viewer(show=True)  # shown on the offscreen platform: sized and drawn, on no screen
    try:
        (layer,) = viewer.open(str(folder), plugin="ophysio")
        assert layer.data.shape == (100, 9, 20, 20)
        assert tuple(layer.axis_labels) == ("time", "z", "y", "x")
        np.testing.assert_allclose(layer.scale[1:], (2.0, 0.84375, 0.84375))
        viewer.reset_view()
        image = _canvas_image(viewer)
        artefact = _artefact(tmp_path, "napari_ophysio_scanimage_volume.png")
        from napari.utils.io import imsave

        imsave(str(artefact), image)
        print(f"\nnapari screenshot: {artefact}")
        assert np.unique(image[..., :3].reshape(-1, 3), axis=0).shape[0] > 10
    finally:
        viewer.close()


def test_a_segmentation_in_a_napari_viewer(shared_data, tmp_path):
    """A CaImAn file dropped on the viewer: one labels layer, its labels those drawn from CaImAn's ``A`` read
    with h5py and scipy (Fortran order), each ROI's label its position + 1, drawn on the canvas."""
    napari = _napari()
    from ..extractors.test_segmentation_arrays import caiman_expected, labels_by_loop

    path = shared_data / "segmentation" / "caiman" / "caiman_analysis.hdf5"
    dense = caiman_expected(path)["dense"]
    viewer = napari.Viewer(show=True)
    try:
        (layer,) = viewer.open(str(path), plugin="ophysio")
        assert type(layer).__name__ == "Labels" and tuple(layer.axis_labels) == ("y", "x")
        masks = [(np.nonzero(m), m[np.nonzero(m)]) for m in dense]
        np.testing.assert_array_equal(np.asarray(layer.data), labels_by_loop(masks, dense.shape[1:]))
        assert list(layer.features["label"]) == list(range(dense.shape[0] + 1))
        viewer.reset_view()
        image = _canvas_image(viewer)
        artefact = _artefact(tmp_path, "napari_ophysio_caiman_labels.png")
        from napari.utils.io import imsave

        imsave(str(artefact), image)
        print(f"\nnapari screenshot: {artefact}")
        assert np.unique(image[..., :3].reshape(-1, 3), axis=0).shape[0] > 20, "the canvas shows no labels"
    finally:
        viewer.close()
