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

A segmentation (a suite2p folder, a CaImAn HDF5 file, a Minian folder...: whatever
:func:`ophysio.open_segmentation` detects) adds, above the movie's layers when the source holds a movie too
(a suite2p folder with its ``data.bin``):

- its summary images (mean, correlation, max...) as image layers, hidden when a movie is shown;
- its ROIs as ``labels`` layers (:func:`segmentation_layers`): every ROI's mask drawn into one integer
  image, each pixel labelled 1 + the position of the ROI that weighs it most (background components are
  not ROIs and are left out); when the source classifies its ROIs, the accepted ones in one layer and the
  others in a second, hidden one. The layer's ``features`` table has a row per label (row 0 the
  background): ``label``, ``roi_id``, ``accepted``, ``plane`` and the centroid.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["get_reader", "read", "open_streams", "layer_data", "segmentation_layers"]

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
    if _segmentation_format(paths) is not None:
        return read
    try:
        resolve_source(paths[0] if len(paths) == 1 else paths)
    except (OphysioError, OSError):
        return None
    return read


def _segmentation_format(paths: list[str]):
    """The segmentation format that detects the single path of ``paths``, or None."""
    from ..errors import OphysioError
    from ..extractors.registry import detect_format

    if len(paths) != 1:
        return None
    try:
        return detect_format(paths[0], "segmentation")
    except (OphysioError, OSError):
        return None


def read(path: PathLike | Sequence[PathLike]) -> list[tuple]:
    """Layer data ``(data, keywords, "image")`` of every stream of the source at ``path``.

    The source is opened as ``ophysio convert`` opens it (every channel, and every ROI of a multi-ROI
    acquisition, as its own stream). A path that :func:`ophysio.open_segmentation` detects adds the layers
    of :func:`segmentation_layers` after the movie's; its movie, if any, is optional then (a suite2p folder
    without ``data.bin``, a CaImAn HDF5 file, a Minian folder give the segmentation's layers alone).
    """
    from ..errors import OphysioError

    paths = _paths(path)
    segmentation = _segmentation_format(paths)
    source = paths[0] if len(paths) == 1 else paths
    label = Path(paths[0]).name + (f" (+{len(paths) - 1} files)" if len(paths) > 1 else "")
    extractors = []
    if segmentation is None:
        extractors = open_streams(source)
    elif _holds_its_movie(paths[0], segmentation.id):
        try:
            extractors = open_streams(source)
        except OphysioError:  # e.g. a suite2p folder without its data.bin: the segmentation alone
            extractors = []
    layers = _movie_layers(extractors, label) if extractors else []
    if segmentation is not None:
        from ..extractors.registry import open_segmentation

        extractor = open_segmentation(paths[0], format=segmentation.id)
        layers += segmentation_layers(extractor, label, movie=layers[0] if layers else None)
    return layers


def _holds_its_movie(path: str, segmentation_id: str) -> bool:
    """Whether the movie detected at a segmentation's path is the same pipeline's (a suite2p folder's
    ``data.bin``), not some array a generic container reader (HDF5, Zarr) would take for one."""
    from ..errors import OphysioError
    from ..extractors.registry import resolve_source

    try:
        spec, _ = resolve_source(path)
    except (OphysioError, OSError):
        return False
    return spec.id == segmentation_id


def _movie_layers(extractors: list, label: str) -> list[tuple]:
    """The image layers of a movie's streams."""
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


def _spatial_scale(extractor, movie: tuple | None) -> tuple[list[float], list[str], list[str]]:
    """Scale, units and labels of a segmentation's ``(y, x)`` (``(z, y, x)``) axes: its pixel size (and plane
    spacing) where it records them, else the movie's, else 1 pixel."""
    facts = extractor.get_acquisition_facts()
    volumetric = extractor.is_volumetric
    labels = ["z", "y", "x"] if volumetric else ["y", "x"]
    scale: list[float] = []
    units: list[str] = []
    if volumetric:
        spacing = _plane_scale(facts, extractor.get_num_planes())
        scale.append(spacing or 1.0)
        units.append("um" if spacing else "pixel")
    size = facts.pixel_size_um
    for axis in (0, 1):
        scale.append(float(size[axis]) if size is not None else 1.0)
        units.append("um" if size is not None else "pixel")
    if movie is not None:  # where the segmentation records nothing, the movie it was made from may
        _, keywords, _ = movie
        tail = len(labels)
        if tuple(keywords["axis_labels"][-tail:]) == tuple(labels):
            for i in range(tail):
                if units[i] == "pixel":
                    scale[i], units[i] = keywords["scale"][-tail + i], keywords["units"][-tail + i]
    return scale, units, labels


