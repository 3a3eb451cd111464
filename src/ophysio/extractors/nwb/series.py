"""Finding the photon series of an NWB file and how each stores its samples and times.

A photon series is a group whose ``neurodata_type`` is ``TwoPhotonSeries`` or ``OnePhotonSeries``, in
``/acquisition`` or in a processing module (``/processing/<module>/<name>``, or one level deeper inside a
container). Its ``data`` is (time, x, y) or (time, x, y, z): NWB's x is the image's column and y its row,
as pynwb documents and as neuroconv, roiextractors and ophysio write it; the reader gives ophysio's
(samples, rows, columns[, planes]). Its times are ``timestamps`` (one per sample) or ``starting_time`` with
its ``rate`` attribute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import FormatError, MetadataError
from .source import choose_named
from .tree import number, text

__all__ = ["PHOTON_SERIES_TYPES", "find_photon_series", "choose_series", "SeriesLayout", "series_layout"]

PHOTON_SERIES_TYPES = ("TwoPhotonSeries", "OnePhotonSeries")


def _kind(node) -> str | None:
    try:
        return text(node.attrs().get("neurodata_type"))
    except Exception:  # noqa: BLE001 - an unreadable attribute: not a series
        return None


def find_photon_series(root) -> list[tuple[str, object]]:
    """``(path, node)`` of every photon series in ``/acquisition`` and ``/processing``, in file order."""
    found: list[tuple[str, object]] = []

    def visit(group, path: str, depth: int) -> None:
        for name in group.children():
            child = group.child(name)
            if child is None or not child.is_group:
                continue
            child_path = f"{path}/{name}"
            if _kind(child) in PHOTON_SERIES_TYPES:
                found.append((child_path, child))
            elif depth > 0:
                visit(child, child_path, depth - 1)

    acquisition = root.child("acquisition")
    if acquisition is not None and acquisition.is_group:
        visit(acquisition, "/acquisition", 0)
    processing = root.child("processing")
    if processing is not None and processing.is_group:
        visit(processing, "/processing", 2)
    return found


def choose_series(root, name: str | None, where: str) -> tuple[str, object]:
    """The photon series ``name`` (its name, or its path in the file), or the only one when ``name`` is None."""
    return choose_named(find_photon_series(root), name, where, one="photon series", many="photon series",
                        argument="optical_series_name",
                        none=f"{where} holds no TwoPhotonSeries or OnePhotonSeries (in /acquisition or /processing)")


@dataclass(frozen=True)
class SeriesLayout:
    """How one photon series stores its samples and times.

    Attributes
    ----------
    path : str
        The series' path in the file.
    neurodata_type : str
        ``TwoPhotonSeries`` or ``OnePhotonSeries``.
    shape : tuple of int
        The data's shape as stored: (time, x, y) or (time, x, y, z).
    dtype : numpy.dtype
        The stored type.
    rate : float or None
        ``starting_time``'s ``rate`` (None when the series has timestamps).
    starting_time : float or None
        The time of the first sample of a series with a rate.
    timestamps : str or None
        The path of the ``timestamps`` dataset (links followed), when the series has one.
    data : str
        The path of the ``data`` dataset (links followed).
    """

    path: str
    neurodata_type: str
    shape: tuple[int, ...]
    dtype: np.dtype
    rate: float | None
    starting_time: float | None
    timestamps: str | None
    data: str

    @property
    def num_samples(self) -> int:
        return self.shape[0]

    @property
    def volumetric(self) -> bool:
        return len(self.shape) == 4


def _external_files(node) -> list[str]:
    external = node.child("external_file")
    if external is None:
        return []
    try:
        value = external.value()
    except Exception:  # noqa: BLE001
        return ["(unreadable)"]
    values = value if isinstance(value, list) else [value]
    return [str(text(v) if text(v) is not None else v) for v in values]


def series_layout(path: str, node, where: str) -> SeriesLayout:
    """The layout of the photon series ``node`` at ``path`` (FormatError / MetadataError when it is unusable).

    External links to ``data`` and ``timestamps`` are followed: the caller has checked where they lead.
    """
    kind = _kind(node)
    files = _external_files(node)
    if files:
        shown = ", ".join(files[:5]) + (" ..." if len(files) > 5 else "")
        raise FormatError(
            f"{where}: {kind} {path} keeps its frames in external files ({shown}), not in the NWB file; open those "
            "files with ophysio directly (open_imaging on the first of them)"
        )
    data = node.child("data", follow_external=True)
    if data is None or data.is_group:
        raise FormatError(f"{where}: {kind} {path} has no data dataset")
    shape = tuple(int(n) for n in data.shape)
    if len(shape) not in (3, 4):
        raise FormatError(f"{where}: {path}/data has shape {shape}; a photon series stores (time, x, y) or "
                          "(time, x, y, z)")
    if data.dtype.kind not in "iufb":
        raise FormatError(f"{where}: {path}/data holds {data.dtype}, not numbers")
    if 0 in shape:
        raise FormatError(f"{where}: {path}/data has shape {'x'.join(map(str, shape))}: it holds no pixels")
    timestamps = node.child("timestamps", follow_external=True)
    rate = starting_time = None
    if timestamps is not None:
        if timestamps.is_group or len(timestamps.shape) != 1 or timestamps.dtype.kind not in "iuf":
            raise MetadataError(f"{where}: {path}/timestamps is not a 1-D array of numbers")
        if timestamps.shape[0] != shape[0]:
            raise MetadataError(f"{where}: {path}/timestamps holds {timestamps.shape[0]} times for {shape[0]} samples")
    else:
        start = node.child("starting_time")
        if start is None:
            raise MetadataError(f"{where}: {path} has neither timestamps nor starting_time; its times are unknown")
        starting_time = number(start.value())
        rate = number(start.attrs().get("rate"))
        if starting_time is None:
            raise MetadataError(f"{where}: {path}/starting_time is not a finite number of seconds")
        if rate is None or rate <= 0:
            raise MetadataError(f"{where}: {path}/starting_time has rate {start.attrs().get('rate')!r}, not a positive "
                                "number of samples per second")
    return SeriesLayout(path, kind or "", shape, np.dtype(data.dtype), rate, starting_time,
                        None if timestamps is None else timestamps.path, data.path)
