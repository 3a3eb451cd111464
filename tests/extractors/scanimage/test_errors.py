"""ScanImage: bad input gives clear errors; series discovery; many files under a low open-file limit;
more than 65,535 IFDs in one file; header parsing."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ophysio._synth.scanimage import page_pixels
from ophysio.errors import CorruptFileError, FileSetError, FormatError, SelectionError
from ophysio.extractors import ScanImageImagingExtractor
from ophysio.extractors.scanimage.header import parse_matlab_value
from ophysio.testing.data import sample_file
from ophysio.testing.synthetic import write_scanimage


def _ifd_offsets(path):
    with tifffile.TiffFile(path) as tif:
        return [page.offset for page in tif.pages]


@pytest.fixture
def planar(tmp_path):
    return write_scanimage(tmp_path / "planar", num_samples=6, rows=8, columns=8, channels=(1, 2))[0]


# ---------------------------------------------------------------------- not ScanImage / damaged
def test_plain_tiff_is_not_scanimage(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((3, 4, 4), np.uint16), bigtiff=True, photometric="minisblack")
    with pytest.raises(FormatError, match=r"plain\.tif is not a ScanImage 2016\+ file"):
        ScanImageImagingExtractor(file_path=path)
    text = tmp_path / "text.tif"
    text.write_bytes(b"hello world, not a tiff at all")
    with pytest.raises(FormatError, match="not a TIFF file"):
        ScanImageImagingExtractor(file_path=text)


def test_legacy_file_is_not_scanimage_2016():
    path = sample_file("scanimage_legacy/sample_scanimage_version_3_8.tiff")
    with pytest.raises(FormatError, match="scanimage_legacy"):
        ScanImageImagingExtractor(file_path=path)


def test_truncated_file_names_file_and_ifd(tmp_path, planar):
    data = planar.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[:-10])  # inside the last strip
    with pytest.raises(CorruptFileError, match=r"cut\.tif.*IFD 11.*truncated"):
        ScanImageImagingExtractor(file_path=cut, channel_name="Channel 1")
    offsets = _ifd_offsets(planar)
    cut.write_bytes(data[: offsets[4] + 100])  # inside IFD 4
    with pytest.raises(CorruptFileError, match=r"cut\.tif: IFD 4 .*truncated"):
        ScanImageImagingExtractor(file_path=cut, channel_name="Channel 1")
    cut.write_bytes(data[:600])  # inside the ScanImage header text
    with pytest.raises(CorruptFileError, match=r"cut\.tif.*do not fit"):
        ScanImageImagingExtractor(file_path=cut, channel_name="Channel 1")


def _patch_next(path, ifd_offset, value):
    with open(path, "r+b") as fh:
        fh.seek(ifd_offset)
        (count,) = struct.unpack("<Q", fh.read(8))
        fh.seek(ifd_offset + 8 + count * 20)
        fh.write(struct.pack("<Q", value))


def _open_and_read(path):
    # the chain between the first and last IFDs is checked when the file is first read
    extractor = ScanImageImagingExtractor(file_path=path, channel_name="Channel 1")
    extractor.get_series()


def test_looping_and_dangling_ifd_chains(tmp_path, planar):
    offsets = _ifd_offsets(planar)
    looped = shutil.copy(planar, tmp_path / "loop.tif")
    _patch_next(looped, offsets[5], offsets[2])
    with pytest.raises(CorruptFileError, match=r"loop\.tif: the IFD chain loops \(IFD 5"):
        _open_and_read(looped)
    dangling = shutil.copy(planar, tmp_path / "dangling.tif")
    _patch_next(dangling, offsets[3], 10**9)
    with pytest.raises(CorruptFileError, match=r"dangling\.tif: IFD 4 at offset 1000000000 points past the end"):
        _open_and_read(dangling)
    last = shutil.copy(planar, tmp_path / "last.tif")  # the last IFD does not end the chain
    _patch_next(last, offsets[-1], offsets[0])
    with pytest.raises(CorruptFileError, match=r"last\.tif: the IFD chain loops \(IFD 11"):
        _open_and_read(last)
    changed = shutil.copy(planar, tmp_path / "changed.tif")  # a page whose data moved elsewhere
    with open(changed, "r+b") as fh:
        fh.seek(offsets[6] + 8 + 6 * 20 + 12)  # StripOffsets value of IFD 6 (7th tag)
        fh.write(struct.pack("<Q", 64))
    with pytest.raises(CorruptFileError, match=r"changed\.tif: IFD 6 does not follow the constant page layout"):
        _open_and_read(changed)


def test_bad_header_lengths(tmp_path, planar):
    bad = shutil.copy(planar, tmp_path / "header.tif")
    with open(bad, "r+b") as fh:
        fh.seek(24)
        fh.write(struct.pack("<I", 50_000_000))
    with pytest.raises(CorruptFileError, match=r"header\.tif: the ScanImage header claims 50000000 bytes"):
        ScanImageImagingExtractor(file_path=bad, channel_name="Channel 1")
    with open(bad, "r+b") as fh:
        fh.seek(20)
        fh.write(struct.pack("<I", 9))
    with pytest.raises(FormatError, match="format version 9 is not supported"):
        ScanImageImagingExtractor(file_path=bad, channel_name="Channel 1")


# ---------------------------------------------------------------------- selections
def test_selection_errors(tmp_path, planar):
    with pytest.raises(SelectionError, match=r"2 saved channels \['Channel 1', 'Channel 2'\]"):
        ScanImageImagingExtractor(file_path=planar)
    unknown = r"'Channel 3' is not in .*scan_00001.tif; saved channels: \['Channel 1', 'Channel 2'\]"
    with pytest.raises(SelectionError, match=unknown):
        ScanImageImagingExtractor(file_path=planar, channel_name="Channel 3")
    with pytest.raises(SelectionError, match="plane_index=1 is out of range"):
        ScanImageImagingExtractor(file_path=planar, channel_name="Channel 1", plane_index=1)
    with pytest.raises(SelectionError, match="slice_sample=1 is out of range"):
        ScanImageImagingExtractor(file_path=planar, channel_name="Channel 1", slice_sample=1)
    volume = write_scanimage(tmp_path / "vol", num_samples=2, rows=4, columns=4, num_slices=3, frames_per_slice=2)[0]
    with pytest.raises(SelectionError, match="2 frames per slice: pass slice_sample="):
        ScanImageImagingExtractor(file_path=volume)
    with pytest.raises(SelectionError, match=r"slice_sample=2 is out of range.*0 to 1"):
        ScanImageImagingExtractor(file_path=volume, slice_sample=2)
    with pytest.raises(SelectionError, match=r"plane_index=3 is out of range.*3 plane"):
        ScanImageImagingExtractor(file_path=volume, slice_sample=0, plane_index=3)
    with pytest.raises(SelectionError, match="roi_index=1 is out of range"):
        ScanImageImagingExtractor(file_path=volume, slice_sample=0, roi_index=1)
    extractor = ScanImageImagingExtractor(file_path=volume, slice_sample=0)
    with pytest.raises(SelectionError):
        extractor.get_original_frame_indices(plane_index=3)


# ---------------------------------------------------------------------- series discovery
def test_gap_excluded_and_missing_files(tmp_path):
    paths = write_scanimage(tmp_path, "gap", num_samples=10, rows=4, columns=4, frames_per_file=2)
    (tmp_path / "gap_00001_00002_backup.tif").write_bytes(paths[1].read_bytes())
    with pytest.warns(UserWarning, match=r"gap_00001_00002_backup\.tif"):
        extractor = ScanImageImagingExtractor(file_path=paths[0])
    assert extractor.get_num_samples() == 10
    (tmp_path / "gap_00001_00002_backup.tif").unlink()
    paths[2].unlink()
    with pytest.warns(UserWarning, match=r"gap_00001_00003\.tif is missing \(4 of 5 files found\)"):
        extractor = ScanImageImagingExtractor(file_path=paths[0])
    assert extractor.get_num_samples() == 8
    np.testing.assert_array_equal(extractor.get_series()[:, 0, 0], page_pixels([0, 1, 2, 3, 6, 7, 8, 9], 1, 1)[:, 0, 0])
    with pytest.raises(FileSetError, match=r"gap_00001_00003\.tif is missing"):
        ScanImageImagingExtractor(file_path=paths[0], on_missing_files="raise")
    with pytest.raises(FileSetError, match=r"1 of the 3 files of the series do not exist: .*gap_00001_00003\.tif"):
        ScanImageImagingExtractor(file_paths=paths[:3])
    with pytest.raises(FileSetError, match="does not exist"):
        ScanImageImagingExtractor(file_path=tmp_path / "nothing.tif")
    # an explicit list overrides discovery and order
    extractor = ScanImageImagingExtractor(file_paths=[paths[4], paths[0]])
    np.testing.assert_array_equal(extractor.get_series()[:, 0, 0], page_pixels([8, 9, 0, 1], 1, 1)[:, 0, 0])


def test_mismatched_file_in_series(tmp_path):
    paths = write_scanimage(tmp_path / "a", "x", num_samples=4, rows=4, columns=4, frames_per_file=2)
    other = write_scanimage(tmp_path / "b", "x", num_samples=4, rows=5, columns=4, frames_per_file=2)
    with pytest.raises(FormatError, match=r"x_00001_00002\.tif: its pages are \(5, 4\)"):
        ScanImageImagingExtractor(file_paths=[paths[0], other[1]])
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.zeros((2, 4, 4), np.int16), bigtiff=True, photometric="minisblack")
    with pytest.raises(FormatError, match=r"plain\.tif is not a ScanImage"):
        ScanImageImagingExtractor(file_paths=[paths[0], plain])


def test_five_hundred_files_under_ulimit_64(tmp_path):
    paths = write_scanimage(tmp_path, "many", num_samples=500, rows=4, columns=3, frames_per_file=1)
    assert len(paths) == 500
    script = textwrap.dedent(f"""
        import resource, numpy as np
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        from ophysio.extractors import ScanImageImagingExtractor
        from ophysio._synth.scanimage import page_pixels
        e = ScanImageImagingExtractor(file_path={str(paths[0])!r})
        assert e.get_num_samples() == 500, e.get_num_samples()
        np.testing.assert_array_equal(e.get_series(), page_pixels(np.arange(500), 4, 3))
        np.testing.assert_allclose(e.get_timestamps(), np.arange(500) / 30.0, atol=1e-9)
        np.testing.assert_array_equal(e.get_samples([499, 0, 250]), page_pixels([499, 0, 250], 4, 3))
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_more_than_65535_ifds_in_one_file(tmp_path):
    n = 70_000
    path = write_scanimage(tmp_path, "big", num_samples=n, rows=4, columns=4, description_bytes=400)[0]
    with ScanImageImagingExtractor(file_path=path) as extractor:
        assert extractor.get_num_samples() == n
        picks = [0, 65_534, 65_535, 65_536, 65_537, 69_999]
        np.testing.assert_array_equal(extractor.get_samples(picks), page_pixels(picks, 4, 4))
        expected = page_pixels(np.arange(65_530, 65_540), 4, 4)
        np.testing.assert_array_equal(extractor.get_series(65_530, 65_540), expected)
        times = extractor.get_timestamps()
        np.testing.assert_allclose(times, np.arange(n) / 30.0, atol=1e-9)
        np.testing.assert_array_equal(extractor.get_original_frame_indices()[picks], picks)
    with tifffile.TiffFile(path) as tif:  # independent check of one page beyond 65,535
        page = tif.pages[65_537]
        np.testing.assert_array_equal(page.asarray(), page_pixels([65_537], 4, 4)[0])


