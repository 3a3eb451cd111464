"""The napari reader plugin through npe2's own API (no napari, no Qt): the manifest, what it declares, and the
layers it gives for every built-in example and for real samples of several formats.

The same reader in a real napari viewer is tests/napari_plugin/test_viewer.py (a second environment in .ci/run).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
import pytest

import ophysio.napari
from ophysio.extractors import ImagingExtractor, open_imaging
from ophysio.extractors.registry import FORMATS, SEGMENTATION_FORMATS

npe2 = pytest.importorskip("npe2")
pytest.importorskip("dask.array")

MANIFEST = Path(ophysio.napari.__file__).with_name("napari.yaml")
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@pytest.fixture(scope="module")
def plugin():
    """npe2's plugin manager with ophysio's manifest: discovered from the installed distribution's entry
    point, or registered from the package's file when the installed metadata predates it."""
    manager = npe2.PluginManager.instance()
    manager.discover()
    try:
        manager.get_manifest("ophysio")
    except KeyError:
        manager.register(npe2.PluginManifest.from_file(MANIFEST))
    return manager


def read(path, plugin) -> list[tuple]:
    return npe2.read([str(path)], stack=False, plugin_name="ophysio")


def in_napari_order(samples: np.ndarray) -> np.ndarray:
    """(time, rows, columns, planes) as napari shows volumes: (time, planes, rows, columns)."""
    return samples.transpose(0, 3, 1, 2) if samples.ndim == 4 else samples


# ---------------------------------------------------------------------- the manifest and its declaration
def test_the_manifest_is_valid_and_its_command_imports():
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    assert manifest.name == "ophysio"
    (reader,) = manifest.contributions.readers
    assert reader.accepts_directories
    manifest.validate_imports()  # every python_name resolves
    (command,) = manifest.contributions.commands
    assert command.id == reader.command and command.python_name == "ophysio.napari:get_reader"


def test_the_distribution_declares_the_manifest_and_ships_it():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads(PYPROJECT.read_text())
    assert project["project"]["entry-points"]["napari.manifest"] == {"ophysio": "ophysio.napari:napari.yaml"}
    assert "napari.yaml" in project["tool"]["setuptools"]["package-data"]["ophysio.napari"]
    extras = project["project"]["optional-dependencies"]
    assert any(r.startswith("napari") for r in extras["napari"]) and any(r.startswith("dask") for r in extras["napari"])
    assert not any(r.split("[")[0].split(">")[0] in ("dask", "xarray", "napari", "npe2")
                   for r in project["project"]["dependencies"])


def test_the_file_patterns_cover_every_format():
    (reader,) = npe2.PluginManifest.from_file(MANIFEST).contributions.readers
    missing = [f"{spec.id}: {suffix}" for spec in (*FORMATS, *SEGMENTATION_FORMATS) for suffix in spec.suffixes
               if not any(fnmatch.fnmatch(f"name{suffix}", pattern) for pattern in reader.filename_patterns)]
    assert not missing, f"napari.yaml's filename_patterns miss {missing}"


# ---------------------------------------------------------------------- what ophysio declines
def test_get_reader_declines_what_ophysio_does_not_read(tmp_path):
    text = tmp_path / "notes.tif"
    text.write_text("not a TIFF")
    empty = tmp_path / "empty"
    empty.mkdir()
    for path in (text, empty, tmp_path / "missing.tif"):
        assert ophysio.napari.get_reader(str(path)) is None, path
    (tmp_path / "raw.bin").write_bytes(bytes(64))
    assert ophysio.napari.get_reader(str(tmp_path / "raw.bin")) is None  # raw binary needs its layout named


# ---------------------------------------------------------------------- every built-in example
def _examples() -> list[str]:
    from ophysio.examples import all_examples

    return sorted(name for name in all_examples() if name != "binary")  # raw binary: see above


@pytest.mark.parametrize("name", _examples())
def test_every_example_opens_as_one_lazy_layer_per_stream(name, tmp_path, plugin, monkeypatch):
    from ophysio.examples import write_example

    path, _ = write_example(name, tmp_path)
    reads = []
    original = ImagingExtractor._read_into
    monkeypatch.setattr(ImagingExtractor, "_read_into", lambda self, *a: reads.append(a) or original(self, *a))
    layers = read(path, plugin)
    assert reads == []  # opening reads no pixel
    # a segmentation's layers (an example of a movie with its segmentation) follow the movie's: see
    # test_segmentation_reader.py; here the movie's layers
    movie = [layer for layer in layers if layer[2] == "image" and "image" not in layer[1]["metadata"]["ophysio"]]
    assert movie and all(a is b for a, b in zip(layers, movie))  # the movie first
    assert all(kind in ("image", "labels") for _, _, kind in layers)
    layers = movie
    channels = [keywords["metadata"]["ophysio"]["channel_name"] for _, keywords, _ in layers]
    for data, keywords, _ in layers:
        channel = keywords["metadata"]["ophysio"]["channel_name"]
        extractor = open_imaging(path, channel_name=channel) if len(set(channels)) > 1 else open_imaging(path)
        assert sorted(set(channels)) == sorted(extractor.get_channel_names())  # every channel, one layer each
        expected = in_napari_order(extractor.get_series())
        assert type(data).__module__.startswith("dask") and data.shape == expected.shape
        assert set(data.chunks[0]) == {1}  # a step of the time slider reads one sample
        np.testing.assert_array_equal(np.asarray(data[-1]), expected[-1])
        labels = keywords["axis_labels"]
        assert labels == (("time", "z", "y", "x") if extractor.is_volumetric else ("time", "y", "x"))
        assert len(keywords["scale"]) == len(keywords["units"]) == data.ndim
        assert keywords["rgb"] is False


