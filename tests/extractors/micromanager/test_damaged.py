"""Damaged Micro-Manager datasets: missing files of a series, cut files, garbled JSON, bad index maps.
Each is an ophysio error naming the file (or a warning and a correct read where the format allows one)."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from ophysio._synth.micromanager import mmstack_expected, write_mmstack
from ophysio.errors import ContainmentError, CorruptFileError, FileSetError, FormatError, MetadataError
from ophysio.extractors.micromanager import MicroManagerTiffImagingExtractor as MM
from ophysio.extractors.micromanager.header import is_mmstack_head


def _series(tmp_path, **keywords):
    options = dict(frames=9, images_per_file=3, prefix="run")
    options.update(keywords)
    data = write_mmstack(tmp_path / "d", **options)
    assert [p.name for p in data.files[0]] == ["run_MMStack_Pos0.ome.tif", "run_MMStack_Pos0_1.ome.tif",
                                               "run_MMStack_Pos0_2.ome.tif"]
    return data


def test_a_missing_middle_file_of_a_series(tmp_path):
    data = _series(tmp_path)
    data.files[0][1].unlink()
    with pytest.raises(FileSetError, match=r"run_MMStack_Pos0_1\.ome\.tif is missing from .*numbers its files"):
        MM(data.folder)


def test_a_missing_last_file_named_by_the_ome_xml(tmp_path):
    data = _series(tmp_path)
    data.files[0][2].unlink()
    with pytest.raises(FileSetError, match=r"run_MMStack_Pos0_2\.ome\.tif is missing .*the OME-XML of "
                                           r"run_MMStack_Pos0\.ome\.tif stores images"):
        MM(data.folder)
    with pytest.raises(FileNotFoundError):  # ophysio's FileSetError is also the built-in
        MM(data.files[0][0])


def test_a_missing_last_file_without_ome_xml(tmp_path):
    data = _series(tmp_path, ome_xml=False)
    data.files[0][2].unlink()
    with pytest.raises(FileSetError, match=r"run_MMStack_Pos0_2\.ome\.tif is missing .*frames 0\.\.5 of the 9 "
                                           r"frames.*stopped early"):
        MM(data.folder)


def test_a_missing_first_file(tmp_path):
    data = _series(tmp_path)
    data.files[0][0].unlink()
    with pytest.raises(FileSetError, match=r"run_MMStack_Pos0\.ome\.tif is missing"):
        MM(data.folder)


def test_a_file_cut_short(tmp_path):
    data = _series(tmp_path)
    path = data.files[0][1]
    path.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])
    with pytest.raises(CorruptFileError, match=r"run_MMStack_Pos0_1\.ome\.tif.*truncated"):
        MM(data.folder)
    path.write_bytes(path.read_bytes()[:30])  # inside the stack header
    with pytest.raises(CorruptFileError, match=r"run_MMStack_Pos0_1\.ome\.tif: the file ends after 30 bytes"):
        MM(data.folder)


def test_a_summary_cut_by_the_end_of_the_file(tmp_path):
    data = _series(tmp_path)
    path = data.files[0][2]
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CorruptFileError, match=r"run_MMStack_Pos0_2\.ome\.tif: the summary metadata .* runs past"):
        MM(data.folder)


def test_garbled_summary_json(tmp_path):
    data = _series(tmp_path)
    path = data.files[0][1]
    raw = bytearray(path.read_bytes())
    raw[40:42] = b"[{"
    path.write_bytes(bytes(raw))
    with pytest.raises(MetadataError, match=r"run_MMStack_Pos0_1\.ome\.tif: the Micro-Manager summary metadata at "
                                            r"offset 40 is not valid UTF-8 JSON"):
        MM(data.folder)


def _garble(path, old: bytes, new: bytes) -> None:
    """Replace the first ``old`` (the first image's, for text every image has) by ``new`` of the same length."""
    raw = path.read_bytes()
    assert len(old) == len(new) and old in raw
    path.write_bytes(raw.replace(old, new, 1))


def test_garbled_per_image_json_is_reported_when_read(tmp_path):
    data = write_mmstack(tmp_path / "d", frames=4, elapsed_ms=lambda t, c, z, p: 10.0 + 100.0 * t)
    # the time of frame 2 (IFD 2): the number is broken, so the whole JSON is parsed and found damaged
    _garble(data.first_file, b'"ElapsedTime-ms":210.0,', b'"ElapsedTime-ms":2{0.0,')
    ex = MM(data.folder)  # nothing read yet
    np.testing.assert_array_equal(ex[:], mmstack_expected(4, 12, 10))
    with pytest.raises(MetadataError, match=r"mm_MMStack_Pos0\.ome\.tif, IFD 2: the Micro-Manager metadata \(tag "
                                            r"51123\) is not valid UTF-8 JSON"):
        ex.get_timestamps()
    data = write_mmstack(tmp_path / "e", frames=4, elapsed_ms=lambda t, c, z, p: 10.0 + 100.0 * t)
    _garble(data.first_file, b'"ElapsedTime-ms":210.0,"', b'"ElapsedTime-ms":210.0}"')  # a number, then damage
    with pytest.raises(MetadataError, match=r"IFD 2: the Micro-Manager metadata \(tag 51123\) is not valid"):
        MM(data.folder).get_timestamps()


def test_garbled_first_image_json_is_reported_by_the_facts(tmp_path):
    data = write_mmstack(tmp_path / "d", frames=4)
    _garble(data.first_file, b'"Binning":1,"ROI"', b'"Binning":1,"ROI}')
    ex = MM(data.folder)
    with pytest.raises(MetadataError, match=r"mm_MMStack_Pos0\.ome\.tif, IFD 0: the Micro-Manager metadata"):
        ex.get_acquisition_facts()


def test_an_image_without_elapsed_time_means_no_recorded_times(tmp_path):
    data = write_mmstack(tmp_path / "d", frames=4, elapsed_ms=lambda t, c, z, p: 10.0 + 100.0 * t)
    _garble(data.first_file, b'"ElapsedTime-ms":110.0,', b'"ElapsedTimeXms":110.0,')
    ex = MM(data.folder)
    assert ex.get_native_timestamps() is None and ex.get_sampling_frequency() == 20.0  # Interval_ms 50


def test_an_unfinished_file_is_a_clear_error(tmp_path):
    """A crashed acquisition leaves the last IFD pointing into the zeros Micro-Manager pre-allocated."""
    data = write_mmstack(tmp_path / "d", frames=4, finished=False)
    with pytest.raises(CorruptFileError, match=r"mm_MMStack_Pos0\.ome\.tif: IFD 4 .* claims 0 tags"):
        MM(data.folder)


def test_an_index_map_entry_pointing_nowhere(tmp_path):
    data = write_mmstack(tmp_path / "d", frames=4)
    raw = bytearray(data.first_file.read_bytes())
    offset = struct.unpack_from("<I", raw, 12)[0]
    struct.pack_into("<I", raw, offset + 8 + 20 * 2 + 16, 12345)  # entry 2's IFD offset
    data.first_file.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="index map entry 2 .* points at offset 12345, where the file has no image"):
        ex = MM(data.folder)
    np.testing.assert_array_equal(ex[:], mmstack_expected(4, 12, 10))


