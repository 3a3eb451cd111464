"""Minian segmentations: the real 3-unit, 100-frame run and synthetic runs (axes stored in other orders,
several background components, no timestamps), through SegmentationTests against direct zarr reads of the
groups (oriented by their ``_ARRAY_DIMENSIONS``) and timestamps parsed from timeStamps.csv with ``csv``."""

import csv
import json
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest

zarr = pytest.importorskip("zarr")

from ophysio import open_segmentation, write_nwb  # noqa: E402
from ophysio.errors import CorruptFileError, FileSetError, FormatError, MetadataError  # noqa: E402
from ophysio.extractors import MinianSegmentationExtractor  # noqa: E402
from ophysio.extractors.registry import detect_format  # noqa: E402
from ophysio.testing.data import sample_file  # noqa: E402
from ophysio.testing.segmentation import SegmentationTests  # noqa: E402

FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-minian-"))


def _real() -> Path:
    return sample_file("segmentation/minian/segmented_data_3units_100frames")


def _write(folder: Path, name: str, data: np.ndarray, dims: list[str], coords: dict, chunks=None) -> None:
    group = zarr.open_group(str(folder / f"{name}.zarr"), mode="w", zarr_format=2)
    array = group.create_array(name, shape=data.shape, dtype=data.dtype, chunks=chunks or data.shape,
                               fill_value=0)
    array[...] = data
    array.attrs["_ARRAY_DIMENSIONS"] = dims
    for dim, values in coords.items():
        coord = group.create_array(dim, shape=values.shape, dtype=values.dtype, chunks=values.shape or None)
        coord[...] = values
        coord.attrs["_ARRAY_DIMENSIONS"] = [dim] if values.ndim else []


def _synthetic() -> Path:
    """Axes stored in other orders than the real run's, 2 background components, unit ids not 0..n-1, and
    S listing the units in another order than A."""
    folder = FOLDER / "synthetic"
    if folder.exists():
        return folder
    folder.mkdir()
    rng = np.random.default_rng(5)
    units, frames, h, w = np.array([7, 3, 11, 20]), np.arange(40, 70), 16, 12
    A = rng.random((h, len(units), w)) * (rng.random((h, len(units), w)) > 0.7)
    _write(folder, "A", A, ["height", "unit_id", "width"], {"unit_id": units}, chunks=(8, 2, 12))
    C = rng.random((len(frames), len(units))).astype(np.float32)
    _write(folder, "C", C, ["frame", "unit_id"], {"unit_id": units, "frame": frames}, chunks=(16, 4))
    order = np.array([2, 0, 3, 1])
    S = rng.random((len(units), len(frames)))
    _write(folder, "S", S[order], ["unit_id", "frame"], {"unit_id": units[order], "frame": frames})
    b = rng.random((w, h, 2))
    _write(folder, "b", b, ["width", "height", "unit_id"], {"unit_id": np.array([0, 1])})
    f = rng.random((len(frames), 2))
    _write(folder, "f", f, ["frame", "unit_id"], {"unit_id": np.array([0, 1]), "frame": frames})
    _write(folder, "max_proj", rng.random((w, h)), ["width", "height"], {})
    return folder


CASES = {
    "real": (_real, {}),
    "real-rate-given": (_real, {"sampling_frequency": 15.0}),
    "synthetic-axes-no-times": (_synthetic, {"sampling_frequency": 20.0}),
}


# ---------------------------------------------------------------------- independent reads of the groups
def _var(folder: Path, name: str, order: list[str]) -> np.ndarray | None:
    """Minian variable ``name`` read with zarr, its axes put in ``order`` by the dims xarray recorded."""
    path = folder / f"{name}.zarr" / name
    if not path.is_dir():
        return None
    dims = json.loads((path / ".zattrs").read_text())["_ARRAY_DIMENSIONS"]
    data = zarr.open_array(str(path), mode="r")[...]
    for dim in order:
        if dim not in dims:
            data, dims = data[..., np.newaxis], [*dims, dim]
    return np.transpose(data, [dims.index(d) for d in order])


def _coord(folder: Path, name: str, dim: str) -> np.ndarray:
    return zarr.open_array(str(folder / f"{name}.zarr" / dim), mode="r")[...]


def _csv_seconds(path: Path, frames) -> np.ndarray:
    with open(path, newline="") as fh:
        rows = {int(r["Frame Number"]): float(r["Time Stamp (ms)"]) for r in csv.DictReader(fh)}
    return np.array([rows[int(i)] for i in frames]) / 1000.0


