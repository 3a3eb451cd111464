"""Scan-phase correction and plane registration views, on synthetic data with known shifts.

The synthetic frames are made here with numpy alone: a smooth "cells" image is sampled on a grid whose
odd rows are displaced along x by a known amount (evaluating the image's formula at x - d: an exact
sub-pixel shift, no interpolation), and volumes are made of planes cut from one larger image at known
offsets. Expected corrected data are computed independently (numpy slicing and edge repetition).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from ophysio.errors import FormatError
from ophysio.extractors import NumpyImagingExtractor, PlaneRegistrationView, ScanPhaseView
from ophysio.testing.conformance import ExtractorTests


def scene(seed: int = 0, cells: int = 60, size: tuple[int, int] = (96, 128)):
    """A function (y, x) -> brightness: background plus Gaussian cells of 2-5 pixels."""
    rng = np.random.default_rng(seed)
    cy, cx = rng.uniform(0, size[0], cells), rng.uniform(0, size[1], cells)
    radius, amplitude = rng.uniform(2, 5, cells), rng.uniform(200, 900, cells)

    def image(y, x):
        y, x = np.asarray(y, float)[..., None], np.asarray(x, float)[..., None]
        return 300 + (amplitude * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * radius**2))).sum(-1)

    return image


def bidirectional_movie(displacement: float, samples: int = 12, rows: int = 64, columns: int = 96, seed: int = 0,
                        noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(movie with odd rows displaced by ``displacement`` along x, the same movie undisplaced), int16."""
    image = scene(seed, size=(rows, columns))
    y, x = np.mgrid[0:rows, 0:columns].astype(float)
    rng = np.random.default_rng(seed + 1)
    shifted, clean = [], []
    for t in range(samples):
        jitter = 0.2 * np.sin(t)  # the scene drifts a little in y from frame to frame
        shifted.append(image(y + jitter, x - displacement * (y % 2 == 1)))
        clean.append(image(y + jitter, x))
    shifted, clean = np.asarray(shifted), np.asarray(clean)
    if noise:
        shifted = rng.poisson(shifted).astype(float)
    return np.rint(shifted).astype(np.int16), np.rint(clean).astype(np.int16)


@pytest.mark.parametrize("displacement", [0.0, 1.0, -2.0, 3.0, 0.5, -0.5, 1.5, -2.25])
def test_scan_phase_estimate_recovers_a_known_offset(displacement):
    movie, _ = bidirectional_movie(displacement)
    view = NumpyImagingExtractor(movie, 30.0).correct_scan_phase()
    # the offset is the shift that puts the odd lines back: minus their displacement
    assert view.offset == pytest.approx(-displacement, abs=0.1)
    assert isinstance(view, ScanPhaseView)


@pytest.mark.parametrize("displacement", [1, -2, 3])
def test_applying_the_known_integer_offset_restores_the_frame_exactly(displacement):
    movie, _ = bidirectional_movie(displacement, noise=False)
    # the undisplaced movie, made independently: even rows as recorded, odd rows moved back by numpy slicing
    expected = movie.copy()
    d = displacement
    if d > 0:
        expected[:, 1::2, :-d] = movie[:, 1::2, d:]
        expected[:, 1::2, -d:] = movie[:, 1::2, -1:]  # beyond the edge: the line's edge pixel
    else:
        expected[:, 1::2, -d:] = movie[:, 1::2, :d]
        expected[:, 1::2, :-d] = movie[:, 1::2, :1]
    corrected = NumpyImagingExtractor(movie, 30.0).correct_scan_phase(-displacement).get_series()
    np.testing.assert_array_equal(corrected, expected)
    # and the interior equals the movie that was never displaced
    _, clean = bidirectional_movie(displacement, noise=False)
    k = abs(displacement)
    np.testing.assert_array_equal(corrected[:, :, k:-k], clean[:, :, k:-k])


