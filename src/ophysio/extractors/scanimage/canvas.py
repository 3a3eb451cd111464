"""One canvas from the ROIs of a ScanImage multi-ROI page: ``roi_mode="stitch"`` and ``"concat"``.

ScanImage writes the imaging ROIs of a multi-ROI (mesoscope) frame one below the other in each page,
separated by fly-to lines (:func:`~ophysio.extractors.scanimage.layout.roi_layout_from` says where).
A canvas takes every ROI's rows out of the page and places them, pixels unchanged:

- ``"stitch"``: where the scanfields lie. Every ROI's scanfield has a centre and a size in ScanImage
  reference degrees and a pixel resolution; their pixel pitch must agree (to half a pixel over the ROI's
  extent), and the canvas takes the first ROI's pitch. Each ROI's top-left corner is placed at
  ``round((corner - canvas corner) / pitch)``, the canvas corner being the smallest corner of all ROIs.
  Where ROIs overlap, the one scanned later (higher index) is drawn over the earlier ones. Pixels that
  no ROI covers hold the fill value.
- ``"concat"``: side by side along columns in scan order, top-aligned, with no regard to position;
  the rows below a shorter ROI hold the fill value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import MetadataError

__all__ = ["ROI_MODES", "Canvas", "Placement", "build_canvas", "checked_fill", "paste", "read_canvas"]

#: The values of ``roi_mode``.
ROI_MODES = ("separate", "stitch", "concat")
#: A canvas may hold at most this many times the pixels of its ROIs (plus a 4096 x 4096 allowance): a
#: header whose scanfields lie absurdly far apart gives an error, not a huge allocation.
_MAX_CANVAS_FACTOR = 100


@dataclass(frozen=True)
class Placement:
    """Where ROI ``index`` (page rows ``page_row:page_row+rows``, columns ``0:columns``) lands on the canvas."""

    index: int
    page_row: int
    rows: int
    columns: int
    row: int
    column: int
    residual_px: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Canvas:
    """A canvas: its mode, shape, fill value, ROI placements (in drawing order) and geometry."""

    mode: str
    rows: int
    columns: int
    fill_value: float
    placements: tuple[Placement, ...]
    pitch_deg: tuple[float, float] | None = None   # (row height, column width) of a pixel, in degrees
    corner_deg: tuple[float, float] | None = None  # (y, x) of the canvas's top-left corner, in degrees
    overlap_rule: str = "none"

    def pieces(self) -> list[tuple[int, int, int, int, int]]:
        """The visible parts of the ROIs as disjoint rectangles ``(row0, row1, col0, col1, roi position)``,
        cut into bands of rows so that each is made of whole pieces of the ROI's lines."""
        ys = sorted({v for p in self.placements for v in (p.row, p.row + p.rows)})
        xs = sorted({v for p in self.placements for v in (p.column, p.column + p.columns)})
        pieces = []
        for y0, y1 in zip(ys[:-1], ys[1:]):
            owners = []
            for x0, x1 in zip(xs[:-1], xs[1:]):
                owner = None
                for k, p in enumerate(self.placements):  # later placements are drawn over earlier ones
                    if p.row <= y0 and y1 <= p.row + p.rows and p.column <= x0 and x1 <= p.column + p.columns:
                        owner = k
                owners.append((x0, x1, owner))
            start = 0
            for i in range(1, len(owners) + 1):
                if i == len(owners) or owners[i][2] != owners[start][2]:
                    if owners[start][2] is not None:
                        pieces.append((y0, y1, owners[start][0], owners[i - 1][1], owners[start][2]))
                    start = i
        merged: list[list[int]] = []  # bands of one ROI's columns that follow each other become one piece
        for piece in sorted(pieces, key=lambda q: (q[4], q[2], q[3], q[0])):
            last = merged[-1] if merged else None
            if last and (last[4], last[2], last[3], last[1]) == (piece[4], piece[2], piece[3], piece[0]):
                last[1] = piece[1]
            else:
                merged.append(list(piece))
        return sorted((tuple(q) for q in merged), key=lambda q: (q[0], q[2]))

    def line_regions(self) -> list[tuple[int, int, int, int, int]]:
        """The pieces with the parity of the page row each one's first row came from (its scan line)."""
        regions = []
        for r0, r1, c0, c1, k in self.pieces():
            p = self.placements[k]
            regions.append((r0, r1, c0, c1, (p.page_row + r0 - p.row) % 2))
        return regions

    def covered_pixels(self) -> list[int]:
        """Per placement, how many of its pixels a later ROI covers."""
        visible = [0] * len(self.placements)
        for r0, r1, c0, c1, k in self.pieces():
            visible[k] += (r1 - r0) * (c1 - c0)
        return [p.rows * p.columns - v for p, v in zip(self.placements, visible)]

    def record(self) -> dict:
        """The canvas as plain values (what ``get_metadata()`` and the NWB description record)."""
        return {
            "name": "roi_stitch" if self.mode == "stitch" else "roi_concat", "roi_mode": self.mode,
            "shape": [self.rows, self.columns], "fill_value": self.fill_value, "overlap_rule": self.overlap_rule,
            "pixel_pitch_deg": None if self.pitch_deg is None else list(self.pitch_deg),
            "corner_deg": None if self.corner_deg is None else list(self.corner_deg),
            "rois": [{"index": p.index, "page_row": p.page_row, "rows": p.rows, "columns": p.columns,
                      "canvas_row": p.row, "canvas_column": p.column, "placement_residual_px": list(p.residual_px),
                      "covered_pixels": c} for p, c in zip(self.placements, self.covered_pixels())],
        }

    def description(self) -> str:
        count = len(self.placements)
        if self.mode == "stitch":
            how = "placed by their scanfield centres and sizes"
            overlap = "; where ROIs overlap the later-scanned ROI is shown" if any(self.covered_pixels()) else ""
        else:
            how = "side by side along columns in scan order"
            overlap = ""
        return (f"{count} ScanImage ROIs {how} into one {self.rows} x {self.columns} canvas by ophysio (each ROI's "
                f"pixels as recorded; pixels no ROI covers hold {self.fill_value:g}{overlap})")