def _expected(folder: Path, kwargs: dict) -> dict:
    ids = [int(u) for u in _coord(folder, "A", "unit_id")]
    A = _var(folder, "A", ["unit_id", "height", "width"])
    traces = {}
    for trace, name in (("denoised", "C"), ("deconvolved", "S"), ("baseline", "b0")):
        data = _var(folder, name, ["frame", "unit_id"])
        if data is not None:
            where = [list(_coord(folder, name, "unit_id")).index(u) for u in ids]
            traces[trace] = data[:, where]
    traces["background"] = _var(folder, "f", ["frame", "unit_id"])
    frames = _coord(folder, "C", "frame")
    times = _csv_seconds(folder / "timeStamps.csv", frames) if (folder / "timeStamps.csv").is_file() else None
    rate = kwargs.get("sampling_frequency") or (len(times) - 1) / (times[-1] - times[0])
    return {"ids": ids, "dense": np.moveaxis(A, 0, -1), "traces": traces, "times": times, "rate": rate,
            "images": {"max": _var(folder, "max_proj", ["height", "width"])},
            "background": _var(folder, "b", ["height", "width", "unit_id"])}


class TestMinianSegmentation(SegmentationTests):
    cases = list(CASES)

    def make_extractor(self, case):
        maker, kwargs = CASES[case]
        return MinianSegmentationExtractor(maker(), **kwargs)

    def make_shrinkable(self, case, tmp_path):
        maker, kwargs = CASES[case]
        target = tmp_path / "minian"
        shutil.copytree(maker(), target)
        for path in target.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        extractor = MinianSegmentationExtractor(target, **kwargs)
        chunks = [p for name in ("C", "S", "b0", "f") for p in (target / f"{name}.zarr" / name).glob("[0-9]*")]
        return extractor, chunks

    def _expected(self, case):
        maker, kwargs = CASES[case]
        return _expected(maker(), kwargs)

    def expected_roi_ids(self, case):
        return self._expected(case)["ids"]

    def expected_image_masks(self, case):
        return self._expected(case)["dense"]

    def expected_traces(self, case):
        return self._expected(case)["traces"]

    def expected_images(self, case):
        return self._expected(case)["images"]

    def expected_sampling_frequency(self, case):
        return self._expected(case)["rate"]

    def expected_timestamps(self, case):
        return self._expected(case)["times"]


# ---------------------------------------------------------------------- what is special to Minian
def test_the_real_run_reads_frames_times_background_and_labels():
    folder = _real()
    with MinianSegmentationExtractor(folder) as ex:
        frames = _coord(folder, "C", "frame")
        np.testing.assert_array_equal(ex.get_frame_numbers(), frames)
        assert ex.get_native_timestamps() is not None and ex.has_recorded_times()
        np.testing.assert_allclose(ex.get_timestamps(), _csv_seconds(folder / "timeStamps.csv", frames), atol=1e-12)
        assert ex.get_background_ids() == ["background-0"]
        np.testing.assert_array_equal(ex.get_background_image_masks()[..., 0], _var(folder, "b", ["height", "width"]))
        meta = ex.get_metadata()
        assert meta["animal"] == str(_coord(folder, "A", "animal"))
        assert meta["arrays"]["A"]["dims"] == ["unit_id", "height", "width"]
        assert ex.get_acquisition_facts().software == "Minian"
    assert detect_format(folder, kind="segmentation").id == "minian"
    assert detect_format(folder / "A.zarr", kind="segmentation").id == "minian"
    for path in (folder, folder / "A.zarr", folder / "timeStamps.csv"):
        with open_segmentation(path) as opened:
            assert type(opened).__name__ == "MinianSegmentationExtractor" and opened._folder == folder


def test_synthetic_background_components_follow_their_dims():
    folder = _synthetic()
    with MinianSegmentationExtractor(folder, sampling_frequency=20.0) as ex:
        assert ex.get_background_ids() == ["background-0", "background-1"]
        np.testing.assert_array_equal(ex.get_background_image_masks(),
                                      _var(folder, "b", ["height", "width", "unit_id"]))
        assert ex.get_native_timestamps() is None
        np.testing.assert_allclose(ex.get_timestamps()[:3], np.arange(3) / 20.0)


def test_without_timestamps_or_rate_the_rate_is_unknown_and_says_why():
    with MinianSegmentationExtractor(_synthetic()) as ex:
        assert ex.get_sampling_frequency() is None
        with pytest.raises(MetadataError, match="no timeStamps.csv"):
            ex.get_timestamps()


