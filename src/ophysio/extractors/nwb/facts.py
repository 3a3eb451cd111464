"""What an NWB file records about a photon series, as ophysio's acquisition facts.

:func:`series_header` gathers, once when the file is opened, the series' attributes, its data's attributes
and storage, its ``ImagingPlane`` (with the optical channels), the plane's ``Device`` (and ``DeviceModel``)
and the session start time, as plain Python values; :func:`facts_from_header` turns them into
:class:`~ophysio.extractors.facts.AcquisitionFacts`:

- ``grid_spacing`` (x, y[, z]) in its ``unit`` -> ``pixel_size_um`` (row height = y, column width = x) and
  ``plane_spacing_um``; ``origin_coords`` (x, y[, z]) -> ``origin_um`` (y, x[, z]);
- plane depths: the ones ophysio writes in the plane's description ("planes at z = ... um"), else the
  origin's z plus the z spacing for each plane;
- ``excitation_lambda`` -> ``excitation_wavelength_nm``, the optical channel's ``emission_lambda`` ->
  ``emission_wavelengths_nm``, ``indicator`` and ``location`` -> ``indicator`` and ``brain_region``;
- the device's name, description and manufacturer; the series' ``field_of_view`` (x, y[, z]) and
  ``scan_line_rate``; the file's ``session_start_time``.

NaN (NWB's "unknown") and values of a unit ophysio does not know are left out (None).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from .tree import number, text

__all__ = ["series_header", "facts_from_header", "LENGTH_UNITS"]

#: Micrometers per unit of the length units NWB files use.
LENGTH_UNITS = {"meters": 1e6, "meter": 1e6, "m": 1e6, "millimeters": 1e3, "millimeter": 1e3, "mm": 1e3,
                "micrometers": 1.0, "micrometer": 1.0, "microns": 1.0, "micron": 1.0, "um": 1.0, "µm": 1.0,
                "nanometers": 1e-3, "nanometer": 1e-3, "nm": 1e-3}
_PLANES = re.compile(r"planes at z = ([-+0-9.eE, ]+) um")
_ONE_PLANE = re.compile(r"at z = ([-+0-9.eE]+) um")


def _safe(read, default=None):
    try:
        return read()
    except Exception:  # noqa: BLE001 - a damaged or unexpected metadata value is left out, never fatal
        return default


def _value(node, name: str) -> Any:
    child = node.child(name) if node is not None else None
    if child is None or child.is_group:
        return None
    return _safe(child.value)


def _numbers(value: Any) -> list[float] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        n = number(v)
        if n is None:
            return None
        out.append(n)
    return out


def _with_unit(node, name: str) -> dict | None:
    child = node.child(name) if node is not None else None
    if child is None or child.is_group:
        return None
    values = _numbers(_safe(child.value))
    if values is None:
        return None
    unit = text(_safe(child.attrs, {}).get("unit")) or "meters"
    return {"values": values, "unit": unit}


def _device(plane) -> dict | None:
    device = plane.child("device") if plane is not None else None
    if device is None:
        return None
    attrs = _safe(device.attrs, {})
    found = {"name": device.path.rsplit("/", 1)[-1], **{k: attrs[k] for k in ("description", "manufacturer",
                                                                               "model_number", "model_name",
                                                                               "serial_number") if k in attrs}}
    model = device.child("model")
    if model is not None:
        model_attrs = _safe(model.attrs, {})
        found["model"] = {"name": model.path.rsplit("/", 1)[-1],
                          **{k: model_attrs[k] for k in ("description", "manufacturer", "model_number")
                             if k in model_attrs}}
    return found


def _optical_channels(plane) -> list[dict]:
    channels = []
    for name in _safe(plane.children, []) if plane is not None else []:
        child = plane.child(name)
        if child is None or not child.is_group:
            continue
        if text(_safe(child.attrs, {}).get("neurodata_type")) != "OpticalChannel":
            continue
        channels.append({"name": name, "description": text(_value(child, "description")),
                         "emission_lambda": number(_value(child, "emission_lambda"))})
    return channels


def series_header(root, path: str, node, layout) -> dict:
    """The NWB facts of the photon series ``node`` (at ``path``) as a JSON-ready dict."""
    attrs = _safe(node.attrs, {})
    data = node.child("data")
    plane = node.child("imaging_plane")
    header: dict[str, Any] = {
        "photon_series": path,
        "neurodata_type": layout.neurodata_type,
        "nwb_version": text(_safe(root.attrs, {}).get("nwb_version")),
        "data_shape": list(layout.shape),
        "data_dims": "time, x, y, z" if layout.volumetric else "time, x, y",
        "dtype": str(layout.dtype),
        "series_attributes": {k: v for k, v in attrs.items() if k not in ("object_id",)},
        "data_attributes": _safe(data.attrs, {}) if data is not None else {},
        "timing": ({"timestamps": layout.timestamps} if layout.timestamps is not None
                   else {"starting_time": layout.starting_time, "rate": layout.rate}),
        "session_start_time": text(_value(root, "session_start_time")),
        "session_description": text(_value(root, "session_description")),
        "identifier": text(_value(root, "identifier")),
    }
    for name in ("field_of_view", "dimension"):
        value = _numbers(_value(node, name))
        if value is not None:
            header[name] = value
    if plane is not None:
        header["imaging_plane"] = {
            "name": plane.path.rsplit("/", 1)[-1],
            "description": text(_value(plane, "description")),
            "excitation_lambda": number(_value(plane, "excitation_lambda")),
            "imaging_rate": number(_value(plane, "imaging_rate")),
            "indicator": text(_value(plane, "indicator")),
            "location": text(_value(plane, "location")),
            "reference_frame": text(_value(plane, "reference_frame")),
            "grid_spacing": _with_unit(plane, "grid_spacing"),
            "origin_coords": _with_unit(plane, "origin_coords"),
            "optical_channels": _optical_channels(plane),
            "device": _device(plane),
        }
    return header


def _micrometers(entry: dict | None) -> list[float] | None:
    if not entry:
        return None
    factor = LENGTH_UNITS.get(str(entry.get("unit", "meters")).strip().lower())
    if factor is None:
        return None
    return [float(f"{v * factor:.12g}") for v in entry["values"]]


def _start_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def _depths(plane: dict, num_planes: int, volumetric: bool, origin: list[float] | None,
            spacing: list[float] | None) -> tuple[float, ...] | None:
    description = plane.get("description") or ""
    match = _PLANES.search(description) if volumetric else _ONE_PLANE.search(description)
    if match:
        try:
            values = tuple(float(v) for v in match.group(1).split(",") if v.strip())
        except ValueError:
            values = ()
        if len(values) == num_planes and all(math.isfinite(v) for v in values):
            return values
    if origin is not None and len(origin) > 2:
        if not volumetric:
            return (origin[2],)
        if spacing is not None and len(spacing) > 2:
            return tuple(float(f"{origin[2] + i * spacing[2]:.12g}") for i in range(num_planes))
    return None


def facts_from_header(header: dict, channel_name: str, num_planes: int, volumetric: bool) -> dict[str, Any]:
    """Keywords of :class:`~ophysio.extractors.facts.AcquisitionFacts` from :func:`series_header`."""
    plane = header.get("imaging_plane") or {}
    device = plane.get("device") or {}
    model = device.get("model") or {}
    spacing = _micrometers(plane.get("grid_spacing"))
    origin = _micrometers(plane.get("origin_coords"))
    facts: dict[str, Any] = {
        "device_name": device.get("name"),
        "device_description": text(device.get("description")),
        "manufacturer": text(model.get("manufacturer")) or text(device.get("manufacturer")),
        "session_start_time": _start_time(header.get("session_start_time")),
        "excitation_wavelength_nm": _positive(plane.get("excitation_lambda")),
        "indicator": plane.get("indicator") or None,
        "brain_region": plane.get("location") or None,
        "reference_frame": plane.get("reference_frame") or None,
        "line_rate_hz": _positive(number(header.get("series_attributes", {}).get("scan_line_rate"))),
    }
    channels = plane.get("optical_channels") or []
    if len(channels) == 1:
        facts["emission_wavelengths_nm"] = (_positive(channels[0].get("emission_lambda")),)
    if spacing is not None and len(spacing) >= 2 and all(v > 0 for v in spacing):
        facts["pixel_size_um"] = (spacing[1], spacing[0])
        if volumetric and len(spacing) > 2:
            facts["plane_spacing_um"] = spacing[2]
    if origin is not None and len(origin) >= 2:
        facts["origin_um"] = (origin[1], origin[0], *origin[2:3])
    depths = _depths(plane, num_planes, volumetric, origin, spacing)
    if depths is not None:
        facts["plane_depths_um"] = depths
    fov = header.get("field_of_view")
    if fov and len(fov) >= 2:
        fov_um = [float(f"{v * 1e6:.12g}") for v in fov]
        facts["field_of_view_um"] = (fov_um[1], fov_um[0], *fov_um[2:3])
    return facts


def _positive(value: Any) -> float | None:
    value = number(value)
    return value if value is not None and value > 0 else None
