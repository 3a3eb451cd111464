"""Read the parts of OME-XML that an imaging reader needs: pixels, channels, planes and TiffData blocks.

The XML is parsed with the standard library after refusing document type declarations (so no entity
expansion can happen); element names are matched without their namespace, so every schema version
since 2008 reads the same way.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

from ...errors import FormatError, MetadataError, OphysioError

__all__ = ["OmePixels", "parse_ome_xml", "OME_TYPES", "to_seconds"]

OME_TYPES = {"int8": "i1", "int16": "i2", "int32": "i4", "uint8": "u1", "uint16": "u2", "uint32": "u4",
             "float": "f4", "double": "f8", "bit": "u1"}
_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0}


def to_seconds(value: float, unit: str | None) -> float:
    """A time in OME units as seconds."""
    unit = unit or "s"
    if unit not in _TIME_UNITS:
        raise MetadataError(f"unknown OME time unit {unit!r}")
    return value * _TIME_UNITS[unit]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


@dataclass
class TiffDataBlock:
    """One TiffData element: ``plane_count`` planes from (first_z, first_c, first_t) stored from ``ifd`` on."""

    ifd: int
    plane_count: int | None
    first_z: int
    first_c: int
    first_t: int
    file_name: str | None
    uuid: str | None


@dataclass
class OmePixels:
    """The Pixels of one OME Image."""

    image_index: int
    image_id: str
    image_name: str | None
    dimension_order: str
    dtype: np.dtype
    size_x: int
    size_y: int
    size_z: int
    size_c: int
    size_t: int
    channel_names: list[str]
    physical_sizes: dict = field(default_factory=dict)
    time_increment: float | None = None
    acquisition_date: str | None = None
    tiff_data: list[TiffDataBlock] = field(default_factory=list)
    #: (the_z, the_c, the_t) -> DeltaT in seconds
    delta_t: dict = field(default_factory=dict)

    def plane_index(self, z: int, c: int, t: int) -> int:
        """Linear index of a plane in this Pixels' DimensionOrder (XY then the rest, fastest first)."""
        sizes = {"Z": self.size_z, "C": self.size_c, "T": self.size_t}
        coords = {"Z": z, "C": c, "T": t}
        index, stride = 0, 1
        for axis in self.dimension_order[2:]:
            index += coords[axis] * stride
            stride *= sizes[axis]
        return index

    def plane_coords(self, index: int) -> tuple[int, int, int]:
        """(z, c, t) of a linear plane index."""
        sizes = {"Z": self.size_z, "C": self.size_c, "T": self.size_t}
        coords = {}
        for axis in self.dimension_order[2:]:
            index, coords[axis] = divmod(index, sizes[axis])
        return coords["Z"], coords["C"], coords["T"]

    @property
    def num_planes(self) -> int:
        return self.size_z * self.size_c * self.size_t


#: Channels an OME-XML may declare (SizeC) without listing them as Channel elements.
_MAX_UNLISTED_CHANNELS = 1024


def _int(element: ET.Element, name: str, default: int | None = None, where: str = "") -> int:
    text = element.get(name)
    if text is None:
        if default is None:
            raise MetadataError(f"{where}: the OME-XML Pixels element has no {name}")
        return default
    try:
        value = int(text)
    except ValueError:
        raise MetadataError(f"{where}: OME-XML {name}={text!r} is not an integer") from None
    if value < 0:
        raise MetadataError(f"{where}: OME-XML {name}={value} is negative")
    return value


def parse_ome_xml(text: str, where: str = "OME-XML") -> tuple[ET.Element, list[OmePixels]]:
    """The root element and the Pixels of every Image of an OME-XML document.

    Raises
    ------
    FormatError
        The text is not OME-XML, or declares a document type (refused).
    MetadataError
        A Pixels element lacks a size or has an unknown type or order.
    """
    try:
        return _parse_ome_xml(text, where)
    except OphysioError:
        raise
    except (ValueError, TypeError, OverflowError) as exc:  # int()/float() of a damaged attribute value
        raise MetadataError(f"{where}: an OME-XML attribute value cannot be read ({exc})") from None


