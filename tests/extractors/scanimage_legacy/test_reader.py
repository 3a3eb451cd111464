"""ScanImage 3.x/4.x/5.0/5.1 TIFF: the real 3.8 sample and synthetic headers of every family."""

import datetime as dt
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ophysio import open_imaging
from ophysio._synth.tiff import legacy_expected, write_scanimage_legacy
from ophysio.errors import CorruptFileError, FormatError, MetadataError, SelectionError
from ophysio.extractors.scanimage_legacy import ScanImageLegacyImagingExtractor
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.data import sample_file

REAL = "scanimage_legacy/sample_scanimage_version_3_8.tiff"

# name -> (writer keywords, extractor keywords, channel index read)
SYNTHETIC = {
    "v3-two-channels-ch2": (dict(version="3.8", channels=(1, 2), num_samples=7), {"channel_name": "Channel 2"}, 1),
    "v3-slow-stack": (dict(version="3.8", slices=3, frames_per_slice=2, num_samples=3), {"slice_sample": 1}, 0),
    "v4-fastz-flyback": (dict(version="4.2", channels=(1, 3), slices=4, flyback=2, num_samples=5),
                         {"channel_name": "Channel 3"}, 1),
    "v50-planar": (dict(version="5.0", num_samples=9, frame_rate=30.0), {}, 0),
    "v51-fastz": (dict(version="5.1", channels=(2,), slices=3, flyback=1, num_samples=4, frame_rate=60.0), {}, 0),
    "v51-planar-uint16": (dict(version="5.1", num_samples=6, dtype="uint16", frame_rate=7.5), {}, 0),
}


@functools.cache
def _folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="ophysio-legacy-"))
    import atexit

    atexit.register(shutil.rmtree, folder, True)
    return folder


@functools.cache
def synthetic(name: str) -> Path:
    return write_scanimage_legacy(_folder() / f"{name}.tif", **SYNTHETIC[name][0])


def expected_synthetic(name: str) -> np.ndarray:
    kw = dict(SYNTHETIC[name][0])
    movies = legacy_expected(kw.get("num_samples", 8), kw.get("rows", 16), kw.get("columns", 12),
                             len(kw.get("channels", (1,))), kw.get("slices", 1), kw.get("dtype", "int16"))
    data = movies[SYNTHETIC[name][2]]
    if kw.get("frames_per_slice", 1) > 1 and kw.get("slices", 1) > 1:
        data = data + np.asarray(SYNTHETIC[name][1]["slice_sample"], dtype=data.dtype)
    return data


class TestScanImageLegacy(ExtractorTests):
    cases = [REAL, *SYNTHETIC]

    def make_extractor(self, case):
        if case == REAL:
            return ScanImageLegacyImagingExtractor(sample_file(REAL))
        return ScanImageLegacyImagingExtractor(synthetic(case), **SYNTHETIC[case][1])

    def make_shrinkable(self, case, tmp_path):
        if case == REAL:
            extractor = ScanImageLegacyImagingExtractor(copy_source(sample_file(REAL), tmp_path))
        else:
            extractor = ScanImageLegacyImagingExtractor(copy_source(synthetic(case), tmp_path), **SYNTHETIC[case][1])
        return extractor, extractor.get_file_paths()

    def expected_series(self, case):
        if case == REAL:
            # ScanImage 3.8 saved one channel: every page is one frame, in page order
            return tifffile.imread(sample_file(REAL), key=range(10))
        return expected_synthetic(case)

    def expected_sampling_frequency(self, case):
        if case == REAL:
            return 3.90625  # state.acq.frameRate
        kw = SYNTHETIC[case][0]
        rate = kw.get("frame_rate", 15.0)
        slices = kw.get("slices", 1)
        if slices > 1:
            return rate / ((slices + kw.get("flyback", 0)) * kw.get("frames_per_slice", 1))
        return rate

    def expected_timestamps(self, case):
        if case == REAL:
            return np.arange(10) / 3.90625  # 3.x records no per-frame times
        kw = SYNTHETIC[case][0]
        if kw["version"] in ("5.0", "5.1"):
            # frameTimestamps_sec of the first page of each sample, as the writer numbers frames
            slices = kw.get("slices", 1)
            per_sample = slices + kw.get("flyback", 0) if slices > 1 else 1
            return np.round(np.arange(kw["num_samples"]) * per_sample / kw["frame_rate"], 6)  # written as %.6f
        return None


def test_real_header_is_whole_and_typed():
    ex = ScanImageLegacyImagingExtractor(sample_file(REAL))
    meta = ex.get_metadata()
    text = tifffile.TiffFile(sample_file(REAL)).pages[0].description
    header_lines = [line for line in text.split("\r") if "=" in line]
    assert len(meta) - 2 == len(header_lines)  # every header line, plus session_start_time and frame
    assert meta["state.acq.frameRate"] == 3.90625
    assert meta["state.acq.numberOfFrames"] == 1220
    assert meta["state.acq.numberOfRepeats"] == float("inf")
    assert meta["state.configName"] == "Behavior_2channel"
    assert meta["state.internal.figureColormap1"] == "$scim_colorMap('gray',8,5)"
    assert meta["session_start_time"] == dt.datetime(2017, 10, 9, 16, 57, 7, 967000)
    assert ex.scanimage_version == "3"
    assert ex.get_channel_names() == ["Channel 1"] and not ex.is_volumetric


