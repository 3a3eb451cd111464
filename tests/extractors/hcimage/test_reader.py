"""Hamamatsu HCImage .cxd: the real sample and synthetic compound documents through the conformance suite; pixels
and times read independently, stream by stream, with olefile."""

import functools
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import olefile
import pytest

from ophysio import open_imaging
from ophysio._synth.hcimage import write_cxd
from ophysio.errors import RateUnknownError, SelectionError
from ophysio.extractors import CxdImagingExtractor, HCImageImagingExtractor, detect_format
from ophysio.testing.conformance import ExtractorTests
from ophysio.testing.data import sample_file

REAL = "hcimage/Data00676_stubbed.cxd"


def olefile_frames(path, channel=1):
    """Every frame of ``channel``, its stream read with olefile, shaped by its Details (doubles)."""
    with olefile.OleFileIO(str(path)) as ole:
        def double(name):
            return struct.unpack("<d", ole.openstream(name).read())[0]

        details = f"Field Data/Field 1/i_Image{channel}/Details"
        rows, columns = int(double(f"{details}/Image_Height")), int(double(f"{details}/Image_Width"))
        dtype = "u1" if double(f"{details}/Image_Depth") <= 8 else "<u2"
        count = struct.unpack("<i", ole.openstream("File Info/Field Count").read())[0]
        frames = [np.frombuffer(ole.openstream(f"Field Data/Field {n}/i_Image{channel}/Bitmap 1").read(), dtype)
                  for n in range(1, count + 1)]
        times = None
        if ole.exists("Field Data/Field 1/Details/Time_From_Start"):
            times = np.array([double(f"Field Data/Field {n}/Details/Time_From_Start") for n in range(1, count + 1)])
        comments = ole.openstream("Comments").read().decode("latin-1")
    frames = np.stack(frames).reshape(count, rows, columns)
    if times is None and "finterval=" in comments:
        interval = float(comments.split("finterval=")[1].split()[0])
        times = np.arange(count) * interval
    return frames, times


@functools.cache
def folder() -> Path:
    path = Path(tempfile.mkdtemp(prefix="ophysio-cxd-"))
    import atexit

    atexit.register(shutil.rmtree, path, True)
    return path


TIMES = [0.02 * n + 0.0013 * (n % 4) for n in range(12)]
SYNTHETIC = {
    "v3-times": dict(version=3, num_frames=12, frame_times=TIMES),
    "v4-fragmented": dict(num_frames=6, rows=64, columns=64, fragmented=True),
    "v3-fragmented": dict(version=3, num_frames=5, rows=48, columns=40, fragmented=True, finterval=0.1),
    "8-bit-mini": dict(num_frames=7, rows=9, columns=13, bits=8),
    "12-bit": dict(num_frames=4, rows=30, columns=50, bits=12, version=3),
    "two-channels": dict(num_frames=5, rows=40, columns=60, channels=2, frame_times=TIMES[:5]),
}


@functools.cache
def synthetic(name: str) -> Path:
    return write_cxd(folder() / f"{name}.cxd", **SYNTHETIC[name])


CASES = {
    "real": (lambda: sample_file(REAL), {}, 1),
    "v3-times": (lambda: synthetic("v3-times"), {}, 1),
    "v4-fragmented": (lambda: synthetic("v4-fragmented"), {}, 1),
    "v3-fragmented": (lambda: synthetic("v3-fragmented"), {}, 1),
    "8-bit-mini": (lambda: synthetic("8-bit-mini"), {}, 1),
    "12-bit": (lambda: synthetic("12-bit"), {}, 1),
    "two-channels-Image1": (lambda: synthetic("two-channels"), {"channel_name": "Image1"}, 1),
    "two-channels-Image2": (lambda: synthetic("two-channels"), {"channel_name": "Image2"}, 2),
}