def test_an_index_map_count_is_read_no_further_than_its_reserved_space(tmp_path):
    """An unfinished file keeps the reserved capacity as its count (zeros follow its entries); a damaged count
    (2**32 - 1) reads no further than the space before the first IFD."""
    import warnings

    data = write_mmstack(tmp_path / "d", frames=5, index_slack=3)
    raw = bytearray(data.first_file.read_bytes())
    offset = struct.unpack_from("<I", raw, 12)[0]
    struct.pack_into("<I", raw, offset + 4, 2**32 - 1)
    data.first_file.write_bytes(bytes(raw))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex = MM(data.folder)
    assert ex.index_source == "index map"
    np.testing.assert_array_equal(ex[:], mmstack_expected(5, 12, 10))


def test_an_index_map_beyond_the_summary(tmp_path):
    data = write_mmstack(tmp_path / "d", frames=3)
    raw = bytearray(data.first_file.read_bytes())
    offset = struct.unpack_from("<I", raw, 12)[0]
    struct.pack_into("<I", raw, offset + 8 + 20 * 1 + 4, 4)  # entry 1's slice
    data.first_file.write_bytes(bytes(raw))
    with pytest.raises(MetadataError, match=r"mm_MMStack_Pos0\.ome\.tif: the index map places an image at slice 4, "
                                            r"but the summary declares 1 slices"):
        MM(data.folder)


def test_absurd_sizes_are_refused_before_any_table_is_made(tmp_path):
    """A damaged frame index (2**32 - 1) or slice count must not allocate a table of that size."""
    data = write_mmstack(tmp_path / "d", frames=3)
    raw = bytearray(data.first_file.read_bytes())
    offset = struct.unpack_from("<I", raw, 12)[0]
    struct.pack_into("<I", raw, offset + 8 + 20 * 2 + 8, 2**32 - 1)  # entry 2's frame
    data.first_file.write_bytes(bytes(raw))
    with pytest.raises(MetadataError, match=r"places an image at frame 4294967295, but the summary declares 3 frames"):
        MM(data.folder)
    data = write_mmstack(tmp_path / "e", frames=3)
    raw = data.first_file.read_bytes()
    assert raw.count(b'"z": 1,') == 1
    raw = raw.replace(b'"z": 1,', b'"z": 9,')  # same length: IntendedDimensions now declares 9 slices
    data.first_file.write_bytes(raw)
    with pytest.raises(CorruptFileError, match=r"hold 3 images of channel 'GCaMP', too few for the 9 slices"):
        MM(data.folder)


def test_not_a_stack_file(tmp_path, shared_data):
    with pytest.raises(FormatError, match="not a Micro-Manager stack file: a TIFF without Micro-Manager's stack"):
        MM(shared_data / "ome_tiff" / "pmmp_demo_t.ome.tiff")
    with pytest.raises(FileSetError, match="holds no Micro-Manager stack file"):
        MM(tmp_path)
    with pytest.raises(FileSetError, match="does not exist"):
        MM(tmp_path / "nope")
    ndtiff = b"II*\x00" + struct.pack("<I", 400) + struct.pack("<8I", 483729, 3, 2355492, 10, 0, 0, 0, 0)
    assert "NDTiff" in is_mmstack_head(ndtiff)


def test_a_series_file_that_leads_outside_the_folder(tmp_path):
    data = _series(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    moved = outside / data.files[0][1].name
    data.files[0][1].rename(moved)
    data.files[0][1].symlink_to(moved)
    with pytest.raises(ContainmentError, match=r"run_MMStack_Pos0_1\.ome\.tif"):
        MM(data.folder)
    assert MM(data.folder, allow_outside=True).get_num_samples() == 9
