"""The acquisition facts a MESc unit records (see :class:`~ophysio.extractors.facts.AcquisitionFacts`).

All come from the attributes of the unit read (``MSession_<i>/MUnit_<j>``):

- ``manufacturer`` "Femtonics", ``software`` "MESc", ``software_version`` from ``CreatingMEScVersion``
  ("MESc 3.3" gives "3.3"); the device description adds ``CreatingMEScRevision`` and the setup
  (``ExperimenterSetupID``).
- ``session_start_time``: ``MeasurementDatePosix`` (seconds since 1970 UTC) plus
  ``MeasurementDateNanoSecs``, as an aware UTC datetime (a POSIX time is absolute; the rig's own time
  zone is not recorded).
- ``frame_rate_hz``: 1 / frame period (``ZAxisConversionConversionLinearScale`` in its unit).
- ``pixel_size_um``: (``YAxisConversionConversionLinearScale``, ``XAxisConversionConversionLinearScale``)
  in their unit (µm), when the frame is (YDim, XDim) as MESc stores it.
- Geometry: ``GeomTransTransl`` is where the unit's image sits in MESc's space (µm; its z is the focal
  plane, the objective's ``SlowZ`` in ``MeasurementParamsXML``), and an axis's
  ``ConversionLinearOffset`` is the position of the centre of its first pixel (half a pixel in real
  files), so the first pixel's corner is at ``GeomTransTransl + offset - scale / 2`` along x and y.
  ``plane_depths_um`` is the translation's z; ``origin_um`` (y, x, z) and ``field_of_view_um`` are given
  when ``GeomTransRot`` is the identity quaternion ``[0, 0, 0, 1]`` (no rotation); the reference frame
  names the labeling origin (``LabelingOriginTransl``) too.
- No wavelength is recorded in the files MESc 3.3 writes.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor
from .header import LENGTH_UNITS_UM

__all__ = ["femtonics_facts", "measurement_date", "roiextractors_summary"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _integer(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def _floats(value: Any, size: int) -> np.ndarray | None:
    try:
        array = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None
    return array if array.size == size and np.all(np.isfinite(array)) else None


def measurement_date(attrs: dict, where: str) -> datetime | None:
    """``MeasurementDatePosix`` + ``MeasurementDateNanoSecs`` as an aware UTC datetime; None (with a warning
    naming ``where``) when they are not a valid time."""
    if "MeasurementDatePosix" not in attrs:
        return None
    seconds, nanoseconds = _integer(attrs["MeasurementDatePosix"]), _integer(attrs.get("MeasurementDateNanoSecs", 0))
    if seconds is None or nanoseconds is None or not 0 <= nanoseconds < 10**9 or not 0 < seconds < 253402300800:
        warnings.warn(f"{where}: MeasurementDatePosix {attrs['MeasurementDatePosix']!r} / MeasurementDateNanoSecs "
                      f"{attrs.get('MeasurementDateNanoSecs')!r} is not a valid time; the start time is left out",
                      stacklevel=3)
        return None
    return _EPOCH + timedelta(seconds=seconds, microseconds=nanoseconds / 1000)


def _axis_um(attrs: dict, axis: str) -> tuple[float, float] | None:
    """(scale, offset) of a space axis in micrometers, or None when not recorded in a length unit."""
    factor = LENGTH_UNITS_UM.get(str(attrs.get(f"{axis}AxisConversionUnitName", "")).strip())
    values = _floats([attrs.get(f"{axis}AxisConversionConversionLinearScale"),
                      attrs.get(f"{axis}AxisConversionConversionLinearOffset", 0.0)], 2)
    if factor is None or values is None or values[0] <= 0:
        return None
    return float(values[0] * factor), float(values[1] * factor)


def _software(attrs: dict) -> tuple[str | None, str]:
    version = attrs.get("CreatingMEScVersion")
    version = version.strip() if isinstance(version, str) and version.strip() else None
    number = version.removeprefix("MESc").strip() if version else None
    revision = _integer(attrs.get("CreatingMEScRevision"))
    setup = attrs.get("ExperimenterSetupID")
    text = "Femtonics microscope"
    if isinstance(setup, str) and setup.strip():
        text += f" (setup {setup.strip()})"
    text += " controlled by " + (version or "MESc")
    if revision is not None:
        text += f", revision {revision}"
    return number or None, text


def femtonics_facts(extractor: ImagingExtractor) -> AcquisitionFacts:
    """The facts of one channel of one MESc measurement unit."""
    facts = ImagingExtractor.get_acquisition_facts(extractor)
    header = facts.source_header
    attrs = header.get("unit_attrs") or {}
    where = f"{extractor.get_file_paths()[0]}: {header.get('session_name')}/{header.get('munit_name')}"
    version, description = _software(attrs)
    changes: dict[str, Any] = {"manufacturer": "Femtonics", "software": "MESc", "software_version": version,
                               "device_description": description,
                               "session_start_time": measurement_date(attrs, where)}
    x_axis, y_axis = _axis_um(attrs, "X"), _axis_um(attrs, "Y")
    if x_axis and y_axis and extractor._geometry_matches:
        (dx, x_offset), (dy, y_offset) = x_axis, y_axis
        changes["pixel_size_um"] = (dy, dx)
        rows, columns = extractor.get_image_shape()
        translation = _floats(attrs.get("GeomTransTransl"), 3)
        rotation = _floats(attrs.get("GeomTransRot"), 4)
        if translation is not None:
            tx, ty, tz = (float(v) for v in translation)
            changes["plane_depths_um"] = (tz,)
            if rotation is not None and np.array_equal(rotation, [0.0, 0.0, 0.0, 1.0]):
                changes["origin_um"] = (ty + y_offset - dy / 2, tx + x_offset - dx / 2, tz)
                changes["field_of_view_um"] = (rows * dy, columns * dx)
                labeling = _floats(attrs.get("LabelingOriginTransl"), 3)
                changes["reference_frame"] = (
                    "MESc space coordinates in micrometers (the unit's GeomTransTransl): x, y of the first pixel's "
                    "corner, z the focal plane (objective z)"
                    + (f"; the labeling origin (LabelingOriginTransl) is at z = {labeling[2]:g}" if labeling is not None
                       else ""))
    return facts.replace(**changes)


def _pmt_settings(xml: dict) -> dict[str, dict[str, float]]:
    devices = (xml.get("MeasurementParamsXML") or {}).get("devices") or {}
    out = {}
    for gear in devices.values():
        if gear.get("type") == "PMT" and "channel_name" in gear:
            try:
                out[str(gear["channel_name"])] = {"voltage": float(gear["reference_voltage"]),
                                                  "warmup_time": float(gear["warmup_time"])}
            except (KeyError, TypeError, ValueError):
                continue
    return out


def _array(value) -> np.ndarray | None:
    """A decoded numeric attribute as the float array h5py reads (None stays None, text stays as it is)."""
    if value is None:
        return None
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return value


def roiextractors_summary(extractor) -> dict[str, Any]:
    """The dictionary roiextractors' ``FemtonicsImagingExtractor._get_metadata`` returns (same keys), from
    the decoded attributes."""
    header = extractor.get_metadata()
    attrs = header["unit_attrs"]
    facts = extractor.get_acquisition_facts()
    params = (header["xml"].get("MeasurementParamsXML") or {}).get("params") or {}
    dims = [attrs.get(key) for key in ("XDim", "YDim", "ZDim")]
    return {
        "session_name": extractor.session_name,
        "munit_name": extractor.munit_name,
        "selected_channel": extractor.channel_name,
        "available_channels": extractor.get_channel_names(),
        "available_sessions": extractor.get_available_sessions(extractor.file_path),
        "available_munits": extractor.get_available_munits(extractor.file_path, extractor.session_name),
        "session_uuid": header["file_attrs"].get("Uuid"),
        "pixel_size_micrometers": {"x_size": attrs.get("XAxisConversionConversionLinearScale"),
                                   "y_size": attrs.get("YAxisConversionConversionLinearScale"),
                                   "x_units": attrs.get("XAxisConversionUnitName"),
                                   "y_units": attrs.get("YAxisConversionUnitName")},
        "image_shape_metadata": tuple(dims) if all(_integer(d) is not None for d in dims) else None,
        "session_start_time": facts.session_start_time,
        "experimenter_info": {"username": attrs.get("ExperimenterUsername", ""),
                              "setup_id": attrs.get("ExperimenterSetupID", ""),
                              "hostname": attrs.get("ExperimenterHostname", "")},
        # numpy arrays, as h5py gives roiextractors the attributes: neuroconv prints them into the imaging
        # plane's description, which then reads the same with either extractor
        "geometric_transformations": {"translation": _array(attrs.get("GeomTransTransl")),
                                      "rotation": _array(attrs.get("GeomTransRot")),
                                      "labeling_origin": _array(attrs.get("LabelingOriginTransl"))},
        "mesc_version_info": {"version": attrs.get("CreatingMEScVersion", ""),
                              "revision": attrs.get("CreatingMEScRevision")},
        "pmt_settings": _pmt_settings(header["xml"]),
        "scan_parameters": {k: params[k] for k in ("SizeX", "SizeY", "PixelSizeX", "PixelSizeY", "Pixelclock")
                            if k in params},
        "frame_duration_ms": extractor.get_frame_period() * 1e3,
        "sampling_frequency_hz": extractor.get_sampling_frequency(),
    }
