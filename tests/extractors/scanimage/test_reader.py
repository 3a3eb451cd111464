"""ScanImage 2016+ through the conformance suite: every real sample file and every acquisition mode.

Expected series are computed independently of the extractor: every page read with tifffile, then
reshaped in ScanImage's documented order (channel fastest, then frame of a slice, then plane, then
flyback frames, then volume); expected timestamps are the pages' ``frameTimestamps_sec``.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ophysio.errors import SelectionError
from ophysio.extractors import ScanImageImagingExtractor
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.data import sample_file
from ophysio.testing.synthetic import write_scanimage

_TMP = Path(tempfile.mkdtemp(prefix="ophysio_si_"))
atexit.register(shutil.rmtree, _TMP, True)


def read_pages(paths) -> tuple[np.ndarray, np.ndarray]:
    """Every page of the files (tifffile, one page at a time) and each page's frameTimestamps_sec."""
    images, times = [], []
    for path in paths:
        with tifffile.TiffFile(path) as tif:
            for page in tif.pages:
                images.append(page.asarray())
                times.append(float(re.search(r"frameTimestamps_sec = (\S+)", page.description).group(1)))
    return np.stack(images), np.asarray(times)


def expected_in_scanimage_order(paths, channels, channel, planes=1, frames_per_slice=1, flyback=0,
                                slice_sample=None, interleave=False, plane_index=None, rows=None):
    """(series, timestamps) of one channel, by reshaping all pages in ScanImage's order."""
    pages, times = read_pages(paths)
    per_cycle = (planes * frames_per_slice + flyback) * channels
    cycles = len(pages) // per_cycle
    shape = pages.shape[1:]
    pages = pages[: cycles * per_cycle].reshape(cycles, planes * frames_per_slice + flyback, channels, *shape)
    times = times[: cycles * per_cycle].reshape(cycles, planes * frames_per_slice + flyback, channels)
    pages = pages[:, : planes * frames_per_slice, channel].reshape(cycles, planes, frames_per_slice, *shape)
    times = times[:, : planes * frames_per_slice, channel].reshape(cycles, planes, frames_per_slice)
    if interleave:
        pages = pages.transpose(0, 2, 1, 3, 4).reshape(cycles * frames_per_slice, planes, *shape)
        times = times.transpose(0, 2, 1).reshape(cycles * frames_per_slice, planes)
    else:
        pages = pages[:, :, slice_sample or 0]
        times = times[:, :, slice_sample or 0]
    if plane_index is not None:
        pages, times = pages[:, plane_index : plane_index + 1], times[:, plane_index : plane_index + 1]
    if rows is not None:
        pages = pages[:, :, rows[0] : rows[1], : rows[2]]
    series = pages.transpose(0, 2, 3, 1)
    if series.shape[-1] == 1:
        series = series[..., 0]
    return series, times[:, -1]


# ---------------------------------------------------------------------- real files
def _real(name):
    return str(sample_file(f"scanimage/{name}"))


MULTI = "vol_one_ch_multi_files/vol_one_ch_multi_files_00001_00001.tif"
REAL = {
    "v57-channel-1": (dict(file_path="ScanImageBigTIFFv57.tif", channel_name="Channel 1"),
                      dict(channels=2, channel=0), 198.247),
    "v57-channel-2": (dict(file_path="ScanImageBigTIFFv57.tif", channel_name="Channel 2"),
                      dict(channels=2, channel=1), 198.247),
    "multi-file-volumes": (dict(file_path=MULTI), dict(channels=1, channel=0, planes=9, flyback=7), 32.7454),
    "multi-file-plane-4": (dict(file_path=MULTI, plane_index=4),
                           dict(channels=1, channel=0, planes=9, flyback=7, plane_index=4), 32.7454),
    # the header's scanVolumeRate (8.86703 Hz) contradicts the recorded times: the times win (warned)
    "no-flyback": (dict(file_path="vol_no_flyback_00001_00001.tif"), dict(channels=1, channel=0, planes=9),
                   58.21773958564689),
}


@cache  # pytest makes a new test-class instance per test: cache at module level
def _expected_real(case):
    kwargs, layout, _ = REAL[case]
    first = Path(_real(kwargs["file_path"]))
    if first.parent.name == "vol_one_ch_multi_files":
        paths = sorted(first.parent.glob("vol_one_ch_multi_files_00001_*.tif"))
        assert len(paths) == 10
    else:
        paths = [first]
    return expected_in_scanimage_order(paths, **layout)


