"""The acquisition facts a Hamamatsu HCImage .cxd file records.

See :class:`~ophysio.extractors.facts.AcquisitionFacts`.

- ``manufacturer``: Hamamatsu Photonics; ``device_name``: "Hamamatsu camera" (the files name no model);
  ``device_description``: the bit depth and the binning, when recorded.
- ``software``: HCImage, ``software_version``: the ``Compix`` stream (``Simple32 0.1.0``).
- ``session_start_time``: ``File Info/First Field Date & Time`` when recorded (naive, as Bio-Formats reads
  it), else the creation time of the first frame's storage in the compound document's directory (UTC).
- ``pixel_size_um``: ``factor`` (times ``magnification``) of the Comments, as Bio-Formats reads them; none
  when the comments do not state it (HCImage's ``unit=micron`` alone gives no size).
"""

from __future__ import annotations

from typing import Any

from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor

__all__ = ["hcimage_facts"]


def _number(text: Any) -> float | None:
    try:
        value = float(str(text).split(";")[0])
    except (TypeError, ValueError):
        return None
    return value if value > 0 and value < 1e6 else None


def hcimage_facts(extractor: ImagingExtractor) -> AcquisitionFacts:
    facts = ImagingExtractor.get_acquisition_facts(extractor)
    header = extractor.get_metadata()
    comments = extractor.comment_values()
    words = [f"Hamamatsu camera recorded with HCImage, {extractor.bit_depth}-bit pixels"]
    binning = next((v for k, v in header.items() if k.endswith("/Binning") and isinstance(v, float)), None)
    if binning:
        words.append(f"binning {binning:g}")
    changes: dict[str, Any] = {"manufacturer": "Hamamatsu Photonics", "device_name": "Hamamatsu camera",
                               "device_description": ", ".join(words), "software": "HCImage"}
    if isinstance(header.get("Compix"), str):
        changes["software_version"] = header["Compix"]
    start = extractor.first_field_time() or extractor.first_frame_created()
    if start is not None:
        changes["session_start_time"] = start
    factor = _number(comments.get("factor"))
    if factor is not None:
        size = factor * (_number(comments.get("magnification")) or 1.0)
        rows, columns = extractor.get_image_shape()
        changes["pixel_size_um"] = (size, size)
        changes["field_of_view_um"] = (rows * size, columns * size)
    return facts.replace(**changes)