def test_rate_override_and_missing_rate(tmp_path):
    ex = ScanImageLegacyImagingExtractor(sample_file(REAL), sampling_frequency=10.0)
    assert ex.get_sampling_frequency() == 10.0
    path = write_scanimage_legacy(tmp_path / "norate.tif", version="4.2", frame_rate=None)
    no_rate = ScanImageLegacyImagingExtractor(path)
    assert no_rate.get_sampling_frequency() is None and no_rate.get_series(0, 1).shape[0] == 1
    with pytest.raises(MetadataError, match=r"scanimage.SI4.scanFrameRate is missing.*sampling_frequency="):
        no_rate.get_timestamps()
    assert ScanImageLegacyImagingExtractor(path, sampling_frequency=2.0).get_sampling_frequency() == 2.0


def test_channel_selection_errors():
    path = synthetic("v3-two-channels-ch2")
    with pytest.raises(SelectionError, match=r"2 saved channels \['Channel 1', 'Channel 2'\].*channel_name"):
        ScanImageLegacyImagingExtractor(path)
    with pytest.raises(SelectionError, match="Channel 3"):
        ScanImageLegacyImagingExtractor(path, channel_name="Channel 3")
    first = ScanImageLegacyImagingExtractor(path, channel_name="Channel 1")
    np.testing.assert_array_equal(first[:], legacy_expected(7, 16, 12, 2, 1)[0])


def test_slow_stack_needs_slice_sample():
    with pytest.raises(SelectionError, match="slice_sample"):
        ScanImageLegacyImagingExtractor(synthetic("v3-slow-stack"))


def test_session_start_per_family():
    assert ScanImageLegacyImagingExtractor(synthetic("v4-fastz-flyback"), channel_name="Channel 1") \
        .get_metadata()["session_start_time"] == dt.datetime(2014, 5, 2, 17, 3, 11, 250000)
    meta = ScanImageLegacyImagingExtractor(synthetic("v51-fastz")).get_metadata()
    assert meta["session_start_time"] == dt.datetime(2016, 3, 1, 10, 20, 30, 500000)
    assert meta["scanimage.SI.hFastZ.numDiscardFlybackFrames"] == 1
    assert meta["frame"]["frameNumbers"] == 1


def test_incomplete_last_sample_is_dropped_with_warning(tmp_path):
    source = synthetic("v3-two-channels-ch2")
    with tifffile.TiffFile(source, is_scanimage=False) as tif:  # tifffile's ScanImage shortcut misses a page
        text = tif.pages.first.description  # 3.x repeats one header on every page
        pages = [(p.asarray(), text) for p in tif.pages][:-1]  # 13 pages of 2 channels
    path = tmp_path / "cut.tif"
    with tifffile.TiffWriter(path) as tif:
        for data, text in pages:
            tif.write(data, description=text, metadata=None)
    with pytest.warns(UserWarning, match="incomplete sample"):
        ex = ScanImageLegacyImagingExtractor(path, channel_name="Channel 1")
    assert ex.get_num_samples() == 6


def test_truncated_file_is_a_clear_error(tmp_path):
    data = Path(sample_file(REAL)).read_bytes()
    path = tmp_path / "truncated.tif"
    path.write_bytes(data[: len(data) - 100_000])
    with pytest.raises(CorruptFileError, match="truncated"):
        ScanImageLegacyImagingExtractor(path)


def test_plain_tiff_is_refused(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((2, 8, 8), np.uint8), description="hello", metadata=None)
    with pytest.raises(FormatError, match="not a ScanImage 3.x-5.1"):
        ScanImageLegacyImagingExtractor(path)


@pytest.mark.parametrize("name", list(SYNTHETIC))
def test_open_imaging_picks_legacy(name):
    kwargs = SYNTHETIC[name][1]
    ex = open_imaging(synthetic(name), **kwargs)
    assert type(ex).__name__ == "ScanImageLegacyImagingExtractor"


def test_open_imaging_picks_legacy_for_real_file():
    assert isinstance(open_imaging(sample_file(REAL)), ScanImageLegacyImagingExtractor)


def test_si4_fast_z_volume_rate_comes_from_fast_z_period(tmp_path):
    path = write_scanimage_legacy(tmp_path / "si4.tif", version="4.2", slices=3, flyback=1, num_samples=3,
                                  frame_rate=20.0, extra={"scanimage.SI4.fastZPeriod": 0.25})
    ex = ScanImageLegacyImagingExtractor(path)
    assert ex.get_sampling_frequency() == 4.0  # 1 / fastZPeriod, not 20 Hz / 4 frames per volume
    assert ex.get_metadata()["scanimage.SI4.versionMajor"] == 4.2
