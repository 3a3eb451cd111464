"""Synthetic OME-Zarr stores written from the specifications alone (JSON and zlib; no zarr package).

:func:`write_ome_zarr_v2` writes an OME-NGFF 0.4 image as ome-zarr-py lays it out with Zarr v2: a group whose
``.zattrs`` hold ``multiscales`` (axes with types and units, one scale transform per level, ``version``
0.4) and ``omero`` channel labels, and one array per resolution level (``0``, ``1``...; each level halves y
and x) with ``/``-separated chunk keys and zlib-compressed chunks. The movie is (samples, rows, columns)
with optional channel and plane axes, stored ``t, [c,] [z,] y, x``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import zlib
from pathlib import Path

import numpy as np

from .movie import movie

__all__ = ["write_ome_zarr_v2", "EXAMPLES"]


def _write_array(folder: Path, data: np.ndarray, chunks: tuple[int, ...], attrs: dict | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"zarr_format": 2, "shape": list(data.shape), "chunks": list(chunks), "dtype": data.dtype.str,
            "compressor": {"id": "zlib", "level": 5}, "fill_value": 0, "order": "C", "filters": None,
            "dimension_separator": "/"}
    (folder / ".zarray").write_text(json.dumps(meta, indent=2))
    if attrs:
        (folder / ".zattrs").write_text(json.dumps(attrs, indent=2))
    grid = [math.ceil(n / c) for n, c in zip(data.shape, chunks)]
    for coords in itertools.product(*(range(g) for g in grid)):
        block = np.zeros(chunks, dtype=data.dtype)  # edge chunks are stored whole (Zarr v2)
        region = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(coords, chunks, data.shape))
        part = data[region]
        block[tuple(slice(0, s) for s in part.shape)] = part
        path = folder.joinpath(*map(str, coords))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(zlib.compress(np.ascontiguousarray(block).tobytes(), 5))


def write_ome_zarr_v2(path: str | os.PathLike, channels: list[np.ndarray], *, frame_interval_s: float = 0.05,
                      pixel_size_um: tuple[float, float] = (0.8, 0.6), plane_spacing_um: float = 2.5,
                      origin_um: tuple[float, ...] | None = (5.0, -3.0), levels: int = 2,
                      chunk_samples: int = 8, channel_labels: list[str] | None = None) -> Path:
    """Write one movie per channel (each (samples, rows, columns[, planes])) as an OME-NGFF 0.4 image."""
    path = Path(path)
    volumetric = channels[0].ndim == 4
    stored = [c.transpose(0, 3, 1, 2) if volumetric else c for c in channels]  # t [z] y x
    data = np.stack(stored, axis=1) if len(channels) > 1 else stored[0]
    axes = [{"name": "t", "type": "time", "unit": "second"}]
    scale = [frame_interval_s]
    if len(channels) > 1:
        axes.append({"name": "c", "type": "channel"})
        scale.append(1.0)
    if volumetric:
        axes.append({"name": "z", "type": "space", "unit": "micrometer"})
        scale.append(plane_spacing_um)
    axes += [{"name": "y", "type": "space", "unit": "micrometer"}, {"name": "x", "type": "space", "unit": "micrometer"}]
    datasets = []
    for level in range(levels):
        factor = 2 ** level
        level_data = data[..., ::factor, ::factor]
        chunks = (min(chunk_samples, data.shape[0]), *level_data.shape[1:])
        _write_array(path / str(level), np.ascontiguousarray(level_data), chunks)
        level_scale = [*scale, pixel_size_um[0] * factor, pixel_size_um[1] * factor]
        transforms: list[dict] = [{"type": "scale", "scale": level_scale}]
        if origin_um is not None:
            translation = [0.0] * (len(axes) - 2) + [origin_um[0], origin_um[1]]
            if volumetric and len(origin_um) > 2:
                translation[axes.index(next(a for a in axes if a["name"] == "z"))] = origin_um[2]
            transforms.append({"type": "translation", "translation": translation})
        datasets.append({"path": str(level), "coordinateTransformations": transforms})
    labels = channel_labels or [f"Channel {i + 1}" for i in range(len(channels))]
    attrs = {"multiscales": [{"version": "0.4", "name": path.name, "axes": axes, "datasets": datasets}],
             "omero": {"channels": [{"label": label, "active": True} for label in labels]}}
    (path / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    (path / ".zattrs").write_text(json.dumps(attrs, indent=2))
    return path


def _example_zarr(folder: Path) -> tuple[Path, dict]:
    data = movie(40, 48, 64, dtype="uint16", seed=13)
    return write_ome_zarr_v2(folder / "example.ome.zarr", [data], frame_interval_s=1 / 25.0), {}


#: Built-in examples (see :data:`ophysio.examples.EXAMPLES`).
EXAMPLES = {"zarr": _example_zarr}
