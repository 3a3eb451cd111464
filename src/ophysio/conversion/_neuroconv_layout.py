"""neuroconv's metadata layouts, read into ophysio's.

neuroconv (0.10) writes two layouts, and a lab's YAML files may hold either:

- the keyed layout: ``Devices: {KEY: {name, description, device_model_metadata_key, ...}}`` and
  ``DeviceModels: {KEY: {name, manufacturer, model_number, description}}`` at the top, and in ``Ophys``
  ``ImagingPlanes: {KEY: {name, ..., device_metadata_key}}`` and
  ``MicroscopySeries: {KEY: {name, ..., imaging_plane_metadata_key}}``;
- the list layout of earlier versions: ``Ophys.Device``, ``Ophys.ImagingPlane`` (as ophysio's) and
  ``Ophys.TwoPhotonSeries`` / ``Ophys.OnePhotonSeries`` lists.

Both become ophysio's ``Ophys.Device`` / ``Ophys.ImagingPlane`` / ``Ophys.PhotonSeries`` lists: keys are
resolved to names, a series' NWB type comes from the list it was under (``MicroscopySeries`` leave it to
the conversion: two-photon unless ``--one-photon``). neuroconv's template marks blanks with ``None``;
those are left out, so that a blank is reported missing rather than written.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import MetadataError

__all__ = ["to_ophysio_layout"]

_KEYED = ("ImagingPlanes", "MicroscopySeries")
_SERIES_LISTS = ("TwoPhotonSeries", "OnePhotonSeries")


def _is_neuroconv(data: dict) -> bool:
    ophys = data.get("Ophys")
    ophys = ophys if isinstance(ophys, dict) else {}
    return ("Devices" in data or "DeviceModels" in data
            or any(key in ophys for key in _KEYED + _SERIES_LISTS))


def _entry(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise MetadataError(f"{where}: must be a mapping of field names to values, not {type(value).__name__}")
    return {key: val for key, val in value.items() if val is not None}


def _registry(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MetadataError(f"{where}: neuroconv keys these entries by metadata_key (KEY: {{name: ...}}), "
                            f"so it must be a mapping, not {type(value).__name__}")
    return value


def to_ophysio_layout(data: Any) -> Any:
    """``data`` with neuroconv's keyed or list layout rewritten to ophysio's lists (a copy; other input as is)."""
    if not isinstance(data, dict) or not _is_neuroconv(data):
        return data
    data = copy.deepcopy(data)
    ophys = data.get("Ophys")
    ophys = dict(ophys) if isinstance(ophys, dict) else {}

    models = _registry(data.pop("DeviceModels", None), "DeviceModels")
    device_names: dict[str, str] = {}
    devices = []
    for key, value in _registry(data.pop("Devices", None), "Devices").items():
        entry = _entry(value, f"Devices.{key}")
        model_key = entry.pop("device_model_metadata_key", None)
        if model_key is not None:
            if model_key not in models:
                raise MetadataError(f"Devices.{key}.device_model_metadata_key: no DeviceModels entry {model_key!r}")
            model = _entry(models[model_key], f"DeviceModels.{model_key}")
            if "manufacturer" in model:
                entry.setdefault("manufacturer", model["manufacturer"])
            named = " ".join(str(model[field]) for field in ("name", "model_number") if field in model)
            parts = [f"model {named}" if named else "", model.get("description", "")]
            if any(parts) and "description" not in entry:
                entry["description"] = "; ".join(p for p in parts if p)
        entry.setdefault("name", str(key))
        device_names[key] = entry["name"]
        devices.append(entry)
    if devices:
        ophys["Device"] = list(ophys.get("Device") or []) + devices

    plane_names: dict[str, str] = {}
    planes = []
    for key, value in _registry(ophys.pop("ImagingPlanes", None), "Ophys.ImagingPlanes").items():
        entry = _entry(value, f"Ophys.ImagingPlanes.{key}")
        device_key = entry.pop("device_metadata_key", None)
        if device_key is not None:
            if device_key not in device_names:
                raise MetadataError(f"Ophys.ImagingPlanes.{key}.device_metadata_key: no Devices entry {device_key!r}")
            entry["device"] = device_names[device_key]
        if "optical_channel" in entry and isinstance(entry["optical_channel"], list):
            entry["optical_channel"] = [_entry(ch, f"Ophys.ImagingPlanes.{key}.optical_channel")
                                        for ch in entry["optical_channel"]]
        if "name" in entry:
            plane_names[key] = entry["name"]
        planes.append(entry)
    if planes:
        ophys["ImagingPlane"] = list(ophys.get("ImagingPlane") or []) + planes

    series = list(ophys.get("PhotonSeries") or [])
    for key, value in _registry(ophys.pop("MicroscopySeries", None), "Ophys.MicroscopySeries").items():
        entry = _entry(value, f"Ophys.MicroscopySeries.{key}")
        plane_key = entry.pop("imaging_plane_metadata_key", None)
        if plane_key is not None and plane_key in plane_names:
            entry["imaging_plane"] = plane_names[plane_key]
        series.append(entry)
    for kind in _SERIES_LISTS:
        listed = ophys.pop(kind, None)
        if listed is None:
            continue
        if not isinstance(listed, list):
            raise MetadataError(f"Ophys.{kind}: must be a list of series, not {type(listed).__name__}")
        for i, value in enumerate(listed):
            entry = _entry(value, f"Ophys.{kind}[{i}]")
            if entry.get("type", kind) != kind:
                raise MetadataError(f"Ophys.{kind}[{i}].type is {entry['type']!r}; an entry of {kind} is a {kind}")
            entry["type"] = kind
            series.append(entry)
    if series:
        ophys["PhotonSeries"] = series
    data["Ophys"] = ophys
    return data