class TestRealScanImageFiles(ExtractorTests):
    cases = list(REAL)

    def make_extractor(self, case):
        kwargs = dict(REAL[case][0])
        kwargs["file_path"] = _real(kwargs["file_path"])
        return ScanImageImagingExtractor(**kwargs)

    def make_shrinkable(self, case, tmp_path):
        kwargs = dict(REAL[case][0])
        kwargs["file_path"] = copy_source(_real(kwargs["file_path"]), tmp_path)
        extractor = ScanImageImagingExtractor(**kwargs)
        return extractor, extractor.get_file_paths()

    def expected_series(self, case):
        return _expected_real(case)[0]

    def expected_timestamps(self, case):
        return _expected_real(case)[1]

    def expected_sampling_frequency(self, case):
        return REAL[case][2]


def test_real_multi_file_facts():
    extractor = ScanImageImagingExtractor(file_path=_real(MULTI))
    assert len(extractor.file_paths) == 10
    assert extractor.get_num_samples() == 100 and extractor.get_num_planes() == 9
    assert extractor.num_flyback_frames_per_channel == 7
    assert extractor.channel_names == ["Channel 1"]
    np.testing.assert_array_equal(extractor.get_original_frame_indices(), np.arange(100) * 16 + 8)
    np.testing.assert_array_equal(extractor.get_original_frame_indices(plane_index=0), np.arange(100) * 16)
    assert ScanImageImagingExtractor.get_available_num_planes(_real(MULTI)) == 9
    assert ScanImageImagingExtractor.get_frames_per_slice(_real(MULTI)) == 1
    np.testing.assert_array_equal(extractor.get_times(), extractor.get_timestamps())
    meta = extractor.get_metadata()
    assert meta["version"] == 4
    assert meta["frame_data"]["SI.hStackManager.zs"] == [92, 94, 96, 98, 100, 102, 104, 106, 108]
    assert meta["frame_data"]["SI.VERSION_MAJOR"] == 2021
    assert meta["frame_data"]["SI.hRoiManager.scanFrameRate"] == 523.926
    assert meta["roi_groups"]["imagingRoiGroup"]["rois"]["scanfields"]["sizeXY"] == [1.125, 1.125]
    assert meta["first_frame"]["frameNumbers"] == 1
    assert meta["start_time"] == "2025-04-24T16:43:57.206000"
    extractor.close()


def test_roiextractors_names():
    # the names roiextractors' own ScanImage tests use
    volume = ScanImageImagingExtractor(file_path=_real(MULTI))
    plane = ScanImageImagingExtractor(file_path=_real(MULTI), plane_index=4)
    assert volume.is_volumetric == True and volume.is_volumetric is True  # noqa: E712
    assert plane.is_volumetric == False and plane.is_volumetric is False  # noqa: E712
    assert volume.num_flyback_frames == 7 and volume._frames_per_slice == 1 and volume._channel_index == 0
    table = volume._frames_to_ifd_table
    assert len(table) == 100 * 9
    np.testing.assert_array_equal(table["file_index"][:18], [0] * 9 + [0] * 9)
    np.testing.assert_array_equal(table["IFD_index"][:10], [*range(9), 16])
    np.testing.assert_array_equal(table["depth_index"][:10], [*range(9), 0])
    np.testing.assert_array_equal(table["acquisition_cycle_index"][[0, 9, 899]], [0, 1, 99])
    assert table["file_index"][-1] == 9 and table["IFD_index"][-1] == 152
    with tifffile.TiffFile(_real(MULTI)) as tif:
        stamps = [ScanImageImagingExtractor.extract_timestamp_from_page(p) for p in tif.pages[:16]]
    assert stamps[8] == volume.get_times()[0] and plane.get_times()[0] == stamps[4]
    volume.close()
    plane.close()


