"""ScanImage multi-ROI (mesoscope) canvases: ``roi_mode="stitch"`` and ``"concat"``.

Expected canvases are built here from the synthetic files' known geometry and pages read with tifffile,
cut by ScanImage's documented multi-ROI page layout (the ROIs one below the other in each page, in
scan order, separated by the same number of fly-to lines; a narrower ROI in the first columns), and
placed by the documented rules: stitch puts each ROI's top-left corner at (corner - smallest corner) /
pixel pitch, later ROIs over earlier ones; concat puts them side by side in scan order, top-aligned.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ophysio.errors import MetadataError, SelectionError
from ophysio.extractors import ScanImageImagingExtractor
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.synthetic import write_scanimage

_TMP = Path(tempfile.mkdtemp(prefix="ophysio_meso_"))
atexit.register(shutil.rmtree, _TMP, True)

# three ROIs of different sizes, pitch 1 degree per pixel; ROI 2 overlaps ROI 0 on 2 x 3 pixels
THREE = [dict(rows=6, columns=8, center_xy=[-4, 0], size_xy=[8, 6], name="A"),
         dict(rows=4, columns=5, center_xy=[4.5, 1], size_xy=[5, 4], name="B"),
         dict(rows=8, columns=4, center_xy=[0, 4], size_xy=[4, 8], name="C")]
# four touching strips of different heights, top-aligned, at a pitch of 0.5 degree (a mesoscope-like layout)
FOUR = [dict(rows=10 + 2 * k, columns=6, center_xy=[-4.5 + 3 * k, (10 + 2 * k) * 0.25],
             size_xy=[3.0, (10 + 2 * k) * 0.5], name=f"S{k}") for k in range(4)]

CASES = {
    "stitch-three-overlap": (dict(num_samples=4, rois=THREE, flyto_lines=3), dict(roi_mode="stitch"), 1),
    "concat-three": (dict(num_samples=4, rois=THREE, flyto_lines=3), dict(roi_mode="concat", fill_value=-5), 1),
    "stitch-four-strips-volumes": (dict(num_samples=3, rois=FOUR, flyto_lines=2, num_slices=2, channels=(1, 2)),
                                   dict(roi_mode="stitch", channel_name="Channel 2", fill_value=7), 2),
    "concat-four-strips-uint16": (dict(num_samples=5, rois=FOUR, flyto_lines=4, dtype="uint16"),
                                  dict(roi_mode="concat"), 1),
}


@cache
def case_paths(case: str) -> tuple[Path, ...]:
    return tuple(write_scanimage(_TMP / case, **CASES[case][0]))


def roi_pages(paths, rois, flyto, channels=1, channel=0, planes=1):
    """Per ROI (samples, rows, columns[, planes]) cut from every page, read with tifffile."""
    pages = np.concatenate([tifffile.imread(p) for p in paths]).reshape(-1, *tifffile.imread(paths[0]).shape[-2:])
    per_cycle = planes * channels
    cycles = len(pages) // per_cycle
    pages = pages[: cycles * per_cycle].reshape(cycles, planes, channels, *pages.shape[1:])[:, :, channel]
    out, row = [], 0
    for roi in rois:
        cut = pages[:, :, row : row + roi["rows"], : roi["columns"]].transpose(0, 2, 3, 1)
        out.append(cut[..., 0] if planes == 1 else cut)
        row += roi["rows"] + flyto
    return out


def expected_positions(rois, mode):
    if mode == "concat":
        return [(0, sum(r["columns"] for r in rois[:k])) for k in range(len(rois))]
    pitch_x = rois[0]["size_xy"][0] / rois[0]["columns"]
    pitch_y = rois[0]["size_xy"][1] / rois[0]["rows"]
    corners = [(r["center_xy"][1] - r["size_xy"][1] / 2, r["center_xy"][0] - r["size_xy"][0] / 2) for r in rois]
    top, left = min(c[0] for c in corners), min(c[1] for c in corners)
    return [(round((y - top) / pitch_y), round((x - left) / pitch_x)) for y, x in corners]


@cache
def expected_canvas(case: str) -> np.ndarray:
    writer, options, _ = CASES[case]
    rois = writer["rois"]
    channels = len(writer.get("channels", (1,)))
    channel = 0 if "channel_name" not in options else int(options["channel_name"].split()[-1]) - 1
    cuts = roi_pages(case_paths(case), rois, writer["flyto_lines"], channels, channel, writer.get("num_slices", 1))
    positions = expected_positions(rois, options["roi_mode"])
    rows = max(y + r["rows"] for (y, _), r in zip(positions, rois))
    columns = max(x + r["columns"] for (_, x), r in zip(positions, rois))
    canvas = np.full((len(cuts[0]), rows, columns, *cuts[0].shape[3:]), options.get("fill_value", 0),
                     dtype=cuts[0].dtype)
    for (y, x), roi, cut in zip(positions, rois, cuts):  # in scan order: later ROIs over earlier ones
        canvas[:, y : y + roi["rows"], x : x + roi["columns"]] = cut
    return canvas


class TestMesoscopeCanvas(ExtractorTests):
    cases = list(CASES)

    def make_extractor(self, case):
        return ScanImageImagingExtractor(file_path=case_paths(case)[0], **CASES[case][1])

    def make_shrinkable(self, case, tmp_path):
        extractor = ScanImageImagingExtractor(file_path=copy_source(case_paths(case)[0], tmp_path), **CASES[case][1])
        return extractor, extractor.get_file_paths()

    def expected_series(self, case):
        return expected_canvas(case)


def test_every_roi_in_the_canvas_equals_its_cropped_pages_bit_for_bit():
    for case, (writer, options, _) in CASES.items():
        extractor = ScanImageImagingExtractor(file_path=case_paths(case)[0], **options)
        data = extractor.get_series()
        layout = extractor.get_roi_layout()
        channels = len(writer.get("channels", (1,)))
        channel = 0 if "channel_name" not in options else 1
        cuts = roi_pages(case_paths(case), writer["rois"], writer["flyto_lines"], channels, channel,
                         writer.get("num_slices", 1))
        positions = expected_positions(writer["rois"], options["roi_mode"])
        assert [(e["canvas_row"], e["canvas_column"]) for e in layout] == positions
        for k, (entry, cut) in enumerate(zip(layout, cuts)):
            y, x = entry["canvas_row"], entry["canvas_column"]
            placed = data[:, y : y + entry["rows"], x : x + entry["columns"]]
            hidden = np.zeros(placed.shape[1:3], bool)
            for later in layout[k + 1 :] if options["roi_mode"] == "stitch" else []:
                ly, lx = later["canvas_row"] - y, later["canvas_column"] - x
                hidden[max(ly, 0) : max(ly + later["rows"], 0), max(lx, 0) : max(lx + later["columns"], 0)] = True
            assert entry["covered_pixels"] == int(hidden.sum())
            np.testing.assert_array_equal(placed[:, ~hidden], cut[:, ~hidden])
        extractor.close()


def test_stitched_geometry_comes_from_the_scanfields():
    extractor = ScanImageImagingExtractor(file_path=case_paths("stitch-three-overlap")[0], roi_mode="stitch")
    facts = extractor.get_acquisition_facts()
    um_per_degree = 15  # SI.objectiveResolution of the synthetic files
    assert facts.pixel_size_um == pytest.approx((1 * um_per_degree, 1 * um_per_degree))
    # the canvas corner is the smallest scanfield corner: x = -4 - 8/2 = -8, y = 0 - 6/2 = -3 degrees
    assert facts.origin_um[:2] == pytest.approx((-3 * um_per_degree, -8 * um_per_degree))
    assert facts.field_of_view_um == pytest.approx((11 * um_per_degree, 15 * um_per_degree))
    assert extractor.get_image_shape() == (11, 15)
    canvas = extractor.get_canvas()
    assert canvas["fill_value"] == 0 and canvas["roi_mode"] == "stitch" and "later" in canvas["overlap_rule"]
    assert [r["covered_pixels"] for r in canvas["rois"]] == [6, 0, 0]
    step = facts.processing[0]
    assert step.name == "roi_stitch" and not step.changes_values and facts.is_raw
    assert extractor.get_metadata()["ophysio_processing"][0]["shape"] == [11, 15]
    assert extractor.split_streams() == [extractor]
    concat = ScanImageImagingExtractor(file_path=case_paths("concat-three")[0], roi_mode="concat", fill_value=-5)
    facts = concat.get_acquisition_facts()
    assert facts.pixel_size_um == pytest.approx((15, 15)) and facts.origin_um is None
    assert concat.get_image_shape() == (8, 17)


def test_separate_is_the_default_and_unchanged():
    path = case_paths("stitch-three-overlap")[0]
    default = ScanImageImagingExtractor(file_path=path)
    assert default.roi_mode == "separate" and default.get_canvas() is None
    assert default.get_image_shape() == (6 + 3 + 4 + 3 + 8, 8)
    assert len(default.split_streams()) == 3


def test_scan_phase_on_a_canvas_follows_each_rois_page_parity():
    # odd page rows displaced by +2 columns; with 3 fly-to lines ROI 1 starts on an odd page row, so its
    # first canvas row is an odd scan line
    clean = write_scanimage(_TMP / "parity-clean", num_samples=3, rois=THREE, flyto_lines=3, pattern="cells")

    def displaced(pages, rows, columns):
        from ophysio._synth.scanimage import _cells_pixels

        pixels = _cells_pixels(pages, rows, columns, 1, 1, 0)
        moved = pixels.copy()
        moved[:, 1::2, 2:] = pixels[:, 1::2, :-2]
        moved[:, 1::2, :2] = pixels[:, 1::2, :1]
        return moved

    shifted = write_scanimage(_TMP / "parity-shifted", num_samples=3, rois=THREE, flyto_lines=3, pattern=displaced)
    reference = ScanImageImagingExtractor(file_path=clean[0], roi_mode="stitch").get_series()
    corrected = ScanImageImagingExtractor(file_path=shifted[0], roi_mode="stitch").correct_scan_phase(-2)
    data = corrected.get_series()
    # every pixel whose source is inside its ROI piece (all but the last 2 columns) is restored exactly
    mask = np.zeros(reference.shape[1:], bool)
    for r0, r1, c0, c1, _ in corrected.parent._line_regions():
        mask[r0:r1, c0 : c1 - 2] = True
    np.testing.assert_array_equal(data[:, mask], reference[:, mask])
    assert not np.array_equal(ScanImageImagingExtractor(file_path=shifted[0], roi_mode="stitch").get_series()[:, mask],
                              reference[:, mask])


def test_roi_mode_errors(tmp_path):
    path = case_paths("stitch-three-overlap")[0]
    with pytest.raises(ValueError, match="roi_mode must be one of"):
        ScanImageImagingExtractor(file_path=path, roi_mode="mosaic")
    with pytest.raises(SelectionError, match="give one or the other"):
        ScanImageImagingExtractor(file_path=path, roi_mode="stitch", roi_index=1)
    with pytest.raises(ValueError, match="fill_value=70000 is not a value"):
        ScanImageImagingExtractor(file_path=path, roi_mode="stitch", fill_value=70000)
    # pixels of different sizes cannot share a canvas without resampling
    rois = [dict(rows=6, columns=8, center_xy=[-4, 0], size_xy=[8, 6]), dict(rows=4, columns=5, center_xy=[4, 0],
                                                                             size_xy=[10, 4])]
    odd = write_scanimage(tmp_path / "pitch", num_samples=2, rois=rois, flyto_lines=2)[0]
    with pytest.raises(MetadataError, match="cannot share one canvas"):
        ScanImageImagingExtractor(file_path=odd, roi_mode="stitch")
    assert ScanImageImagingExtractor(file_path=odd, roi_mode="concat").get_image_shape() == (6, 13)
    # scanfields absurdly far apart (a damaged header) give an error, not a huge allocation
    far = [dict(rows=4, columns=4, center_xy=[0, 0], size_xy=[4, 4]),
           dict(rows=4, columns=4, center_xy=[1e6, 1e6], size_xy=[4, 4])]
    far_path = write_scanimage(tmp_path / "far", num_samples=2, rois=far, flyto_lines=2)[0]
    with pytest.raises(MetadataError, match="so far apart"):
        ScanImageImagingExtractor(file_path=far_path, roi_mode="stitch")


def test_cli_option_stitches(tmp_path, capsys):
    from ophysio.cli import main

    path = case_paths("stitch-three-overlap")[0]
    assert main(["info", str(path), "-O", "roi_mode=stitch"]) == 0
    out = capsys.readouterr().out
    assert "samples:     4 of 11 x 15 (frames)" in out
    assert "roi:         all, stitched by their scanfields (source ROIs: A, B, C)" in out
    out_path = tmp_path / "c.h5"
    assert main(["convert", str(path), "-O", "roi_mode=concat", "-O", "fill_value=-5", "-o", str(out_path)]) == 0
    import h5py

    with h5py.File(out_path) as f:
        np.testing.assert_array_equal(f["mov"][:], expected_canvas("concat-three"))


# ---------------------------------------------------------------------- real bidirectional files
def _comb(movie: np.ndarray) -> float:
    """How much the odd lines differ from the mean of the even lines around them (a combing measure)."""
    data = movie.astype(np.float64)
    odd = np.arange(1, data.shape[1] - 1, 2)
    return float(np.mean((data[:, odd] - (data[:, odd - 1] + data[:, odd + 1]) / 2) ** 2))


@pytest.mark.parametrize("name, options, layout", [
    ("ScanImageBigTIFFv57.tif", dict(channel_name="Channel 1"), dict(channels=2, channel=0)),
    ("vol_no_flyback_00001_00001.tif", {}, dict(channels=1, channel=0, planes=9)),
])
def test_scan_phase_on_real_bidirectional_files(name, options, layout):
    from ophysio.testing.data import sample_file

    from .test_reader import expected_in_scanimage_order

    path = sample_file(f"scanimage/{name}")
    extractor = ScanImageImagingExtractor(file_path=path, **options)
    frame_data = tifffile.TiffFile(path).scanimage_metadata["FrameData"]
    assert frame_data["SI.hScan2D.bidirectional"] is True
    raw, _ = expected_in_scanimage_order([path], **layout)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        view = extractor.correct_scan_phase()
    offsets = view.offsets
    assert len(offsets) == extractor.get_num_planes() and all(abs(v) <= 8 for v in offsets)
    # these samples are dark noise: where no offset stands out the estimate runs to the search limit, and
    # that is said (in a warning and in the record), not passed off as a measurement
    at_limit = [p for p, v in enumerate(offsets) if abs(v) >= 8 - 0.005]
    assert view.get_metadata()["ophysio_processing"][-1]["planes_at_search_limit"] == at_limit
    assert bool(at_limit) == any("reached max_offset" in str(w.message) for w in caught)
    corrected = view.get_series()
    planes = [(raw, corrected)] if raw.ndim == 3 else [(raw[..., p], corrected[..., p]) for p in range(raw.shape[-1])]
    for (before, after), offset in zip(planes, offsets):
        assert _comb(after) <= _comb(before) * 1.001, (offset, _comb(after), _comb(before))
        np.testing.assert_array_equal(after[:, 0::2], before[:, 0::2])  # even lines as recorded
    # a given whole-pixel offset moves the odd lines of the tifffile pages by exactly that much
    given = extractor.correct_scan_phase(2).get_series()
    expected = raw.copy()
    expected[:, 1::2, 2:] = raw[:, 1::2, :-2]
    expected[:, 1::2, :2] = raw[:, 1::2, :1]
    np.testing.assert_array_equal(given, expected)
