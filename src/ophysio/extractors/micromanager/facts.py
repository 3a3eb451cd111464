"""The acquisition facts a Micro-Manager stack records (see :class:`~ophysio.extractors.facts.AcquisitionFacts`).

- ``software`` "Micro-Manager", ``software_version`` the summary's ``MicroManagerVersion`` (its first word).
- The device is the camera of the first image's JSON: ``Camera`` (else ``Core-Camera``) is its device
  label; ``<label>-CameraName`` its model (the name, as Micro-Manager's OME-XML makes it the Detector
  Model), with ``<label>-Name`` (the device adapter), ``<label>-Description`` and ``<label>-CameraID``
  in the description.
- ``pixel_size_um``: the image's ``PixelSizeUm`` (Micro-Manager 2), else the summary's ``PixelSize_um``
  (1.4); 0 means not calibrated.
- ``plane_depths_um``: the ``ZPositionUm`` of the first sample's planes; ``plane_spacing_um`` the
  summary's ``z-step_um`` for a volumetric stream.
- ``session_start_time``: the summary's ``StartTime`` (2.x, ``2024-03-05 14:22:31.123 -0800``) or ``Time``
  (1.4, with a weekday), aware when it has a zone.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor

__all__ = ["micromanager_facts", "parse_start_time"]

_FORMATS = ("%Y-%m-%d %H:%M:%S.%f %z", "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S")


def parse_start_time(value: Any) -> datetime | None:
    """Micro-Manager's start time text as a datetime (aware when it has a zone), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = re.sub(r"^(\d{4}-\d{2}-\d{2})\s+[^\d\s:+-]+\s+", r"\1 ", value.strip())  # 1.4's weekday, any language
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 and number == number and number != float("inf") else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def micromanager_facts(extractor: ImagingExtractor) -> AcquisitionFacts:
    """The facts of one channel of one position of a Micro-Manager stack dataset."""
    facts = ImagingExtractor.get_acquisition_facts(extractor)
    summary = extractor._summary
    version = _text(summary.get("MicroManagerVersion"))
    version = version.split()[0] if version else None
    changes: dict[str, Any] = {"software": "Micro-Manager", "software_version": version,
                               "session_start_time": parse_start_time(summary.get("StartTime") or summary.get("Time"))}
    record = extractor.get_image_metadata(0) if extractor.get_num_samples() else {}
    camera = _text(record.get("Camera")) or _text(record.get("Core-Camera"))
    if camera:
        model = _text(record.get(f"{camera}-CameraName"))
        details = [f"{key} {value}" for key, value in (
            ("device adapter", _text(record.get(f"{camera}-Name"))),
            ("described as", _text(record.get(f"{camera}-Description"))),
            ("serial", _text(record.get(f"{camera}-CameraID")))) if value]
        changes["device_name"] = model or camera
        changes["device_description"] = (f"Camera {camera!r}" + (f" ({model})" if model else "")
                                         + (f", {', '.join(details)}" if details else "")
                                         + f", controlled by Micro-Manager{f' {version}' if version else ''}")
    size = _positive(record.get("PixelSizeUm")) or _positive(summary.get("PixelSize_um"))
    if size:
        changes["pixel_size_um"] = (size, size)
    planes = extractor.get_num_planes()
    records = [record] + [extractor.get_image_metadata(0, z) for z in range(1, planes)] if record else []
    depths = []
    for r in records:
        try:
            depths.append(float(r["ZPositionUm"]))
        except (KeyError, TypeError, ValueError):
            break
    if records and len(depths) == planes:
        changes["plane_depths_um"] = tuple(depths)
    step = summary.get("z-step_um")
    if planes > 1 and isinstance(step, (int, float)) and step:
        changes["plane_spacing_um"] = abs(float(step))
    return facts.replace(**changes)
