"""The acquisition facts a Scanbox info struct records (see :class:`~ophysio.extractors.facts.AcquisitionFacts`).

- ``software`` "Scanbox", ``software_version`` ``info.scanbox_version``; the manufacturer is
  Neurolabware; the device description names them, the objective (``info.objective``, or
  ``config.objective.name`` in newer versions) and the PMT gains (``config.pmt0_gain``,
  ``config.pmt1_gain``). ``objective`` is the objective's name.
- ``excitation_wavelength_nm``: ``config.wavelength`` (the laser's wavelength in nanometers, as typed in
  the Scanbox window, which keeps it within the laser's range, 700 to 1300 nm).
- ``line_rate_hz``: ``resfreq``, doubled when bidirectional; ``frame_rate_hz`` that over the lines of a
  frame; ``volume_rate_hz`` the frame rate over the planes (optotune volumes). A ``sampling_frequency=``
  given to the reader is the rate of its samples and replaces them.
- ``pixel_size_um``: ``(dycal, dxcal)`` when the info has them (newer versions); else the spatial
  calibration of the magnification used, ``calibration(config.magnification)`` (``config.magnification``
  is the 1-based index into the calibration and into ``config.magnification_list``): Scanbox's
  ``sbxspatialcalibration.m`` moves the stage by ``delta`` micrometers, measures the image shift ``uv``
  (rows, columns) in pixels and stores ``y = delta / u`` and ``x = delta / v``, the micrometers per line
  and per pixel, which the Scanbox window uses as such (its field of view is ``x * 796`` by ``y * lines``
  micrometers). Without a calibration the pixel size is None. ``field_of_view_um`` is the frame's size in
  micrometers.
- ``plane_depths_um``: ``otwave_um`` (the optotune's focus for each plane, in micrometers, recorded when
  the optotune was calibrated), relative to the objective's focal plane; ``plane_spacing_um`` its step
  when the planes are evenly spaced. The stage position (``config.knobby.pos``) is kept in the metadata
  only: no origin is given.
- ``session_start_time``: None: the info struct of the versions seen records no start time (a
  ``datetime`` field, as a six-number date vector or MATLAB's ``dd-mmm-yyyy HH:MM:SS`` text, is used
  when present).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np

from .._header_values import parse_epoch
from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor

__all__ = ["scanbox_facts", "pixel_size_um"]


def _positive(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and value > 0 else None


def pixel_size_um(info: dict) -> tuple[float, float] | None:
    """``(row height, column width)`` in micrometers from ``dycal``/``dxcal`` or the calibration of the
    magnification used, or None."""
    dy, dx = _positive(info.get("dycal")), _positive(info.get("dxcal"))
    if dy and dx:
        return (dy, dx)
    config = info.get("config")
    calibration = info.get("calibration")
    if not isinstance(config, dict):
        return None
    entries = [calibration] if isinstance(calibration, dict) else calibration
    magnification = config.get("magnification")
    if not isinstance(entries, list) or isinstance(magnification, bool) or not isinstance(magnification, int) \
            or not 1 <= magnification <= len(entries) or not isinstance(entries[magnification - 1], dict):
        return None
    entry = entries[magnification - 1]
    dy, dx = _positive(entry.get("y")), _positive(entry.get("x"))
    return (dy, dx) if dy and dx else None


def _objective(info: dict) -> str | None:
    objective = info.get("objective")
    if isinstance(objective, str) and objective.strip():
        return objective.strip()
    config = info.get("config")
    named = config.get("objective") if isinstance(config, dict) else None
    if isinstance(named, dict) and isinstance(named.get("name"), str) and named["name"].strip():
        return named["name"].strip()
    return named.strip() if isinstance(named, str) and named.strip() else None


def _start_time(info: dict) -> datetime | None:
    value = info.get("datetime")
    if isinstance(value, str):
        for pattern in ("%d-%b-%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"):
            try:
                return datetime.strptime(value.strip(), pattern)
            except ValueError:
                pass
        return None
    if isinstance(value, np.ndarray) and value.size == 6:
        return parse_epoch(value)
    return None


def scanbox_facts(extractor: ImagingExtractor) -> AcquisitionFacts:
    """The facts of one stream (channel, plane) of a Scanbox recording."""
    facts = ImagingExtractor.get_acquisition_facts(extractor)
    info, layout = extractor._info, extractor._layout
    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    version = info.get("scanbox_version")
    version = None if version is None or isinstance(version, list) else str(version)
    objective = _objective(info)
    description = "Two-photon microscope controlled by Scanbox" + (f" (scanbox_version {version})" if version else "")
    if objective:
        description += f", objective {objective}"
    gains = [f"{name} {config[key]:g}" for name, key in (("PMT0", "pmt0_gain"), ("PMT1", "pmt1_gain"))
             if isinstance(config.get(key), (int, float)) and not isinstance(config.get(key), bool)]
    if gains:
        description += ", PMT gains " + ", ".join(gains)
    changes: dict[str, Any] = {
        "device_name": "Scanbox",
        "device_description": description,
        "manufacturer": "Neurolabware",
        "software": "Scanbox",
        "software_version": version,
        "objective": objective,
        "excitation_wavelength_nm": _positive(config.get("wavelength")),
        "line_rate_hz": layout.line_rate_hz,
        "session_start_time": _start_time(info),
    }
    planes = layout.planes
    plane_index = extractor.plane_index
    from_info = not extractor._rate_given
    if planes > 1:
        rate = extractor.get_sampling_frequency()
        changes["volume_rate_hz"] = rate
        changes["frame_rate_hz"] = layout.frame_rate_hz if from_info else None
    size = pixel_size_um(info)
    if size is not None:
        rows, columns = extractor.get_image_shape()
        changes["pixel_size_um"] = size
        changes["field_of_view_um"] = (rows * size[0], columns * size[1])
    depths = layout.plane_depths_um
    if depths:
        if plane_index is not None:
            changes["plane_depths_um"] = (depths[plane_index],)
        else:
            changes["plane_depths_um"] = depths
            steps = np.diff(depths)
            if len(steps) and np.allclose(steps, steps[0]) and steps[0] != 0:
                changes["plane_spacing_um"] = abs(float(steps[0]))
    return facts.replace(**changes)
