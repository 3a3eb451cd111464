"""The acquisition facts an Inscopix movie's JSON footer records.

See :class:`~ophysio.extractors.facts.AcquisitionFacts`.

- ``device_name``: ``Inscopix`` and the microscope type (``extraProperties.microscope.type``: NVista3, nVoke2,
  Dual Color...); ``manufacturer``: Inscopix; ``device_description``: the type, serial numbers (microscope
  and acquisition box), the acquisition settings (exposure, gain, focus, LED powers in mW/mm^2, efocus of
  the planes) and the lens.
- ``software``/``software_version``: the acquisition software (``extraProperties.producer``), else the
  isxcore version that wrote the file.
- ``session_start_time``: ``timingInfo.start`` (seconds since the Unix epoch), aware, in the zone of its
  ``utcOffset``.
- ``pixel_size_um``: the size of a pixel in the tissue, only where Inscopix calibrates it: a movie through
  an integrated lens or a cranial window, whose micrometres per sensor pixel Inscopix gives at efocus 0
  and 1000 (isxcore's ``integratedBasePlateToScaling``, interpolated at the plane's efocus), times the
  movie's spatial downsampling. ``spacingInfo.pixelSize`` is not used: it is the sensor's pixel pitch
  (3 um times the binning), not a distance in the tissue.
- Plane depths are not given: efocus is in the lens' units (0-1000), not micrometres; the planes' efocus
  values are in the device description and
  :meth:`~ophysio.extractors.inscopix.InscopixImagingExtractor.get_plane_efocus`.
"""

from __future__ import annotations

import re
from typing import Any

from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor
from .layout import extra_properties

__all__ = ["inscopix_facts", "footer_facts", "microns_per_pixel"]

#: micrometres per sensor pixel at efocus 0 and at efocus 1000, by isxcore's base plate type number
_SCALING = {
    17: (0.82, 0.80), 38: (1.41, 1.50),  # cranial window (or no lens); the same, wide field
    2: (0.67, 0.81), 3: (0.63, 0.79), 4: (0.62, 0.78), 5: (0.61, 0.69), 6: (0.77, 0.80), 7: (0.75, 0.78),
    8: (0.76, 0.78), 9: (0.90, 0.97), 10: (0.90, 0.98),  # ProView integrated lenses
    13: (0.79, 0.80), 14: (0.80, 0.80), 15: (0.80, 0.80), 18: (0.77, 0.80), 16: (0.81, 0.80),
    37: (0.81, 0.84),  # ProView DC integrated lenses
}
#: base plate type number of each integrated lens' part number (``extraProperties.probe.id``)
_PROBES = {
    "1050-004417": 2, "1050-004415": 3, "1050-004414": 4, "1050-004413": 5, "1050-004637": 6,
    "1050-004416": 7, "1050-004418": 8, "1050-004419": 9, "1050-004420": 10, "1050-005441": 13,
    "1050-005442": 14, "1050-005443": 15, "1050-005473": 18, "1050-005475": 16, "1050-005474": 37,
}


