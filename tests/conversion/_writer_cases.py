"""Sources and independent readers shared by the writer tests (the sources live in ophysio.testing.writers)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ophysio.testing.writers import RATE, channel_movies, irregular_times, make_source
from ophysio.testing.writers import WRITER_CASES as CASES

__all__ = ["CASES", "RATE", "channel_movies", "irregular_times", "make_source", "read_tiff_pages", "ome_delta_t",
           "read_sidecar"]


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