def _pair(value, what: str, index: int, path: str) -> tuple[float, float]:
    try:
        array = np.asarray(value, dtype=float).ravel()
    except (TypeError, ValueError):
        array = np.empty(0)
    if array.size != 2 or not np.all(np.isfinite(array)):
        raise MetadataError(f"{path}: ROI {index} has no valid scanfield {what} ({str(value)[:80]}); "
                            "roi_mode='stitch' needs it: use roi_mode='concat' to place the ROIs side by side")
    return float(array[0]), float(array[1])


def build_canvas(layout: list[dict], mode: str, fill_value: float, path: str) -> Canvas:
    """The canvas of the ROIs of ``layout`` (:meth:`ScanImageImagingExtractor.get_roi_layout`)."""
    if mode == "concat":
        placements, column = [], 0
        for entry in layout:
            placements.append(Placement(entry["index"], entry["row_start"], entry["rows"], entry["columns"], 0,
                                        column))
            column += entry["columns"]
        pitch = _common_pitch(layout, path, required=False)
        return Canvas("concat", max(e["rows"] for e in layout), column, fill_value, tuple(placements), pitch)
    pitch = _common_pitch(layout, path, required=True)
    corners = []
    for entry in layout:
        cx, cy = _pair(entry.get("center_xy"), "centerXY", entry["index"], path)
        sx, sy = _pair(entry.get("size_xy"), "sizeXY", entry["index"], path)
        corners.append((cy - sy / 2, cx - sx / 2))
    top = min(c[0] for c in corners)
    left = min(c[1] for c in corners)
    placements = []
    for entry, (cy, cx) in zip(layout, corners):
        fy, fx = (cy - top) / pitch[0], (cx - left) / pitch[1]
        row, column = int(round(fy)), int(round(fx))
        placements.append(Placement(entry["index"], entry["row_start"], entry["rows"], entry["columns"], row, column,
                                    (round(fy - row, 6), round(fx - column, 6))))
    rows = max(p.row + p.rows for p in placements)
    columns = max(p.column + p.columns for p in placements)
    roi_pixels = sum(p.rows * p.columns for p in placements)
    if rows * columns > _MAX_CANVAS_FACTOR * roi_pixels + 4096**2:
        raise MetadataError(f"{path}: the scanfields of the {len(layout)} ROIs lie so far apart that the stitched "
                            f"canvas would be {rows} x {columns} pixels for {roi_pixels} pixels of ROIs; read "
                            "them with roi_mode='separate' or 'concat'")
    return Canvas("stitch", rows, columns, fill_value, tuple(placements), pitch, (top, left),
                  "the ROI scanned later is drawn over the earlier ones")