# ---------------------------------------------------------------------- real samples
def test_a_scanimage_volume_series_folder(shared_data, plugin):
    folder = shared_data / "scanimage" / "vol_one_ch_multi_files"
    (layer,) = read(folder, plugin)
    data, keywords, kind = layer
    extractor = open_imaging(folder)
    facts = extractor.get_acquisition_facts()
    assert data.shape == (100, 9, 20, 20)
    np.testing.assert_array_equal(np.asarray(data), in_napari_order(extractor.get_series()))
    assert keywords["axis_labels"] == ("time", "z", "y", "x")
    assert keywords["units"] == ("s", "um", "um", "um")
    assert keywords["scale"] == pytest.approx(
        (1 / extractor.get_sampling_frequency(), 2.0, facts.pixel_size_um[0], facts.pixel_size_um[1]))
    assert keywords["name"] == "vol_one_ch_multi_files" and keywords["colormap"] == "gray"
    meta = keywords["metadata"]["ophysio"]
    assert meta["format"] == "scanimage" and len(meta["file_paths"]) == 10


def test_a_two_channel_ome_tiff_gives_two_coloured_layers(shared_data, plugin):
    path = shared_data / "ome_tiff" / "pmmp_demo_tc.ome.tiff"
    layers = read(path, plugin)
    assert [keywords["name"] for _, keywords, _ in layers] == [f"{path.name} DAPI", f"{path.name} FITC"]
    assert [keywords["colormap"] for _, keywords, _ in layers] == ["green", "magenta"]
    assert {keywords["blending"] for _, keywords, _ in layers} == {"additive"}
    assert len({keywords["scale"] for _, keywords, _ in layers}) == 1  # one time axis for both channels
    for (data, keywords, _), channel in zip(layers, ("DAPI", "FITC")):
        assert keywords["metadata"]["ophysio"]["channel_name"] == channel
        np.testing.assert_array_equal(np.asarray(data), open_imaging(path, channel_name=channel).get_series())


def test_a_source_without_rate_or_pixel_size_keeps_unit_steps(shared_data, plugin):
    (layer,) = read(shared_data / "hdf5" / "fly.hdf5", plugin)
    data, keywords, _ = layer
    assert data.shape == (161, 64, 512)
    assert keywords["scale"] == (1.0, 1.0, 1.0) and keywords["units"] == ("pixel", "pixel", "pixel")
    assert keywords["axis_labels"] == ("time", "y", "x")


def test_an_error_of_the_source_reaches_the_user(shared_data, plugin):
    """A source that needs an option napari cannot give (the axis order of a MATLAB variable) is an ophysio
    error saying what to pass, not a silent decline."""
    from ophysio.errors import MetadataError

    assert ophysio.napari.get_reader(str(shared_data / "mat" / "denoise.mat")) is ophysio.napari.read
    with pytest.raises(MetadataError, match="dims="):
        ophysio.napari.read(str(shared_data / "mat" / "denoise.mat"))


@pytest.mark.parametrize("relative", ["bruker/NCCR32_2022_11_03_IntoTheVoid_t_series-005",
                                      "inscopix/multiplane_movie.isxd", "hcimage/Data00676_stubbed.cxd",
                                      "scanimage_legacy/sample_scanimage_version_3_8.tiff", "thor/20231018-002"])
def test_real_samples_of_other_formats(relative, shared_data, plugin):
    path = shared_data / relative
    (layer,) = read(path, plugin)
    data, keywords, _ = layer
    extractor = open_imaging(path)
    expected = in_napari_order(extractor.get_series(0, 2))
    assert data.shape == (extractor.get_num_samples(), *expected.shape[1:])
    np.testing.assert_array_equal(np.asarray(data[:2]), expected)
    facts = extractor.get_acquisition_facts()
    size = facts.pixel_size_um
    assert keywords["scale"][-2:] == ((size[0], size[1]) if size is not None else (1.0, 1.0))
    assert keywords["units"][-1] == ("um" if size is not None else "pixel")
    assert keywords["scale"][0] == pytest.approx(1 / extractor.get_sampling_frequency())
    assert keywords["metadata"]["ophysio"]["format"] == extractor.format_id