def _parse_ome_xml(text: str, where: str) -> tuple[ET.Element, list[OmePixels]]:
    head = text[:4096]
    if "<!DOCTYPE" in head or "<!ENTITY" in text:
        raise FormatError(f"{where}: the OME-XML declares a document type or entities; refused for safety")
    try:
        root = ET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    except ET.ParseError as exc:
        raise FormatError(f"{where}: the OME-XML is not well-formed ({exc})") from None
    if _local(root.tag) != "OME":
        raise FormatError(f"{where}: the XML root is <{_local(root.tag)}>, not <OME>")
    images = []
    for i, image in enumerate(_children(root, "Image")):
        pixels_list = _children(image, "Pixels")
        if not pixels_list:
            raise MetadataError(f"{where}: Image {i} has no Pixels element")
        pixels = pixels_list[0]
        order = pixels.get("DimensionOrder", "XYZCT")
        if sorted(order) != sorted("XYZCT") or not order.startswith("XY"):
            raise MetadataError(f"{where}: Image {i} has DimensionOrder={order!r}; expected XY followed by Z, C, T")
        ptype = pixels.get("Type", "")
        if ptype not in OME_TYPES:
            raise MetadataError(f"{where}: Image {i} has pixel Type={ptype!r}, not one of {sorted(OME_TYPES)}")
        here = f"{where}, Image {i}"
        channels = _children(pixels, "Channel")
        names = []
        for c, channel in enumerate(channels):
            names.append(channel.get("Name") or str(c))  # roiextractors names unnamed channels "0", "1"...
        size_c = _int(pixels, "SizeC", 1, here)
        if size_c > max(len(channels), _MAX_UNLISTED_CHANNELS):  # a name is made for each: 2**31 of them hang
            raise MetadataError(f"{here}: OME-XML SizeC={size_c}, but the Pixels list {len(channels)} Channel "
                                "elements; the XML is damaged")
        spp = [_int(ch, "SamplesPerPixel", 1, here) for ch in channels]
        if any(s != 1 for s in spp):
            raise MetadataError(f"{here}: channels with SamplesPerPixel > 1 (RGB) are not imaging planes")
        if len(names) != size_c:
            names = [names[c] if c < len(names) else str(c) for c in range(size_c)]
        physical = {}
        for axis in "XYZ":
            value = pixels.get(f"PhysicalSize{axis}")
            if value is not None:
                physical[axis] = (float(value), pixels.get(f"PhysicalSize{axis}Unit", "µm"))
        increment = pixels.get("TimeIncrement")
        time_increment = None
        if increment is not None:
            time_increment = to_seconds(float(increment), pixels.get("TimeIncrementUnit"))
        acquisition = _children(image, "AcquisitionDate")
        result = OmePixels(
            image_index=i,
            image_id=image.get("ID", f"Image:{i}"),
            image_name=image.get("Name"),
            dimension_order=order,
            dtype=np.dtype(OME_TYPES[ptype]),
            size_x=_int(pixels, "SizeX", None, here),
            size_y=_int(pixels, "SizeY", None, here),
            size_z=_int(pixels, "SizeZ", 1, here),
            size_c=size_c,
            size_t=_int(pixels, "SizeT", 1, here),
            channel_names=names,
            physical_sizes=physical,
            time_increment=time_increment,
            acquisition_date=acquisition[0].text if acquisition else None,
        )
        for block in _children(pixels, "TiffData"):
            uuid_elements = _children(block, "UUID")
            result.tiff_data.append(TiffDataBlock(
                ifd=_int(block, "IFD", 0, here),
                plane_count=(_int(block, "PlaneCount", 0, here) if block.get("PlaneCount") is not None
                             else (1 if "IFD" in block.attrib else None)),
                first_z=_int(block, "FirstZ", 0, here),
                first_c=_int(block, "FirstC", 0, here),
                first_t=_int(block, "FirstT", 0, here),
                file_name=uuid_elements[0].get("FileName") if uuid_elements else None,
                uuid=(uuid_elements[0].text or "").strip() if uuid_elements else None,
            ))
        for plane in _children(pixels, "Plane"):
            if plane.get("DeltaT") is None:
                continue
            key = (_int(plane, "TheZ", 0, here), _int(plane, "TheC", 0, here), _int(plane, "TheT", 0, here))
            try:
                delta_t = float(plane.get("DeltaT"))
            except ValueError:
                raise MetadataError(f"{here}: OME-XML Plane DeltaT={plane.get('DeltaT')!r} is not a number") from None
            result.delta_t[key] = to_seconds(delta_t, plane.get("DeltaTUnit"))
        images.append(result)
    if not images:
        raise FormatError(f"{where}: the OME-XML describes no Image")
    return root, images
