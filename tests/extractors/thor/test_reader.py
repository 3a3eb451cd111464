"""ThorImageLS: the real stubbed acquisition and synthetic ones (channels, multipage, fast-Z, .raw), all
through the conformance suite. Expected pixels come from tifffile / numpy reads of the files in the
layout ThorImageLS documents (or the writer's movie), rates and times from Experiment.xml / timing.txt
parsed here with xml.etree and numpy."""

import functools
import shutil
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ophysio import open_imaging
from ophysio._synth.thor import thor_expected, write_thor
from ophysio.extractors import ThorTiffImagingExtractor
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.data import sample_file

REAL = "thor/20231018-002"


def real_folder() -> Path:
    return sample_file(REAL)


def xml_root(folder) -> ET.Element:
    return ET.parse(Path(folder) / "Experiment.xml").getroot()


def xml_rate(folder) -> float:
    """Frame rate / averaging / (planes + flyback), from the XML read here."""
    root = xml_root(folder)
    lsm, streaming = root.find("LSM").attrib, root.find("Streaming").attrib
    rate = float(lsm["frameRate"])
    fast_z = streaming["zFastEnable"] == "1"
    if lsm["averageMode"] == "1" and not fast_z:
        rate /= int(lsm["averageNum"])
    if fast_z:
        rate /= int(root.find("ZStage").get("steps")) + int(streaming["flybackFrames"])
    return rate


def page0(path) -> np.ndarray:
    """The first page of one TIFF file (tifffile.imread would follow the OME-XML to every file of the series)."""
    with tifffile.TiffFile(path) as tif:
        return tif.pages[0].asarray()


def all_pages(path) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        return np.stack([page.asarray() for page in tif.pages])


def real_expected() -> np.ndarray:
    """The real files named as ThorImageLS names them, read with tifffile, as many as Streaming frames."""
    folder = real_folder()
    frames = int(xml_root(folder).find("Streaming").get("frames"))
    return np.stack([page0(folder / f"ChanA_001_001_001_{t + 1:03d}.tif") for t in range(frames)])


def raw_expected(folder, name, planes=1, channels=1, slot=0, flyback=0):
    """Samples of one channel of Image_0001_0001.raw read with numpy in the documented order."""
    root = xml_root(folder)
    rows, columns = int(root.find("LSM").get("pixelY")), int(root.find("LSM").get("pixelX"))
    data = np.fromfile(Path(folder) / "Image_0001_0001.raw", dtype="<u2")
    data = data.reshape(-1, planes + flyback, channels, rows, columns)[:, :planes, slot]
    return data[:, 0] if planes == 1 else np.moveaxis(data, 1, -1)


@functools.cache
def folder() -> Path:
    path = Path(tempfile.mkdtemp(prefix="ophysio-thor-"))
    import atexit

    atexit.register(shutil.rmtree, path, True)
    return path


@functools.cache
def synthetic(name: str) -> Path:
    f = folder() / name
    if name == "two-channels":
        return write_thor(f, num_samples=7, channels=("ChanA", "ChanB"))
    if name == "fast-z":
        return write_thor(f, num_samples=5, planes=3, flyback=2, frame_rate=40.0)
    if name == "multipage":
        return write_thor(f, num_samples=6, planes=2, storage="multipage", timing="frames")
    if name == "multipage-planar":
        return write_thor(f, num_samples=9, storage="multipage", channels=("ChanA", "ChanC"))
    if name == "raw":
        return write_thor(f, num_samples=8, storage="raw", timing="samples")
    if name == "raw-two-channels-fast-z":
        return write_thor(f, num_samples=4, storage="raw", channels=("ChanA", "ChanB"), planes=3, flyback=1)
    if name == "raw-all-slots":
        return write_thor(f, num_samples=5, storage="raw", channels=("ChanB", "ChanD"), only_enabled_channels=False)
    if name == "four-digits-averaged":
        return write_thor(f, num_samples=6, digits=4, average=4, timing="frames")
    if name == "z-and-t":
        return write_thor(f, num_samples=3, planes=4, capture_mode=0, timepoints=3, interval_s=2.5)
    raise KeyError(name)


