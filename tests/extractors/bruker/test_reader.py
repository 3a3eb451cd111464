"""Bruker Prairie View: the real TSeries ZSeries sample and synthetic layouts through the conformance suite.

Expected pixels are read with tifffile (each file's own pages, the OME-XML ignored) in the order the
PVScan XML gives, parsed here with xml.etree; expected times are the XML's relativeTime (and absoluteTime
for bursts), parsed here too. Nothing of ophysio's Bruker reader is used to compute what it must return.
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ophysio import open_imaging
from ophysio._synth.bruker import bruker_expected, write_bruker
from ophysio.errors import SelectionError
from ophysio.extractors import BrukerTiffImagingExtractor, detect_format
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.data import sample_file

logging.getLogger("tifffile").setLevel(logging.ERROR)  # Prairie View's MetaMorph tags carry no dates

REAL = "bruker/NCCR32_2022_11_03_IntoTheVoid_t_series-005"


def real() -> Path:
    return sample_file(REAL)


@functools.cache
def folder() -> Path:
    path = Path(tempfile.mkdtemp(prefix="ophysio-bruker-"))
    import atexit

    atexit.register(shutil.rmtree, path, True)
    return path


SYNTHETIC = {
    "two-channels": dict(num_samples=7, rows=16, columns=12, channels=(1, 2)),
    "planar": dict(num_samples=9, rows=20, columns=10),
    "multipage-5.8": dict(num_samples=8, rows=16, columns=12, channels=(1, 2), multipage=True),
    "bidirectional": dict(num_samples=5, rows=12, columns=10, planes=3, bidirectional=True),
    "bursts": dict(num_samples=10, rows=8, columns=8, bursts=3),
    "int16-volume-cut": dict(num_samples=4, rows=12, columns=8, planes=2, incomplete_frames=1, dtype="int16"),
}


@functools.cache
def synthetic(name: str) -> Path:
    return write_bruker(folder(), name, **SYNTHETIC[name])


# ---------------------------------------------------------------------------------------------- independent reads
def xml_of(dataset: Path) -> Path:
    return dataset / f"{dataset.name}.xml"


def parse(dataset: Path, channel: str):
    """(sequences, frames) from the XML with xml.etree: each frame's (sequence, relativeTime, absoluteTime,
    file, page) for ``channel``, and each sequence's (type, bidirectionalZ, frame numbers)."""
    root = ET.parse(xml_of(dataset)).getroot()
    frames, sequences = [], []
    for s, sequence in enumerate(root.findall("Sequence")):
        numbers = []
        for frame in sequence.findall("Frame"):
            (file,) = [f for f in frame.findall("File") if f.get("channelName") == channel]
            numbers.append(len(frames))
            frames.append((s, float(frame.get("relativeTime")), float(frame.get("absoluteTime")),
                           file.get("filename"), int(file.get("page", "1"))))
        sequences.append((sequence.get("type"), sequence.get("bidirectionalZ") == "True", numbers))
    return sequences, frames


def sample_frames(dataset: Path, channel: str) -> list[list[int]]:
    """The frames of each sample, planes in the first cycle's order (complete volumes only)."""
    sequences, frames = parse(dataset, channel)
    if "ZSeries" not in sequences[0][0]:
        return [[k] for k in range(len(frames))]
    planes = len(sequences[0][2])
    out = []
    for s, (_, bidirectional, numbers) in enumerate(sequences):
        if len(numbers) != planes:
            continue
        out.append(numbers[::-1] if bidirectional and s % 2 else numbers)
    return out


def tifffile_page(path: Path, page: int) -> np.ndarray:
    with tifffile.TiffFile(path, is_ome=False) as tif:
        return tif.pages[page - 1].asarray()


def expected_pixels(dataset: Path, channel: str, plane: int | None = None) -> np.ndarray:
    _, frames = parse(dataset, channel)
    samples = sample_frames(dataset, channel)
    data = np.stack([np.stack([tifffile_page(dataset / frames[k][3], frames[k][4]) for k in ks], axis=-1)
                     for ks in samples])
    if plane is not None:
        return data[..., plane]
    return data[..., 0] if data.shape[-1] == 1 else data


def expected_times(dataset: Path, channel: str, plane: int | None = None) -> np.ndarray:
    """relativeTime of each sample's first acquired frame (of ``plane``'s frame); bursts put on the
    absoluteTime clock when relativeTime starts again at a cycle."""
    sequences, frames = parse(dataset, channel)
    rel = np.array([f[1] for f in frames])
    absolute = np.array([f[2] for f in frames])
    seq = np.array([f[0] for f in frames])
    if np.any(np.diff(rel) < 0):
        starts = np.array([numbers[0] for _, _, numbers in sequences])
        rel = rel + ((absolute[starts] - rel[starts]) - (absolute[0] - rel[0]))[seq]
    samples = sample_frames(dataset, channel)
    if plane is not None:
        return rel[[ks[plane] for ks in samples]]
    return rel[[min(ks) for ks in samples]]


# ---------------------------------------------------------------------------------------------- the suite
def _case(dataset, channel, plane=None):
    return (dataset, channel, plane)


