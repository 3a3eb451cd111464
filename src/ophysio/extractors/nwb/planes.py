"""Finding the PlaneSegmentations of an NWB tree, and what the segmentation reader keeps of each table and trace.

:func:`find_plane_segmentations` lists the tables (``/processing/<module>/<ImageSegmentation>/<table>``, or
a table straight in a module), :func:`choose_plane_segmentation` picks one by name or path, and
``_backgrounds`` pairs a table with its ``Background<name>`` table. ``_Table`` and ``_Trace`` are what
:mod:`.plane_scan` finds at opening; ``_trace_name`` maps a series name to a trace name (see
:mod:`.segmentation` for the rules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ...errors import FormatError
from .series import _kind
from .source import choose_named, node_at

__all__ = ["find_plane_segmentations", "choose_plane_segmentation"]

#: Series names (as ophysio and neuroconv write them) -> trace name; the longest match is taken first.
SERIES_TRACES = {"RoiResponseSeries": "raw", "Neuropil": "neuropil", "Deconvolved": "deconvolved",
                 "Denoised": "denoised", "Baseline": "baseline", "DfOverF": "dff", "Background": "background"}
_MASK_COLUMNS = ("image_mask", "pixel_mask", "voxel_mask")
#: Most pixels on a side (or planes) of a field of view: more is a damaged table, not a segmentation.
MAX_SIDE = 1 << 16
_SKIPPED_COLUMNS = {"roi_name", "Accepted", "Rejected", "ROICentroids", *_MASK_COLUMNS}
_SIZE = re.compile(r"\((\d+)x(\d+)(?:x(\d+))? pixels\)")
_PLANE = re.compile(r"^(.*)_plane(\d+)$")


def _groups(node):
    for name in node.children():
        child = node.child(name)
        if child is not None and child.is_group:
            yield name, child


def find_plane_segmentations(root) -> list[tuple[str, object]]:
    """``(path, node)`` of every PlaneSegmentation in ``/processing`` (``<module>/<ImageSegmentation>/<table>``)."""
    found = []
    processing = root.child("processing")
    if processing is None or not processing.is_group:
        return found
    for module_name, module in _groups(processing):
        for name, container in _groups(module):
            path = f"/processing/{module_name}/{name}"
            if _kind(container) == "PlaneSegmentation":
                found.append((path, container))
                continue
            for table_name, table in _groups(container):
                if _kind(table) == "PlaneSegmentation":
                    found.append((f"{path}/{table_name}", table))
    return found


def choose_plane_segmentation(candidates: list[tuple[str, object]], name: str | None, where: str) -> tuple[str, object]:
    """The PlaneSegmentation ``name`` (its name or path) of ``candidates``, or the only one when ``name`` is None."""
    return choose_named(candidates, name, where, one="PlaneSegmentation", many="PlaneSegmentations",
                        argument="plane_segmentation_name",
                        none=f"{where} holds no PlaneSegmentation (in /processing/<module>/ImageSegmentation)")


def _backgrounds(found: list[tuple[str, object]]) -> dict[str, str]:
    """Table path -> the path of its background table (``Background<name>`` beside it)."""
    paths = {path for path, _ in found}
    pairs = {}
    for path in paths:
        folder, _, name = path.rpartition("/")
        if name.startswith("Background") and f"{folder}/{name[len('Background'):]}" in paths:
            pairs[f"{folder}/{name[len('Background'):]}"] = path
    return pairs


def _array(node) -> np.ndarray:
    """A dataset read whole as an array."""
    if not node.shape:
        return np.asarray(node.value())
    return np.asarray(node.slice(0, node.shape[0]))


def _texts(values: np.ndarray) -> list[str] | None:
    out = []
    for value in values.ravel().tolist():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str):
            return None
        out.append(value)
    return out


@dataclass
class _Table:
    """One PlaneSegmentation as found at opening."""

    path: str
    ids: list
    mask: str  # "image", "pixel" or "voxel"
    mask_path: str
    mask_shape: tuple  # the stored shape of the mask column
    ends: np.ndarray | None = None  # pixel / voxel masks: the index (end of each ROI's rows)
    fields: tuple = ()  # the field names of a compound mask (x, y[, z], weight)
    names: list | None = None  # the roi_name column when it is not the ids

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class _Trace:
    """One RoiResponseSeries of the table (or of its background table)."""

    name: str
    path: str  # of the series
    data: str  # of its data (links followed)
    shape: tuple
    dtype: np.dtype
    columns: np.ndarray | None  # column of each ROI position, None when they are in order
    background: bool = False
    extent: object = field(default=None, repr=False)


def _trace_name(container_kind: str, series_name: str, suffix: str, siblings: int) -> str:
    """The trace name of a series (see the module documentation)."""
    if container_kind == "DfOverF" and siblings == 1:
        return "dff"
    base = series_name[: -len(suffix)] if suffix and series_name.endswith(suffix) and series_name != suffix \
        else series_name
    for prefix in sorted(SERIES_TRACES, key=len, reverse=True):
        if base.startswith(prefix):
            trace = SERIES_TRACES[prefix]
            if container_kind == "DfOverF" and prefix == "RoiResponseSeries":
                trace = "dff"
            rest = base[len(prefix):].strip("_")
            return f"{trace}_{rest.lower()}" if rest else trace
    if container_kind == "DfOverF":
        return "dff" if siblings == 1 else f"dff_{base}"
    return base


def _channel_name(channel: dict) -> str:
    """An optical channel's name; the source's own when ophysio recorded it in the description ("channel chan2 of
    the source": NWB names are cleaned of characters the source's may have)."""
    match = re.fullmatch(r"channel (.+) of the source", channel.get("description") or "")
    return match.group(1) if match else channel["name"]


def _safe_call(function, default=None):
    try:
        return function()
    except Exception:  # noqa: BLE001 - an unreadable attribute is left out
        return default


def _node_at(root, path: str):
    """The node at ``path`` (external links followed: checked at opening); FormatError when it is missing."""
    node = node_at(root, path, follow_external=True)
    if node is None:
        raise FormatError(f"{path} is missing from the file")
    return node
