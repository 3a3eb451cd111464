"""ophysio preview: statistics checked against numpy, sampled reads, NWB sources, pages, a real ScanImage file."""

import base64
import re

import numpy as np
import pytest
from matplotlib.image import imread

from ophysio.extractors import NumpyImagingExtractor
from ophysio.preview import preview, preview_sessions
from ophysio.preview.stats import _image_runs
from ophysio.testing.synthetic import movie

from ..cli.helpers import run_cli
from ..conversion.batch.test_dandi import SESSION_METADATA, write_session


def embedded_pngs(index):
    """The PNGs embedded in a page, decoded and read back."""
    text = index.read_text()
    blobs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    return [imread(__import__("io").BytesIO(base64.b64decode(b)), format="png") for b in blobs]


def test_images_trace_and_intervals_match_numpy(tmp_path):
    data = movie(120, 24, 20, dtype="uint16")
    times = np.arange(120) / 30.0
    times[60:] += 0.05  # a dropped frame's gap: interval 59 is off by more than half the median
    times[90:] += 0.01  # 0.01 s on a 33 ms interval: less than half, not flagged
    extractor = NumpyImagingExtractor(data, timestamps=times)
    result = preview(extractor, tmp_path, metadata=SESSION_METADATA)
    [sp] = result.streams
    assert len(sp.image_samples) == 120
    np.testing.assert_allclose(sp.mean_image, data.mean(axis=0, dtype=np.float64))
    np.testing.assert_array_equal(sp.max_image, data.max(axis=0))
    np.testing.assert_allclose(sp.mean_intensity, data[sp.trace_samples].reshape(len(sp.trace_samples), -1).mean(1))
    assert sp.median_interval == pytest.approx(1 / 30.0)
    assert sp.irregular_samples.tolist() == [59]
    assert sp.sample_shape == (24, 20) and sp.dtype == "uint16"
    assert result.dandi_name == "sub-m12/sub-m12_ses-2024-05-01-a_ophys.nwb"
    assert result.dandi_ready, result.checklist
    for name in ("mean", "max", "intervals", "intensity"):
        image = imread(sp.images[name])
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
        assert image[..., :3].std() > 0.05  # something is drawn
    pngs = embedded_pngs(result.index)
    assert len(pngs) == 4
    html = result.index.read_text()
    assert "sub-m12_ses-2024-05-01-a_ophys.nwb" in html and "uint16" in html


def test_large_source_is_sampled_within_the_budget(tmp_path):
    data = movie(1000, 32, 32, dtype="int16")  # 2 MB
    extractor = NumpyImagingExtractor(data, sampling_frequency=10.0)
    budget = 200 * data[0].nbytes  # 100 samples for the images, 100 for the trace
    result = preview(extractor, tmp_path, budget_bytes=budget)
    [sp] = result.streams
    used = sp.image_samples
    assert 50 <= len(used) <= 100 and len(np.unique(used)) == len(used)
    assert used.min() == 0 and used.max() == 999  # runs spread over the whole recording
    np.testing.assert_allclose(sp.mean_image, data[used].mean(axis=0, dtype=np.float64))
    np.testing.assert_array_equal(sp.max_image, data[used].max(axis=0))
    assert len(sp.trace_samples) == 100 and sp.trace_samples[0] == 0 and sp.trace_samples[-1] == 999
    assert _image_runs(10, 8, 1000) == [(0, 10)]


def test_volumetric_source_gets_one_panel_per_plane(tmp_path):
    data = movie(20, 16, 12, planes=3, dtype="uint16")
    result = preview(NumpyImagingExtractor(data, sampling_frequency=5.0), tmp_path)
    [sp] = result.streams
    np.testing.assert_allclose(sp.mean_image, data.mean(axis=0))
    assert sp.mean_image.shape == (16, 12, 3)
    assert set(sp.images) == {"mean", "max", "intervals", "intensity"}


def test_checklist_without_metadata_lists_what_dandi_needs(tmp_path):
    result = preview(NumpyImagingExtractor(movie(10, 8, 8), sampling_frequency=5.0), tmp_path)
    failing = [item for ok, item in result.checklist if not ok]
    assert any(item.startswith("Subject.species") for item in failing)
    assert any(item.startswith("NWBFile.session_id") for item in failing)
    assert result.dandi_name is None and not result.dandi_ready
    assert "&#10007;" in result.index.read_text()


