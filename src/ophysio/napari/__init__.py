"""The napari reader plugin: any file or folder ophysio reads opens in napari as lazy image layers.

The plugin is declared by ``napari.yaml`` beside this module (an npe2 manifest), which the distribution
names with the entry point ``napari.manifest``; ``pip install "ophysio[napari]"`` installs napari with it.
Drag a ScanImage series, a Thorlabs or Micro-Manager folder, an HDF5, MAT or suite2p file... into napari,
or ``napari.Viewer().open(path, plugin="ophysio")``, and each stream (channel, and ROI of a multi-ROI
acquisition) becomes one image layer:

- its data is :meth:`~ophysio.extractors.ImagingExtractor.to_dask` with one sample per chunk: nothing is
  read until napari shows a sample, and then only that sample;
- axes are ``(time, y, x)``, or ``(time, z, y, x)`` for volumes, labelled so (``axis_labels``), with the
  sample interval in seconds and the pixel size (and plane spacing) in micrometers as ``scale`` and
  ``units``; a source that records neither keeps napari's default of 1 pixel;
- several channels are blended additively in different colours, one layer each;
- the layer's ``metadata["ophysio"]`` holds the acquisition facts, the format and the files read.

Nothing here imports napari (a reader returns plain layer data); this module imports nothing heavy
either, since napari imports it to ask :func:`get_reader` whether a path is ophysio's.

Segmentation sources (ROI masks, traces) are not read here yet: they will add labels layers beside the
image layers (see :func:`read`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["get_reader", "read", "open_streams", "layer_data"]

PathLike = str | os.PathLike

#: Colours of the channels of a multi-channel source, in order (one channel alone is grey).
CHANNEL_COLORMAPS = ("green", "magenta", "cyan", "yellow", "red", "blue")


def _paths(path: PathLike | Sequence[PathLike]) -> list[str]:
    return [os.fspath(path)] if isinstance(path, (str, os.PathLike)) else [os.fspath(p) for p in path]


def get_reader(path: PathLike | Sequence[PathLike]) -> Callable[[Any], list[tuple]] | None:
    """The npe2 reader contribution: :func:`read` when ophysio reads ``path``, else None.

    Only the format is detected here (a few KiB of the first file are read); napari asks its next reader
    when ophysio declines.
    """
    from ..errors import OphysioError
    from ..extractors.registry import resolve_source

    paths = _paths(path)
    if not paths:
        return None
    try:
        resolve_source(paths[0] if len(paths) == 1 else paths)
    except (OphysioError, OSError):
        return None
    return read


def read(path: PathLike | Sequence[PathLike]) -> list[tuple]:
    """Layer data ``(data, keywords, "image")`` of every stream of the source at ``path``.

    The source is opened as ``ophysio convert`` opens it (every channel, and every ROI of a multi-ROI
    acquisition, as its own stream).
    """
    paths = _paths(path)
    extractors = open_streams(paths[0] if len(paths) == 1 else paths)
    label = Path(paths[0]).name + (f" (+{len(paths) - 1} files)" if len(paths) > 1 else "")
    several = len(extractors) > 1
    channels = []
    for extractor in extractors:
        if extractor.channel_name not in channels:
            channels.append(extractor.channel_name)
    # one time axis for the whole source: its streams are sampled together, so sample k of each is shown
    # together (per-stream rates from recorded times may differ in the last digits)
    rate = extractors[0].get_sampling_frequency()
    layers = []
    for extractor in extractors:
        facts = extractor.get_acquisition_facts()
        name = label
        if several:
            name += f" {extractor.channel_name}"
            if facts.roi is not None and facts.roi.count > 1:
                name += f" {facts.roi.name or f'ROI {facts.roi.index}'}"
        colormap = "gray"
        if len(channels) > 1:
            colormap = CHANNEL_COLORMAPS[channels.index(extractor.channel_name) % len(CHANNEL_COLORMAPS)]
        layers.append(layer_data(extractor, name=name, colormap=colormap, sampling_frequency=rate,
                                 blending="additive" if len(channels) > 1 else "translucent"))
    # Segmentation sources (open_segmentation: ROI masks, (time, roi) traces) will add ("labels") layers
    # here; get_reader detects movies only today.
    return layers


def open_streams(source: PathLike | Sequence[PathLike]) -> list:
    """Every stream of a source: one extractor per channel (and per ROI of a multi-ROI acquisition).

    The format's interface opens the channels its format lists; a source whose format cannot list them
    beforehand (an ImageJ hyperstack's interleaved channels) names them when asked for one
    (:class:`~ophysio.errors.SelectionError`'s ``choices``), and each is opened.
    """
    from ..conversion.interfaces import interface_from_paths
    from ..errors import SelectionError

    try:
        return interface_from_paths(source).extractors
    except SelectionError as exc:
        if exc.keyword != "channel_name" or not exc.choices:
            raise
        return [ex for name in exc.choices for ex in interface_from_paths(source, channel_name=name).extractors]


def _plane_scale(facts, planes: int) -> float | None:
    """Micrometers between planes: the recorded spacing, else that of evenly spaced recorded depths."""
    if facts.plane_spacing_um:
        return abs(float(facts.plane_spacing_um))
    depths = facts.plane_depths_um
    if depths is not None and len(depths) == planes and planes > 1:
        import numpy as np

        steps = np.diff(np.asarray(depths, dtype=float))
        if steps[0] != 0 and np.allclose(steps, steps[0], rtol=1e-6, atol=0):
            return abs(float(steps[0]))
    return None


def layer_data(extractor, name: str | None = None, colormap: str = "gray", blending: str = "translucent",
               sampling_frequency: float | None = None) -> tuple[Any, dict[str, Any], str]:
    """The napari layer data of one extractor: a lazy (dask) image layer, axes labelled and scaled.

    Returns ``(data, keywords, "image")``: ``data`` is ``extractor.to_dask(chunk_samples=1)``, with the
    planes moved before the rows for a volume (napari shows the last two axes); ``keywords`` are those of
    napari's ``add_image`` (``name``, ``scale``, ``units``, ``axis_labels``, ``colormap``, ``blending``,
    ``rgb``, ``multiscale``, ``metadata``). The time axis steps by ``1 / sampling_frequency`` seconds (by
    default the extractor's rate), or by 1 (napari's unit-less "pixel") when there is no rate.
    """
    from ..extractors.arrays import facts_attrs

    data = extractor.to_dask(chunk_samples=1)  # napari shows one sample at a time: a step reads one sample
    facts = extractor.get_acquisition_facts()
    rate = extractor.get_sampling_frequency() if sampling_frequency is None else sampling_frequency
    scale: list[float] = [1.0 / float(rate) if rate else 1.0]
    units: list[str] = ["s" if rate else "pixel"]
    labels: list[str] = ["time"]
    if extractor.is_volumetric:
        data = data.transpose(0, 3, 1, 2)
        spacing = _plane_scale(facts, extractor.get_num_planes())
        scale.append(spacing or 1.0)
        units.append("um" if spacing else "pixel")
        labels.append("z")
    size = facts.pixel_size_um
    for axis, label in ((0, "y"), (1, "x")):
        scale.append(float(size[axis]) if size is not None else 1.0)
        units.append("um" if size is not None else "pixel")
        labels.append(label)
    own_rate = extractor.get_sampling_frequency()
    metadata = {"ophysio": {**facts_attrs(facts), "format": extractor.format_id,
                            "sampling_frequency_hz": None if own_rate is None else float(own_rate),
                            "file_paths": [str(p) for p in extractor.get_file_paths()]}}
    keywords = {
        "name": name or extractor.channel_name,
        "scale": tuple(scale),
        "units": tuple(units),
        "axis_labels": tuple(labels),
        "colormap": colormap,
        "blending": blending,
        "rgb": False,
        "multiscale": False,
        "metadata": metadata,
    }
    return data, keywords, "image"
