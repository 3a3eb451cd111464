"""The acquisition facts a ScanImage 3.x-5.1 header records (see :class:`~ophysio.extractors.facts.AcquisitionFacts`).

- ``session_start_time``: the trigger time (``state.internal.triggerTimeString`` and its SI4/SI5
  equivalents, else the first frame's ``epoch``), naive as recorded.
- ``software`` "ScanImage", ``software_version`` from ``state.software.version`` (3.x) or the family
  (``"4"``, ``"5.0"``, ``"5.1"``); the manufacturer is Vidrio Technologies.
- ``frame_rate_hz``: the header's frame rate (the rate the extractor samples at).

Line period, zoom and motor positions stay in ``source_header``: they are not yet answered as facts.
"""

from __future__ import annotations

from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor

__all__ = ["scanimage_legacy_facts"]


def scanimage_legacy_facts(extractor: ImagingExtractor) -> AcquisitionFacts:
    """The facts of one channel of a legacy ScanImage file."""
    facts = ImagingExtractor.get_acquisition_facts(extractor)
    header = facts.source_header
    version = header.get("state.software.version")
    version = str(version) if version not in (None, "") else extractor.scanimage_version
    return facts.replace(
        device_description="Microscope controlled by ScanImage (legacy)",
        manufacturer="Vidrio Technologies",
        software="ScanImage",
        software_version=version,
        session_start_time=header.get("session_start_time"),
    )
