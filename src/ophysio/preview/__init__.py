"""A visual check of a session before (or after) conversion: images, timing, facts, DANDI checklist.

``ophysio preview SOURCE_OR_NWB -o DIR`` (extra ``preview``: ``pip install "ophysio[preview]"``, which
brings matplotlib) writes into ``DIR``, for each channel and plane of the session, a mean and a max image,
a frame-interval plot (median interval and the frames off by more than half of it), the mean intensity
over time, and an ``index.html`` with those PNGs embedded beside the facts (shape, dtype, chunks,
compression, planned DANDI name) and a checklist of what would fail DANDI validation.

It reads a sample of the data, not all of it: a few evenly spaced runs of consecutive samples for the
images and evenly spaced single samples for the intensity trace, within a byte budget
(``budget_bytes``, 128 MB by default), so that a 10 GB session previews in seconds. Timestamps are
read whole (they are small). The page says how many samples the images and the trace come from.

The source may be anything :func:`ophysio.open_imaging` opens, an :class:`~ophysio.ImagingExtractor`,
or an NWB file (``.nwb``; every ``TwoPhotonSeries``/``OnePhotonSeries`` in ``/acquisition``).

Modules: :mod:`~ophysio.preview.sources` (what is read), :mod:`~ophysio.preview.stats` (the sampled
statistics), :mod:`~ophysio.preview.pictures` (the PNGs), :mod:`~ophysio.preview.checklist` (DANDI),
:mod:`~ophysio.preview.page` (HTML) and :mod:`~ophysio.preview.session` (one session, several sessions).
"""

from __future__ import annotations

from .session import preview, preview_sessions
from .stats import SessionPreview, StreamPreview

__all__ = ["preview", "preview_sessions", "StreamPreview", "SessionPreview"]