def _same(path):
    return path


# case -> (make(wrap), expected series, expected rate, expected times or None)
CASES = {
    "real-folder": (lambda w=_same: ThorTiffImagingExtractor(w(real_folder())), real_expected,
                    lambda: xml_rate(real_folder()), lambda: None),
    "real-second-tiff": (lambda w=_same: ThorTiffImagingExtractor(w(real_folder() / "ChanA_001_001_001_002.tif")),
                         real_expected, lambda: xml_rate(real_folder()), lambda: None),
    "two-channels-ChanB": (
        lambda w=_same: ThorTiffImagingExtractor(w(synthetic("two-channels") / "Experiment.xml"), channel_name="ChanB"),
        lambda: np.stack([page0(synthetic("two-channels") / f"ChanB_001_001_001_{t:03d}.tif")
                          for t in range(1, 8)]),
        lambda: xml_rate(synthetic("two-channels")), lambda: None),
    "fast-z-flyback": (
        lambda w=_same: ThorTiffImagingExtractor(w(synthetic("fast-z"))),
        lambda: np.stack([np.stack([page0(synthetic("fast-z") / f"ChanA_001_001_{z:03d}_{t:03d}.tif")
                                    for z in range(1, 4)], axis=-1) for t in range(1, 6)]),
        lambda: xml_rate(synthetic("fast-z")), lambda: None),
    "multipage-volumes": (
        lambda w=_same: ThorTiffImagingExtractor(w(synthetic("multipage") / "ChanA_001_001_001_001.tif")),
        lambda: all_pages(synthetic("multipage") / "ChanA_001_001_001_001.tif").reshape(6, 2, 24, 20)
        .transpose(0, 2, 3, 1),
        lambda: xml_rate(synthetic("multipage")),
        lambda: np.loadtxt(synthetic("multipage") / "timing.txt")[::2]),
    "multipage-ChanC": (
        lambda w=_same: ThorTiffImagingExtractor(w(synthetic("multipage-planar")), channel_name="ChanC"),
        lambda: all_pages(synthetic("multipage-planar") / "ChanC_001_001_001_001.tif"),
        lambda: xml_rate(synthetic("multipage-planar")), lambda: None),
    "raw": (lambda w=_same: ThorTiffImagingExtractor(w(synthetic("raw") / "Image_0001_0001.raw")),
            lambda: raw_expected(synthetic("raw"), "ChanA"),
            lambda: xml_rate(synthetic("raw")),
            lambda: np.loadtxt(synthetic("raw") / "timing.txt")),
    "raw-fast-z-ChanB": (
        lambda w=_same: ThorTiffImagingExtractor(w(synthetic("raw-two-channels-fast-z")), channel_name="ChanB"),
        lambda: raw_expected(synthetic("raw-two-channels-fast-z"), "ChanB", planes=3, channels=2, slot=1, flyback=1),
        lambda: xml_rate(synthetic("raw-two-channels-fast-z")), lambda: None),
    "raw-all-slots-ChanD": (
        lambda w=_same: ThorTiffImagingExtractor(w(synthetic("raw-all-slots")), channel_name="ChanD"),
        lambda: raw_expected(synthetic("raw-all-slots"), "ChanD", channels=4, slot=3),
        lambda: xml_rate(synthetic("raw-all-slots")), lambda: None),
    "four-digits-averaged": (
        lambda w=_same: ThorTiffImagingExtractor(w(synthetic("four-digits-averaged"))),
        lambda: thor_expected(6, 24, 20),
        lambda: xml_rate(synthetic("four-digits-averaged")),
        lambda: np.loadtxt(synthetic("four-digits-averaged") / "timing.txt")),
    "z-and-t-stack": (
        lambda w=_same: ThorTiffImagingExtractor(w(synthetic("z-and-t"))),
        lambda: thor_expected(3, 24, 20, planes=4),
        lambda: 1 / float(xml_root(synthetic("z-and-t")).find("Timelapse").get("intervalSec")), lambda: None),
}


