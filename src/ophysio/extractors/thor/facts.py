"""The acquisition facts a ThorImageLS ``Experiment.xml`` records
(see :class:`~ophysio.extractors.facts.AcquisitionFacts`).

- ``software`` "ThorImageLS", ``software_version`` ``Software version``, ``manufacturer`` Thorlabs; the
  device description names the modality (``Modality name``) and the scanner (``LSM name``).
- ``session_start_time``: ``Date uTime`` (Unix seconds) is the instant; ``Date date`` is the same instant
  on the rig's clock (``MM/DD/YYYY hh:mm:ss``), so their difference is the rig's UTC offset and the start
  time is the local time with that offset (``2023-10-18 13:39:19-04:00``). With only one of them: the UTC
  instant, or the naive local time.
- ``pixel_size_um``: ``LSM pixelSizeUM`` (square pixels), else ``widthUM / pixelX``;
  ``field_of_view_um``: ``LSM heightUM, widthUM`` (and the stack's depth for volumes).
- ``plane_depths_um``: ``ZStage startPos`` (mm) + k x ``stepSizeUM`` for a z-stage stack, ``ZStage
  setupPositionMM`` for one plane; none for remote-focus planes (numbered, not in micrometers).
  ``plane_spacing_um``: ``|stepSizeUM|`` for a volume.
- ``frame_rate_hz``: the rate of saved frames (``LSM frameRate`` / averaging); ``volume_rate_hz`` the
  sampling rate of a volumetric stream.
- ``excitation_wavelength_nm``: the tunable laser's wavelength (``MultiPhotonLaser pos`` when the laser
  is enabled and the value is a two-photon wavelength, 650-1700 nm), else the one enabled MCLS line's
  ``wavelengthN``; emission wavelengths are not recorded.
- ``origin_um``: when the field is centred on the scanner's axis (``LSM offsetX``, ``offsetY``,
  ``fineOffsetX``, ``fineOffsetY`` all 0), the first pixel's corner relative to that axis, ``(-heightUM / 2,
  -widthUM / 2)``, with the first plane's depth; none for a field moved off the axis (the XML's offsets are
  not in micrometers).
- ``objective``: ``Magnification name`` (e.g. "16X").
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor
from .experiment import ThorExperiment

__all__ = ["thor_facts", "start_time", "REFERENCE_FRAME"]

REFERENCE_FRAME = ("x, y: the scanner's axis (the centre of a field with LSM offsetX = offsetY = 0) at 0, 0; "
                   "z: the ThorImageLS z-stage position (ZStage startPos / setupPositionMM)")

_DATE_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M:%S")


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def start_time(experiment: ThorExperiment) -> datetime | None:
    """When the acquisition started (see the module notes); None when ``<Date>`` says nothing usable."""
    text = experiment.get("Date", "date")
    local = None
    for fmt in _DATE_FORMATS:
        try:
            local = datetime.strptime(str(text).strip(), fmt)
            break
        except ValueError:
            continue
    seconds = _number(experiment.get("Date", "uTime"))
    utc = None
    if seconds is not None and 0 < seconds < 1e11:
        utc = datetime.fromtimestamp(int(seconds), tz=timezone.utc)
    if local is not None and utc is not None:
        offset = (local - utc.replace(tzinfo=None)).total_seconds()
        quarters = round(offset / 900)
        if abs(quarters) <= 14 * 4 and abs(offset - quarters * 900) <= 120:
            return local.replace(tzinfo=timezone(timedelta(minutes=15 * quarters)))
    return utc if utc is not None else local


def _excitation(experiment: ThorExperiment) -> float | None:
    enabled = _number(experiment.get("MultiPhotonLaser", "enable"))
    position = _number(experiment.get("MultiPhotonLaser", "pos"))
    if enabled and position is not None and 650 <= position <= 1700:
        return position
    lines = []
    for k in range(1, 5):
        if _number(experiment.get("MCLS", f"enable{k}")):
            wavelength = _number(experiment.get("MCLS", f"wavelength{k}"))
            if wavelength and wavelength > 0:
                lines.append(wavelength)
    return lines[0] if len(lines) == 1 else None


def thor_facts(extractor: ImagingExtractor) -> AcquisitionFacts:
    """The facts of one channel of a ThorImageLS acquisition."""
    facts = ImagingExtractor.get_acquisition_facts(extractor)
    ex: ThorExperiment = extractor.experiment
    version = ex.get("Software", "version")
    modality = ex.get("Modality", "name")
    scanner = ex.get("LSM", "name")
    description = "Thorlabs " + (f"{modality.lower()} " if modality else "") + "laser-scanning microscope"
    description += f" ({scanner})" if scanner else ""
    description += " controlled by ThorImageLS" + (f" {version}" if version else "")
    changes: dict[str, Any] = {"software": "ThorImageLS", "software_version": version, "manufacturer": "Thorlabs",
                               "device_description": description, "session_start_time": start_time(ex),
                               "excitation_wavelength_nm": _excitation(ex)}
    rows, columns = extractor.get_image_shape()
    size = _number(ex.get("LSM", "pixelSizeUM"))
    width, height = _number(ex.get("LSM", "widthUM")), _number(ex.get("LSM", "heightUM"))
    if size and size > 0:
        changes["pixel_size_um"] = (size, size)
    elif width and height and width > 0 and height > 0:
        changes["pixel_size_um"] = (height / rows, width / columns)
    depths = ex.plane_depths_um
    volumetric = extractor.get_num_planes() > 1
    if depths:
        changes["plane_depths_um"] = depths
    step = abs(depths[1] - depths[0]) if depths and len(depths) > 1 else None
    if volumetric and step:
        changes["plane_spacing_um"] = step
    if width and height and width > 0 and height > 0:
        changes["field_of_view_um"] = (height, width, step * len(depths)) if volumetric and step else (height, width)
    centred = all(_number(ex.get("LSM", key, 0)) == 0 for key in ("offsetX", "offsetY", "fineOffsetX", "fineOffsetY"))
    if centred and width and height and width > 0 and height > 0:
        origin: tuple[float, ...] = (-height / 2, -width / 2)
        changes["origin_um"] = (*origin, depths[0]) if depths else origin
        changes["reference_frame"] = REFERENCE_FRAME
    if volumetric:
        changes["frame_rate_hz"] = ex.frame_rate_hz / ex.averaging
    magnification = ex.get("Magnification", "name")
    if magnification:
        changes["objective"] = magnification
    return facts.replace(**changes)
