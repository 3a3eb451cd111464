"""Micro-Manager MMStack datasets: synthetic files written to Micro-Manager's layout (no real sample exists,
see PROVENANCE.md), checked against tifffile's own MMStack reader (pixels, index map, per-image JSON)."""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ophysio import open_imaging
from ophysio._synth.micromanager import mmstack_expected, write_mmstack
from ophysio.errors import RateUnknownError, SelectionError
from ophysio.extractors import detect_format
from ophysio.extractors.micromanager import MicroManagerTiffImagingExtractor
from ophysio.testing.conformance import ExtractorTests, copy_source

MM = MicroManagerTiffImagingExtractor


@functools.cache
def _root() -> Path:
    path = Path(tempfile.mkdtemp(prefix="ophysio-mm-"))
    import atexit

    atexit.register(shutil.rmtree, path, True)
    return path


#: name -> (writer keywords, extractor keywords)
DATASETS = {
    "t": (dict(frames=9), {}),
    "tc": (dict(frames=5, channel_names=("GCaMP", "tdTomato")), dict(channel_name="tdTomato")),
    "tz": (dict(frames=4, slices=3, axis_order=("z", "channel", "position", "time")), {}),
    "split": (dict(frames=7, channel_names=("A", "B"), images_per_file=4), dict(channel_name="B")),
    # time fastest: every file holds frames of one (channel, slice) after another
    "time-fastest": (dict(frames=5, channel_names=("A", "B"), slices=2, images_per_file=7,
                          axis_order=("time", "z", "channel", "position")), dict(channel_name="A")),
    "positions": (dict(frames=4, positions=2, images_per_file=3), dict(position=1)),
    "positions-shared": (dict(frames=4, channel_names=("A", "B"), positions=2, split_positions=False,
                              images_per_file=5), dict(position="Pos1", channel_name="A")),
    "mm14-bigendian-uint8": (dict(frames=6, channel_names=("DAPI", "FITC"), slices=2, flavour="1.4", byteorder=">",
                                  dtype="uint8"), dict(channel_name="FITC")),
    "no-elapsed": (dict(frames=5, elapsed_ms=None, interval_ms=40.0), {}),
}


@functools.cache
def dataset(name: str):
    keywords, _ = DATASETS[name]
    return write_mmstack(_root() / name, prefix=name, **keywords)


def tifffile_movie(path, channel: int = 0, position: int = 0) -> np.ndarray:
    """One channel of one position as tifffile's MMStack series reads it: (T, Y, X) or (T, Y, X, Z)."""
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        assert series.kind == "mmstack"
        data, axes = series.asarray(), series.axes
    axes = axes[:-2]
    for axis in "TRZC":
        if axis not in axes:
            data, axes = data[np.newaxis], axis + axes
    data = np.moveaxis(data, [axes.index(a) for a in "TRZC"], range(4))[:, position, :, channel]
    return data[:, 0] if data.shape[1] == 1 else np.moveaxis(data, 1, -1)


def tifffile_elapsed_ms(folder: Path) -> dict[tuple[int, int, int, int], float]:
    """(channel, slice, frame, position) -> ElapsedTime-ms, from every stack file's index map and the JSON of
    the IFD each entry points at, read with tifffile."""
    times = {}
    for path in sorted(folder.glob("*MMStack*.tif")):
        with tifffile.TiffFile(path) as tif:
            index_map = tif.micromanager_metadata["IndexMap"]
            pages = {page.offset: page for page in tif.pages}
            for c, z, t, p, offset in index_map.tolist():
                record = pages[offset].tags[51123].value
                record = json.loads(record) if isinstance(record, str) else record
                if "ElapsedTime-ms" in record:
                    times[(c, z, t, p)] = float(record["ElapsedTime-ms"])
    return times


def _channel_position(name):
    keywords, options = DATASETS[name]
    names = list(keywords.get("channel_names", ("GCaMP",)))
    channel = names.index(options["channel_name"]) if "channel_name" in options else 0
    position = options.get("position", 0)
    if isinstance(position, str):
        position = int(position.removeprefix("Pos"))
    return channel, position


