"""Acquisition facts as NWB metadata entries, for every interface (imaging and segmentation) alike.

Lengths go from micrometers (ophysio's facts, (y, x[, z]) order) to meters in NWB's (x, y[, z]) order,
rounded to 12 significant digits so that unit conversions leave no floating-point noise.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["clean_name", "meters", "device_entry", "optical_channel_entry", "add_plane_facts", "describe_processing"]


def clean_name(text: str) -> str:
    """An NWB-friendly name part: letters and digits, words capitalised ('Channel 1' -> 'Channel1')."""
    words = re.split(r"[^0-9A-Za-z]+", str(text))
    return "".join(w[:1].upper() + w[1:] for w in words if w) or "Channel"


def _tidy(values) -> list[float]:
    """Round away floating-point noise of unit conversions (12 significant digits)."""
    return [float(f"{v:.12g}") for v in values]


def meters(micrometers) -> list[float]:
    return _tidy(float(v) * 1e-6 for v in micrometers)


def device_entry(facts, devices: dict[str, dict]) -> str:
    """The facts' device (``device_name``, else "Microscope"), added to ``devices`` unless named there; its name."""
    device: dict[str, Any] = {"name": facts.device_name or "Microscope"}
    if facts.device_description:
        device["description"] = facts.device_description
    if facts.manufacturer:
        device["manufacturer"] = facts.manufacturer
    devices.setdefault(device["name"], device)
    return device["name"]


def optical_channel_entry(channel: str, emission_wavelength_nm: float | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": clean_name(channel), "description": f"channel {channel} of the source"}
    if emission_wavelength_nm:
        entry["emission_lambda"] = float(emission_wavelength_nm)
    return entry


def add_plane_facts(plane: dict[str, Any], facts, rate: float | None, *, plane_spacing: bool = True) -> None:
    """Fill an ImagingPlane entry from the facts: rate, excitation, indicator, location, grid spacing (with
    the plane spacing when ``plane_spacing``), origin and the reference frame they are given in."""
    if rate is not None:
        plane["imaging_rate"] = float(rate)
    if facts.excitation_wavelength_nm:
        plane["excitation_lambda"] = float(facts.excitation_wavelength_nm)
    if facts.indicator:
        plane["indicator"] = facts.indicator
    if facts.brain_region:
        plane["location"] = facts.brain_region
    if facts.pixel_size_um is not None:
        dy, dx = facts.pixel_size_um
        plane["grid_spacing"] = meters([dx, dy] + ([facts.plane_spacing_um] if facts.plane_spacing_um
                                                    and plane_spacing else []))
    if facts.origin_um is not None:
        y, x, *z = facts.origin_um
        plane["origin_coords"] = meters([x, y, *z])
    if facts.reference_frame and ("grid_spacing" in plane or "origin_coords" in plane):
        plane["reference_frame"] = facts.reference_frame


def describe_processing(entry: dict, facts) -> None:
    """Say in a photon series entry what was done to its pixels on the way from the files (the facts'
    processing steps: corrections, a stitched canvas): each step's sentence joins the description, and
    when a step changed pixel values the comments say that the data are not raw."""
    steps = facts.processing
    if not steps:
        return
    entry["description"] += "; " + "; ".join(step.description for step in steps)
    changed = [step.name for step in steps if step.changes_values]
    if changed:
        entry["comments"] = (
            f"Processed, not raw: ophysio changed the recorded pixel values on the way to NWB ({', '.join(changed)}); "
            "the description says how, and the scratch dataset source_metadata_<series name> lists each step with "
            "its numbers under metadata.ophysio_processing."
        )
