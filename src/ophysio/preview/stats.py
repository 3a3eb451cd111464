"""What a preview computes: which samples it reads within a byte budget, the images, trace and intervals."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .sources import _Stream

DEFAULT_BUDGET_BYTES = 128 * 1024**2
_RUNS = 8  # runs of consecutive samples spread over the recording for the images
_MAX_TRACE_POINTS = 1000


@dataclass
class StreamPreview:
    """What the preview computed for one channel (all planes)."""

    name: str
    num_samples: int
    sample_shape: tuple[int, ...]
    dtype: str
    chunks: str
    compression: str
    image_samples: np.ndarray  #: indices of the samples averaged into the images
    mean_image: np.ndarray  #: (rows, columns[, planes]) float64
    max_image: np.ndarray  #: (rows, columns[, planes])
    trace_samples: np.ndarray  #: indices of the samples of the intensity trace
    mean_intensity: np.ndarray  #: mean of each trace sample
    timestamps: np.ndarray
    median_interval: float
    irregular_samples: np.ndarray  #: indices i whose interval t[i+1]-t[i] is off by more than half the median
    images: dict[str, Path] = field(default_factory=dict)  #: name -> PNG written


def _image_runs(num_samples: int, sample_nbytes: int, budget: int) -> list[tuple[int, int]]:
    total = max(1, budget // max(sample_nbytes, 1))
    if total >= num_samples:
        return [(0, num_samples)]
    runs = max(1, min(_RUNS, total))
    length = max(1, total // runs)
    starts = np.linspace(0, num_samples - length, runs).astype(int)
    merged: list[tuple[int, int]] = []
    for start in starts:
        stop = int(start) + length
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(stop, merged[-1][1]))
        else:
            merged.append((int(start), stop))
    return merged


def _stream_stats(stream: _Stream, budget: int) -> StreamPreview:
    n = stream.num_samples
    if n == 0:
        raise ValueError(f"{stream.name} has no samples to preview")
    sample_nbytes = int(np.prod(stream.sample_shape)) * stream.dtype.itemsize
    runs = _image_runs(n, sample_nbytes, budget // 2)
    total = np.zeros(stream.sample_shape, dtype=np.float64)
    peak = None
    used = []
    for start, stop in runs:
        block = stream.read(start, stop)
        total += block.sum(axis=0, dtype=np.float64)
        block_max = block.max(axis=0)
        peak = block_max if peak is None else np.maximum(peak, block_max)
        used.append(np.arange(start, stop))
    image_samples = np.concatenate(used)
    count = max(1, min(n, _MAX_TRACE_POINTS, (budget // 2) // max(sample_nbytes, 1)))
    trace_samples = np.unique(np.linspace(0, n - 1, count).round().astype(np.int64))
    intensity = np.empty(len(trace_samples))
    step = max(1, (16 * 1024**2) // max(sample_nbytes, 1))  # bounded memory per read
    for i in range(0, len(trace_samples), step):
        part = stream.read_samples(trace_samples[i:i + step])
        intensity[i:i + step] = part.reshape(len(part), -1).mean(axis=1, dtype=np.float64)
    times = stream.timestamps()
    if len(times) >= 2:
        intervals = np.diff(times)
        median = float(np.median(intervals))
        irregular = np.flatnonzero(np.abs(intervals - median) > median / 2)
    else:
        median, irregular = float("nan"), np.empty(0, dtype=np.int64)
    return StreamPreview(
        stream.name, n, tuple(stream.sample_shape), str(stream.dtype), stream.chunks, stream.compression,
        image_samples, total / len(image_samples), peak, trace_samples, intensity, times, median, irregular,
    )


@dataclass
class SessionPreview:
    """The preview of one session: its streams, planned DANDI name, checklist and page."""

    source: str
    streams: list[StreamPreview]
    dandi_name: str | None
    checklist: list[tuple[bool, str]]  #: (passes, item)
    index: Path

    @property
    def dandi_ready(self) -> bool:
        return all(ok for ok, _ in self.checklist)
