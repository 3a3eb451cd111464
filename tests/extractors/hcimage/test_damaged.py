"""Damaged, truncated and foreign .cxd files: an ophysio error naming the file, never wrong pixels."""

import shutil
import struct

import pytest

from ophysio._synth.hcimage import write_compound_document, write_cxd
from ophysio.errors import CorruptFileError, FormatError, MetadataError, OphysioError
from ophysio.extractors import HCImageImagingExtractor
from ophysio.testing.data import sample_file


@pytest.fixture
def real_copy(tmp_path):
    return shutil.copyfile(sample_file("hcimage/Data00676_stubbed.cxd"), tmp_path / "copy.cxd")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.02])
def test_truncated_copy_of_the_real_sample(real_copy, keep):
    size = real_copy.stat().st_size
    with open(real_copy, "r+b") as fh:
        fh.truncate(int(size * keep))
    with pytest.raises(OphysioError, match="copy.cxd") as info:
        HCImageImagingExtractor(real_copy).get_series()
    assert isinstance(info.value, CorruptFileError)


def test_garbage_after_the_magic(tmp_path):
    path = tmp_path / "garbage.cxd"
    path.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(range(256)) * 20)
    with pytest.raises(CorruptFileError, match="garbage.cxd"):
        HCImageImagingExtractor(path)


def test_a_compound_document_without_frames(tmp_path):
    path = write_compound_document(tmp_path / "other.cxd", {"WordDocument": b"x" * 5000, "Notes/Text": b"hello"})
    with pytest.raises(FormatError, match="no HCImage frames"):
        HCImageImagingExtractor(path)


def test_a_frame_missing_from_the_middle(tmp_path):
    path = write_cxd(tmp_path / "gap.cxd", num_frames=4)
    streams = _streams(path)
    del streams["Field Data/Field 3/i_Image1/Bitmap 1"]
    write_compound_document(path, streams)
    with pytest.raises(CorruptFileError, match="Field 3"):
        HCImageImagingExtractor(path)


def test_field_count_larger_than_the_frames(tmp_path):
    path = write_cxd(tmp_path / "count.cxd", num_frames=3, field_count=5)
    with pytest.raises(CorruptFileError, match="Field Count says 5"):
        HCImageImagingExtractor(path)


def test_frame_of_the_wrong_size(tmp_path):
    path = write_cxd(tmp_path / "size.cxd", num_frames=3)
    streams = _streams(path)
    streams["Field Data/Field 2/i_Image1/Bitmap 1"] += b"\0\0"
    write_compound_document(path, streams)
    with pytest.raises(FormatError, match="Field 2.*bytes"):
        HCImageImagingExtractor(path)


@pytest.mark.parametrize("key, value, error, words", [
    ("Image_Depth", 24.0, FormatError, "colour"),
    ("Image_Depth", 40.0, MetadataError, "40 bits"),
    ("Image_Width", 0.0, MetadataError, "frame size"),
    ("Image_Height", 10.5, MetadataError, "frame size"),
])
def test_bad_frame_details(tmp_path, key, value, error, words):
    path = write_cxd(tmp_path / "details.cxd", num_frames=2)
    streams = _streams(path)
    for prefix in ("Field Data/Field 1/i_Image1/Details", "Field Data/Field 1/Details"):
        streams[f"{prefix}/{key}"] = struct.pack("<d", value)
    write_compound_document(path, streams)
    with pytest.raises(error, match=words) as info:
        HCImageImagingExtractor(path)
    assert "details.cxd" in str(info.value)


def test_a_sector_chain_that_loops(tmp_path):
    path = write_cxd(tmp_path / "loop.cxd", num_frames=2, rows=64, columns=64)  # frames in regular sectors
    import olefile

    with olefile.OleFileIO(str(path)) as ole:
        entry = ole.direntries[ole._find("Field Data/Field 1/i_Image1/Bitmap 1")]
        first, sector = entry.isectStart, ole.sectorsize
        fat_sector = struct.unpack_from("<I", open(path, "rb").read(512), 76)[0]
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, (fat_sector + 1) * sector + 4 * first, first)  # first -> first
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="loop.cxd"):
        HCImageImagingExtractor(path).get_series()


def _streams(path):
    import olefile

    with olefile.OleFileIO(str(path)) as ole:
        return {"/".join(p): ole.openstream("/".join(p)).read() for p in ole.listdir(streams=True)}


def test_a_directory_tree_that_points_back(tmp_path):
    path = write_cxd(tmp_path / "tree.cxd", num_frames=2, version=3)
    data = bytearray(path.read_bytes())
    first_dir = struct.unpack_from("<I", data, 48)[0]
    entry = (first_dir + 1) * 512 + 128  # the root's first child...
    struct.pack_into("<I", data, entry + 68, 0)  # ...whose left sibling becomes the root itself
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="tree.cxd.*entry 0"):
        HCImageImagingExtractor(path)


def test_olefile_is_not_needed(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "olefile", None)  # importing it now fails
    ex = HCImageImagingExtractor(sample_file("hcimage/Data00676_stubbed.cxd"))
    assert ex.get_series(0, 2).shape == (2, 350, 350)