def test_an_explicit_timestamps_path(tmp_path):
    stamps = tmp_path / "elsewhere.csv"
    with open(stamps, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Frame Number", "Time Stamp (ms)", "Buffer Index"])
        for i in range(100):
            writer.writerow([i, 50 * i, 0])
    with MinianSegmentationExtractor(_synthetic(), timestamps_path=stamps) as ex:
        np.testing.assert_allclose(ex.get_timestamps(), np.arange(40, 70) * 0.05)
        assert ex.get_sampling_frequency() == pytest.approx(20.0)
    with pytest.raises(FileSetError, match="missing.csv"):
        MinianSegmentationExtractor(_synthetic(), timestamps_path=tmp_path / "missing.csv")


@pytest.fixture
def copied(tmp_path):
    target = tmp_path / "minian"
    shutil.copytree(_real(), target)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def test_damaged_inputs_are_errors_naming_the_path(copied):
    chunk = copied / "C.zarr" / "C" / "0.0"
    with open(chunk, "r+b") as fh:
        fh.truncate(100)
    ex = MinianSegmentationExtractor(copied)
    with pytest.raises(CorruptFileError, match=r"C\.zarr/C/0\.0"):
        ex.get_traces(name="denoised")
    ex.get_traces(name="deconvolved")  # the other groups still read
    chunk = copied / "A.zarr" / "A" / "1.0.1"
    with open(chunk, "r+b") as fh:
        fh.truncate(10)
    with pytest.raises(CorruptFileError, match=r"A\.zarr/A/1\.0\.1"):
        ex.get_roi_image_masks()
    (copied / "timeStamps.csv").write_text("Frame Number,Time Stamp (ms),Buffer Index\n0,0,0\n1,33,0\n")
    with pytest.raises(MetadataError, match="timeStamps.csv has no time for frame 10"):
        MinianSegmentationExtractor(copied)
    (copied / "timeStamps.csv").write_text("Frame Number,Time Stamp (ms)\n10,zero\n")
    with pytest.raises(MetadataError, match="timeStamps.csv, line 2"):
        MinianSegmentationExtractor(copied)
    (copied / "timeStamps.csv").unlink()
    attrs = copied / "S.zarr" / "S" / ".zattrs"
    attrs.write_text(json.dumps({"_ARRAY_DIMENSIONS": ["unit_id"]}))
    with pytest.raises(FormatError, match=r"S\.zarr/S: _ARRAY_DIMENSIONS"):
        MinianSegmentationExtractor(copied)
    attrs.write_text(json.dumps({"_ARRAY_DIMENSIONS": ["unit_id", "time"]}))
    with pytest.raises(FormatError, match=r"S\.zarr/S has dimensions"):
        MinianSegmentationExtractor(copied)
    shutil.rmtree(copied / "S.zarr")
    shutil.rmtree(copied / "f.zarr")
    with pytest.raises(FileSetError, match=r"f\.zarr is missing"):
        MinianSegmentationExtractor(copied)
    shutil.rmtree(copied / "b.zarr")
    shutil.rmtree(copied / "A.zarr")
    with pytest.raises(FileSetError, match=r"A\.zarr"):
        MinianSegmentationExtractor(copied)


def test_conversion_to_nwb_reads_back(tmp_path):
    folder = _real()
    user = {
        "NWBFile": {"session_start_time": "2024-05-01T10:00:00+02:00", "session_description": "a session"},
        "Subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"},
        "Ophys": {"ImagingPlane": [{"excitation_lambda": 470.0, "indicator": "GCaMP6f", "location": "CA1",
                                    "optical_channel": [{"emission_lambda": 525.0}]}]},
    }
    with MinianSegmentationExtractor(folder) as ex:
        out = write_nwb(ex, tmp_path / "minian.nwb", user)
    expected = _expected(folder, {})
    ophys = "processing/ophys"
    with h5py.File(out, "r") as f:
        table = f[f"{ophys}/ImageSegmentation/PlaneSegmentation"]
        np.testing.assert_array_equal(table["id"][:], expected["ids"])
        # NWB image masks are (ROI, x = column, y = row)
        np.testing.assert_array_equal(table["image_mask"][:], np.transpose(expected["dense"], (2, 1, 0)))
        background = f[f"{ophys}/ImageSegmentation/BackgroundPlaneSegmentation"]
        np.testing.assert_array_equal(background["image_mask"][:],
                                      np.transpose(expected["background"], (2, 1, 0)))
        for series, trace in (("Denoised", "denoised"), ("Deconvolved", "deconvolved"), ("Baseline", "baseline"),
                              ("Background", "background")):
            group = f[f"{ophys}/Fluorescence/{series}"]
            np.testing.assert_array_equal(group["data"][:], expected["traces"][trace], err_msg=series)
            np.testing.assert_allclose(group["timestamps"][:], expected["times"], atol=1e-12)
        images = f[f"{ophys}/SegmentationImages"]
        np.testing.assert_array_equal(images["max_image"][:], expected["images"]["max"].T)
    from nwbinspector import Importance, inspect_nwbfile, load_config

    messages = list(inspect_nwbfile(nwbfile_path=str(out), config=load_config("dandi")))
    bad = [m for m in messages if m.importance in (Importance.ERROR, Importance.CRITICAL,
                                                   Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], [(m.check_function_name, m.object_name, m.message) for m in bad]


def test_without_zarr_the_error_names_the_extra(monkeypatch):
    import sys

    from ophysio.errors import MissingPluginError

    monkeypatch.setitem(sys.modules, "zarr", None)  # import zarr now raises ImportError
    with pytest.raises(MissingPluginError, match=r"ophysio\[zarr\]"):
        MinianSegmentationExtractor(_real())