CASES = {
    "real": lambda: (real(), "Ch2", None),
    "real-plane-1": lambda: (real(), "Ch2", 1),
    "two-channels-Ch1": lambda: (synthetic("two-channels"), "Ch1", None),
    "two-channels-Ch2": lambda: (synthetic("two-channels"), "Ch2", None),
    "planar": lambda: (synthetic("planar"), "Ch2", None),
    "multipage-5.8-Ch2": lambda: (synthetic("multipage-5.8"), "Ch2", None),
    "bidirectional": lambda: (synthetic("bidirectional"), "Ch2", None),
    "bidirectional-plane-2": lambda: (synthetic("bidirectional"), "Ch2", 2),
    "bursts": lambda: (synthetic("bursts"), "Ch2", None),
    "int16-volume-cut": lambda: (synthetic("int16-volume-cut"), "Ch2", None),
}


def _open(dataset: Path, channel: str, plane: int | None) -> BrukerTiffImagingExtractor:
    return BrukerTiffImagingExtractor(dataset, channel_name=channel, plane_index=plane)


class TestBruker(ExtractorTests):
    cases = list(CASES)

    def make_extractor(self, case):
        return _open(*CASES[case]())

    def expected_series(self, case):
        return expected_pixels(*CASES[case]())

    def expected_timestamps(self, case):
        return expected_times(*CASES[case]())

    def expected_sampling_frequency(self, case):
        times = expected_times(*CASES[case]())
        steps = np.diff(times)
        return 1.0 / np.median(steps[steps > 0])

    def make_shrinkable(self, case, tmp_path):
        dataset, channel, plane = CASES[case]()
        copy = copy_source(dataset, tmp_path)
        extractor = _open(copy, channel, plane)
        return extractor, sorted(str(p) for p in copy.glob("*.ome.tif"))


# ---------------------------------------------------------------------------------------------- what is special
def test_synthetic_pixels_are_the_movie_written():
    """The independent tifffile read above agrees with what the writer put in (so both are right)."""
    for name, case in (("two-channels", ("Ch2", 1)), ("bidirectional", ("Ch2", 0)), ("multipage-5.8", ("Ch1", 0))):
        options = SYNTHETIC[name]
        channel, index = case
        expected = bruker_expected(options["num_samples"], options["rows"], options["columns"],
                                   options.get("planes", 1), index, options.get("dtype", "uint16"))
        np.testing.assert_array_equal(expected_pixels(synthetic(name), channel), expected)
        np.testing.assert_array_equal(_open(synthetic(name), channel, None)[:], expected)


def test_real_sample_is_a_volume_of_two_planes_from_the_xml():
    ex = BrukerTiffImagingExtractor(real())
    assert ex.get_num_samples() == 5 and ex.get_num_planes() == 2 and ex.is_volumetric
    assert ex.get_image_shape() == (512, 512) and ex.get_dtype() == np.uint16
    assert ex.channel_name == "Ch2" and ex.get_channel_names() == ["Ch2"]
    assert len(ex.get_file_paths()) == 10 and ex.timestamp_source == "relativeTime"
    # the companion OME-XML in the first file lists cycles that were never written: not used
    with tifffile.TiffFile(real() / Path(ex.get_file_paths()[0]).name, is_ome=False) as tif:
        assert "Cycle00006" in tif.pages[0].description
    meta = ex.get_metadata()
    assert meta["sequence_type"] == "TSeries ZSeries Element" and meta["num_sequences"] == 5
    assert meta["state"]["micronsPerPixel"]["XAxis"] == "1.1078125"
    assert meta["plane_positions_um"]["Optotune ETL 10-30"] == [-130.0, 130.0]


@pytest.mark.parametrize("how", ["folder", "xml", "tiff"])
def test_open_imaging_finds_the_dataset_from_any_of_its_paths(how):
    dataset = real()
    path = {"folder": dataset, "xml": xml_of(dataset),
            "tiff": dataset / f"{dataset.name}_Cycle00003_Ch2_000002.ome.tif"}[how]
    assert detect_format(path).id == "bruker"
    with open_imaging(path) as ex:
        assert isinstance(ex, BrukerTiffImagingExtractor)
        assert Path(ex.folder_path) == dataset and ex.get_num_samples() == 5


def test_channels_must_be_chosen_and_are_listed():
    dataset = synthetic("two-channels")
    assert BrukerTiffImagingExtractor.get_available_channels(dataset) == ["Ch1", "Ch2"]
    with pytest.raises(SelectionError, match=r"\['Ch1', 'Ch2'\].*channel_name"):
        BrukerTiffImagingExtractor(dataset)
    with pytest.raises(SelectionError, match="'Ch3' is not in"):
        BrukerTiffImagingExtractor(dataset, channel_name="Ch3")
    assert BrukerTiffImagingExtractor.get_streams(dataset) == {"channel_streams": ["Ch1", "Ch2"], "plane_streams": {}}
    assert BrukerTiffImagingExtractor.get_streams(real())["plane_streams"] == {"Ch2": ["Ch2_000001", "Ch2_000002"]}


