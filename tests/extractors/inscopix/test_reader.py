"""Inscopix .isxd movies: the real samples and synthetic layouts through the conformance suite, with pixels and
times read independently (numpy and json from the documented layout, :mod:`.reference`)."""

import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from ophysio import open_imaging
from ophysio._synth.inscopix import write_isxd
from ophysio.errors import SelectionError
from ophysio.extractors import InscopixImagingExtractor, detect_format
from ophysio.testing.conformance import ExtractorTests
from ophysio.testing.data import sample_file

from . import reference


def real(name: str) -> Path:
    return sample_file(f"inscopix/{name}.isxd")


@functools.cache
def folder() -> Path:
    path = Path(tempfile.mkdtemp(prefix="ophysio-isxd-"))
    import atexit

    atexit.register(shutil.rmtree, path, True)
    return path


#: irregular time stamp steps (microseconds): the reader must follow them, not the grid
JITTER = [50_000 + (37 * k) % 400 - 200 for k in range(24)]

SYNTHETIC = {
    "u8": dict(dtype="uint8", num_times=9, rows=7, columns=5),
    "f32-gaps": dict(dtype="float32", num_times=20, dropped=(2, 5), cropped=("8 - 9", "15"), blank=(12,)),
    "headers-dropped": dict(frame_headers=True, num_times=24, dropped=(4, 17), tsc_steps_us=JITTER),
    "multiplane-headers": dict(frame_headers=True, num_times=20, planes=(0, 500, 900), dropped=(7,)),
    "multiplane-json": dict(num_times=13, planes=(100, 450)),
    "dual-headers": dict(frame_headers=True, num_times=22, mux_ratio=(2, 1), start_channel="red", dropped=(3,)),
    "dual-json": dict(num_times=16, mux_ratio=(1, 1)),
    "single-red": dict(num_times=6, single_channel="red"),
    "image": dict(num_times=1, data_set_type=4, rows=9, columns=11),
}


@functools.cache
def synthetic(name: str) -> Path:
    return write_isxd(folder() / f"{name}.isxd", **SYNTHETIC[name])


# case -> (path factory, extractor keywords, reference keywords)
CASES = {
    "real-long": (lambda: real("movie_longer_than_3_min"), {}, {}),
    "real-multiplane": (lambda: real("multiplane_movie"), {}, {"planes": 3}),
    "real-multiplane-plane1": (lambda: real("multiplane_movie"), {"plane_index": 1}, {"planes": 3, "plane_index": 1}),
    "u8": (lambda: synthetic("u8"), {}, {}),
    "f32-gaps": (lambda: synthetic("f32-gaps"), {}, {}),
    "headers-dropped": (lambda: synthetic("headers-dropped"), {}, {}),
    "multiplane-headers": (lambda: synthetic("multiplane-headers"), {}, {"planes": 3}),
    "multiplane-headers-plane2": (lambda: synthetic("multiplane-headers"), {"plane_index": -1},
                                  {"planes": 3, "plane_index": 2}),
    "multiplane-json": (lambda: synthetic("multiplane-json"), {}, {"planes": 2}),
    "dual-headers-green": (lambda: synthetic("dual-headers"), {"channel_name": "green"},
                           {"cycle": ("red", "green", "green"), "channel": "green"}),
    "dual-headers-red": (lambda: synthetic("dual-headers"), {"channel_name": "red"},
                         {"cycle": ("red", "green", "green"), "channel": "red"}),
    "dual-json-red": (lambda: synthetic("dual-json"), {"channel_name": "red"},
                      {"cycle": ("green", "red"), "channel": "red"}),
    "single-red": (lambda: synthetic("single-red"), {}, {}),
    "image": (lambda: synthetic("image"), {}, {}),
}


