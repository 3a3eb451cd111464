"""How the frames of a PVScan XML become samples and planes, and when each was taken.

- **Planar** sequences (``TSeries Timed Element``, ``TSeries Brightness Over Time Element``, ``Single``...):
  every frame of every sequence is a sample, in document order.
- **Volumetric** sequences (a type containing ``ZSeries``: ``TSeries ZSeries Element``, ``ZSeries``):
  every sequence (cycle) is a sample and its frames are the planes. A last sequence cut short (the
  acquisition was stopped mid-volume) is dropped; a shorter or longer one in the middle is an error.
- **Bidirectional Z** (``bidirectionalZ="True"`` on a sequence): the stage goes down one cycle and up the
  next, so every other cycle's frames come in the reverse plane order. Planes are put back in the first
  cycle's order: from the recorded z positions when the frames carry them (the order that matches the first
  cycle's depths), else by the rule (second, fourth... cycles reversed).
- **Times**: each frame's ``relativeTime`` (seconds from the start of the acquisition). A multi-cycle
  series whose ``relativeTime`` starts again at each cycle (bursts) is put on one clock with each cycle's
  ``absoluteTime`` (the time of its first frame since the software started), or, without it, by placing each
  burst one frame period after the previous one. A sample's time is that of its first acquired frame.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ...errors import MetadataError
from .pvscan import PVScan

__all__ = ["BrukerLayout", "build_layout", "is_volumetric_type", "frame_times"]


def is_volumetric_type(sequence_type: str) -> bool:
    """Whether a ``Sequence type`` is a z-stack per cycle (``TSeries ZSeries Element``, ``ZSeries``)."""
    return "zseries" in sequence_type.replace(" ", "").lower()


@dataclass(frozen=True)
class BrukerLayout:
    """Samples and planes of one channel of a PVScan acquisition.

    Attributes
    ----------
    volumetric : bool
        Whether samples are z-stacks (the sequence type is a ZSeries one).
    sequence_type : str
        The first sequence's ``type``.
    frames : numpy.ndarray of int64, shape (samples, planes)
        The frame (numbered over the XML) holding each plane of each sample, planes in z order.
    reversed : numpy.ndarray of bool
        Per sample: whether its frames were acquired in reverse plane order (bidirectional Z).
    frame_times : numpy.ndarray of float64 or None
        Per frame of the XML: its time in seconds on one clock (None when the XML records none).
    timestamp_source : str or None
        How :attr:`frame_times` were made: ``"relativeTime"``, ``"relativeTime + absoluteTime"`` (bursts
        put on one clock), ``"relativeTime + frame period"``, ``"absoluteTime"``.
    dropped_frames : int
        Frames of a last, incomplete volume left out.
    """

    volumetric: bool
    sequence_type: str
    frames: np.ndarray
    reversed: np.ndarray
    frame_times: np.ndarray | None
    timestamp_source: str | None
    dropped_frames: int

    @property
    def num_planes(self) -> int:
        return int(self.frames.shape[1])

    def sample_times(self) -> np.ndarray | None:
        """The time of each sample: that of its first acquired frame."""
        if self.frame_times is None:
            return None
        first = np.where(self.reversed, self.frames[:, -1], self.frames[:, 0])
        return self.frame_times[first]


def _depths(pv: PVScan) -> np.ndarray | None:
    """Each frame's depth: the sum of its z devices' positions (None when a frame lacks one)."""
    if pv.z_positions.shape[1] == 0 or np.isnan(pv.z_positions).any():
        return None
    return pv.z_positions.sum(axis=1)


def _is_true(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def build_layout(pv: PVScan) -> BrukerLayout:
    """The samples, planes and frame times of the acquisition an XML describes.

    Raises
    ------
    MetadataError
        A volume in the middle of the series has another number of planes than the first.
    """
    sequence_type = pv.sequences[0].get("type", "") if pv.sequences else ""
    times, source = frame_times(pv)
    n = pv.num_frames
    if not is_volumetric_type(sequence_type):
        frames = np.arange(n, dtype=np.int64)[:, None]
        return BrukerLayout(False, sequence_type, frames, np.zeros(n, bool), times, source, 0)
    starts = pv.sequence_start
    counts = np.diff(np.append(starts, n))
    planes = int(counts[0])
    dropped = 0
    keep = len(starts)
    if len(counts) > 1 and counts[-1] < planes:
        dropped, keep = int(counts[-1]), keep - 1
    bad = np.flatnonzero(counts[:keep] != planes)
    if bad.size:
        k = int(bad[0])
        cycle = pv.sequences[k].get("cycle", k + 1)
        raise MetadataError(f"{pv.path}: sequence {k + 1} (cycle {cycle}) holds {int(counts[k])} frames, but the first "
                            f"holds {planes} (one per plane); the XML is inconsistent")
    frames = starts[:keep, None] + np.arange(planes, dtype=np.int64)[None, :]
    flipped = np.zeros(keep, bool)
    bidirectional = np.array([_is_true(pv.sequences[k].get("bidirectionalZ", "False")) for k in range(keep)])
    if planes > 1 and bidirectional.any():
        depths = _depths(pv)
        for k in np.flatnonzero(bidirectional).tolist():
            flipped[k] = _acquired_reversed(depths, frames, k)
        frames[flipped] = frames[flipped, ::-1]
    return BrukerLayout(True, sequence_type, frames, flipped, times, source, dropped)


def _acquired_reversed(depths: np.ndarray | None, frames: np.ndarray, k: int) -> bool:
    """Whether volume ``k`` of a bidirectional series was acquired in reverse plane order."""
    if depths is not None and k > 0:
        reference = depths[frames[0]]
        mine = depths[frames[k]]
        same, flipped = np.abs(mine - reference).sum(), np.abs(mine[::-1] - reference).sum()
        if same != flipped:
            return bool(flipped < same)
    return k % 2 == 1


def frame_times(pv: PVScan) -> tuple[np.ndarray | None, str | None]:
    """Every frame's time on one clock, and how it was made (see the module docstring)."""
    rel, absolute = pv.relative_time, pv.absolute_time
    missing = np.isnan(rel)
    if missing.all():
        if np.isnan(absolute).any():
            return None, None
        return absolute - absolute[0], "absoluteTime"
    if missing.any():
        frame = int(np.flatnonzero(missing)[0])
        raise MetadataError(f"{pv.path}: frame {frame + 1} has no relativeTime but others do; the XML is damaged")
    starts = pv.sequence_start
    steps = np.diff(rel)
    backwards = np.flatnonzero(steps < 0) + 1  # frames whose time is before the previous frame's
    if backwards.size == 0:
        return rel.copy(), "relativeTime"
    at_start = np.isin(backwards, starts)
    if not at_start.all():
        frame = int(backwards[~at_start][0])
        warnings.warn(f"{pv.path}: the relativeTime of frame {frame + 1} ({rel[frame]:.6g} s) is before the previous "
                      f"frame's ({rel[frame - 1]:.6g} s) inside a sequence; the times are kept as recorded",
                      UserWarning, stacklevel=4)
        if at_start.sum() == 0:
            return rel.copy(), "relativeTime"
    if not np.isnan(absolute[starts]).any():
        # each sequence starts at its absoluteTime: the offset of its relativeTime from the first sequence's
        offset = (absolute[starts] - rel[starts]) - (absolute[0] - rel[0])
        return rel + offset[pv.frame_sequence], "relativeTime + absoluteTime"
    # no absolute times: each burst starts one frame period after the previous one ends
    positive = steps[steps > 0]
    step = float(np.median(positive)) if positive.size else float(np.nanmedian(pv.frame_period))
    if not np.isfinite(step):
        step = 0.0
    times = rel.copy()
    shift = 0.0
    for k in range(1, len(starts)):
        a = int(starts[k])
        stop = int(starts[k + 1]) if k + 1 < len(starts) else len(rel)
        if rel[a] + shift < times[a - 1]:
            shift = times[a - 1] + step - rel[a]
        times[a:stop] = rel[a:stop] + shift
    return times, "relativeTime + frame period"