def test_half_pixel_offset_applied_brings_the_frame_back_close():
    movie, clean = bidirectional_movie(0.5, noise=False)
    view = NumpyImagingExtractor(movie, 30.0).correct_scan_phase(-0.5)
    error = np.abs(view.get_series()[:, :, 2:-2].astype(float) - clean[:, :, 2:-2])
    before = np.abs(movie[:, :, 2:-2].astype(float) - clean[:, :, 2:-2])
    assert error[:, 1::2].mean() < 0.5 * before[:, 1::2].mean()
    np.testing.assert_array_equal(view.get_series()[:, 0::2], movie[:, 0::2])  # even lines untouched


def test_scan_phase_per_plane_and_record():
    planes = [bidirectional_movie(d, samples=6, seed=s)[0] for s, d in enumerate((1.0, -0.5))]
    volume = np.stack(planes, axis=-1)
    source = NumpyImagingExtractor(volume, 10.0)
    view = source.correct_scan_phase()
    assert view.offsets == pytest.approx((-1.0, 0.5), abs=0.1)
    pooled = source.correct_scan_phase(per_plane=False)
    assert len(set(pooled.offsets)) == 1
    record = view.get_metadata()["ophysio_processing"][-1]
    assert record["name"] == "scan_phase" and record["estimated"] and record["samples"] == 6
    assert record["offsets_px"] == list(view.offsets)
    facts = view.get_acquisition_facts()
    assert facts.processing[-1].name == "scan_phase" and not facts.is_raw
    assert f"{view.offsets[0]:+g}, {view.offsets[1]:+g} pixels (per plane)" in facts.processing[-1].description
    given = source.correct_scan_phase([2, -1])
    assert given.offsets == (2.0, -1.0) and given.get_metadata()["ophysio_processing"][-1]["estimated"] is False
    with pytest.raises(ValueError, match="one per plane"):
        source.correct_scan_phase([1, 2, 3])
    assert pickle.loads(pickle.dumps(view)).offsets == view.offsets


def test_scan_phase_composes_with_crop_slice_plane_and_binning():
    movie, _ = bidirectional_movie(2.0, noise=False)
    source = NumpyImagingExtractor(movie, 30.0)
    whole = source.correct_scan_phase(-2).get_series()
    # a crop that starts on an odd row keeps the parity of the recorded lines
    cropped = source.slice_field_of_view(5, 40, 0, 96).correct_scan_phase(-2).get_series()
    np.testing.assert_array_equal(cropped, whole[:, 5:40])
    sliced = source.correct_scan_phase(-2).slice_samples(3, 7).get_series()
    np.testing.assert_array_equal(sliced, whole[3:7])
    binned = source.correct_scan_phase(-2).bin_samples(2)
    assert binned.get_acquisition_facts().processing[-1].name == "scan_phase"


def planes_from(shifts, samples=8, rows=72, columns=80, seed=3):
    """A volume whose plane p shows the scene moved by ``shifts[p]`` (integers): a crop of a larger image."""
    pad = 12
    image = scene(seed, cells=90, size=(rows + 2 * pad, columns + 2 * pad))
    y, x = np.mgrid[0 : rows + 2 * pad, 0 : columns + 2 * pad]
    big = image(y, x)
    rng = np.random.default_rng(seed)
    volume = np.empty((samples, rows, columns, len(shifts)), np.int16)
    for p, (dy, dx) in enumerate(shifts):
        crop = big[pad - dy : pad - dy + rows, pad - dx : pad - dx + columns] * (1 - 0.1 * p)
        volume[..., p] = rng.poisson(np.broadcast_to(crop, (samples, rows, columns)))
    return volume


