"""Damaged and incomplete ThorImageLS folders: clear ophysio errors that name the file, never wrong pixels."""

import os
import shutil
import struct

import numpy as np
import pytest
import tifffile

from ophysio import open_imaging
from ophysio._synth.thor import thor_expected, write_thor
from ophysio.errors import (
    ContainmentError,
    CorruptFileError,
    FileSetError,
    FormatError,
    MetadataError,
    SelectionError,
)
from ophysio.extractors import ThorTiffImagingExtractor
from ophysio.testing.data import sample_file


def edit_xml(folder, old, new):
    path = folder / "Experiment.xml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_missing_tiff_in_the_series_is_named(tmp_path):
    folder = write_thor(tmp_path / "a", num_samples=6)
    (folder / "ChanA_001_001_001_004.tif").unlink()
    with pytest.raises(FileSetError, match="ChanA_001_001_001_004.tif is missing") as info:
        ThorTiffImagingExtractor(folder)
    assert "6 samples" in str(info.value) and "5 of them are there" in str(info.value)


def test_missing_plane_of_a_volume_is_named(tmp_path):
    folder = write_thor(tmp_path / "a", num_samples=3, planes=2, flyback=1)
    (folder / "ChanA_001_001_002_003.tif").unlink()
    with pytest.raises(FileSetError, match="ChanA_001_001_002_003.tif is missing"):
        open_imaging(folder)


def test_real_sample_without_its_last_file(tmp_path):
    copy = shutil.copytree(sample_file("thor/20231018-002"), tmp_path / "real")
    os.chmod(copy, 0o755)
    for path in copy.iterdir():
        os.chmod(path, 0o644)
    (copy / "ChanA_001_001_001_003.tif").unlink()
    with pytest.raises(FileSetError, match="ChanA_001_001_001_003.tif is missing"):
        open_imaging(copy / "ChanA_001_001_001_001.tif")


def test_truncated_raw_is_a_corrupt_file(tmp_path):
    folder = write_thor(tmp_path / "r", num_samples=5, storage="raw", planes=2, flyback=1)
    raw = folder / "Image_0001_0001.raw"
    with open(raw, "r+b") as fh:
        fh.truncate(raw.stat().st_size - 100)
    with pytest.raises(CorruptFileError, match="Image_0001_0001.raw is .* bytes.*truncated .*holds 4 whole samples"):
        ThorTiffImagingExtractor(folder)


def test_raw_cut_after_opening_is_a_corrupt_file(tmp_path):
    folder = write_thor(tmp_path / "r", num_samples=5, storage="raw")
    ex = ThorTiffImagingExtractor(folder)
    np.testing.assert_array_equal(ex.get_series(0, 1), thor_expected(5, 24, 20)[:1])
    raw = folder / "Image_0001_0001.raw"
    with open(raw, "r+b") as fh:
        fh.truncate(3 * 24 * 20 * 2 + 10)
    with pytest.raises(CorruptFileError, match="Image_0001_0001.raw ends at byte .* inside frame 3"):
        ex.get_series()
    ex.close()


def test_missing_experiment_xml(tmp_path):
    folder = write_thor(tmp_path / "m", num_samples=2)
    (folder / "Experiment.xml").unlink()
    for path in (folder, folder / "ChanA_001_001_001_001.tif"):
        with pytest.raises(FileSetError, match="Experiment.xml is missing from"):
            ThorTiffImagingExtractor(path)