def _common_pitch(layout: list[dict], path: str, required: bool) -> tuple[float, float] | None:
    """(row height, column width) of a pixel in degrees, the same for every ROI (else an error, or None)."""
    pitches = []
    for entry in layout:
        try:
            sx, sy = _pair(entry.get("size_xy"), "sizeXY", entry["index"], path)
        except MetadataError:
            if required:
                raise
            return None
        pitches.append((sy / entry["rows"], sx / entry["columns"]))
    first = pitches[0]
    for entry, pitch in zip(layout, pitches):
        for axis, n in ((0, entry["rows"]), (1, entry["columns"])):
            if first[axis] == 0 or not math.isfinite(first[axis]) or abs(pitch[axis] - first[axis]) * n > 0.5 * abs(
                    first[axis]):
                if not required:
                    return None
                raise MetadataError(
                    f"{path}: ROI {entry['index']} has pixels of {pitch[0]:.6g} x {pitch[1]:.6g} degrees but ROI "
                    f"{layout[0]['index']} has {first[0]:.6g} x {first[1]:.6g}: the ROIs cannot share one canvas "
                    "without resampling; read them with roi_mode='separate' (one stream each) or 'concat'")
    return first


def read_canvas(pages, rows: np.ndarray, out: np.ndarray, canvas: Canvas, block_bytes: int) -> None:
    """Read the whole pages of the frame-to-IFD table ``rows`` (samples, planes) from ``pages`` (a
    ``ScanImagePages``) in blocks of about ``block_bytes`` through one buffer, and place their ROIs on ``out``."""
    n, planes = rows.shape
    shape = (pages.rows, pages.columns)
    per = max(1, block_bytes // (shape[0] * shape[1] * pages.dtype.itemsize * planes))
    buffer = np.empty((min(per, n) * planes, *shape), pages.dtype)
    for a in range(0, n, per):
        chunk = rows[a : a + per]
        part = buffer[: chunk.size]
        pages.read(chunk.ravel(), part, 0)
        paste(part.reshape(len(chunk), planes, *shape), out[a : a + len(chunk)], canvas)


def paste(pages: np.ndarray, out: np.ndarray, canvas: Canvas) -> None:
    """Place the ROIs of ``pages`` (n, planes, page rows, page columns) on ``out`` (n, rows, columns) or
    (n, rows, columns, planes), in drawing order, after filling it with the fill value."""
    out[...] = canvas.fill_value
    volumetric = out.ndim == 4
    for p in canvas.placements:
        source = pages[:, :, p.page_row : p.page_row + p.rows, : p.columns]
        target = (slice(None), slice(p.row, p.row + p.rows), slice(p.column, p.column + p.columns))
        if volumetric:
            out[target] = source.transpose(0, 2, 3, 1)
        else:
            out[target] = source[:, 0]


def checked_fill(value, dtype: np.dtype):
    """``value`` as a value of ``dtype`` (a ValueError when the data type cannot hold it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
        raise ValueError(f"fill_value must be a finite number, not {value!r}")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if value != int(value) or not info.min <= int(value) <= info.max:
            raise ValueError(f"fill_value={value!r} is not a value of the data's type {dtype}")
        return int(value)
    return float(value)
