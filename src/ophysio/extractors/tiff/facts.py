"""The facts a plain TIFF records (see :class:`~ophysio.extractors.facts.AcquisitionFacts`).

A plain TIFF says little about its acquisition: an ImageJ description names ImageJ and its version
(``software``, ``software_version``); the rate is the extractor's. Resolution tags are not read as a
pixel size (their unit is often absent or wrong in microscopy TIFFs).
"""

from __future__ import annotations

from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor

__all__ = ["tiff_facts"]


def tiff_facts(extractor: ImagingExtractor) -> AcquisitionFacts:
    """The facts of a plain (multi-page) TIFF."""
    facts = ImagingExtractor.get_acquisition_facts(extractor)
    imagej = facts.source_header.get("imagej")
    if not isinstance(imagej, dict):
        return facts
    version = imagej.get("ImageJ")
    return facts.replace(software="ImageJ", software_version=str(version) if version not in (None, "") else None)