@pytest.mark.parametrize("damage, error, message", [
    (lambda t: t[: len(t) // 2], MetadataError, "Experiment.xml is not well-formed XML"),
    (lambda t: t.replace("ThorImageExperiment", "SomethingElse"), FormatError, "not a ThorImageLS experiment"),
    (lambda t: t.replace('pixelX="20"', ""), MetadataError, "<LSM> has no pixelX attribute"),
    (lambda t: t.replace('frameRate="30.0"', 'frameRate="fast"'), MetadataError, "frameRate='fast'> is not a number"),
    (lambda t: t.replace('frameRate="30.0"', 'frameRate="0"'), MetadataError, "frameRate is 0"),
    (lambda t: t.replace('pixelY="24"', 'pixelY="99999999"'), MetadataError, "LSM pixelY is 99999999"),
    (lambda t: t.replace('<Wavelength name="ChanA" exposureTimeMS="0" />', ""), MetadataError, "names no channel"),
    (lambda t: t.replace('<?xml version="1.0"?>', '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>'),
     MetadataError, "document type"),
    (lambda t: t.replace('<CaptureMode mode="1" />', '<CaptureMode mode="4" />'), FormatError, "hyperspectral"),
    (lambda t: t.replace('NumberOfPlanes="1"', 'NumberOfPlanes="3"'), FormatError, "NumberOfPlanes is 3"),
])
def test_damaged_experiment_xml(tmp_path, damage, error, message):
    folder = write_thor(tmp_path / "d", num_samples=2)
    path = folder / "Experiment.xml"
    path.write_text(damage(path.read_text()))
    with pytest.raises(error, match=message):
        ThorTiffImagingExtractor(folder / "ChanA_001_001_001_001.tif")


def test_camera_experiment_is_refused_clearly(tmp_path):
    folder = write_thor(tmp_path / "c", num_samples=2)
    text = (folder / "Experiment.xml").read_text()
    start = text.index("  <LSM ")
    (folder / "Experiment.xml").write_text(text[:start] + text[text.index("/>", start) + 3:])
    with pytest.raises(FormatError, match="no <LSM> element .*camera"):
        ThorTiffImagingExtractor(folder)


def test_channels_must_be_chosen_and_exist(tmp_path):
    folder = write_thor(tmp_path / "c", num_samples=2, channels=("ChanA", "ChanB"))
    with pytest.raises(SelectionError, match=r"holds 2 channels \['ChanA', 'ChanB'\]: pass channel_name="):
        ThorTiffImagingExtractor(folder)
    with pytest.raises(SelectionError, match="channel 'ChanC' is not in"):
        ThorTiffImagingExtractor(folder, channel_name="ChanC")
    for name in folder.glob("ChanB_*"):
        name.unlink()
    with pytest.raises(FileSetError, match="no TIFF file of channel ChanB"):
        ThorTiffImagingExtractor(folder, channel_name="ChanB")


def test_tiff_cut_short_is_named_when_read(tmp_path):
    folder = write_thor(tmp_path / "t", num_samples=5)
    ex = ThorTiffImagingExtractor(folder)
    path = folder / "ChanA_001_001_001_003.tif"
    with open(path, "r+b") as fh:
        fh.truncate(200)  # the pixels are cut and the IFD after them is gone
    np.testing.assert_array_equal(ex.get_series(0, 2), thor_expected(5, 24, 20)[:2])
    with pytest.raises(CorruptFileError, match="ChanA_001_001_001_003.tif"):
        ex.get_series(2, 3)
    ex.close()


def test_tiff_of_another_size_in_the_series_is_named(tmp_path):
    folder = write_thor(tmp_path / "t", num_samples=4)
    tifffile.imwrite(folder / "ChanA_001_001_001_002.tif", np.zeros((12, 20), np.uint16))
    ex = ThorTiffImagingExtractor(folder)
    with pytest.raises(FormatError, match="ChanA_001_001_001_002.tif holds 12x20 uint16 images"):
        ex.get_series()


def test_tiff_laid_out_otherwise_is_read_by_the_tiff_engine(tmp_path):
    folder = write_thor(tmp_path / "t", num_samples=4)
    expected = thor_expected(4, 24, 20)
    # a file rewritten by another program: IFD first, compressed, another tag set
    tifffile.imwrite(folder / "ChanA_001_001_001_003.tif", expected[2], compression="zlib")
    with ThorTiffImagingExtractor(folder) as ex:
        np.testing.assert_array_equal(ex.get_series(), expected)


def test_first_file_tags_changed_in_place_are_not_trusted(tmp_path):
    """A later file whose strip offset differs from the first file's is not read at the predicted place."""
    folder = write_thor(tmp_path / "t", num_samples=3)
    expected = thor_expected(3, 24, 20)
    path = folder / "ChanA_001_001_001_002.tif"
    data = bytearray(path.read_bytes())
    (ifd,) = struct.unpack_from("<I", data, 4)
    pixels = bytes(data[8 : 8 + 24 * 20 * 2])
    moved = bytes(data[:8]) + b"\0" * 16 + pixels + bytes(data[8 + len(pixels):])
    moved = bytearray(moved)
    struct.pack_into("<I", moved, 4, ifd + 16)
    (count,) = struct.unpack_from("<H", moved, ifd + 16)
    for j in range(count):
        entry = ifd + 16 + 2 + 12 * j
        tag, kind, n, value = struct.unpack_from("<HHII", moved, entry)
        if kind in (2, 4, 5) and tag != 279:  # offsets: StripOffsets, description, resolutions
            struct.pack_into("<I", moved, entry + 8, value + 16)
    path.write_bytes(bytes(moved))
    with ThorTiffImagingExtractor(folder) as ex:
        np.testing.assert_array_equal(ex.get_series(), expected)


def test_tiff_shape_must_be_the_xml_shape(tmp_path):
    folder = write_thor(tmp_path / "t", num_samples=2)
    edit_xml(folder, 'pixelX="20"', 'pixelX="21"')
    with pytest.raises(MetadataError, match="holds 24x20 images, but .* describes 24x21"):
        ThorTiffImagingExtractor(folder)


def test_multipage_with_another_page_count(tmp_path):
    folder = write_thor(tmp_path / "m", num_samples=6, storage="multipage")
    edit_xml(folder, 'frames="6"', 'frames="7"')
    with pytest.raises(MetadataError, match="holds 6 pages, but .* describes 7 samples"):
        ThorTiffImagingExtractor(folder)


def test_link_out_of_the_folder_is_refused(tmp_path):
    folder = write_thor(tmp_path / "l", num_samples=3)
    outside = tmp_path / "elsewhere.tif"
    shutil.move(folder / "ChanA_001_001_001_002.tif", outside)
    os.symlink(outside, folder / "ChanA_001_001_001_002.tif")
    with pytest.raises(ContainmentError, match="ChanA_001_001_001_002.tif"):
        ThorTiffImagingExtractor(folder)


def test_stopped_experiment_reads_the_files_there_are(tmp_path):
    folder = write_thor(tmp_path / "s", num_samples=5, frames=100, status="Stopped")
    with ThorTiffImagingExtractor(folder) as ex:
        assert ex.get_num_samples() == 5
        np.testing.assert_array_equal(ex.get_series(), thor_expected(5, 24, 20))
    (folder / "ChanA_001_001_001_002.tif").unlink()
    with pytest.raises(FileSetError, match="ChanA_001_001_001_002.tif is missing"):
        ThorTiffImagingExtractor(folder)


def test_stimulus_raw_reads_whole_samples(tmp_path):
    folder = write_thor(tmp_path / "s", num_samples=4, storage="raw", planes=2, stimulus=True, frames=99)
    with open(folder / "Image_0001_0001.raw", "ab") as fh:
        fh.write(b"\0" * 100)  # part of a fifth volume
    with pytest.warns(UserWarning, match="the incomplete sample is not read"):
        ex = ThorTiffImagingExtractor(folder)
    assert ex.get_num_samples() == 4
    np.testing.assert_array_equal(ex.get_series(), thor_expected(4, 24, 20, planes=2))


def test_files_past_the_xml_count_are_left_with_a_warning(tmp_path):
    folder = write_thor(tmp_path / "x", num_samples=5)
    edit_xml(folder, 'frames="5"', 'frames="3"')
    with pytest.warns(UserWarning, match="past the 3 samples"):
        ex = ThorTiffImagingExtractor(folder)
    np.testing.assert_array_equal(ex.get_series(), thor_expected(5, 24, 20)[:3])


def test_folder_without_images_and_several_raw_files(tmp_path):
    folder = write_thor(tmp_path / "r", num_samples=2, storage="raw")
    shutil.copy(folder / "Image_0001_0001.raw", folder / "Image_0002_0001.raw")
    with pytest.raises(SelectionError, match="several raw files"):
        ThorTiffImagingExtractor(folder)
    with ThorTiffImagingExtractor(folder / "Image_0002_0001.raw") as ex:
        assert ex.get_file_paths() == [str(folder / "Image_0002_0001.raw")]
    for raw in folder.glob("*.raw"):
        raw.unlink()
    with pytest.raises(FileSetError, match="holds no image file of the acquisition"):
        ThorTiffImagingExtractor(folder)


def test_a_moved_tiff_is_named_when_read(tmp_path):
    folder = write_thor(tmp_path / "t", num_samples=3)
    ex = ThorTiffImagingExtractor(folder)
    (folder / "ChanA_001_001_001_003.tif").unlink()
    with pytest.raises(FileSetError, match="ChanA_001_001_001_003.tif does not exist"):
        ex.get_series()


@pytest.mark.parametrize("bigtiff, byteorder", [(True, "<"), (False, ">"), (True, ">")])
def test_series_rewritten_as_bigtiff_or_big_endian(tmp_path, bigtiff, byteorder):
    """Every file of the series in another TIFF flavour: the first file's layout is predicted for the rest."""
    folder = write_thor(tmp_path / "t", num_samples=4)
    expected = thor_expected(4, 24, 20)
    for t in range(4):
        tifffile.imwrite(folder / f"ChanA_001_001_001_{t + 1:03d}.tif", expected[t], bigtiff=bigtiff,
                         byteorder=byteorder, description=f"frame {t}", metadata=None)
    with ThorTiffImagingExtractor(folder) as ex:
        assert ex._source._prediction is not None
        np.testing.assert_array_equal(ex.get_series(), expected)


def test_stopped_experiment_multipage_counts_its_pages(tmp_path):
    folder = write_thor(tmp_path / "s", num_samples=6, planes=2, storage="multipage", frames=500, status="Stopped")
    with ThorTiffImagingExtractor(folder) as ex:
        assert ex.storage == "multipage" and ex.get_num_samples() == 6
        np.testing.assert_array_equal(ex.get_series(), thor_expected(6, 24, 20, planes=2))
