"""The acquisition facts an OME-TIFF's OME-XML records (see :class:`~ophysio.extractors.facts.AcquisitionFacts`).

- ``pixel_size_um``: ``PhysicalSizeY``, ``PhysicalSizeX`` (with their units) of the Image read, else the
  ``pixel_size_um`` of a pymmcore-plus sidecar when every frame record states the same one;
  ``plane_spacing_um``: ``PhysicalSizeZ`` for a volumetric stream.
- ``session_start_time``: the Image's ``AcquisitionDate`` (aware when it has a zone), else the first
  frame's wall-clock time from a pymmcore-plus sidecar.
- ``software``: the OME root's ``Creator``.
- Per channel: ``emission_wavelengths_nm`` (``EmissionWavelength``) and, for the channel read,
  ``excitation_wavelength_nm`` (``ExcitationWavelength``), when the XML has them.
- ``manufacturer``, ``device_name`` and ``objective`` from the Instrument the Image refers to (its
  Microscope's Manufacturer and Model, its Objective's Model), when the XML has one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor

__all__ = ["ome_facts"]

#: micrometers per unit of OME's length units
_TO_UM = {"m": 1e6, "cm": 1e4, "mm": 1e3, "µm": 1.0, "um": 1.0, "\u03bcm": 1.0, "nm": 1e-3, "pm": 1e-6}


def _um(value: Any, default_unit: str = "µm") -> float | None:
    if not value:
        return None
    number, unit = value if isinstance(value, (list, tuple)) else (value, default_unit)
    factor = _TO_UM.get(str(unit))
    return None if factor is None else float(number) * factor


def _nm(element: ET.Element, name: str) -> float | None:
    value = element.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    micrometers = _um((number, element.get(f"{name}Unit", "nm")))
    return None if micrometers is None else micrometers * 1e3


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _xml_facts(xml: str, image_id: str | None, channel_index: int) -> dict[str, Any]:
    """Software, wavelengths and instrument of the Image ``image_id`` (nothing for XML that does not parse)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return {}
    out: dict[str, Any] = {}
    if root.get("Creator"):
        out["software"] = root.get("Creator")
    images = _children(root, "Image")
    image = next((img for img in images if img.get("ID") == image_id), images[0] if images else None)
    if image is None:
        return out
    pixels = _children(image, "Pixels")
    channels = _children(pixels[0], "Channel") if pixels else []
    emission = tuple(_nm(ch, "EmissionWavelength") for ch in channels)
    if any(value is not None for value in emission):
        out["emission_wavelengths_nm"] = emission
    if channel_index < len(channels):
        out["excitation_wavelength_nm"] = _nm(channels[channel_index], "ExcitationWavelength")
    refs = _children(image, "InstrumentRef")
    instrument_id = refs[0].get("ID") if refs else None
    for instrument in _children(root, "Instrument"):
        if instrument_id is not None and instrument.get("ID") != instrument_id:
            continue
        for microscope in _children(instrument, "Microscope"):
            if microscope.get("Manufacturer"):
                out["manufacturer"] = microscope.get("Manufacturer")
            if microscope.get("Model"):
                out["device_name"] = microscope.get("Model")
        objectives = [o.get("Model") or o.get("ID") for o in _children(instrument, "Objective")]
        if len(objectives) == 1 and objectives[0]:
            out["objective"] = objectives[0]
        break
    return out


def ome_facts(extractor: ImagingExtractor) -> AcquisitionFacts:
    """The facts of one channel of one Image (position) of an OME-TIFF."""
    facts = ImagingExtractor.get_acquisition_facts(extractor)
    header = facts.source_header
    changes: dict[str, Any] = {}
    sizes = header.get("physical_sizes") or {}
    x, y, z = _um(sizes.get("X")), _um(sizes.get("Y")), _um(sizes.get("Z"))
    if x and y:
        changes["pixel_size_um"] = (y, x)
    elif header.get("sidecar_pixel_size_um"):
        # pymmcore-plus writes no PhysicalSize; its sidecar has the core's (square) pixel size of every frame
        size = float(header["sidecar_pixel_size_um"])
        changes["pixel_size_um"] = (size, size)
    if z and extractor.get_num_planes() > 1:
        changes["plane_spacing_um"] = z
    date = header.get("acquisition_date")
    if isinstance(date, str) and date:
        try:
            changes["session_start_time"] = datetime.fromisoformat(date.replace("Z", "+00:00"))
        except ValueError:
            pass
    if "session_start_time" not in changes and isinstance(header.get("first_frame_time"), datetime):
        # pymmcore-plus writes no AcquisitionDate; its sidecar has the first frame's wall-clock time
        changes["session_start_time"] = header["first_frame_time"]
    names = list(header.get("channel_names") or [])
    channel_index = names.index(extractor.channel_name) if extractor.channel_name in names else 0
    if isinstance(header.get("ome_xml"), str):
        changes.update(_xml_facts(header["ome_xml"], header.get("image_id"), channel_index))
    return facts.replace(**changes)