def _get(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _positive_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def _base_plate(props: dict) -> int | None:
    """isxcore's base plate type of the movie's lens, or None when it has no calibration."""
    chosen = _get(props, "idps", "integratedBasePlate")
    if chosen is not None:
        try:
            return int(chosen)
        except (TypeError, ValueError):
            return None
    probe = props.get("probe")
    if not isinstance(probe, dict):
        return None
    if probe.get("name") == "Cranial Window or No Lens":
        return 38 if _get(props, "microscope", "widefield") is True else 17
    return _PROBES.get(str(probe.get("id")))


def microns_per_pixel(props: dict, efocus: int | None) -> float | None:
    """Micrometres in the tissue per pixel of the movie, where Inscopix calibrates its lens (else None)."""
    scaling = _SCALING.get(_base_plate(props))
    if scaling is None:
        return None
    if efocus is None:
        focus = _get(props, "microscope", "focus")
        try:
            efocus = int(focus)
        except (TypeError, ValueError):
            efocus = 0
    at_zero, at_full = scaling
    per_sensor_pixel = at_zero + (at_full - at_zero) * efocus / 1000.0
    downsampling = _positive_int(_get(props, "microscope", "downSamplingFactor")) * \
        _positive_int(_get(props, "idps", "spatialDownsampling"))
    return per_sensor_pixel * downsampling


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return f"{value:g}"


def _settings(props: dict, efocus: list) -> list[str]:
    """The acquisition settings in words (what the microscope section records)."""
    scope = props.get("microscope") if isinstance(props.get("microscope"), dict) else {}
    led = scope.get("led") if isinstance(scope.get("led"), dict) else {}
    parts = []
    for label, value, unit in (("exposure", scope.get("exp"), " ms"), ("gain", scope.get("gain"), ""),
                               ("focus", scope.get("focus"), "")):
        text = _number(value)
        if text is not None:
            parts.append(f"{label} {text}{unit}")
    dual = _get(scope, "dualColor", "enabled") is True
    leds = (("EX LED 1", "exPower"), ("EX LED 2", "exPower2")) if dual else (("EX LED", "exPower"),
                                                                             ("OG LED", "ogPower"))
    for label, key in leds:
        text = _number(led.get(key))
        if text is not None:
            parts.append(f"{label} power {text} mW/mm^2")
    known = [e for e in efocus if e is not None]
    if known:
        parts.append(("efocus " if len(known) == 1 else "planes at efocus ") + ", ".join(str(e) for e in known))
    return parts


def footer_facts(header: dict, timing, efocus: list, shape: tuple[int, int]) -> dict[str, Any]:
    """The facts an .isxd footer records (movie or cell set), as changes to the base facts: device,
    manufacturer, software, session start (``timing``: the footer's :class:`~.footer.Timing`) and, where
    Inscopix calibrates the lens, the pixel size at the planes' ``efocus`` for a field of ``shape``."""
    props = extra_properties(header)
    scope = props.get("microscope") if isinstance(props.get("microscope"), dict) else {}
    changes: dict[str, Any] = {"manufacturer": "Inscopix", "session_start_time": timing.start_datetime()}
    kind = scope.get("type")
    name = f"Inscopix {kind}" if isinstance(kind, str) and kind else "Inscopix microscope"
    changes["device_name"] = name
    words = [name]
    if isinstance(scope.get("serial"), str) and scope["serial"]:
        words.append(f"serial {scope['serial']}")
    if isinstance(scope.get("systemSerial"), str) and scope["systemSerial"]:
        words.append(f"acquisition box {scope['systemSerial']}")
    words.extend(_settings(props, efocus))
    probe = props.get("probe")
    if isinstance(probe, dict) and isinstance(probe.get("name"), str) and probe["name"] not in ("", "None"):
        words.append(f"lens {probe['name']}")
    changes["device_description"] = "; ".join(words)
    producer = props.get("producer") if isinstance(props.get("producer"), dict) else {}
    core = header.get("producer") if isinstance(header.get("producer"), dict) else {}
    if isinstance(producer.get("name"), str):
        changes["software"] = f"Inscopix {producer['name']}"
        version = producer.get("versionBE") or producer.get("version")
        if isinstance(version, str):
            changes["software_version"] = re.split(r"[-\s]", version)[0]
    elif isinstance(core.get("name"), str):
        changes["software"] = core["name"]
        if isinstance(core.get("version"), list):
            changes["software_version"] = ".".join(str(v) for v in core["version"])
    sizes = {microns_per_pixel(props, e) for e in efocus}
    if len(sizes) == 1 and None not in sizes:
        size = sizes.pop()
        rows, columns = shape
        changes["pixel_size_um"] = (size, size)
        changes["field_of_view_um"] = (rows * size, columns * size)
    return changes


def inscopix_facts(extractor: ImagingExtractor) -> AcquisitionFacts:
    """The facts of one stream (one plane or volume, one colour) of an Inscopix movie."""
    facts = ImagingExtractor.get_acquisition_facts(extractor)
    changes = footer_facts(extractor.get_metadata(), extractor.timing, extractor.get_plane_efocus(),
                           extractor.get_image_shape())
    return facts.replace(**changes)
