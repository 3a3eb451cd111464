"""Sources and independent readers shared by the writer tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ophysio.extractors import NumpyImagingExtractor
from ophysio.testing.synthetic import movie

RATE = 7.5

#: name -> (samples, rows, columns, planes or None, channels, dtype)
CASES = {
    "planar": (11, 12, 9, None, 1, "uint16"),
    "volumetric": (7, 10, 8, 3, 1, "int16"),
    "multichannel": (6, 9, 7, 2, 2, "uint16"),
}


def channel_movies(case: str) -> list[np.ndarray]:
    samples, rows, cols, planes, channels, dtype = CASES[case]
    return [movie(samples, rows, cols, planes, dtype, channel=c) for c in range(channels)]


def irregular_times(samples: int) -> np.ndarray:
    return 0.5 + np.arange(samples) / RATE + 0.003 * np.arange(samples) ** 2


def make_source(case: str, timestamps: bool = False):
    movies = channel_movies(case)
    times = irregular_times(movies[0].shape[0]) if timestamps else None
    exts = [
        NumpyImagingExtractor(m, None if timestamps else RATE, timestamps=times, channel_name=f"ch{c}")
        for c, m in enumerate(movies)
    ]
    return exts[0] if len(exts) == 1 else {f"ch{c}": e for c, e in enumerate(exts)}


# ---------------------------------------------------------------- independent readers
def read_tiff_pages(path: Path, planes: int, channels: int) -> list[np.ndarray]:
    """Pages in TZC order (documented) -> one (T, Y, X[, Z]) array per channel."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        pages = np.stack([page.asarray() for page in tif.pages])
    t = pages.shape[0] // (planes * channels)
    pages = pages.reshape(t, planes, channels, *pages.shape[1:])
    out = []
    for c in range(channels):
        data = pages[:, :, c].transpose(0, 2, 3, 1)
        out.append(data[..., 0] if planes == 1 else data)
    return out


def ome_delta_t(path: Path) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        xml = tif.ome_metadata
    return np.array([float(v) for v in re.findall(r'DeltaT="([^"]+)"', xml)])


def read_sidecar(path: Path) -> list[dict]:
    return json.loads(Path(str(path) + "_frame_metadata.json").read_text())["p0"]
