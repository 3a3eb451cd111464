"""The acquisition facts a ScanImage 2016+ header records (see :class:`~ophysio.extractors.facts.AcquisitionFacts`).

- ``session_start_time``: the first frame's ``epoch`` (local time of the rig, no zone), naive.
- ``software`` "ScanImage", ``software_version`` ``SI.VERSION_MAJOR.VERSION_MINOR``; the device
  description names them and ``SI.imagingSystem``; the manufacturer is Vidrio Technologies.
- ``frame_rate_hz`` ``SI.hRoiManager.scanFrameRate``, ``volume_rate_hz`` ``scanVolumeRate`` (volumes),
  ``line_rate_hz`` 1 / ``SI.hRoiManager.linePeriod``.
- ``plane_depths_um``: ``SI.hStackManager.zs`` (of the plane read, with ``plane_index``);
  ``plane_spacing_um``: ``stackZStepSize`` (else the first two depths' difference) for a volume.
- Geometry from the scanfield of the ROI read (the first imaging ROI for a single-ROI acquisition):
  ``sizeXY`` and ``centerXY`` are ScanImage reference-space degrees, converted with
  ``SI.objectiveResolution`` (micrometers per degree). ``pixel_size_um`` is the field divided by the
  pixels, ``origin_um`` the field's corner ``(y, x)`` plus the plane's depth, ``field_of_view_um`` the
  field (plus the volume's depth). A multi-ROI page read whole (ROIs stacked) has no single pixel grid,
  so it has no geometry. A stitched canvas (``roi_mode="stitch"``) is one grid: the ROIs' common pixel
  pitch and the canvas's corner; ROIs side by side (``"concat"``) have the pitch but no position. Both
  add a ``roi_stitch`` / ``roi_concat`` processing step (pixels as recorded, placed on a canvas).
- ``roi``: the ROI read, with its name, the number of ROIs and its ``time_offset_s``, for a multi-ROI
  acquisition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._header_values import as_list, find_value, number, parse_epoch
from ..facts import AcquisitionFacts, ProcessingStep, StreamRoi
from ..imaging import ImagingExtractor

__all__ = ["scanimage_facts"]

REFERENCE_FRAME = (
    "x, y: ScanImage reference space (scan field center at 0, 0) converted with SI.objectiveResolution; "
    "z: SI.hStackManager.zs (objective z)"
)


def _first_scanfield(header: Any) -> dict | None:
    groups = find_value(header, "RoiGroups") or find_value(header, "roi_groups")
    imaging = groups.get("imagingRoiGroup") if isinstance(groups, dict) else find_value(header, "imagingRoiGroup")
    if not isinstance(imaging, dict):
        return None
    for roi in as_list(imaging.get("rois")):
        if not isinstance(roi, dict) or roi.get("enable", 1) in (0, False):
            continue
        for field in as_list(roi.get("scanfields")):
            if isinstance(field, dict) and "sizeXY" in field:
                return field
    return None


def scanimage_facts(extractor: ImagingExtractor) -> AcquisitionFacts:
    """The facts of one stream (channel, ROI, plane) of a ScanImage acquisition."""
    facts = ImagingExtractor.get_acquisition_facts(extractor)
    header = facts.source_header
    changes: dict[str, Any] = {"session_start_time": parse_epoch(find_value(header, "epoch")),
                               "software": "ScanImage", "manufacturer": "Vidrio Technologies"}
    major = find_value(header, "SI.VERSION_MAJOR")
    minor = find_value(header, "SI.VERSION_MINOR")
    system = find_value(header, "SI.imagingSystem") or find_value(header, "SI.hScan2D.name")
    version = ".".join(str(v) for v in (major, minor) if v not in (None, ""))
    changes["software_version"] = version or None
    description = "ScanImage" + (f" {version}" if version else "")
    if isinstance(system, str) and system:
        description += f", imaging system {system}"
    changes["device_description"] = f"Microscope controlled by {description}"
    line_period = number(find_value(header, "SI.hRoiManager.linePeriod"))
    if line_period:
        changes["line_rate_hz"] = 1.0 / line_period
    frame_rate = number(find_value(header, "SI.hRoiManager.scanFrameRate"))
    if frame_rate:
        changes["frame_rate_hz"] = frame_rate
    volume_rate = number(find_value(header, "SI.hRoiManager.scanVolumeRate"))
    volumetric_acquisition = extractor.get_num_planes() > 1 or extractor.plane_index is not None
    changes["volume_rate_hz"] = volume_rate if volumetric_acquisition and volume_rate else None

    zs = find_value(header, "SI.hStackManager.zs")
    depths = [float(z) for z in np.ravel(np.asarray(zs, dtype=float))] if zs is not None and number(zs) is not None \
        else []
    plane_index = extractor.plane_index
    num_planes = extractor.get_num_planes()
    if depths:
        if plane_index is None:
            changes["plane_depths_um"] = tuple(depths)
        elif plane_index < len(depths):
            changes["plane_depths_um"] = (depths[plane_index],)
    z_step = number(find_value(header, "SI.hStackManager.stackZStepSize"))
    step = None
    if depths and num_planes > 1 and plane_index is None:
        step = z_step if z_step else (depths[1] - depths[0] if len(depths) > 1 else None)
        changes["plane_spacing_um"] = abs(step) if step else None

    layout = extractor.get_roi_layout()
    roi_index = extractor.roi_index
    if roi_index is not None and len(layout) > 1:
        entry = layout[roi_index]
        changes["roi"] = StreamRoi(index=roi_index, name=entry.get("name"), count=len(layout),
                                   time_offset_s=entry.get("time_offset_s"))

    um_per_degree = number(find_value(header, "SI.objectiveResolution"))
    field = _first_scanfield(header)
    canvas = extractor.get_canvas() if hasattr(extractor, "get_canvas") else None
    if canvas is not None:
        changes["processing"] = (*facts.processing, ProcessingStep(
            canvas["name"], extractor._canvas.description(), canvas, changes_values=False))
        field = None
        pitch = canvas["pixel_pitch_deg"]
        rows, columns = canvas["shape"]
        if canvas["corner_deg"] is not None:  # stitched: one grid, placed where the scanfields are
            top, left = canvas["corner_deg"]
            field = {"sizeXY": [columns * pitch[1], rows * pitch[0]],
                     "centerXY": [left + columns * pitch[1] / 2, top + rows * pitch[0] / 2]}
        elif pitch is not None and um_per_degree:  # side by side: the pixels' size, but no position
            changes["pixel_size_um"] = (pitch[0] * um_per_degree, pitch[1] * um_per_degree)
    elif layout:
        if roi_index is None and len(layout) > 1:
            field = None
        else:
            roi = layout[roi_index or 0]
            if "size_xy" in roi and "center_xy" in roi:
                field = {"sizeXY": roi["size_xy"], "centerXY": roi["center_xy"]}
    if field is not None and um_per_degree:
        size = np.asarray(field.get("sizeXY", []), dtype=float).ravel()
        center = np.asarray(field.get("centerXY", [0, 0]), dtype=float).ravel()
        rows, columns = extractor.get_image_shape()
        if size.size == 2 and center.size == 2 and np.all(np.isfinite(size)):
            width, height = (float(v) for v in size * um_per_degree)
            corner_x, corner_y = (float(v) for v in (center - size / 2) * um_per_degree)
            origin: tuple[float, ...] = (corner_y, corner_x)
            fov: tuple[float, ...] = (height, width)
            if depths:
                z_index = plane_index if plane_index is not None and plane_index < len(depths) else 0
                origin = (*origin, depths[z_index])
                if step:
                    fov = (*fov, abs(step) * num_planes)
            changes.update(pixel_size_um=(height / rows, width / columns), origin_um=origin, field_of_view_um=fov,
                           reference_frame=REFERENCE_FRAME)
    return facts.replace(**changes)
