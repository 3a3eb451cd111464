"""The attributes of a MESc file, decoded to plain Python values.

MESc stores its texts in two ways: names, titles, unit names and version strings as NUL-terminated
arrays of UTF-16 code units (int16 in the files MESc 3.3 writes: ``Channel_0_Name`` is ``[85, 71, 0]``,
"UG"), and the XML texts (``MeasurementParamsXML``, ``ViewerParamsXML``) as byte strings in Latin-1
(their unit names hold a bare ``0xB5`` for µ). ``Uuid`` attributes are 16 bytes. Everything else is a
number or an array of numbers. :func:`decode_attribute` turns each into what it means;
:func:`decoded_attributes` decodes a whole group. The XML is parsed with the standard library after
refusing document type declarations, so no entity is ever expanded.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np

from ...errors import MetadataError
from ..axes import python_value

__all__ = ["decode_text", "decode_attribute", "decoded_attributes", "xml_summary", "read_attribute",
           "TIME_UNITS_S", "LENGTH_UNITS_UM"]

#: seconds per unit of a MESc time axis (``ZAxisConversionUnitName``)
TIME_UNITS_S = {"ms": 1e-3, "s": 1.0, "us": 1e-6, "µs": 1e-6, "\u03bcs": 1e-6, "ns": 1e-9}
#: micrometers per unit of a MESc space axis
LENGTH_UNITS_UM = {"µm": 1.0, "\u03bcm": 1.0, "um": 1.0, "nm": 1e-3, "mm": 1e3, "m": 1e6}


def _bytes_text(raw: bytes) -> str:
    raw = raw.split(b"\x00", 1)[0]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # MESc's XML: Latin-1 (a bare 0xB5 for µ)


def decode_text(value: Any) -> str | None:
    """``value`` as text when it is one of MESc's text encodings, else None.

    A NUL-terminated 1-D array of 16-bit integers is UTF-16 code units (surrogate pairs joined; what
    is not valid UTF-16 becomes U+FFFD); a byte string is UTF-8, else Latin-1; a str is itself.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, np.bytes_)):
        return _bytes_text(bytes(value))
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iu" and value.dtype.itemsize == 2:
        if value.size == 0 or value[-1] != 0:
            return None
        units = value[:-1].astype("<u2", copy=False)
        end = np.flatnonzero(units == 0)
        if end.size:
            units = units[: end[0]]
        return units.tobytes().decode("utf-16-le", errors="replace")
    return None


def decode_attribute(name: str, value: Any) -> Any:
    """An attribute of a MESc file as a JSON-able Python value (see the module documentation)."""
    import h5py

    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim == 1:
        if name.endswith("Uuid") or name == "Uuid":
            if value.size == 16:
                return str(uuid.UUID(bytes=value.tobytes()))
        elif name.endswith(("XML", "JSON")):
            return _bytes_text(value.tobytes())
    text = decode_text(value)
    if text is not None:
        return text
    return python_value(value)


def read_attribute(obj, key: str) -> tuple[bool, Any]:
    """``(present, value)`` of the attribute ``key`` of ``obj``; a value h5py cannot read is an error
    message (str) with ``present`` True, so that callers can tell "missing" from "unreadable"."""
    try:
        if key not in obj.attrs:
            return False, None
        return True, obj.attrs[key]
    except (OSError, TypeError, ValueError, KeyError, RuntimeError) as exc:
        return True, _Unreadable(f"<unreadable attribute: {exc}>")


class _Unreadable(str):
    """The message standing for an attribute that h5py could not read."""


def decoded_attributes(obj) -> dict[str, Any]:
    """Every attribute of ``obj`` (an h5py group or file), decoded; unreadable ones as a message."""
    out: dict[str, Any] = {}
    for key in obj.attrs:
        present, value = read_attribute(obj, key)
        if isinstance(value, _Unreadable):
            out[key] = str(value)
            continue
        try:
            out[key] = decode_attribute(key, value)
        except (TypeError, ValueError) as exc:
            out[key] = f"<undecodable attribute: {exc}>"
    return out


def _number(text: str | None) -> Any:
    """A parameter value of MESc's XML: int, else float, else the text."""
    if text is None:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _params(element: ET.Element) -> dict[str, Any]:
    return {p.get("name"): _number(p.get("value")) for p in element if p.tag == "param" and p.get("name")}


def xml_summary(text: str, where: str) -> dict[str, Any]:
    """What a MESc XML text says, as a dict: the root element's attributes, its ``param`` values (under
    ``params``), the ``Devices`` (each ``Gear`` by name: its type and params), the ``Params`` and the
    ``AxisControl`` snapshot (each axis id: its attributes). Elements of other kinds are left to the text.

    Raises
    ------
    MetadataError
        The text is not well-formed XML, or declares a document type (refused: no entity expansion).
    """
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise MetadataError(f"{where} declares a document type or entities; refused (MESc writes none)")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise MetadataError(f"{where} is not well-formed XML ({exc})") from None
    out: dict[str, Any] = {"element": root.tag, **root.attrib}
    params = _params(root)
    for child in root:
        if child.tag == "Devices":
            out["devices"] = {gear.get("name", f"gear_{i}"): {"type": gear.get("type"), **_params(gear)}
                              for i, gear in enumerate(child) if gear.tag == "Gear"}
        elif child.tag == "Params":
            params.update(_params(child))
        elif child.tag == "AxisControl":
            axes: dict[str, dict[str, Any]] = {}
            for axis in child.iter("axis"):
                axes.setdefault(axis.get("id", "?"), {})[axis.get("attribute", "?")] = _number(axis.get("value"))
            out["axes"] = axes
    if params:
        out["params"] = params
    return out