class TestMicroManager(ExtractorTests):
    cases = list(DATASETS)

    def make_extractor(self, case, root=None):
        data = dataset(case)
        folder = data.folder if root is None else root
        return MM(folder, **DATASETS[case][1])

    def make_shrinkable(self, case, tmp_path):
        copy = copy_source(dataset(case).folder, tmp_path)
        extractor = self.make_extractor(case, copy)
        return extractor, extractor.get_file_paths()

    def expected_series(self, case):
        channel, position = _channel_position(case)
        return tifffile_movie(dataset(case).first_file, channel, position)

    def expected_timestamps(self, case):
        keywords, _ = DATASETS[case]
        channel, position = _channel_position(case)
        times = tifffile_elapsed_ms(dataset(case).folder)
        frames = keywords["frames"]
        if not times:
            return np.arange(frames) / (1000.0 / keywords["interval_ms"])
        return np.array([times[(channel, 0, t, position)] for t in range(frames)]) / 1000.0

    def test_timestamps_are_the_recorded_ones(self, extractor, case):
        np.testing.assert_allclose(extractor.get_timestamps(), self.expected_timestamps(case), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", list(DATASETS))
def test_synthetic_files_are_mmstack_files_for_tifffile(name):
    """tifffile's own Micro-Manager parsing (header, summary, index map) reads the files as written."""
    data = dataset(name)
    keywords, _ = DATASETS[name]
    for path in data.all_files:
        with tifffile.TiffFile(path) as tif:
            assert tif.is_micromanager and tif.is_ome
            meta = tif.micromanager_metadata
            assert meta["Summary"] == data.summary
            assert len(meta["IndexMap"]) == len(tif.pages)
            assert isinstance(meta["Comments"], dict)
    channels = len(keywords.get("channel_names", ("GCaMP",)))
    for c in range(channels):
        for p in range(keywords.get("positions", 1)):
            expected = mmstack_expected(keywords["frames"], 12, 10, keywords.get("slices", 1), c, p,
                                        keywords.get("dtype", "uint16"))
            np.testing.assert_array_equal(tifffile_movie(data.first_file, c, p), expected)


def test_open_imaging_detects_the_folder_and_each_file():
    data = dataset("split")
    assert detect_format(data.folder).id == "micromanager"
    for path in data.all_files:
        assert detect_format(path).id == "micromanager"
        ex = open_imaging(path, channel_name="A")
        assert isinstance(ex, MM) and ex.get_num_samples() == 7  # any file of the series opens the whole series
    assert isinstance(open_imaging(data.folder, channel_name="B"), MM)


@pytest.mark.parametrize("name", ["t", "tc", "tz", "seq"])
def test_pymmcore_plus_ome_tiff_files_stay_ome_tiff(shared_data, name):
    """pymmcore-plus's OMETiffWriter (tifffile) writes OME-TIFF without Micro-Manager's stack header: the first
    IFD is at byte 8 and no page has tag 51123; those files are read by the ome_tiff format."""
    from ophysio.extractors import get_format
    from ophysio.extractors.registry import read_head

    path = shared_data / "ome_tiff" / f"pmmp_demo_{name}.ome.tiff"
    verdict = get_format("micromanager").check(path, read_head(path))
    assert isinstance(verdict, str) and "stack header" in verdict
    assert detect_format(path).id == "ome_tiff"
    with tifffile.TiffFile(path) as tif:
        assert not tif.is_micromanager


def test_construction_reads_no_per_image_metadata_and_times_come_lazily(monkeypatch):
    data = dataset("split")
    calls = []
    original = MM._read_records_raw

    def spy(self, pages):
        calls.append(len(pages))
        return original(self, pages)

    monkeypatch.setattr(MM, "_read_records_raw", spy)
    ex = MM(data.folder, channel_name="A")
    assert calls == [] and ex.timestamp_source is None
    ex.get_series()
    assert calls == []  # pixels do not need the JSON either
    times = ex.get_timestamps()
    assert calls == [7] and ex.timestamp_source == "ElapsedTime-ms"
    ex.get_timestamps()
    assert calls == [7]  # read once
    expected = tifffile_elapsed_ms(data.folder)
    np.testing.assert_array_equal(times, np.array([expected[(0, 0, t, 0)] for t in range(7)]) / 1000)


def test_rate_from_the_recorded_times_and_the_fallbacks(tmp_path):
    ex = MM(dataset("t").folder)
    times = ex.get_timestamps()
    assert ex.get_sampling_frequency() == pytest.approx(1 / np.median(np.diff(times)))
    assert ex.rate_source == "ElapsedTime-ms"
    ex = MM(dataset("no-elapsed").folder)
    assert ex.get_native_timestamps() is None and ex.get_sampling_frequency() == 25.0
    assert ex.rate_source == "Interval_ms"
    burst = write_mmstack(tmp_path / "burst", elapsed_ms=None, interval_ms=0.0, playback_fps=12.5)
    with pytest.warns(UserWarning, match="PlaybackFPS=12.5 of DisplaySettings.json"):
        assert MM(burst.folder).get_sampling_frequency() == 12.5
    (burst.folder / "DisplaySettings.json").unlink()
    ex = MM(burst.folder)  # the pixels read without a rate; times and conversion need one
    assert ex.get_sampling_frequency() is None and ex.rate_source is None
    np.testing.assert_array_equal(ex[:], mmstack_expected(6, 12, 10))
    with pytest.raises(RateUnknownError, match="records no rate .*pass sampling_frequency="):
        ex.get_timestamps()
    assert MM(burst.folder, sampling_frequency=3.0).get_sampling_frequency() == 3.0


def test_channels_and_positions_are_chosen_as_in_ome_tiff():
    with pytest.raises(SelectionError, match=r"\['GCaMP', 'tdTomato'\].*channel_name"):
        MM(dataset("tc").folder)
    with pytest.raises(SelectionError, match="'Cy5' is not in"):
        MM(dataset("tc").folder, channel_name="Cy5")
    ex = MM(dataset("tc").folder, channel_name="GCaMP")
    assert ex.get_channel_names() == ["GCaMP", "tdTomato"] and ex.channel_name == "GCaMP"
    data = dataset("positions")
    with pytest.raises(SelectionError, match=r"2 stage positions \['Pos0', 'Pos1'\].*position="):
        MM(data.folder)
    with pytest.raises(SelectionError, match="position 5 is not in"):
        MM(data.folder, position=5)
    # a file names its position; index, label and file name agree
    by_file = MM(data.files[1][0])
    assert by_file.position == 1 and by_file.get_available_positions() == ["Pos0", "Pos1"]
    np.testing.assert_array_equal(by_file[:], MM(data.folder, position="Pos1")[:])
    np.testing.assert_array_equal(by_file[:], mmstack_expected(4, 12, 10, position=1))
    assert [Path(p).name for p in by_file.get_file_paths()] == [p.name for p in data.files[1]]
    shared = dataset("positions-shared")
    with pytest.raises(SelectionError, match="stage positions"):
        MM(shared.files[0][0], channel_name="A")  # one file set holds both positions


def test_volumes_metadata_and_facts():
    ex = MM(dataset("tz").folder)
    assert ex.get_sample_shape() == (12, 10, 3) and ex.is_volumetric
    facts = ex.get_acquisition_facts()
    summary = dataset("tz").summary
    record = ex.get_image_metadata(0, 2)
    assert (record["FrameIndex"], record["SliceIndex"]) == (0, 2)
    assert facts.plane_depths_um == (100.0, 102.0, 104.0) and facts.plane_spacing_um == summary["z-step_um"]
    assert facts.pixel_size_um == (0.65, 0.65)
    assert facts.software == "Micro-Manager" and facts.software_version == "2.0.3"
    assert facts.device_name == "C13440-20CU" and "HamamatsuHam_DCAM" in facts.device_description
    assert facts.session_start_time.isoformat() == "2024-03-05T14:22:31.123000-08:00"
    assert facts.volume_rate_hz == pytest.approx(ex.get_sampling_frequency())
    meta = ex.get_metadata()
    assert meta["summary"] == summary and meta["axis_order"] == ["z", "channel", "position", "time"]
    assert meta["index_source"] == "index map" and meta["display_settings"]["map"]["PlaybackFPS"]["scalar"] == 20.0
    assert meta["comments"]["Summary"] == "synthetic MMStack"
    # roiextractors' attribute: tifffile's keys
    mm = ex.micromanager_metadata
    with tifffile.TiffFile(dataset("tz").first_file) as tif:
        np.testing.assert_array_equal(mm["IndexMap"], tif.micromanager_metadata["IndexMap"])
    assert mm["Summary"] == summary


def test_micromanager_14_facts():
    ex = MM(dataset("mm14-bigendian-uint8").folder, channel_name="DAPI")
    facts = ex.get_acquisition_facts()
    assert facts.session_start_time.isoformat() == "2024-03-05T14:22:31-08:00"  # "Time" with its weekday
    assert facts.software_version == "1.4.23" and facts.pixel_size_um == (0.65, 0.65)
    assert ex.get_dtype() == np.uint8


def test_several_acquisitions_in_one_folder(tmp_path):
    write_mmstack(tmp_path, prefix="run1", frames=3)
    second = write_mmstack(tmp_path, prefix="run2", frames=4)
    with pytest.raises(SelectionError, match=r"2 Micro-Manager acquisitions \(prefixes \['run1', 'run2'\]\)"):
        MM(tmp_path)
    ex = MM(second.first_file)
    assert ex.get_num_samples() == 4 and all("run2" in p for p in ex.get_file_paths())


def test_an_acquisition_stopped_early_reads_the_frames_it_took(tmp_path):
    """The summary (written first) plans 8 frames; the OME-XML (written at the end) says 5 were taken."""
    data = write_mmstack(tmp_path / "stopped", frames=5, planned_frames=8, images_per_file=3)
    ex = MM(data.folder)
    assert ex.get_num_samples() == 5 and ex.stopped_early == (8, 5)
    np.testing.assert_array_equal(ex[:], mmstack_expected(5, 12, 10))


def test_damaged_index_map_places_images_by_their_json(tmp_path):
    data = write_mmstack(tmp_path / "d", frames=5, channel_names=("A", "B"), axis_order=("time", "channel", "z",
                                                                                        "position"))
    path = data.first_file
    raw = bytearray(path.read_bytes())
    offset = int.from_bytes(raw[12:16], "little")
    raw[offset : offset + 4] = b"\x00\x00\x00\x00"  # the index map header
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="no index map header.*placing its images by their own"):
        ex = MM(data.folder, channel_name="B")
    assert ex.index_source == "per-image metadata"
    np.testing.assert_array_equal(ex[:], mmstack_expected(5, 12, 10, channel=1))


