"""suite2p folders: the real ops of a 2-plane 2-channel run (with synthetic binaries) and synthetic runs."""

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from ophysio.errors import CorruptFileError, FileSetError, MetadataError, SelectionError
from ophysio.extractors import open_imaging
from ophysio.extractors.suite2p import Suite2pImagingExtractor
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.data import sample_file
from ophysio.testing.synthetic import write_suite2p

FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-suite2p-"))


def _real_ops() -> list[dict]:
    root = sample_file("suite2p")
    return [np.load(root / f"plane{i}" / "ops.npy", allow_pickle=True).item() for i in range(2)]


def _real_run() -> Path:
    """Copies of the real ops (foreign Windows reg_file paths kept) beside synthetic binaries."""
    target = FOLDER / "real"
    if not (target / "suite2p").exists():
        write_suite2p(target, template_ops=_real_ops())
    return target / "suite2p"


def _synthetic_run() -> Path:
    target = FOLDER / "synthetic"
    if not (target / "suite2p").exists():
        write_suite2p(target, num_frames=9, rows=6, columns=10, raw=True, sampling_frequency=7.5)
    return target / "suite2p"


def _bin(root: Path, plane: int, name: str, rows: int, columns: int) -> np.ndarray:
    """Independent reading: headerless little-endian int16 frames of Ly x Lx in C order."""
    return np.fromfile(root / f"plane{plane}" / name, dtype="<i2").reshape(-1, rows, columns)


# case: (root maker, extractor keywords, (rows, columns), expected reader)
CASES = {
    "real-plane0-chan1": (_real_run, {"plane_name": "plane0"}, lambda r: _bin(r, 0, "data.bin", 128, 128)),
    "real-plane1-chan2": (
        _real_run, {"plane_name": "plane1", "channel_name": "chan2"}, lambda r: _bin(r, 1, "data_chan2.bin", 128, 128),
    ),
    "real-volume-chan1": (
        _real_run, {}, lambda r: np.stack([_bin(r, p, "data.bin", 128, 128) for p in (0, 1)], axis=-1),
    ),
    "synthetic-volume-chan2": (
        _synthetic_run, {"channel_name": "chan2"},
        lambda r: np.stack([_bin(r, p, "data_chan2.bin", 6, 10) for p in (0, 1)], axis=-1),
    ),
    "synthetic-raw-plane1": (
        _synthetic_run, {"plane_index": 1, "file_type": "raw"}, lambda r: _bin(r, 1, "data_raw.bin", 6, 10),
    ),
}


class TestSuite2p(ExtractorTests):
    cases = list(CASES)

    def make_extractor(self, case):
        maker, kwargs, _ = CASES[case]
        return Suite2pImagingExtractor(maker(), **kwargs)

    def make_shrinkable(self, case, tmp_path):
        maker, kwargs, _ = CASES[case]
        extractor = Suite2pImagingExtractor(copy_source(maker(), tmp_path), **kwargs)
        return extractor, extractor.get_file_paths()

    def expected_series(self, case):
        maker, _, reader = CASES[case]
        return reader(maker())

    def expected_sampling_frequency(self, case):
        return 10.0 if case.startswith("real") else 7.5


def test_real_ops_facts_and_metadata():
    ex = Suite2pImagingExtractor(_real_run())
    assert ex.get_num_samples() == 250 and ex.get_sample_shape() == (128, 128, 2)
    assert ex.get_channel_names() == ["chan1", "chan2"] and ex.channel_name == "chan1"
    assert ex.plane_names == ["plane0", "plane1"]
    ops = ex.get_metadata()["ops"]
    assert set(ops) == {"plane0", "plane1"} and ops["plane1"]["reg_file"].startswith("C:\\")
    assert Suite2pImagingExtractor.get_available_planes(_real_run()) == ["plane0", "plane1"]
    assert Suite2pImagingExtractor.get_available_channels(_real_run()) == ["chan1", "chan2"]