class TestInscopix(ExtractorTests):
    cases = list(CASES)

    def make_extractor(self, case):
        path, options, _ = CASES[case]
        return InscopixImagingExtractor(path(), **options)

    def make_shrinkable(self, case, tmp_path):
        path, options, _ = CASES[case]
        copy = tmp_path / path().name
        shutil.copyfile(path(), copy)
        return InscopixImagingExtractor(copy, **options), [copy]

    def expected_series(self, case):
        path, _, keywords = CASES[case]
        return reference.expected(path(), **keywords)[0]

    def expected_timestamps(self, case):
        path, _, keywords = CASES[case]
        return reference.expected(path(), **keywords)[1]

    def expected_sampling_frequency(self, case):
        path, _, keywords = CASES[case]
        header, _ = reference.footer(path())
        times = reference.stored_times(header)
        _, headers, _ = reference.raw_frames(path())
        if headers is not None and len(times) > 1:  # isxcore: the mean step of the time stamps
            counter = reference.tsc(headers)
            rate = (times[-1] - times[0]) / (float(counter[-1] - counter[0]) / 1e6)
        else:
            rate = 1 / float(reference.period(header))
        cycle = keywords.get("cycle")
        if cycle:
            return rate * cycle.count(keywords["channel"]) / len(cycle)
        return rate / keywords.get("planes", 1)


def test_every_real_sample_is_a_case():
    names = {CASES[case][0]().name for case in CASES if case.startswith("real")}
    assert names == {p.name for p in real("multiplane_movie").parent.glob("*.isxd")}


def test_detected_from_content_not_the_name(tmp_path):
    copy = tmp_path / "movie.bin"
    shutil.copyfile(synthetic("u8"), copy)
    assert detect_format(copy).id == "inscopix"
    assert detect_format(real("movie_longer_than_3_min")).id == "inscopix"
    with open_imaging(copy) as ex:
        assert isinstance(ex, InscopixImagingExtractor)


def test_real_multiplane_movie_interleaves_three_planes_by_efocus():
    ex = InscopixImagingExtractor(real("multiplane_movie"))
    assert ex.get_num_planes() == 3 and ex.get_num_samples() == 10
    assert ex.get_plane_efocus() == [0, 500, 900]
    # frame k of the file is plane k % 3: the planes of the first volume are the file's frames 0, 1, 2
    pixels, _, _ = reference.raw_frames(real("multiplane_movie"))
    np.testing.assert_array_equal(ex[0], np.moveaxis(pixels[:3], 0, -1))
    plane = InscopixImagingExtractor(real("multiplane_movie"), plane_index=2)
    assert plane.get_plane_efocus() == [900]
    np.testing.assert_array_equal(plane.get_series(), pixels[2::3])
    assert plane.get_sampling_frequency() == pytest.approx(ex.get_sampling_frequency())


def test_real_processed_movie_is_one_plane_although_recorded_multiplane():
    # the session was recorded with three planes; the movie kept one (idps.efocus 370)
    ex = InscopixImagingExtractor(real("movie_longer_than_3_min"))
    assert ex.get_metadata()["extraProperties"]["microscope"]["multiplane"]["enabled"] is True
    assert ex.get_num_planes() == 1 and ex.get_plane_efocus() == [370]


def test_dropped_cropped_and_blank_samples_are_gaps_in_the_times():
    ex = InscopixImagingExtractor(synthetic("f32-gaps"))
    times = np.round(ex.get_timestamps() / 0.05).astype(int)
    assert times.tolist() == [t for t in range(20) if t not in (2, 5, 8, 9, 12, 15)]
    assert ex.get_sampling_frequency() == pytest.approx(20.0)


def test_an_incomplete_volume_is_left_out():
    ex = InscopixImagingExtractor(synthetic("multiplane-headers"))  # sample 7 (plane 1 of volume 2) dropped
    starts = np.round(ex.get_timestamps() / 0.05).astype(int)
    assert starts.tolist() == [0, 3, 9, 12, 15]


def test_dual_colour_needs_a_channel():
    path = synthetic("dual-headers")
    assert InscopixImagingExtractor.get_available_channel_names(path) == ["green", "red"]
    with pytest.raises(SelectionError, match="channel_name"):
        InscopixImagingExtractor(path)
    with pytest.raises(SelectionError, match="blue"):
        InscopixImagingExtractor(path, channel_name="blue")


def test_plane_index_out_of_range():
    with pytest.raises(SelectionError, match="3 plane"):
        InscopixImagingExtractor(real("multiplane_movie"), plane_index=3)
    with pytest.raises(SelectionError, match="1 plane"):
        InscopixImagingExtractor(synthetic("u8"), plane_index=1)