def test_real_v57_helpers_and_metadata_match_tifffile():
    path = _real("ScanImageBigTIFFv57.tif")
    assert ScanImageImagingExtractor.get_available_channel_names(path) == ["Channel 1", "Channel 2"]
    assert ScanImageImagingExtractor.get_available_num_planes(path) == 1
    assert ScanImageImagingExtractor.get_frames_per_slice(path) == 2
    with ScanImageImagingExtractor(file_path=path, channel_name="Channel 2") as extractor:
        np.testing.assert_array_equal(extractor.get_original_frame_indices(), [1, 3])
        meta = extractor.get_metadata()
        assert meta["frame_data"]["SI.hChannels.channelSave"] == [1, 2]
        with tifffile.TiffFile(path) as tif:
            theirs = tif.scanimage_metadata
        assert set(meta["frame_data"]) == set(theirs["FrameData"])
        assert meta["roi_groups"] == theirs["RoiGroups"]
        assert meta["frame_data"]["SI.hRoiManager.scanFrameRate"] == theirs["FrameData"]["SI.hRoiManager.scanFrameRate"]
        layout = extractor.get_roi_layout()
        assert layout[0]["rows"] == 64 and layout[0]["size_xy"] == [18, 18]


# ---------------------------------------------------------------------- synthetic series
SYNTH = {
    # name: (writer keywords, extractor keywords, layout for the expected series)
    "planar-one-channel": (dict(num_samples=9, rows=12, columns=10), {}, dict(channels=1, channel=0)),
    "planar-channels-1-4-grab-split-incomplete": (
        dict(num_samples=11, rows=8, columns=6, channels=(1, 4), frames_per_file=4, extra_pages=1),
        dict(channel_name="Channel 4"), dict(channels=2, channel=1)),
    "volumes-flyback-two-channels-split": (
        dict(num_samples=5, rows=6, columns=5, channels=(1, 2), num_slices=3, num_flyback=2, frames_per_file=7,
             extra_pages=4),
        dict(channel_name="Channel 2"), dict(channels=2, channel=1, planes=3, flyback=2)),
    "volumes-frames-per-slice-sample-1": (
        dict(num_samples=4, rows=5, columns=4, channels=(1, 2), num_slices=3, frames_per_slice=2, num_flyback=1),
        dict(channel_name="Channel 1", slice_sample=1),
        dict(channels=2, channel=0, planes=3, frames_per_slice=2, flyback=1, slice_sample=1)),
    "volumes-frames-per-slice-interleaved": (
        dict(num_samples=4, rows=5, columns=4, num_slices=3, frames_per_slice=2, stack_mode="slow"),
        dict(interleave_slice_samples=True),
        dict(channels=1, channel=0, planes=3, frames_per_slice=2, interleave=True)),
    "volumes-plane-index-1": (
        dict(num_samples=6, rows=5, columns=4, num_slices=4, num_flyback=1),
        dict(plane_index=1), dict(channels=1, channel=0, planes=4, flyback=1, plane_index=1)),
    "loop-files": (dict(num_samples=7, rows=4, columns=4, acq_state="loop", frames_per_file=3), {},
                   dict(channels=1, channel=0)),
    "slow-stack-files": (
        dict(num_samples=4, rows=4, columns=3, num_slices=2, stack_mode="slow", frames_per_file=4),
        {}, dict(channels=1, channel=0, planes=2)),
    "uint16-version-3": (dict(num_samples=5, rows=7, columns=3, dtype="uint16", version=3), {},
                         dict(channels=1, channel=0)),
    "mroi-whole-pages": (
        dict(num_samples=5, rois=[dict(rows=6, columns=8), dict(rows=4, columns=8)], flyto_lines=3), {},
        dict(channels=1, channel=0)),
    "mroi-roi-1": (
        dict(num_samples=5, rois=[dict(rows=6, columns=8), dict(rows=4, columns=8)], flyto_lines=3),
        dict(roi_index=1), dict(channels=1, channel=0, rows=(9, 13, 8))),
    "mroi-narrow-roi-0-volumes": (
        dict(num_samples=3, num_slices=2, rois=[dict(rows=3, columns=5), dict(rows=4, columns=7)], flyto_lines=2),
        dict(roi_index=0), dict(channels=1, channel=0, planes=2, rows=(0, 3, 5))),
}


@cache
def synthetic_paths(case: str) -> tuple[Path, ...]:
    return tuple(write_scanimage(_TMP / case, **SYNTH[case][0]))


@cache
def _expected_synthetic(case):
    return expected_in_scanimage_order(synthetic_paths(case), **SYNTH[case][2])


