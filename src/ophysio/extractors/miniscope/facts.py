"""The acquisition facts a Miniscope recording records (see :class:`~ophysio.extractors.facts.AcquisitionFacts`).

- ``device_name``: the device's ``deviceName`` (e.g. ``Miniscope``, ``HPC_miniscope1``), else its folder's name.
- ``device_description``: the Miniscope generation and ``deviceType`` (``Miniscope_V3``,
  ``Miniscope_V4_BNO``...), ``deviceID``, and the settings the software recorded at the start of the
  (first) recording: excitation LED power ``led0`` (the software's scale: 0-255 on V3, 0-100 % on V4),
  sensor ``gain``, electrowetting-lens focus ``ewl``, configured ``frameRate``, ``compression``, ``ROI``.
- ``software``: the Miniscope DAQ software (whose folder layout this is; it records no version).
- ``session_start_time``: the first recording's ``recordingStartTime`` (the rig's local time, naive).
- the rate is the one measured from the timestamps; the whole metaData.json files are the source header.

Pixel size, wavelengths and the LED's colour are not recorded by the software.
"""

from __future__ import annotations

from typing import Any

from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor

__all__ = ["miniscope_facts", "device_description"]

#: Device settings named in the description, in this order, with their words.
_SETTINGS = (("led0", "excitation LED power led0"), ("gain", "gain"), ("ewl", "electrowetting lens ewl"),
             ("frameRate", "frame rate setting"), ("compression", "compression"))


def _generation(device_type: str) -> str | None:
    lowered = device_type.lower()
    for generation in ("v4", "v3", "v2"):
        if f"_{generation}" in lowered or lowered.endswith(generation):
            return generation.upper()
    return None


def _value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    return str(value)


def device_description(device: dict, several_recordings: bool = False) -> str:
    """The device in words, from its metaData.json."""
    device_type = str(device.get("deviceType") or "")
    generation = _generation(device_type)
    words = "UCLA Miniscope" + (f" {generation}" if generation else "")
    details = [f"deviceType {device_type}"] if device_type else []
    if device.get("deviceID") is not None:
        details.append(f"deviceID {_value(device['deviceID'])}")
    if details:
        words += f" ({', '.join(details)})"
    settings = [f"{label} {_value(device[key])}" for key, label in _SETTINGS if device.get(key) not in (None, "")]
    if isinstance(device.get("ROI"), dict):
        settings.append(f"sensor ROI {_value(device['ROI'])}")
    if settings:
        when = "the first recording's start" if several_recordings else "the recording's start"
        words += f", recorded with the Miniscope DAQ software; settings at {when}: " + "; ".join(settings)
    return words


def miniscope_facts(extractor: ImagingExtractor) -> AcquisitionFacts:
    """The facts of a Miniscope recording (or session of recordings)."""
    facts = ImagingExtractor.get_acquisition_facts(extractor)
    header = facts.source_header
    device = header.get("device_metadata") or {}
    recordings = header.get("recordings") or []
    name = device.get("deviceName")
    if not isinstance(name, str) or not name.strip():
        folder = recordings[0].get("device_folder") if recordings else None
        name = folder.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] if isinstance(folder, str) else "Miniscope"
    return facts.replace(
        device_name=name.strip(),
        device_description=device_description(device, len(recordings) > 1),
        software="Miniscope DAQ software",
        session_start_time=extractor.session_start_time,
    )