def relocate(original: Path, copy: Path):
    """A wrapper that moves a path inside ``original`` to the same place inside ``copy``."""
    def wrap(path):
        path = Path(path)
        return copy if path == original else copy / path.relative_to(original)
    return wrap


class TestThor(ExtractorTests):
    cases = list(CASES)

    def make_extractor(self, case):
        return CASES[case][0]()

    def make_shrinkable(self, case, tmp_path):
        with CASES[case][0]() as original:
            source = Path(original.folder_path)
        copy = copy_source(source, tmp_path)
        extractor = CASES[case][0](relocate(source, copy))
        return extractor, extractor.get_file_paths()

    def expected_series(self, case):
        return CASES[case][1]()

    def expected_sampling_frequency(self, case):
        return CASES[case][2]()

    def expected_timestamps(self, case):
        times = CASES[case][3]()
        if times is None:
            return np.arange(len(self.expected_series(case))) / self.expected_sampling_frequency(case)
        return times


def test_synthetic_pixels_are_the_writers_movie():
    """The files hold what the writer meant (so the cases above test something): movie per channel, no flyback."""
    np.testing.assert_array_equal(CASES["two-channels-ChanB"][1](), thor_expected(7, 24, 20, channel=1))
    np.testing.assert_array_equal(CASES["fast-z-flyback"][1](), thor_expected(5, 24, 20, planes=3))
    np.testing.assert_array_equal(CASES["raw-fast-z-ChanB"][1](), thor_expected(4, 24, 20, planes=3, channel=1))
    np.testing.assert_array_equal(CASES["raw-all-slots-ChanD"][1](), thor_expected(5, 24, 20, channel=1))
    np.testing.assert_array_equal(CASES["multipage-volumes"][1](), thor_expected(6, 24, 20, planes=2))


def test_synthetic_experiment_xml_has_the_real_elements_and_attributes():
    real, synthetic_root = xml_root(real_folder()), xml_root(synthetic("fast-z"))
    assert [e.tag for e in real] == [e.tag for e in synthetic_root]
    for a, b in zip(real, synthetic_root):
        assert set(a.attrib) == set(b.attrib), a.tag
    assert [c.tag for c in real.find("Wavelengths")] == [c.tag for c in synthetic_root.find("Wavelengths")]


def test_synthetic_tiff_is_laid_out_as_the_real_one():
    def layout(path):
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            return ([tag.code for tag in page.tags.values()], page.dataoffsets, tif.is_ome,
                    "UUID FileName" in page.description, 'Plane DeltaT="0"' in page.description)
    real = layout(real_folder() / "ChanA_001_001_001_001.tif")
    fake = layout(synthetic("two-channels") / "ChanA_001_001_001_001.tif")
    assert real == fake
    assert real[1] == (8,)  # pixels right after the header, IFD after them


def test_flyback_frames_are_skipped_and_counted():
    with ThorTiffImagingExtractor(synthetic("raw-two-channels-fast-z"), channel_name="ChanA") as ex:
        assert ex.num_flyback_frames == 1 and ex.get_num_planes() == 3 and ex.get_num_samples() == 4
        data = ex.get_series()
    assert not np.any(data > 65535 - 1000)  # flyback frames hold 65535 - movie, the movie stays low here
    np.testing.assert_array_equal(data, thor_expected(4, 24, 20, planes=3))


def test_channels_by_name_and_available_channels():
    path = synthetic("two-channels")
    assert ThorTiffImagingExtractor.get_available_channel_names(path) == ["ChanA", "ChanB"]
    assert ThorTiffImagingExtractor.get_available_channels(path / "ChanB_001_001_001_003.tif") == ["ChanA", "ChanB"]
    with ThorTiffImagingExtractor(path, channel_name="ChanA") as ex:
        assert ex.get_channel_names() == ["ChanA", "ChanB"] and ex.channel_name == "ChanA"