def _features(extractor) -> dict[str, list]:
    """napari's features table of the labels: a row per label, row 0 the background (label k = ROI k - 1)."""
    import numpy as np

    from ..extractors.segmentation import _key

    ids = extractor.get_roi_ids()
    n = len(ids)
    accepted = {_key(i) for i in extractor.get_accepted_list()}
    planes = np.asarray(extractor.get_roi_planes(), dtype=np.int64).reshape(n)
    axes = ("y", "x", "z") if extractor.is_volumetric else ("y", "x")
    centroids = (np.asarray(extractor.get_property("roi_centroids"), dtype=float).reshape(n, -1) if n
                 else np.zeros((0, len(axes))))
    table: dict[str, list] = {
        "label": list(range(n + 1)),
        "roi_id": [None, *(_key(i) for i in ids)],
        "accepted": [False, *(_key(i) in accepted for i in ids)],
        "plane": [-1, *planes.tolist()],
    }
    for axis, dim in enumerate(axes[:centroids.shape[1]]):
        table[f"centroid_{dim}"] = [float("nan"), *centroids[:, axis].tolist()]
    return table


def segmentation_layers(extractor, name: str | None = None, movie: tuple | None = None) -> list[tuple]:
    """The napari layers of a segmentation: its summary images, then its ROIs as labels.

    - each summary image: ``(data, keywords, "image")``, ``(y, x)`` or ``(z, y, x)``, hidden when ``movie``
      (the first layer of the movie it was made from) is given, else only the first is shown;
    - the ROIs: ``(labels, keywords, "labels")``, the labels of
      :meth:`~ophysio.extractors.segmentation.SegmentationExtractor.get_label_image` (planes before rows
      for a volume): each pixel 1 + the position of the ROI that weighs it most, 0 where
      none does; background components are not drawn. A source that classifies its ROIs gives two layers,
      ``accepted ROIs`` and the others (``rejected ROIs``, hidden), with the same labels; else one, ``ROIs``.
      ``features`` (a row per label, row 0 the background) has ``label``, ``roi_id``, ``accepted``,
      ``plane`` and the centroid in pixels; ``metadata["ophysio"]`` the acquisition facts, format, files and
      ROI ids.

    Scale and units are the segmentation's pixel size (and plane spacing) in micrometers, else the movie's.
    """
    import numpy as np

    from ..extractors.arrays import facts_attrs
    from ..extractors.segmentation import _key

    name = name or extractor.format_id
    scale, units, axis_labels = _spatial_scale(extractor, movie)

    def napari_order(array):
        return np.moveaxis(array, -1, 0) if extractor.is_volumetric and array.ndim == 3 else array

    common = {"scale": tuple(scale), "units": tuple(units), "axis_labels": tuple(axis_labels)}
    metadata = {**facts_attrs(extractor.get_acquisition_facts()), "format": extractor.format_id,
                "file_paths": [str(p) for p in extractor.get_file_paths()]}
    layers: list[tuple] = []
    for image_name, image in extractor.get_images_dict().items():
        if image.shape != tuple(extractor._mask_shape()):
            continue  # an image of another geometry would not lie over the ROIs
        layers.append((napari_order(image), {
            **common, "name": f"{name} {image_name}", "colormap": "gray", "blending": "translucent",
            "rgb": False, "multiscale": False, "visible": movie is None and not layers,
            "metadata": {"ophysio": {**metadata, "image": image_name}}}, "image"))
    ids = extractor.get_roi_ids()
    accepted = {_key(i) for i in extractor.get_accepted_list()}
    accepted_ids = [i for i in ids if _key(i) in accepted]
    other_ids = [i for i in ids if _key(i) not in accepted]
    if other_ids:
        rejected = {_key(i) for i in extractor.get_rejected_list()}
        other = "rejected ROIs" if rejected == {_key(i) for i in other_ids} else "not accepted ROIs"
        groups = [("accepted ROIs", accepted_ids, True), (other, other_ids, False)]
    else:
        groups = [("ROIs", list(ids), True)]
    features = _features(extractor)
    roi_ids = [_key(i) for i in ids]
    for group, group_ids, visible in groups:
        labels = napari_order(extractor.get_label_image(group_ids))
        layers.append((labels, {
            **common, "name": f"{name} {group}", "features": features, "opacity": 0.5, "visible": visible,
            "blending": "translucent", "multiscale": False,
            "metadata": {"ophysio": {**metadata, "roi_ids": roi_ids,
                                     "shown_roi_ids": [_key(i) for i in group_ids],
                                     "labels": "label k is the ROI at position k - 1 of roi_ids"}}}, "labels"))
    return layers