def test_register_planes_recovers_known_shifts_exactly():
    moved = [(0, 0), (3, -2), (-5, 4), (1, 6)]
    source = NumpyImagingExtractor(planes_from(moved), 5.0)
    view = source.register_planes(reference_plane=0)
    assert isinstance(view, PlaneRegistrationView)
    # each plane is moved back onto plane 0: the shift applied is minus how far it had moved
    assert view.shifts == tuple((float(-dy), float(-dx)) for dy, dx in moved)
    middle = source.register_planes()
    assert middle.get_metadata()["ophysio_processing"][-1]["reference_plane"] == 2
    assert middle.shifts[2] == (0.0, 0.0)
    # the registered planes line up with the reference where they overlap
    data = view.get_series()
    raw = source.get_series()
    np.testing.assert_array_equal(data[:, 10:-10, 10:-10, 0], raw[:, 10:-10, 10:-10, 0])
    for p, (dy, dx) in enumerate(moved):
        np.testing.assert_array_equal(data[:, 10:-10, 10:-10, p], raw[:, 10 + dy : raw.shape[1] - 10 + dy,
                                                                           10 + dx : raw.shape[2] - 10 + dx, p])
        if dy > 0:
            assert np.all(data[:, -dy:, :, p] == 0)  # rows no recorded pixel maps to hold the fill value


def test_register_planes_record_fill_and_reproducibility():
    volume = planes_from([(0, 0), (2, 2)], samples=6)
    source = NumpyImagingExtractor(volume, 5.0)
    view = source.register_planes(fill_value=-1, reference_plane=0)
    again = source.register_planes(fill_value=-1, reference_plane=0)
    assert view.shifts == again.shifts
    np.testing.assert_array_equal(view.get_series(), again.get_series())
    record = view.get_metadata()["ophysio_processing"][-1]
    assert record["fill_value"] == -1 and record["shifts_px"] == [[0.0, 0.0], [-2.0, -2.0]]
    assert np.all(view.get_series()[:, -2:, :, 1] == -1)
    given = source.register_planes([(0, 0), (-2, -2)], fill_value=-1)
    np.testing.assert_array_equal(given.get_series(), view.get_series())
    step = view.get_acquisition_facts().processing[-1]
    assert step.name == "plane_registration" and "fill value -1" in step.description
    with pytest.raises(FormatError, match="volumetric"):
        NumpyImagingExtractor(volume[..., 0], 5.0).register_planes()
    with pytest.raises(ValueError, match="not a value"):
        source.register_planes(fill_value=1e9)
    plane = view.select_plane(1)
    np.testing.assert_array_equal(plane.get_series(), view.get_series()[..., 1])


def test_register_planes_subpixel():
    volume = planes_from([(0, 0), (2, -3)], samples=4)
    view = NumpyImagingExtractor(volume, 5.0).register_planes(reference_plane=0, upsample=10)
    assert view.shifts[1] == pytest.approx((-2, 3), abs=0.11)


_MOVIE = bidirectional_movie(2.0, samples=9, noise=False)[0]
_VOLUME = planes_from([(0, 0), (1, -1)], samples=5)


class TestCorrectionViews(ExtractorTests):
    cases = ["scan-phase-integer", "scan-phase-subpixel", "registered-planes"]

    def make_extractor(self, case):
        if case == "scan-phase-integer":
            return NumpyImagingExtractor(_MOVIE, 30.0).correct_scan_phase(-2)
        if case == "scan-phase-subpixel":
            return NumpyImagingExtractor(_MOVIE, 30.0).correct_scan_phase(-1.5)
        return NumpyImagingExtractor(_VOLUME, 5.0).register_planes([(0, 0), (-1, 1)])

    def expected_series(self, case):
        if case == "scan-phase-integer":
            expected = _MOVIE.copy()
            expected[:, 1::2, :-2] = _MOVIE[:, 1::2, 2:]
            expected[:, 1::2, -2:] = _MOVIE[:, 1::2, -1:]
            return expected
        if case == "scan-phase-subpixel":  # halfway between the columns 1 and 2 to the right, edge repeated
            odd = _MOVIE[:, 1::2].astype(float)
            right1 = np.concatenate([odd[..., 1:], odd[..., -1:]], axis=-1)
            right2 = np.concatenate([odd[..., 2:], odd[..., -1:], odd[..., -1:]], axis=-1)
            expected = _MOVIE.copy()
            expected[:, 1::2] = np.rint(0.5 * right1 + 0.5 * right2)
            return expected
        expected = _VOLUME.copy()
        expected[..., 1] = 0
        expected[:, :-1, 1:, 1] = _VOLUME[:, 1:, :-1, 1]
        return expected