def test_open_imaging_detects_every_entry_point():
    folder_ = real_folder()
    for path in (folder_, folder_ / "Experiment.xml", folder_ / "ChanA_001_001_001_003.tif"):
        with open_imaging(path) as ex:
            assert type(ex).__name__ == "ThorTiffImagingExtractor"
            assert ex.get_num_samples() == 3
    with open_imaging(synthetic("raw") / "Image_0001_0001.raw") as ex:
        assert ex.storage == "raw"


def test_construction_reads_no_pixels_and_one_tiff_header(monkeypatch):
    """Building indexes the first file only; the others are opened when read."""
    from ophysio.extractors.thor import reader, sources

    indexed = []
    real_index = sources.index_tiff

    def counting(path, *args, **kwargs):
        indexed.append(Path(path).name)
        return real_index(path, *args, **kwargs)

    monkeypatch.setattr(reader, "index_tiff", counting)
    monkeypatch.setattr(sources, "index_tiff", counting)
    ex = ThorTiffImagingExtractor(synthetic("fast-z"))
    assert indexed == ["ChanA_001_001_001_001.tif"]
    ex.get_series()
    assert indexed == ["ChanA_001_001_001_001.tif"]  # every other file matched the first one's layout
    ex.close()


def test_metadata_is_the_whole_experiment_xml():
    with ThorTiffImagingExtractor(real_folder()) as ex:
        meta = ex.get_metadata()
        text = (real_folder() / "Experiment.xml").read_text()
        assert meta["experiment_xml"] == text
        assert meta["experiment"]["ThorImageExperiment"]["LSM"]["@frameRate"] == "13.967"
        assert ex._experiment_xml_dict["ThorImageExperiment"]["Software"]["@version"] == "5.0.2023.10041"
        assert meta["storage"] == "tiff" and meta["timestamp_source"] is None
        assert ex._get_session_start_time().isoformat() == "2023-10-18T17:39:19+00:00"


@pytest.mark.parametrize("name", ["multipage", "raw", "four-digits-averaged"])
def test_timing_file_is_the_timestamp_source(name):
    with ThorTiffImagingExtractor(synthetic(name)) as ex:
        assert ex.timestamp_source.startswith("timing.txt")
        assert ex.has_recorded_times()


def test_evenly_spaced_recorded_times_set_the_rate_when_the_xml_differs(tmp_path):
    path = write_thor(tmp_path / "t", num_samples=6, frame_rate=30.0)
    (path / "timing.txt").write_text("".join(f"{k * 0.04:.4f}\n" for k in range(6)))  # 25 Hz, not 30
    with ThorTiffImagingExtractor(path) as ex:
        with pytest.warns(UserWarning, match="25 Hz"):
            assert ex.get_sampling_frequency() == pytest.approx(25.0)
        np.testing.assert_allclose(ex.get_timestamps(), np.arange(6) * 0.04)


def test_timing_file_that_fits_no_count_is_left_out(tmp_path):
    path = write_thor(tmp_path / "t", num_samples=6)
    (path / "timing.txt").write_text("0\n0.1\n")
    with pytest.warns(UserWarning, match="2 times for 6 samples"):
        ex = ThorTiffImagingExtractor(path)
    assert ex.get_native_timestamps() is None and ex.timestamp_source is None
    np.testing.assert_allclose(ex.get_timestamps(), np.arange(6) / 30.0)


def test_detection_prefers_thor_over_ome_tiff_and_declines_other_files(shared_data):
    from ophysio.extractors import detect_format, get_format
    from ophysio.extractors.registry import read_head

    tiff = Path(shared_data) / REAL / "ChanA_001_001_001_001.tif"
    assert get_format("ome_tiff").check(tiff, read_head(tiff)) is True  # it is an OME-TIFF too
    assert detect_format(tiff).id == "thor"
    assert detect_format(Path(shared_data) / REAL).id == "thor"
    other = Path(shared_data) / "ome_tiff/pmmp_demo_tc.ome.tiff"
    assert "no Experiment.xml beside the file" in get_format("thor").check(other, read_head(other))
    assert detect_format(other).id == "ome_tiff"