def test_every_accepted_path_form_opens_the_same_data():
    root = _real_run()
    expected = _bin(root, 0, "data_chan2.bin", 128, 128)[:5]
    for path in (root / "plane0", root / "plane0" / "ops.npy"):
        np.testing.assert_array_equal(Suite2pImagingExtractor(path, channel_name="chan2").get_series(0, 5), expected)
    # a .bin file picks its own channel
    from_bin = Suite2pImagingExtractor(root / "plane0" / "data_chan2.bin")
    np.testing.assert_array_equal(from_bin.get_series(0, 5), expected)
    assert Suite2pImagingExtractor(root.parent).get_num_planes() == 2  # the folder that holds suite2p/


def test_open_imaging_picks_suite2p_by_content():
    root = _real_run()
    for path in (root.parent, root, root / "plane1", root / "plane1" / "ops.npy", root / "plane1" / "data.bin"):
        ex = open_imaging(path)
        assert isinstance(ex, Suite2pImagingExtractor), path


def test_values_are_the_synthetic_pattern():
    from ophysio._synth.binary import suite2p_plane_movie

    ex = Suite2pImagingExtractor(_synthetic_run(), plane_name="plane1", channel_name="chan2")
    np.testing.assert_array_equal(ex.get_series(), suite2p_plane_movie(1, 1, 9, 6, 10))


def test_stored_path_used_only_when_local_file_is_missing(tmp_path):
    root = write_suite2p(tmp_path / "run", num_frames=4, rows=3, columns=5, num_planes=1, num_channels=1)
    plane = root / "plane0"
    elsewhere = tmp_path / "fast_disk"
    elsewhere.mkdir()
    shutil.move(plane / "data.bin", elsewhere / "data.bin")
    ops = np.load(plane / "ops.npy", allow_pickle=True).item()
    ops["reg_file"] = str(elsewhere / "data.bin")
    np.save(plane / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    ex = Suite2pImagingExtractor(root, allow_outside=[elsewhere])  # fast_disk: outside the folder given
    assert ex.get_file_paths() == [str(elsewhere / "data.bin")]
    ops["reg_file"] = "C:\\Users\\someone\\data.bin"
    np.save(plane / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    with pytest.raises(FileSetError, match="data.bin is missing"):
        Suite2pImagingExtractor(root)


def test_bad_folders_and_selections(tmp_path):
    with pytest.raises(FileSetError, match="no suite2p output"):
        Suite2pImagingExtractor(tmp_path)
    root = write_suite2p(tmp_path / "run", num_frames=4, rows=3, columns=5, num_planes=1, num_channels=1)
    with pytest.raises(SelectionError, match="'chan2' is not available"):
        Suite2pImagingExtractor(root, channel_name="chan2")
    with pytest.raises(SelectionError, match="plane3"):
        Suite2pImagingExtractor(root, plane_name="plane3")
    with open(root / "plane0" / "data.bin", "r+b") as fh:
        fh.truncate(3 * 5 * 2 * 3)
    with pytest.raises(CorruptFileError, match="holds 3 frames .* ops\\['nframes'\\] says 4"):
        Suite2pImagingExtractor(root)
    ops = np.load(root / "plane0" / "ops.npy", allow_pickle=True).item()
    ops.update(nframes=3, fs=float("nan"))
    np.save(root / "plane0" / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    with pytest.raises(MetadataError, match=r"ops\['fs'\] .* is nan .*sampling_frequency"):
        Suite2pImagingExtractor(root).get_timestamps()
    assert Suite2pImagingExtractor(root, sampling_frequency=3.0).get_sampling_frequency() == 3.0


def test_the_shared_folder_without_binaries_is_a_clear_error():
    root = sample_file("suite2p")  # real ops whose reg_file points at C:\\Users\\...: nothing to read here
    with pytest.raises(FileSetError, match=r"no registered movie in .*plane0: data.bin is missing there"):
        Suite2pImagingExtractor(root)