def test_nwb_file_preview_matches_its_source(tmp_path):
    path = write_session(tmp_path / "s.nwb", samples=40, rows=16, columns=12)
    result = preview(path, tmp_path / "pv")
    [sp] = result.streams
    source = movie(40, 16, 12, dtype="uint16")
    np.testing.assert_allclose(sp.mean_image, source.mean(axis=0))  # rows/columns restored from NWB's x, y
    np.testing.assert_allclose(sp.timestamps, np.arange(40) / 20.0)
    assert "gzip" in sp.compression and "shuffle" in sp.compression
    assert result.dandi_name == "sub-m12/sub-m12_ses-2024-05-01-a_ophys.nwb" and result.dandi_ready


def test_batch_preview_has_one_row_per_session(tmp_path):
    sessions = [(f"s{i}", NumpyImagingExtractor(movie(10, 8, 8, seed=i), sampling_frequency=5.0), SESSION_METADATA)
                for i in range(2)]
    sessions.append(("broken", tmp_path / "missing.tif", None))
    index = preview_sessions(sessions, tmp_path / "batch")
    html = index.read_text()
    assert html.count("<tr>") == 4  # header + 3 sessions
    assert "s0/index.html" in html and "s1/index.html" in html and "could not be previewed" in html
    assert (tmp_path / "batch" / "s1" / "index.html").is_file()


def test_cli_preview_of_a_npy_with_options(tmp_path, capsys):
    path = tmp_path / "m.npy"
    np.save(path, movie(30, 12, 10, dtype="uint16"))
    assert run_cli("preview", path, "-o", tmp_path / "pv", "-O", "sampling_frequency=15") == 0
    out = capsys.readouterr().out
    assert "index.html" in out and "  - Subject.subject_id: missing" in out
    assert len(embedded_pngs(tmp_path / "pv" / "index.html")) == 4


def test_cli_preview_of_a_batch_spec(tmp_path, capsys):
    from ruamel.yaml import YAML

    for i in range(2):
        np.save(tmp_path / f"s{i}.npy", movie(20, 12, 10, dtype="uint16", seed=i))
    spec = {"metadata": SESSION_METADATA, "options": {"sampling_frequency": 15.0},
            "sessions": [{"session_id": f"day{i}", "source": f"s{i}.npy"} for i in range(2)]}
    with open(tmp_path / "spec.yaml", "w") as fh:
        YAML(typ="safe", pure=True).dump(spec, fh)
    assert run_cli("preview", tmp_path / "spec.yaml", "-o", tmp_path / "pv") == 0
    assert "preview of 2 sessions" in capsys.readouterr().out
    html = (tmp_path / "pv" / "index.html").read_text()
    assert html.count("<tr>") == 3 and "sub-m12_ses-day1_ophys.nwb" in html and "ready" in html


def test_real_scanimage_file_two_channels(tmp_path, shared_data):
    import tifffile

    path = shared_data / "scanimage" / "ScanImageBigTIFFv57.tif"
    result = preview(path, tmp_path)
    assert [sp.name for sp in result.streams] == ["Channel 1", "Channel 2"]
    with tifffile.TiffFile(path) as tif:  # pages interleave channels: ch1, ch2, ch1, ch2
        pages = np.stack([p.asarray() for p in tif.pages])
    for c, sp in enumerate(result.streams):
        np.testing.assert_allclose(sp.mean_image, pages[c::2].mean(axis=0))
        np.testing.assert_array_equal(sp.max_image, pages[c::2].max(axis=0))
    assert len(embedded_pngs(result.index)) == 8


def test_real_scanimage_volume_series(tmp_path, shared_data):
    path = shared_data / "scanimage" / "vol_one_ch_multi_files" / "vol_one_ch_multi_files_00001_00001.tif"
    result = preview(path, tmp_path)
    [sp] = result.streams
    assert sp.num_samples == 100 and sp.sample_shape == (20, 20, 9)
    assert len(sp.irregular_samples) == 0
    assert 1 / sp.median_interval == pytest.approx(32.75, rel=1e-3)  # scanVolumeRate of the header
