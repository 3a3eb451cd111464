"""Scanbox through the conformance suite: the real info file's geometry and every acquisition mode.

Expected pixels are computed from the bytes of the ``.sbx`` with numpy, from the layout Scanbox's
``sbxread.m`` documents, independently of the reader and of the synthetic writer: the file read whole as
little-endian uint16, reshaped in MATLAB (column-major) order to ``[channels, pixels, lines, frames]``,
each value ``65535 - stored``; frames of a volume are consecutive (plane ``mod(n, planes)``); with
``fold_lines`` a frame's lines split into ``[fold_lines, lines / fold_lines]`` (column-major) and each part
is a frame. Expected rates come from the info struct read with scipy: ``resfreq`` x (2 if bidirectional)
over the lines of a frame, over the planes.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy.io import loadmat

from ophysio._synth.scanbox import sbx_values
from ophysio.extractors import SbxImagingExtractor
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.data import sample_file
from ophysio.testing.synthetic import write_sbx, write_scanbox

_TMP = Path(tempfile.mkdtemp(prefix="ophysio_sbx_"))
atexit.register(shutil.rmtree, _TMP, True)


def info_of(mat) -> dict:
    """The info struct as scipy reads it (squeezed, structs as objects with attributes)."""
    return loadmat(mat, squeeze_me=True, struct_as_record=False)["info"]


def expected_from_bytes(sbx, mat, channel=0, plane_index=None) -> np.ndarray:
    """The series of one channel computed from the file's bytes and the documented layout."""
    info = info_of(mat)
    rows, columns = (int(v) for v in info.sz)
    nchan = int(info.chan.nchan) if hasattr(info, "chan") else (2 if int(info.channels) == 1 else 1)
    raw = np.fromfile(sbx, dtype="<u2")
    frames = raw.size // (nchan * columns * rows)
    stored = raw.reshape((nchan, columns, rows, frames), order="F")  # MATLAB's [chan, pixels, lines, N]
    values = (65535 - stored.astype(np.int64)).astype(np.uint16)
    movie = values[channel].transpose(2, 1, 0)  # (frames, lines, pixels)
    fold_lines = int(getattr(info, "fold_lines", 0) or 0)
    if fold_lines:
        parts = rows // fold_lines
        movie = values[channel].reshape((columns, fold_lines, parts, frames), order="F").transpose(3, 2, 1, 0)
        movie = movie.reshape(frames * parts, fold_lines, columns)
    planes = 1
    if getattr(info, "volscan", 0):
        planes = int(info.otparam[2])
    if planes > 1:
        volumes = len(movie) // planes
        movie = movie[: volumes * planes].reshape(volumes, planes, *movie.shape[1:]).transpose(0, 2, 3, 1)
        if plane_index is not None:
            movie = movie[..., plane_index]
    return np.ascontiguousarray(movie)


def expected_rate(mat) -> float:
    info = info_of(mat)
    line_rate = float(info.resfreq) * (2 if int(info.scanmode) == 0 else 1)
    lines = int(getattr(info, "fold_lines", 0) or 0) or int(info.config.lines)
    planes = int(info.otparam[2]) if getattr(info, "volscan", 0) else 1
    return line_rate / lines / planes


# name -> (writer keywords, reader keywords, channel index read)
SYNTHETIC = {
    "pmt0-unidirectional": (dict(channels=2), {}, 0),
    "pmt1-only": (dict(channels=3), {}, 0),
    "both-pmts-read-pmt0": (dict(channels=1), dict(channel_name="PMT0"), 0),
    "both-pmts-read-pmt1": (dict(channels=1), dict(channel_name="PMT1"), 1),
    "bidirectional": (dict(channels=2, scanmode=0), {}, 0),
    "bidirectional-two-channels": (dict(channels=1, scanmode=0, rows=10, columns=7), dict(channel_name="PMT1"), 1),
    "optotune-volume": (dict(channels=2, planes=3, num_frames=12), {}, 0),
    "optotune-volume-two-channels": (dict(channels=1, planes=4, num_frames=8, otwave_um=[0, 20, 40, 60]),
                                     dict(channel_name="PMT1"), 1),
    "optotune-plane-2": (dict(channels=1, planes=3, num_frames=9), dict(channel_name="PMT0", plane_index=2), 0),
    "folded-lines": (dict(channels=2, rows=16, fold_lines=4, num_frames=3), {}, 0),
    "scanbox-3-chan-nchan": (dict(channels=np.array([[-1]], dtype=np.int8), nchan=2), dict(channel_name="PMT1"), 1),
    "uncompressed-mat": (dict(channels=2, compressed=False), {}, 0),
    "rate-given": (dict(channels=2), dict(sampling_frequency=15.5), 0),
}


@cache
def _synthetic(case: str) -> tuple[Path, Path]:
    writer, _, _ = SYNTHETIC[case]
    return write_scanbox(_TMP / case, "mouse_000_001", **{"num_frames": 6, **writer})