class TestSyntheticScanImage(ExtractorTests):
    cases = list(SYNTH)

    def make_extractor(self, case):
        return ScanImageImagingExtractor(file_path=synthetic_paths(case)[0], **SYNTH[case][1])

    def make_shrinkable(self, case, tmp_path):
        extractor = ScanImageImagingExtractor(file_path=copy_source(synthetic_paths(case)[0], tmp_path),
                                              **SYNTH[case][1])
        return extractor, extractor.get_file_paths()

    def expected_series(self, case):
        return _expected_synthetic(case)[0]

    def expected_timestamps(self, case):
        return _expected_synthetic(case)[1]

    def expected_sampling_frequency(self, case):
        writer, extractor, _ = SYNTH[case]
        rate = writer.get("frame_rate", 30.0)
        if writer.get("num_slices", 1) > 1:
            per_volume = writer["num_slices"] * writer.get("frames_per_slice", 1) + writer.get("num_flyback", 0)
            rate /= per_volume
            if extractor.get("interleave_slice_samples"):
                rate *= writer["frames_per_slice"]
        return rate


def test_synthetic_series_are_found_from_their_first_file():
    for case in ("planar-channels-1-4-grab-split-incomplete", "loop-files", "slow-stack-files"):
        paths = synthetic_paths(case)
        assert len(paths) > 1
        extractor = ScanImageImagingExtractor(file_path=paths[0], **SYNTH[case][1])
        assert [Path(p) for p in extractor.get_file_paths()] == list(paths)
        extractor.close()


def test_mroi_layout():
    paths = synthetic_paths("mroi-whole-pages")
    extractor = ScanImageImagingExtractor(file_path=paths[0])
    layout = extractor.get_roi_layout()
    assert [(r["row_start"], r["rows"], r["columns"]) for r in layout] == [(0, 6, 8), (9, 4, 8)]
    assert layout[1]["flyto_lines"] == 3
    assert extractor.get_image_shape() == (13, 8)
    assert ScanImageImagingExtractor.get_available_rois(paths[0]) == layout
    with pytest.raises(ValueError, match="roi_index=2 is out of range"):
        ScanImageImagingExtractor(file_path=paths[0], roi_index=2)


def test_mroi_flyto_lines_from_the_flyto_time():
    # 3 ROIs of 3 rows, 4 fly-to lines, one spare row at the bottom: 9 + 8 + 1 = 18 rows; the spare rows
    # (9) do not split over 2 gaps, so the fly-to time (3.2 lines, rounded up to even: 4) decides
    rois = [dict(rows=3, columns=5, center_xy=[k, 0]) for k in range(3)]
    path = write_scanimage(_TMP / "mroi-timing", num_samples=4, rois=rois, flyto_lines=4, page_rows=18)[0]
    layout = ScanImageImagingExtractor.get_available_rois(path)
    assert [(r["row_start"], r["flyto_lines"]) for r in layout] == [(0, 4), (7, 4), (14, 4)]
    line_period = 1 / (30.0 * 18)
    assert [r["time_offset_s"] for r in layout] == pytest.approx([0, 7 * line_period, 14 * line_period])
    with ScanImageImagingExtractor(file_path=path, roi_index=2) as extractor:
        expected, _ = expected_in_scanimage_order([path], channels=1, channel=0, rows=(14, 17, 5))
        np.testing.assert_array_equal(extractor.get_series(), expected)
        assert extractor.get_roi_layout()[2]["center_xy"] == [2, 0]


def test_open_imaging_detects_scanimage():
    from ophysio.extractors import open_imaging

    paths = synthetic_paths("loop-files")
    with open_imaging(paths[0]) as extractor:
        assert isinstance(extractor, ScanImageImagingExtractor) and len(extractor.file_paths) == len(paths)
    with open_imaging(list(paths[:2])) as extractor:
        assert len(extractor.file_paths) == 2 and extractor.get_num_samples() == 6
    with open_imaging(_real("ScanImageBigTIFFv57.tif"), channel_name="Channel 1") as extractor:
        assert isinstance(extractor, ScanImageImagingExtractor)