# ---------------------------------------------------------------------- header values
@pytest.mark.parametrize(
    "text, value",
    [
        ("1", 1), ("2.5", 2.5), ("Inf", float("inf")), ("true", True), ("'a ''b'''", "a 'b'"),
        ("[1 2 3]", [1, 2, 3]), ("[1;2;3]", [1, 2, 3]), ("[4]", 4), ("[]", []), ("[1 2;3 4]", [[1, 2], [3, 4]]),
        ("{'Channel 1' 'Channel 2'}", ["Channel 1", "Channel 2"]), ("{[-1 1] [0 2]}", [[-1, 1], [0, 2]]),
        ("zeros(0,2)", []), ("<nonscalar struct/object>", "<nonscalar struct/object>"),
        ("[scanimage.types.A scanimage.types.B]", ["scanimage.types.A", "scanimage.types.B"]),
    ],
)
def test_parse_matlab_value(text, value):
    assert parse_matlab_value(text) == value


def test_nan_value():
    assert np.isnan(parse_matlab_value("NaN"))


def test_header_without_stack_enable_as_before_2020(tmp_path):
    # ScanImage before 2020 has no hStackManager.enable / numFramesPerVolume(WithFlyback): several slices
    # mean a stack, and fast-Z flyback frames come from hFastZ.numDiscardFlybackFrames
    omit = ("SI.hStackManager.enable", "SI.hStackManager.numFramesPerVolume",
            "SI.hStackManager.numFramesPerVolumeWithFlyback")
    path = write_scanimage(tmp_path, num_samples=3, rows=4, columns=4, num_slices=3, num_flyback=2, version=3,
                           omit_keys=omit)[0]
    with ScanImageImagingExtractor(file_path=path) as extractor:
        assert extractor.get_num_planes() == 3 and extractor.num_flyback_frames_per_channel == 2
        pages = page_pixels(np.arange(15), 4, 4).reshape(3, 5, 4, 4)[:, :3].transpose(0, 2, 3, 1)
        np.testing.assert_array_equal(extractor.get_series(), pages)


def test_other_acquisitions_beside_are_not_mixed_in(tmp_path):
    first = write_scanimage(tmp_path, "s", num_samples=4, rows=4, columns=4, frames_per_file=2, acquisition=1)
    write_scanimage(tmp_path, "s", num_samples=6, rows=4, columns=4, frames_per_file=2, acquisition=2)
    with ScanImageImagingExtractor(file_path=first[0]) as extractor:
        assert [Path(p).name for p in extractor.get_file_paths()] == ["s_00001_00001.tif", "s_00001_00002.tif"]
        assert extractor.get_num_samples() == 4