def test_channel_names_from_the_xml_and_their_numbers(tmp_path):
    dataset = write_bruker(tmp_path, "named", num_samples=3, channels=(1, 2), channel_names=("Red", "Green"))
    assert BrukerTiffImagingExtractor.get_available_channels(dataset) == ["Red", "Green"]
    by_name = BrukerTiffImagingExtractor(dataset, channel_name="Green")
    by_number = BrukerTiffImagingExtractor(dataset, channel_name="Ch2")
    assert by_name.channel_name == by_number.channel_name == "Green"
    np.testing.assert_array_equal(by_number[:], bruker_expected(3, 16, 12, channel=1))


def test_plane_index_reads_one_plane_as_planar_data():
    whole = BrukerTiffImagingExtractor(real())
    one = BrukerTiffImagingExtractor(real(), plane_index=1)
    assert not one.is_volumetric and one.plane_index == 1
    np.testing.assert_array_equal(one[:], whole[:][..., 1])
    np.testing.assert_allclose(one.get_timestamps(), whole.get_timestamps() + 0.048474237, atol=1e-9)
    for bad in (2, -1, 1.0):
        with pytest.raises(SelectionError, match="plane_index"):
            BrukerTiffImagingExtractor(real(), plane_index=bad)


def test_bidirectional_volumes_come_out_in_z_order():
    dataset = synthetic("bidirectional")
    sequences, _ = parse(dataset, "Ch2")
    assert [b for _, b, _ in sequences] == [True] * 5
    ex = BrukerTiffImagingExtractor(dataset)
    assert ex.get_metadata()["reversed_samples"] == 2  # cycles 2 and 4
    np.testing.assert_array_equal(ex[:], bruker_expected(5, 12, 10, planes=3))
    # the recorded positions decide: each plane has one depth in every sample
    depths = ex.get_acquisition_facts().plane_depths_um
    assert depths == tuple(sorted(depths))


def test_multi_burst_times_stay_on_one_clock():
    dataset = synthetic("bursts")
    _, frames = parse(dataset, "Ch2")
    rel = np.array([f[1] for f in frames])
    assert np.sum(np.diff(rel) < 0) == 2  # relativeTime starts again at the second and third cycles
    ex = BrukerTiffImagingExtractor(dataset)
    times = ex.get_timestamps()
    assert np.all(np.diff(times) > 0) and ex.timestamp_source == "relativeTime + absoluteTime"
    # the rate is the one within a burst, not diluted by the gaps between bursts
    assert ex.get_sampling_frequency() == pytest.approx(1 / 0.048474237, rel=1e-6)


def test_a_last_volume_cut_short_is_dropped():
    ex = BrukerTiffImagingExtractor(synthetic("int16-volume-cut"))
    assert ex.get_num_samples() == 4 and ex.get_metadata()["dropped_frames"] == 1
    assert ex.get_dtype() == np.int16


def test_multipage_files_are_indexed_only_when_read():
    ex = BrukerTiffImagingExtractor(synthetic("multipage-5.8"), channel_name="Ch1")
    assert [Path(p).name for p in ex.get_file_paths()] == ["multipage-5.8_Cycle00001_Ch1_000001.ome.tif"]
    assert ex._frames._sources == {}
    np.testing.assert_array_equal(ex[3:5], bruker_expected(8, 16, 12, channel=0)[3:5])
    assert len(ex._frames._sources) == 1


def test_roiextractors_xml_metadata_layout():
    meta = BrukerTiffImagingExtractor(real()).xml_metadata
    root = ET.parse(xml_of(real())).getroot()
    assert meta["version"] == root.get("version") and meta["date"] == root.get("date")
    assert meta["micronsPerPixel"] == [{"XAxis": "1.1078125"}, {"YAxis": "1.1078125"}, {"ZAxis": "260"}]
    assert meta["laserPower"][0] == {"920 Axon": "599.609375"}
    assert meta["positionCurrent"][2] == {"Z Focus": "166.575"}
    assert meta["scanLinePeriod"] == "6.3123E-05"


def test_bursts_without_absolute_times_are_joined_one_frame_period_apart(tmp_path):
    import re

    dataset = write_bruker(tmp_path, "b", num_samples=9, rows=8, columns=8, bursts=3)
    xml = xml_of(dataset)
    xml.write_text(re.sub(r' absoluteTime="[^"]*"', "", xml.read_text(encoding="utf-8-sig")), encoding="utf-8")
    ex = BrukerTiffImagingExtractor(dataset)
    assert ex.timestamp_source == "relativeTime + frame period"
    step = 0.048474237
    np.testing.assert_allclose(ex.get_timestamps(), np.arange(9) * step, atol=1e-9)  # three bursts of three


def test_the_xml_need_not_be_named_after_the_folder(tmp_path):
    dataset = write_bruker(tmp_path, "TSeries-002", num_samples=4)
    renamed = dataset.rename(tmp_path / "renamed by the user")
    assert detect_format(renamed).id == "bruker"
    with open_imaging(renamed) as ex:
        assert ex.xml_path.endswith("TSeries-002.xml")
        np.testing.assert_array_equal(ex[:], bruker_expected(4, 16, 12))