@pytest.mark.parametrize("seed", range(12))
def test_random_layouts_match_scanimage_order(seed, tmp_path):
    rng = np.random.default_rng(seed)
    channels = sorted(rng.choice([1, 2, 3, 4], size=int(rng.integers(1, 4)), replace=False).tolist())
    slices = int(rng.choice([1, 2, 3]))
    frames_per_slice = int(rng.choice([1, 2])) if slices > 1 else 1
    flyback = int(rng.integers(0, 3)) if slices > 1 else 0
    per_file = int(rng.choice([0, 3, 5]))
    writer = dict(num_samples=int(rng.integers(2, 6)), rows=3, columns=2, channels=channels, num_slices=slices,
                  frames_per_slice=frames_per_slice, num_flyback=flyback, frames_per_file=per_file or None,
                  extra_pages=int(rng.integers(0, 3)))
    paths = write_scanimage(tmp_path, **writer)
    channel = int(rng.integers(len(channels)))
    interleave = frames_per_slice > 1 and bool(rng.integers(2))
    slice_sample = None if frames_per_slice == 1 or interleave else int(rng.integers(frames_per_slice))
    plane_index = int(rng.integers(slices)) if slices > 1 and rng.integers(2) else None
    extractor = ScanImageImagingExtractor(
        file_path=paths[0], channel_name=f"Channel {channels[channel]}", slice_sample=slice_sample,
        interleave_slice_samples=interleave, plane_index=plane_index)
    series, times = expected_in_scanimage_order(
        paths, channels=len(channels), channel=channel, planes=slices, frames_per_slice=frames_per_slice,
        flyback=flyback, slice_sample=slice_sample, interleave=interleave, plane_index=plane_index)
    np.testing.assert_array_equal(extractor.get_series(), series)
    np.testing.assert_allclose(extractor.get_timestamps(), times, atol=1e-9)
    rows = extractor._frames_to_ifd_table
    assert rows["channel_index"].tolist() == [channel] * len(rows)
    extractor.close()


def test_mroi_selected_by_name(tmp_path):
    rois = [dict(rows=6, columns=8, name="left"), dict(rows=4, columns=8, name="right"),
            dict(rows=4, columns=8, name="right")]
    path = write_scanimage(tmp_path, "n", num_samples=3, rois=rois, flyto_lines=2)[0]
    by_name = ScanImageImagingExtractor(file_path=path, roi_name="left")
    by_index = ScanImageImagingExtractor(file_path=path, roi_index=0)
    assert (by_name.roi_index, by_name.roi_name, by_index.roi_name) == (0, "left", "left")
    np.testing.assert_array_equal(by_name.get_series(), by_index.get_series())
    assert ScanImageImagingExtractor(file_path=path).roi_name is None
    with pytest.raises(SelectionError, match=r"no imaging ROI named 'middle'; its ROIs are \['left', 'right', "):
        ScanImageImagingExtractor(file_path=path, roi_name="middle")
    with pytest.raises(SelectionError, match=r"2 imaging ROIs named 'right' \(indices \[1, 2\]\)"):
        ScanImageImagingExtractor(file_path=path, roi_name="right")
    with pytest.raises(SelectionError, match="roi_index or roi_name, not both"):
        ScanImageImagingExtractor(file_path=path, roi_name="left", roi_index=0)


@pytest.mark.parametrize("name", ["ScanImageBigTIFFv57.tif", "vol_no_flyback_00001_00001.tif", MULTI])
def test_general_metadata_has_roiextractors_layout_and_tifffile_values(name):
    # neuroconv's ScanImageImagingInterface reads extractor._general_metadata: tifffile's scanimage_metadata
    path = _real(name)
    with tifffile.TiffFile(path) as tif:
        reference = tif.scanimage_metadata
    kwargs = {"channel_name": "Channel 1"} if name.startswith("ScanImageBigTIFF") else {}
    general = ScanImageImagingExtractor(file_path=path, **kwargs)._general_metadata
    assert isinstance(general, dict) and set(general) == set(reference) == {"FrameData", "RoiGroups", "version"}
    assert general["version"] == reference["version"]
    assert general["RoiGroups"] == reference["RoiGroups"]
    assert set(general["FrameData"]) == set(reference["FrameData"])
    for key, expected in reference["FrameData"].items():
        got = general["FrameData"][key]
        # the same values, in ophysio's parsing: tifffile nests a column vector's items in lists of one (and
        # an empty zeros(1,0) in one list) and gives a one-item cell array ({'text'}) as its item, where
        # ophysio keeps one flat list
        if isinstance(expected, list) and expected and all(isinstance(i, list) and len(i) == 1 for i in expected):
            expected = [item[0] for item in expected]
        elif expected == [[]]:
            expected = []
        elif isinstance(expected, str) and isinstance(got, list):
            expected = [expected]
        np.testing.assert_equal(got, expected, err_msg=key)
    # what neuroconv derives from it
    line_period = float(reference["FrameData"]["SI.hRoiManager.linePeriod"])
    assert float(general["FrameData"]["SI.hRoiManager.linePeriod"]) == line_period
