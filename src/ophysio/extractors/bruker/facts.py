"""The acquisition facts a PVScan XML records (see :class:`~ophysio.extractors.facts.AcquisitionFacts`).

- Device: ``device_name`` "Bruker Prairie View", ``manufacturer`` "Bruker", ``software`` "Prairie View" and
  ``software_version`` the root's ``version``; the description names them and the objective.
- ``session_start_time``: the root's ``date`` (``11/3/2022 11:20:34 AM``, the rig's local time, no zone), naive.
- ``pixel_size_um``: ``micronsPerPixel`` ``YAxis`` and ``XAxis``; ``field_of_view_um`` the image's extent.
- ``plane_depths_um``: each plane's z, the sum of the ``positionCurrent`` ``ZAxis`` positions of its frame
  (the focus drive plus, e.g., an electrically tunable lens' offset); the positions of each device are kept
  in ``get_metadata()["plane_positions_um"]``. ``plane_spacing_um``: the step between planes (else
  ``micronsPerPixel`` ``ZAxis``).
- ``excitation_wavelength_nm``: ``laserWavelength`` when the XML records it (the laser with power on, when
  there are several).
- ``objective``: ``objectiveLens`` with its ``objectiveLensNA``.
- ``frame_rate_hz``: for volumes, one over the frames' ``framePeriod``; ``volume_rate_hz`` the samples' rate.
  ``line_rate_hz``: one over ``scanLinePeriod``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor

__all__ = ["bruker_facts", "parse_pvscan_date"]

_DATE_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S",
                 "%d/%m/%Y %H:%M:%S")


def parse_pvscan_date(text: Any) -> datetime | None:
    """The root's ``date`` as a naive datetime (Prairie View writes the Windows short date and long time)."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = " ".join(text.split())
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _value(item: Any) -> Any:
    return item.get("value") if isinstance(item, dict) else item


def _float(item: Any) -> float | None:
    try:
        value = float(_value(item))
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def _state(header: dict, key: str) -> Any:
    frame = header.get("first_frame_state") or {}
    if key in frame:
        return frame[key]
    return (header.get("state") or {}).get(key)


def _excitation(state: dict) -> float | None:
    wavelengths = state.get("laserWavelength")
    if not isinstance(wavelengths, dict):
        return _float(wavelengths)
    values = {index: _float(item) for index, item in wavelengths.items()}
    values = {index: v for index, v in values.items() if v}
    if not values:
        return None
    if len(values) > 1:
        powers = state.get("laserPower")
        if isinstance(powers, dict):
            on = [index for index in values if (_float(powers.get(index)) or 0) > 0]
            if len(on) == 1:
                return values[on[0]]
    return next(iter(values.values()))


def bruker_facts(extractor: ImagingExtractor) -> AcquisitionFacts:
    """The facts of one channel (and plane) of a Prairie View acquisition."""
    facts = ImagingExtractor.get_acquisition_facts(extractor)
    header = facts.source_header
    state = header.get("state") or {}
    version = (header.get("attributes") or {}).get("version") or None
    lens, na = _value(state.get("objectiveLens")), _value(state.get("objectiveLensNA"))
    objective = None
    if lens:
        objective = f"{lens}, NA {na}" if na not in (None, "") else str(lens)
    description = "Bruker microscope controlled by Prairie View" + (f" {version}" if version else "")
    if objective:
        description += f", objective {objective}"
    changes: dict[str, Any] = {
        "device_name": "Bruker Prairie View", "manufacturer": "Bruker", "device_description": description,
        "software": "Prairie View", "software_version": version, "objective": objective,
        "session_start_time": parse_pvscan_date((header.get("attributes") or {}).get("date")),
        "excitation_wavelength_nm": _excitation(state),
    }
    microns = state.get("micronsPerPixel")
    rows, columns = extractor.get_image_shape()
    dx = _float(microns.get("XAxis")) if isinstance(microns, dict) else None
    dy = _float(microns.get("YAxis")) if isinstance(microns, dict) else None
    if dx and dy:
        changes["pixel_size_um"] = (dy, dx)
        changes["field_of_view_um"] = (rows * dy, columns * dx)
    line = _float(_state(header, "scanLinePeriod"))
    if line:
        changes["line_rate_hz"] = 1.0 / line
    positions = header.get("plane_positions_um") or {}
    depths = None
    if positions and all(None not in v and all(np.isfinite(v)) for v in positions.values()):
        depths = [round(float(sum(values)), 9) for values in zip(*positions.values())]
    plane_index = header.get("plane_index")
    volumetric = (header.get("num_planes") or 1) > 1
    if depths:
        if plane_index is not None:
            changes["plane_depths_um"] = (depths[plane_index],)
        elif volumetric:
            changes["plane_depths_um"] = tuple(depths)
        else:
            changes["plane_depths_um"] = (depths[0],)
    if volumetric:
        period = header.get("frame_period_s")
        changes["frame_rate_hz"] = 1.0 / period if period else None
        changes["volume_rate_hz"] = float(extractor.get_sampling_frequency())
    if volumetric and plane_index is None:
        steps = np.abs(np.diff(depths)) if depths and len(depths) > 1 else np.empty(0)
        if steps.size and np.allclose(steps, steps[0], rtol=1e-6, atol=1e-9) and steps[0] > 0:
            spacing = float(steps[0])
        else:
            spacing = _float(microns.get("ZAxis")) if isinstance(microns, dict) else None
        changes["plane_spacing_um"] = spacing
        if spacing and "field_of_view_um" in changes:
            changes["field_of_view_um"] = (*changes["field_of_view_um"], spacing * extractor.get_num_planes())
    return facts.replace(**changes)