class TestHCImage(ExtractorTests):
    cases = list(CASES)

    def make_extractor(self, case):
        path, options, _ = CASES[case]
        return HCImageImagingExtractor(path(), **options)

    def make_shrinkable(self, case, tmp_path):
        path, options, _ = CASES[case]
        copy = tmp_path / path().name
        shutil.copyfile(path(), copy)
        return HCImageImagingExtractor(copy, **options), [copy]

    def expected_series(self, case):
        path, _, channel = CASES[case]
        return olefile_frames(path(), channel)[0]

    def expected_timestamps(self, case):
        path, _, channel = CASES[case]
        return olefile_frames(path(), channel)[1]

    def expected_sampling_frequency(self, case):
        times = self.expected_timestamps(case)
        return 1 / float(np.median(np.diff(times)))


def test_the_real_sample_is_a_case():
    assert CASES["real"][0]() == sample_file(REAL)
    assert sorted(p.name for p in sample_file(REAL).parent.glob("*.cxd")) == [sample_file(REAL).name]


def test_detected_from_content(tmp_path):
    copy = tmp_path / "renamed.dat"
    shutil.copyfile(synthetic("v3-times"), copy)  # sector size 512: the names span several directory sectors
    assert detect_format(copy).id == "hcimage"
    assert detect_format(sample_file(REAL)).id == "hcimage"
    with open_imaging(copy) as ex:
        assert isinstance(ex, HCImageImagingExtractor)


def test_fragmented_frames_are_read_from_several_runs():
    ex = HCImageImagingExtractor(synthetic("v4-fragmented"))
    runs = np.diff(ex._frame_first)
    assert runs[0] > 1 and runs[1] > 1 and runs[2] == 1  # frames 1 and 2 interleaved sector by sector


def test_channels_and_roiextractors_name():
    path = synthetic("two-channels")
    with pytest.raises(SelectionError, match="channel_name"):
        HCImageImagingExtractor(path)
    ex = CxdImagingExtractor(file_path=path, channel_name="Image2", plane_name="0")
    assert ex.get_channel_names() == ["Image1", "Image2"]
    with pytest.raises(SelectionError, match="plane"):
        CxdImagingExtractor(file_path=path, channel_name="Image1", plane_name="1")


def test_rate_unknown_without_times_or_interval(tmp_path):
    path = write_cxd(tmp_path / "norate.cxd", num_frames=3, finterval=None)
    ex = HCImageImagingExtractor(path)
    assert ex.get_sampling_frequency() is None
    np.testing.assert_array_equal(ex.get_series(), olefile_frames(path, 1)[0])
    with pytest.raises(RateUnknownError, match="finterval"):
        ex.get_timestamps()
    given = HCImageImagingExtractor(path, sampling_frequency=40.0)
    np.testing.assert_allclose(given.get_timestamps(), np.arange(3) / 40.0)


def test_real_sample_metadata_and_facts():
    ex = HCImageImagingExtractor(sample_file(REAL))
    meta = ex.get_metadata()
    assert meta["Compix"] == "Simple32 0.1.0" and meta["File Info/Field Count"] == 10
    assert "finterval=0.033338" in meta["Comments"]
    with olefile.OleFileIO(str(sample_file(REAL))) as ole:
        created = ole.getctime("Field Data/Field 1")
    facts = ex.get_acquisition_facts()
    assert facts.session_start_time.replace(tzinfo=None) == created
    assert facts.session_start_time.utcoffset().total_seconds() == 0
    assert facts.manufacturer == "Hamamatsu Photonics" and facts.software == "HCImage"
    assert facts.software_version == "Simple32 0.1.0" and "16-bit" in facts.device_description
    assert facts.pixel_size_um is None  # unit=micron alone states no size
    assert ex.bit_depth == 16


def test_first_field_time_and_comment_pixel_size(tmp_path):
    # 13,358,000,000 s after 1601-01-01 is 2024-04-19 11:33:20
    path = write_cxd(tmp_path / "dated.cxd", num_frames=2, first_field_time=13_358_000_000.0,
                     comments={"factor": "0.65", "magnification": "2"}, binning=2.0)
    facts = HCImageImagingExtractor(path).get_acquisition_facts()
    assert facts.session_start_time.isoformat() == "2024-04-19T11:33:20"
    assert facts.pixel_size_um == pytest.approx((1.3, 1.3))
    assert "binning 2" in facts.device_description
