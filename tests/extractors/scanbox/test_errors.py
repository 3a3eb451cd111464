"""Damaged and incomplete Scanbox recordings give clear ophysio errors naming the file; detection routes the
``.sbx`` and its ``.mat`` to Scanbox (and a ``.mat`` alone to the generic MATLAB format)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import ophysio
from ophysio.errors import (
    CorruptFileError,
    FileSetError,
    FormatError,
    MetadataError,
    RateUnknownError,
    SelectionError,
)
from ophysio.extractors import SbxImagingExtractor, detect_format
from ophysio.extractors.registry import get_format, read_head
from ophysio.testing.data import sample_file
from ophysio.testing.synthetic import write_mat_v5, write_scanbox


def recording(tmp_path, **options):
    return write_scanbox(tmp_path, "rec_000_001", **{"num_frames": 4, "channels": 2, **options})


# ---------------------------------------------------------------------- missing files
def test_a_sbx_without_its_mat_names_the_mat(tmp_path):
    sbx, mat = recording(tmp_path)
    mat.unlink()
    with pytest.raises(FileSetError, match=r"rec_000_001\.mat \(the Scanbox info file\) is missing"):
        SbxImagingExtractor(sbx)
    assert "without its Scanbox .mat" in get_format("scanbox").check(sbx, read_head(sbx))


def test_a_mat_without_its_sbx_names_the_sbx(tmp_path):
    sbx, mat = recording(tmp_path)
    sbx.unlink()
    with pytest.raises(FileSetError, match=r"rec_000_001\.sbx \(the Scanbox movie\) is missing"):
        SbxImagingExtractor(mat)
    assert get_format("scanbox").check(mat, read_head(mat)) == "no .sbx movie beside it"


def test_neither_file(tmp_path):
    with pytest.raises(FileSetError, match="neither x.sbx"):
        SbxImagingExtractor(tmp_path / "x")


# ---------------------------------------------------------------------- the movie
@pytest.mark.parametrize("cut", [1, 2 * 16 * 20 - 2])
def test_a_sbx_that_is_not_whole_frames_is_corrupt(tmp_path, cut):
    sbx, _ = recording(tmp_path, rows=16, columns=20)
    size = sbx.stat().st_size
    with open(sbx, "r+b") as fh:
        fh.truncate(size - cut)
    with pytest.raises(CorruptFileError, match=r"rec_000_001\.sbx: .* bytes are not a whole number of frames of "
                                               r"16 lines x 20 pixels x 1 channel\(s\)") as error:
        SbxImagingExtractor(sbx)
    assert "3 frames and" in str(error.value) and "truncated" in str(error.value)


def test_an_empty_sbx_is_corrupt(tmp_path):
    sbx, _ = recording(tmp_path)
    sbx.write_bytes(b"")
    with pytest.raises(CorruptFileError, match="the file is empty"):
        SbxImagingExtractor(sbx)


def test_the_info_of_another_recording_does_not_give_wrong_pixels(tmp_path):
    """A two-channel info beside a one-channel movie of an odd number of frames: the sizes disagree."""
    sbx, _ = recording(tmp_path / "a", num_frames=3, channels=2)
    _, other = recording(tmp_path / "b", channels=1)
    shutil.copyfile(other, sbx.with_suffix(".mat"))
    with pytest.raises(CorruptFileError, match="or the info file belongs to another recording"):
        SbxImagingExtractor(sbx, channel_name="PMT0")


def test_fewer_frames_than_one_volume(tmp_path):
    sbx, _ = recording(tmp_path, num_frames=2, planes=3)
    with pytest.warns(UserWarning), pytest.raises(CorruptFileError, match="hold no complete volume of 3 planes"):
        SbxImagingExtractor(sbx)


# ---------------------------------------------------------------------- the info struct
def test_info_without_sz(tmp_path):
    sbx, _ = recording(tmp_path, sz=None)
    with pytest.raises(MetadataError, match=r"rec_000_001\.mat: the info struct has no 'sz'"):
        SbxImagingExtractor(sbx)


@pytest.mark.parametrize("sz", [np.array([[16, 20, 3]], dtype=np.uint16), np.array([[0, 20]], dtype=np.uint16),
                                np.array([[16.5, 20]]), "16x20"])
def test_info_with_a_malformed_sz(tmp_path, sz):
    sbx, _ = recording(tmp_path, sz=sz)
    with pytest.raises(MetadataError, match=r"info\.sz = .* is not \[lines, pixels\]"):
        SbxImagingExtractor(sbx)


def test_records_per_buffer_contradicting_sz(tmp_path):
    sbx, _ = recording(tmp_path, rows=16, recordsPerBuffer=np.array([[12]], dtype=np.uint16))
    with pytest.raises(MetadataError, match=r"recordsPerBuffer = 12 .* disagrees with info\.sz = \[16, 20\]"):
        SbxImagingExtractor(sbx)


@pytest.mark.parametrize("field, value, message", [
    ("channels", np.array([[4]], dtype=np.uint8), r"info\.channels = 4"),
    ("channels", None, r"info\.channels = None"),
    ("scanmode", np.array([[2]], dtype=np.uint8), r"info\.scanmode = 2"),
    ("scanmode", np.array([[0.5]]), r"info\.scanmode = 0\.5 is not a whole number"),
    ("chan", {"nchan": np.array([[3]], dtype=np.uint8)}, r"info\.chan\.nchan = 3"),
    ("fold_lines", np.array([[5]], dtype=np.uint16), r"fold_lines = 5 does not divide the 16 lines"),
])
def test_malformed_fields(tmp_path, field, value, message):
    sbx, _ = recording(tmp_path, rows=16, **{field: value})
    with pytest.raises(MetadataError, match=message):
        SbxImagingExtractor(sbx)


def test_optotune_fields_that_contradict_each_other(tmp_path):
    sbx, _ = recording(tmp_path, num_frames=6, planes=3, otparam=np.array([[0, 100, 4]], dtype=np.float64))
    with pytest.raises(MetadataError, match=r"otwave has 3 values .* info\.otparam\(3\), the optotune period, is 4:"):
        SbxImagingExtractor(sbx)


def test_folded_lines_in_a_volume_are_refused(tmp_path):
    sbx, _ = recording(tmp_path, num_frames=6, rows=16, planes=3, fold_lines=8)
    with pytest.raises(FormatError, match="folded lines .* in an optotune volume"):
        SbxImagingExtractor(sbx)


def test_no_resfreq_opens_without_a_rate_and_times_ask_for_one(tmp_path):
    sbx, mat = recording(tmp_path, resfreq=None)
    with SbxImagingExtractor(sbx) as ex:
        assert ex.get_sampling_frequency() is None
        np.testing.assert_array_equal(ex.get_series(), 65535 - np.fromfile(sbx, "<u2").reshape(4, 16, 20))
        facts = ex.get_acquisition_facts()
        assert facts.frame_rate_hz is None and facts.line_rate_hz is None
        with pytest.raises(RateUnknownError, match=r"rec_000_001\.mat: the info struct has no resonant frequency "
                                                   r"\(resfreq\).*pass sampling_frequency="):
            ex.get_timestamps()
    with SbxImagingExtractor(sbx, sampling_frequency=30.0) as ex:
        assert ex.get_sampling_frequency() == 30.0
        assert ex.get_acquisition_facts().line_rate_hz is None
    with pytest.raises(MetadataError, match="positive finite number"):
        SbxImagingExtractor(sbx, sampling_frequency=0)


# ---------------------------------------------------------------------- the info file
def test_a_mat_that_is_not_a_mat_file(tmp_path):
    sbx, mat = recording(tmp_path)
    mat.write_bytes(b"not a MAT-file at all" * 10)
    with pytest.raises(FormatError, match=r"rec_000_001\.mat is not a MATLAB MAT-file"):
        SbxImagingExtractor(sbx)
    assert "is not a MATLAB v5/v7 MAT-file" in get_format("scanbox").check(sbx, read_head(sbx))


def test_a_mat_without_an_info_struct(tmp_path):
    sbx, mat = recording(tmp_path)
    write_mat_v5(mat, {"movie": np.zeros((4, 4, 2), dtype=np.uint16)})
    with pytest.raises(FormatError, match="holds no 1x1 struct named 'info'"):
        SbxImagingExtractor(sbx)
    assert "holds no struct named 'info'" in get_format("scanbox").check(mat, read_head(mat))
    assert detect_format(mat).id == "mat"  # a MATLAB movie that happens to sit beside a .sbx


def test_a_v73_mat_is_refused_with_what_to_do(tmp_path):
    sbx, mat = recording(tmp_path)
    mat.write_bytes(b"MATLAB 7.3 MAT-file" + bytes(200))
    with pytest.raises(FormatError, match=r"v7\.3 \(HDF5\).*'-v7'"):
        SbxImagingExtractor(sbx)


@pytest.mark.parametrize("compressed", [True, False])
def test_a_truncated_mat_is_corrupt_and_names_it(tmp_path, compressed):
    sbx, mat = recording(tmp_path, compressed=compressed)
    data = mat.read_bytes()
    mat.write_bytes(data[: len(data) // 2])
    with pytest.raises((CorruptFileError, FormatError), match=r"rec_000_001\.mat"):
        SbxImagingExtractor(sbx)


# ---------------------------------------------------------------------- selections
def test_two_channels_need_a_channel_name(tmp_path):
    sbx, _ = recording(tmp_path, channels=1)
    with pytest.raises(SelectionError, match=r"holds 2 channels \['PMT0', 'PMT1'\]: pass channel_name="):
        SbxImagingExtractor(sbx)
    with pytest.raises(SelectionError, match="channel 'PMT2' is not in"):
        SbxImagingExtractor(sbx, channel_name="PMT2")
    assert SbxImagingExtractor.get_available_channel_names(sbx) == ["PMT0", "PMT1"]


@pytest.mark.parametrize("plane_index", [3, -1, 1.0, True])
def test_a_plane_that_is_not_there(tmp_path, plane_index):
    sbx, _ = recording(tmp_path, num_frames=6, planes=3)
    with pytest.raises(SelectionError, match="plane_index=.* is out of range: rec_000_001.sbx has 3 plane"):
        SbxImagingExtractor(sbx, plane_index=plane_index)


# ---------------------------------------------------------------------- detection
def test_detection_of_the_movie_its_info_and_their_folder(tmp_path):
    sbx, mat = recording(tmp_path)
    assert detect_format(sbx).id == "scanbox" and detect_format(mat).id == "scanbox"
    for source in (sbx, mat, tmp_path):
        with ophysio.open_imaging(source) as ex:
            assert type(ex) is SbxImagingExtractor and ex.sbx_file_path == sbx


def test_the_real_info_file_alone_is_not_a_recording(shared_data):
    path = sample_file("scanbox/sample.mat")
    assert get_format("scanbox").check(path, read_head(path)) == "no .sbx movie beside it"


def test_the_real_info_file_beside_a_movie_is_scanbox_content_first(tmp_path):
    mat = tmp_path / "sample.mat"
    shutil.copyfile(sample_file("scanbox/sample.mat"), mat)
    (tmp_path / "sample.sbx").write_bytes(bytes(512 * 796 * 2))
    assert get_format("scanbox").check(mat, read_head(mat)) is True
    assert get_format("mat").check(mat, read_head(mat)) is True  # the generic format accepts it too ...
    assert detect_format(mat).id == "scanbox"  # ... but Scanbox comes first


def test_a_file_of_another_name_is_not_scanbox(tmp_path):
    sbx, _ = recording(tmp_path)
    other = tmp_path / "rec_000_001.bin"
    shutil.copyfile(sbx, other)
    assert "neither a Scanbox .sbx movie" in get_format("scanbox").check(other, read_head(other))


@pytest.mark.parametrize("compressed", [True, False])
def test_struct_field_names_are_read_from_the_header_only(tmp_path, compressed):
    from ophysio._synth.scanbox import scanbox_info, write_scanbox_info
    from ophysio.extractors._matlab.v5 import read_v5_struct_fields

    info = scanbox_info()
    mat = write_scanbox_info(tmp_path / "i.mat", info, compressed)
    assert read_v5_struct_fields(str(mat), "info") == tuple(info)  # every field, in the order written
    assert read_v5_struct_fields(str(mat), "other") is None
    plain = write_mat_v5(tmp_path / "m.mat", {"info": np.zeros((2, 2))}, compressed=compressed)
    assert read_v5_struct_fields(str(plain), "info") is None  # an array, not a struct


def test_a_movie_cut_between_two_mapped_blocks_is_corrupt(tmp_path):
    """The map is checked before each block: a cut after the first block is an error, not a SIGBUS."""
    from ophysio.extractors._filearray import FileArray
    from ophysio.extractors._handles import CachedFile

    sbx, _ = recording(tmp_path, num_frames=6, rows=16, columns=20)
    frames = FileArray(CachedFile(sbx), 0, "<u2", (6, 16, 20, 1), "the frame data of rec_000_001.sbx")
    blocks = frames.iter_mapped(0, 6, 2)
    a, b, first = next(blocks)
    assert (a, b) == (0, 2)
    np.testing.assert_array_equal(first, np.fromfile(sbx, "<u2", count=2 * 320).reshape(2, 16, 20, 1))
    del first
    with open(sbx, "r+b") as fh:
        fh.truncate(3 * 640)
    with pytest.raises(CorruptFileError, match=r"rec_000_001\.sbx is 1920 bytes now, but the frame data of "
                                               r"rec_000_001\.sbx reaches byte 2560"):
        next(blocks)
    frames.file.close()