def _edit_index_map(path: Path, edit) -> None:
    raw = bytearray(path.read_bytes())
    offset = int.from_bytes(raw[12:16], "little")
    count = int.from_bytes(raw[offset + 4 : offset + 8], "little")
    span = slice(offset + 8, offset + 8 + 20 * count)
    entries = np.frombuffer(bytes(raw[span]), "<u4").reshape(count, 5).copy()
    edit(entries)
    raw[span] = entries.tobytes()
    path.write_bytes(bytes(raw))


def test_images_are_placed_by_their_index_map_entries_not_their_order(tmp_path):
    data = write_mmstack(tmp_path / "d", frames=4)

    def swap(entries):  # frames 1 and 2 say they are each other
        entries[[1, 2], 2] = entries[[2, 1], 2]

    _edit_index_map(data.first_file, swap)
    expected = mmstack_expected(4, 12, 10)[[0, 2, 1, 3]]
    np.testing.assert_array_equal(MM(data.folder)[:], expected)
    np.testing.assert_array_equal(tifffile_movie(data.first_file), expected)


def test_the_later_of_two_entries_for_one_image_counts(tmp_path):
    """Micro-Manager overwrites an image by writing it again: the index map's later entry wins."""
    data = write_mmstack(tmp_path / "d", frames=3, channel_names=("A", "B"))  # order A0 B0 A1 B1 A2 B2

    def claim(entries):
        entries[3, 0] = 0  # B1 (entry 3) now claims to be A1, written after entry 2

    _edit_index_map(data.first_file, claim)
    expected = mmstack_expected(3, 12, 10, channel=0)
    expected[1] = mmstack_expected(3, 12, 10, channel=1)[1]
    np.testing.assert_array_equal(MM(data.folder, channel_name="A")[:], expected)


def test_a_renamed_stack_file_reads_alone(tmp_path):
    """A stack file renamed (no ``MMStack`` in its name) is still recognised by its header and read as a
    one-file dataset; beside other stacks of a folder it is not taken for one of their series."""
    source = dataset("t").first_file
    renamed = tmp_path / "cells.tif"
    renamed.write_bytes(source.read_bytes())
    write_mmstack(tmp_path, prefix="other", frames=3)
    assert detect_format(renamed).id == "micromanager"
    ex = open_imaging(renamed)
    assert isinstance(ex, MM) and ex.get_file_paths() == [str(renamed)]
    np.testing.assert_array_equal(ex[:], mmstack_expected(9, 12, 10))
    assert MM(tmp_path).get_num_samples() == 3  # the folder: its MMStack-named acquisition
