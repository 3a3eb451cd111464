"""The facts suite2p's ``ops.npy`` records (see :class:`~ophysio.extractors.facts.AcquisitionFacts`).

suite2p keeps the rate (``fs``, per plane: the extractor's rate) and, in newer versions, its own version
(``suite2p_version``); ``ops`` has no pixel size (``aspect`` is only the ratio of the two), no start
time (``date_proc`` is when suite2p ran) and no depths. The whole ``ops`` of every plane is the
``source_header``.
"""

from __future__ import annotations

from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor

__all__ = ["suite2p_facts"]


def suite2p_facts(extractor: ImagingExtractor) -> AcquisitionFacts:
    """The facts of a suite2p registered (or raw) binary movie."""
    facts = ImagingExtractor.get_acquisition_facts(extractor)
    ops = next(iter(facts.source_header.get("ops", {}).values()), {})
    version = ops.get("suite2p_version") if isinstance(ops, dict) else None
    return facts.replace(software="suite2p", software_version=str(version) if version else None)