@cache
def _real_geometry() -> tuple[Path, Path]:
    """The real info file beside a .sbx of three frames of the layout it describes (512 x 796, PMT0)."""
    folder = _TMP / "real"
    folder.mkdir()
    mat = folder / "sample.mat"
    shutil.copyfile(sample_file("scanbox/sample.mat"), mat)
    info = info_of(mat)
    rows, columns = (int(v) for v in info.sz)
    sbx = write_sbx(folder / "sample.sbx", sbx_values(3, rows, columns, 1))
    return sbx, mat


CASES = ["real-sample-geometry", *SYNTHETIC]


def _files(case):
    return _real_geometry() if case == "real-sample-geometry" else _synthetic(case)


def _options(case) -> dict:
    return {} if case == "real-sample-geometry" else SYNTHETIC[case][1]


class TestScanbox(ExtractorTests):
    cases = CASES

    def make_extractor(self, case):
        sbx, _ = _files(case)
        return SbxImagingExtractor(sbx, **_options(case))

    def make_shrinkable(self, case, tmp_path):
        sbx, _ = _files(case)
        extractor = SbxImagingExtractor(copy_source(sbx, tmp_path), **_options(case))
        return extractor, [extractor.sbx_file_path]

    def expected_series(self, case):
        sbx, mat = _files(case)
        channel = 0 if case == "real-sample-geometry" else SYNTHETIC[case][2]
        return expected_from_bytes(sbx, mat, channel, _options(case).get("plane_index"))

    def expected_sampling_frequency(self, case):
        given = _options(case).get("sampling_frequency")
        return given if given is not None else expected_rate(_files(case)[1])

    def expected_timestamps(self, case):
        n = len(self.expected_series(case))
        return np.arange(n) / self.expected_sampling_frequency(case)


def test_the_real_info_file_describes_frames_of_512_by_796_of_pmt0_at_15_46_hz():
    sbx, mat = _real_geometry()
    with SbxImagingExtractor(mat) as ex:  # opened by its .mat
        assert ex.get_image_shape() == (512, 796) and ex.get_num_samples() == 3
        assert ex.get_channel_names() == ["PMT0"] and not ex.is_volumetric and not ex.is_bidirectional
        assert ex.get_sampling_frequency() == pytest.approx(7916 / 512)  # roiextractors truncates this to 15
        assert ex.get_native_timestamps() is None


@pytest.mark.parametrize("which", ["sbx", "mat", "stem"])
def test_opens_from_the_movie_the_info_or_the_stem(which):
    sbx, mat = _synthetic("pmt0-unidirectional")
    path = {"sbx": sbx, "mat": mat, "stem": sbx.with_suffix("")}[which]
    with SbxImagingExtractor(str(path)) as ex:
        assert ex.sbx_file_path == sbx and ex.mat_file_path == mat
        assert ex.get_file_paths() == [str(sbx), str(mat)]
        np.testing.assert_array_equal(ex.get_series(), expected_from_bytes(sbx, mat))


def test_volumes_hold_the_planes_in_order_and_select_plane_agrees():
    sbx, mat = _synthetic("optotune-volume")
    with SbxImagingExtractor(sbx) as ex, SbxImagingExtractor(sbx, plane_index=1) as one:
        assert ex.get_sample_shape() == (16, 20, 3) and ex.get_num_samples() == 4
        assert one.get_sample_shape() == (16, 20) and one.plane_index == 1
        np.testing.assert_array_equal(one.get_series(), ex.select_plane(1).get_series())
        # frame 4 of the file is plane 1 of volume 1
        raw = np.fromfile(sbx, dtype="<u2").reshape(12, 16, 20)
        np.testing.assert_array_equal(ex.get_series(1, 2)[0, :, :, 1], 65535 - raw[4])


def test_an_incomplete_last_volume_is_left_out_with_a_warning(tmp_path):
    sbx, mat = write_scanbox(tmp_path, "v", num_frames=7, channels=2, planes=3)
    with pytest.warns(UserWarning, match="last 1 frames"):
        ex = SbxImagingExtractor(sbx)
    assert ex.get_num_samples() == 2
    np.testing.assert_array_equal(ex.get_series(), expected_from_bytes(sbx, mat))


def test_folded_lines_make_several_frames_of_each_stored_frame():
    sbx, mat = _synthetic("folded-lines")
    with SbxImagingExtractor(sbx) as ex:
        assert ex.get_image_shape() == (4, 20) and ex.get_num_samples() == 3 * 4
        raw = 65535 - np.fromfile(sbx, dtype="<u2").reshape(3, 16, 20)
        np.testing.assert_array_equal(ex.get_series(5, 6)[0], raw[1, 4:8])
        assert ex.get_sampling_frequency() == pytest.approx(7916 / 4)
