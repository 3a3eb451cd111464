"""Default NWB metadata read from a source's header (ScanImage and a generic fallback).

Every function here takes the header as the extractor's ``get_metadata()`` gives it and never fails on a
header it does not understand: a value it cannot find is simply left out (the user is asked for it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np

__all__ = ["find_value", "scanimage_defaults", "ome_defaults", "parse_epoch"]

_TO_METERS = {"m": 1.0, "mm": 1e-3, "µm": 1e-6, "um": 1e-6, "\u03bcm": 1e-6, "nm": 1e-9, "cm": 1e-2}

_MISSING = object()


def _walk(header: Any, depth: int = 0) -> Iterator[dict]:
    if depth > 4:
        return
    if isinstance(header, dict):
        yield header
        for value in header.values():
            if isinstance(value, dict):
                yield from _walk(value, depth + 1)


def find_value(header: Any, key: str, default: Any = None) -> Any:
    """Find ``key`` (e.g. ``"SI.hRoiManager.scanFrameRate"``) in a flat or nested header, a few levels deep.

    Looks for the dotted key itself in any nested dictionary (tifffile's ``FrameData`` layout), then for
    the dotted path as nested dictionaries (``header["SI"]["hRoiManager"]["scanFrameRate"]``).
    """
    for d in _walk(header):
        if key in d:
            return d[key]
    parts = key.split(".")
    for d in _walk(header):
        value: Any = d
        for part in parts:
            if isinstance(value, dict) and part in value:
                value = value[part]
            else:
                value = _MISSING
                break
        if value is not _MISSING:
            return value
    return default


def parse_epoch(value: Any) -> datetime | None:
    """ScanImage's ``epoch`` ([Y M D h m s.fff], local time, no zone) as a naive datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        numbers = [float(x) for x in re.findall(r"[-+]?\d+(?:\.\d*)?", value)]
    else:
        try:
            numbers = [float(x) for x in np.ravel(np.asarray(value, dtype=float))]
        except (TypeError, ValueError):
            return None
    if len(numbers) < 6:
        return None
    try:  # NaN, infinite or huge fields (a damaged header) are no date: ValueError or OverflowError
        year, month, day, hour, minute = (int(x) for x in numbers[:5])
        seconds = numbers[5]
        whole = int(seconds)
        return datetime(year, month, day, hour, minute, whole, int(round((seconds - whole) * 1e6)) % 1000000)
    except (ValueError, OverflowError):
        return None


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _number(value: Any) -> float | None:
    try:
        out = float(np.ravel(np.asarray(value, dtype=float))[0])
    except (TypeError, ValueError, IndexError):
        return None
    return out if np.isfinite(out) else None


def _tidy(values: list[float]) -> list[float]:
    """Round away floating-point noise of unit conversions (12 significant digits)."""
    return [float(f"{v:.12g}") for v in values]


def _first_scanfield(header: Any) -> dict | None:
    groups = find_value(header, "RoiGroups") or find_value(header, "roi_groups")
    imaging = groups.get("imagingRoiGroup") if isinstance(groups, dict) else find_value(header, "imagingRoiGroup")
    if not isinstance(imaging, dict):
        return None
    for roi in _as_list(imaging.get("rois")):
        if not isinstance(roi, dict) or roi.get("enable", 1) in (0, False):
            continue
        for field in _as_list(roi.get("scanfields")):
            if isinstance(field, dict) and "sizeXY" in field:
                return field
    return None


def scanimage_defaults(header: dict, image_shape: tuple[int, int], plane_index: int | None,
                       num_planes: int, roi_layout: list[dict] | None = None, roi_index: int | None = None) -> dict:
    """NWB defaults from a ScanImage header: start time, device, geometry in meters, plane depths.

    Returns a dict with keys ``session_start_time`` (naive datetime), ``device`` (dict),
    ``grid_spacing``, ``origin_coords``, ``field_of_view`` (meters), ``reference_frame``,
    ``scan_line_rate`` and ``plane_depths_um``, each present only when the header gives it. Geometry comes
    from the first imaging ROI's scanfield: ``sizeXY`` and ``centerXY`` are in ScanImage reference-space
    degrees, converted with ``SI.objectiveResolution`` (micrometers per degree). With ``roi_layout`` (the
    extractor's ``get_roi_layout()``), the ROI ``roi_index`` is used; a multi-ROI page read whole (ROIs
    stacked) has no single pixel grid, so no geometry is given for it.
    """
    out: dict[str, Any] = {}
    start = parse_epoch(find_value(header, "epoch"))
    if start is not None:
        out["session_start_time"] = start
    major = find_value(header, "SI.VERSION_MAJOR")
    minor = find_value(header, "SI.VERSION_MINOR")
    system = find_value(header, "SI.imagingSystem") or find_value(header, "SI.hScan2D.name")
    version = ".".join(str(v) for v in (major, minor) if v not in (None, ""))
    description = "ScanImage" + (f" {version}" if version else "")
    if isinstance(system, str) and system:
        description += f", imaging system {system}"
    out["device"] = {"name": "Microscope", "description": f"Microscope controlled by {description}",
                     "manufacturer": "Vidrio Technologies"}
    line_period = _number(find_value(header, "SI.hRoiManager.linePeriod"))
    if line_period:
        out["scan_line_rate"] = 1.0 / line_period

    zs = find_value(header, "SI.hStackManager.zs")
    depths = [float(z) for z in np.ravel(np.asarray(zs, dtype=float))] if zs is not None and _number(zs) is not None \
        else []
    if depths:
        out["plane_depths_um"] = depths
    z_step = _number(find_value(header, "SI.hStackManager.stackZStepSize"))

    um_per_degree = _number(find_value(header, "SI.objectiveResolution"))
    field = _first_scanfield(header)
    if roi_layout:
        if roi_index is None and len(roi_layout) > 1:
            field = None
        else:
            roi = roi_layout[roi_index or 0]
            if "size_xy" in roi and "center_xy" in roi:
                field = {"sizeXY": roi["size_xy"], "centerXY": roi["center_xy"]}
    if field is not None and um_per_degree:
        size = np.asarray(field.get("sizeXY", []), dtype=float).ravel()
        center = np.asarray(field.get("centerXY", [0, 0]), dtype=float).ravel()
        rows, columns = image_shape
        if size.size == 2 and center.size == 2 and np.all(np.isfinite(size)):
            width_m, height_m = size * um_per_degree * 1e-6
            spacing = [float(width_m / columns), float(height_m / rows)]
            corner = (center - size / 2) * um_per_degree * 1e-6
            origin = [float(corner[0]), float(corner[1])]
            fov = [float(width_m), float(height_m)]
            if depths:
                z_index = plane_index if plane_index is not None and plane_index < len(depths) else 0
                origin.append(depths[z_index] * 1e-6)
                if num_planes > 1 and plane_index is None:
                    step = z_step if z_step else (depths[1] - depths[0] if len(depths) > 1 else None)
                    if step:
                        spacing.append(abs(step) * 1e-6)
                        fov.append(abs(step) * 1e-6 * num_planes)
            out["grid_spacing"] = _tidy(spacing)
            out["origin_coords"] = _tidy(origin)
            out["field_of_view"] = _tidy(fov)
            out["reference_frame"] = (
                "x, y: ScanImage reference space (scan field center at 0, 0) converted with SI.objectiveResolution; "
                "z: SI.hStackManager.zs (objective z)"
            )
    return out


def ome_defaults(header: dict, num_planes: int, plane_index: int | None) -> dict:
    """NWB defaults from an OME-TIFF's metadata: pixel size in meters and the acquisition date."""
    out: dict[str, Any] = {}
    sizes = header.get("physical_sizes") or {}

    def meters(axis: str) -> float | None:
        value = sizes.get(axis)
        if not value:
            return None
        number, unit = value if isinstance(value, (list, tuple)) else (value, "µm")
        factor = _TO_METERS.get(str(unit))
        return None if factor is None else float(number) * factor

    x, y, z = meters("X"), meters("Y"), meters("Z")
    if x and y:
        spacing = [x, y]
        if z and num_planes > 1 and plane_index is None:
            spacing.append(z)
        out["grid_spacing"] = _tidy(spacing)
    date = header.get("acquisition_date")
    if isinstance(date, str) and date:
        try:
            out["session_start_time"] = datetime.fromisoformat(date.replace("Z", "+00:00"))
        except ValueError:
            pass
    if "session_start_time" not in out and isinstance(header.get("first_frame_time"), datetime):
        # pymmcore-plus writes no AcquisitionDate; its sidecar has the first frame's wall-clock time
        out["session_start_time"] = header["first_frame_time"]
    return out
