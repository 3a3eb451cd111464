"""Damaged, truncated and foreign .isxd files: an ophysio error naming the file, never wrong pixels."""

import json
import shutil
import struct

import numpy as np
import pytest

from ophysio._synth.inscopix import write_isxd
from ophysio.errors import CorruptFileError, FormatError, MetadataError, OphysioError
from ophysio.extractors import InscopixImagingExtractor
from ophysio.extractors.inscopix import read_isxd_footer
from ophysio.testing.data import sample_file

from . import reference


def _rewrite_footer(path, change):
    """Rewrite the JSON footer of ``path`` after ``change(footer)``, keeping the frames."""
    header, end = reference.footer(path)
    change(header)
    data = path.read_bytes()[:end]
    text = json.dumps(header, indent=4, sort_keys=True).encode()
    path.write_bytes(data + text + b"\0" + struct.pack("<Q", len(text)))


@pytest.fixture
def movie(tmp_path):
    return write_isxd(tmp_path / "movie.isxd", num_times=10, rows=6, columns=5, frame_headers=True)


def test_truncated_file_is_corrupt_and_named(movie):
    size = movie.stat().st_size
    with open(movie, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(CorruptFileError, match="movie.isxd"):
        InscopixImagingExtractor(movie)


def test_empty_and_tiny_files(tmp_path):
    for name, content in (("empty.isxd", b""), ("tiny.isxd", b"{}\0")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(CorruptFileError, match=name):
            InscopixImagingExtractor(path)


def test_length_that_does_not_fit(movie):
    data = bytearray(movie.read_bytes())
    data[-8:] = struct.pack("<Q", len(data) * 2)
    movie.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="does not fit"):
        InscopixImagingExtractor(movie)


def test_missing_nul_and_bad_json(movie):
    data = bytearray(movie.read_bytes())
    data[-9] = ord("x")
    movie.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="NUL"):
        InscopixImagingExtractor(movie)
    data[-9] = 0
    length = struct.unpack("<Q", bytes(data[-8:]))[0]
    start = len(data) - 9 - length
    data[start + length // 2] = ord("}")  # cut the JSON in the middle
    movie.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="movie.isxd.*not valid"):
        InscopixImagingExtractor(movie)


def test_frames_missing_before_the_footer(movie):
    """A footer that describes more frames than the file holds (a frame cut out of the middle)."""
    header, end = reference.footer(movie)
    data = movie.read_bytes()
    stride = (2 * 2560 + 30) * 2
    text = data[end:]
    movie.write_bytes(data[: end - stride] + text)
    with pytest.raises(CorruptFileError, match="holds .* bytes of frames"):
        InscopixImagingExtractor(movie)


@pytest.mark.parametrize("change, error, words", [
    (lambda h: h.update(dataType=7), MetadataError, "dataType 7"),
    (lambda h: h["spacingInfo"]["numPixels"].update(x=0), MetadataError, "numPixels"),
    (lambda h: h["timingInfo"].update(period={"num": 0, "den": 1}), MetadataError, "period"),
    (lambda h: h["timingInfo"].update(period={"num": 1, "den": 0}), MetadataError, "period"),
    (lambda h: h["timingInfo"].update(dropped=[3, 40]), MetadataError, "sample 40"),
    (lambda h: h["timingInfo"].update(cropped=["5 to 7"]), MetadataError, "cropped"),
    (lambda h: h["timingInfo"].update(cropped=["7 - 5"]), MetadataError, "before its start"),
    (lambda h: h.pop("timingInfo"), MetadataError, "timingInfo"),
    (lambda h: h.update(type=5), FormatError, "event set"),
    (lambda h: h.update(type="movie"), FormatError, "unknown type"),
])
def test_bad_footer_values(movie, change, error, words):
    _rewrite_footer(movie, change)
    with pytest.raises(error, match=words) as info:
        InscopixImagingExtractor(movie)
    assert "movie.isxd" in str(info.value)


def test_dropped_frames_counted_twice_are_not_read_as_frames(movie):
    """A footer listing dropped frames that are in fact stored: the sizes disagree, an error."""
    _rewrite_footer(movie, lambda h: h["timingInfo"].update(dropped=[2]))
    with pytest.raises(CorruptFileError, match="9 frames"):
        InscopixImagingExtractor(movie)


def test_damaged_colour_codes(tmp_path):
    path = write_isxd(tmp_path / "dual.isxd", num_times=6, rows=4, columns=3, frame_headers=True, mux_ratio=(1, 1))
    data = bytearray(path.read_bytes())
    stride = (2 * 2560 + 12) * 2
    data[stride + 1256 * 2 : stride + 1256 * 2 + 2] = struct.pack("<H", ord("X") << 4)
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="colour code"):
        InscopixImagingExtractor(path, channel_name="green")


def test_a_cell_set_is_not_opened_as_a_movie():
    path = sample_file("segmentation/inscopix/cellset.isxd")
    with pytest.raises(FormatError, match="cell set") as info:
        InscopixImagingExtractor(path)
    assert "cellset.isxd" in str(info.value)
    assert read_isxd_footer(path)["type"] == 1


def test_shrinking_after_opening_is_an_error_not_zeros(tmp_path):
    path = shutil.copyfile(sample_file("inscopix/movie_longer_than_3_min.isxd"), tmp_path / "m.isxd")
    ex = InscopixImagingExtractor(path)
    first = ex.get_series(0, 5)
    with open(path, "r+b") as fh:
        fh.truncate(1000)
    with pytest.raises(OphysioError, match="m.isxd"):
        ex.get_series(0, 100)
    np.testing.assert_array_equal(first, reference.raw_frames(
        sample_file("inscopix/movie_longer_than_3_min.isxd"))[0][:5])
