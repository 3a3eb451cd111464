"""Facts of a ScanImage acquisition read from its header: saved channels, stack layout, ROI layout."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ...errors import MetadataError, SelectionError
from .header import ScanImageHeader, read_scanimage_header

__all__ = ["read_header_of", "saved_channels", "stack_facts", "roi_layout_from", "slice_selection", "frame_table"]


def read_header_of(file_path: str | os.PathLike) -> ScanImageHeader:
    """Parse the ScanImage header of one file (see :mod:`ophysio.extractors.scanimage.header`)."""
    path = os.fspath(file_path)
    if not os.path.isfile(path):
        from ...errors import FileSetError

        raise FileSetError(f"{path} does not exist")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        return read_scanimage_header(fd, path)
    finally:
        os.close(fd)


#: Largest count (slices, frames per slice, flyback frames) or channel number believed from a header;
#: larger values come from damaged headers and would make tables of that size.
_MAX_COUNT = 1_000_000
_MAX_CHANNEL = 64


def _whole_number(value: Any, low: int, high: int) -> int:
    """``value`` as an int when it is a whole real number in [low, high]; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(value)
    if not (math.isfinite(value) and value == int(value) and low <= value <= high):
        raise ValueError(value)
    return int(value)


def _as_int_list(value: Any) -> list[int]:
    flat: list = []
    for item in value if isinstance(value, list) else [value]:
        flat.extend(item if isinstance(item, list) else [item])
    return [_whole_number(v, 1, _MAX_CHANNEL) for v in flat]


def saved_channels(frame_data: dict, path: str) -> tuple[list[int], list[str]]:
    """(1-based channel numbers saved, their names)."""
    saved = frame_data.get("SI.hChannels.channelSave", frame_data.get("SI.hChannels.channelsSave"))
    if saved is None:
        saved = frame_data.get("SI.hChannels.channelsActive")
    if saved is None or saved == []:
        raise MetadataError(f"{path}: the header does not say which channels were saved (SI.hChannels.channelSave)")
    try:
        numbers = _as_int_list(saved)
    except ValueError:
        numbers = []
    if not numbers:
        raise MetadataError(f"{path}: SI.hChannels.channelSave = {str(saved)[:80]} is not a list of channel numbers "
                            f"(1 to {_MAX_CHANNEL})")
    names = frame_data.get("SI.hChannels.channelName")
    names = names if isinstance(names, list) else []
    result = []
    for number in numbers:
        result.append(str(names[number - 1]) if 0 < number <= len(names) else f"Channel {number}")
    return numbers, result


def _whole(frame_data: dict, key: str, default: int, path: str) -> int:
    """A count from the header (``default`` when absent, empty or 0), or a MetadataError naming it."""
    value = frame_data.get(key, default)
    try:
        return _whole_number(value or default, 0, _MAX_COUNT)
    except (TypeError, ValueError):
        raise MetadataError(f"{path}: {key} = {str(value)[:80]!r} in the ScanImage header is not a whole number "
                            f"from 0 to {_MAX_COUNT}") from None


def stack_facts(frame_data: dict, path: str = "ScanImage header") -> tuple[bool, int, int, int]:
    """(volumetric, planes, frames per slice, flyback frames per channel), decided as ScanImage does."""
    get = frame_data.get
    slices = _whole(frame_data, "SI.hStackManager.numSlices", 1, path)
    enabled = get("SI.hStackManager.enable")
    if enabled is None:  # ScanImage before 2020 has no hStackManager.enable: several slices mean a stack
        enabled = slices > 1
    volumetric = bool(enabled) and slices > 1
    if not volumetric:
        return False, 1, 1, 0
    frames_per_slice = _whole(frame_data, "SI.hStackManager.framesPerSlice", 1, path)
    per_volume = get("SI.hStackManager.numFramesPerVolume")
    with_flyback = get("SI.hStackManager.numFramesPerVolumeWithFlyback")
    if isinstance(per_volume, (int, float)) and isinstance(with_flyback, (int, float)):
        flyback = (_whole(frame_data, "SI.hStackManager.numFramesPerVolumeWithFlyback", 0, path)
                   - _whole(frame_data, "SI.hStackManager.numFramesPerVolume", 0, path))
    else:
        flyback = _whole(frame_data, "SI.hFastZ.numDiscardFlybackFrames", 0, path) if get("SI.hFastZ.enable") else 0
    return True, slices, frames_per_slice, max(flyback, 0)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _scanfield(roi: dict) -> dict:
    """The first scanfield of an ROI (a dict), or {} when there is none or it is not an object."""
    field = (_as_list(roi.get("scanfields")) or [{}])[0]
    return field if isinstance(field, dict) else {}


def roi_layout_from(frame_data: dict, roi_groups: dict, page_rows: int, page_columns: int, path: str) -> list[dict]:
    """Where each imaging ROI lies in a page (see :meth:`ScanImageImagingExtractor.get_roi_layout`)."""
    group = roi_groups.get("imagingRoiGroup")
    group = group if isinstance(group, dict) else {}
    rois = [roi for roi in _as_list(group.get("rois")) if isinstance(roi, dict) and roi.get("enable", 1)]
    mroi = bool(frame_data.get("SI.hRoiManager.mroiEnable", False)) and len(rois) > 1
    if not mroi:
        roi = rois[0] if rois else {}
        field = _scanfield(roi)
        return [{"index": 0, "name": roi.get("name", ""), "row_start": 0, "rows": page_rows, "columns": page_columns,
                 "center_xy": field.get("centerXY"), "size_xy": field.get("sizeXY"), "z": roi.get("zs")}]
    entries = []
    for index, roi in enumerate(rois):
        field = _scanfield(roi)
        resolution = field.get("pixelResolutionXY")
        try:
            columns, rows = (_whole_number(v, 1, max(page_rows, page_columns)) for v in resolution)
        except (TypeError, ValueError):  # not a pair of numbers, or not of positive whole numbers that fit a page
            raise MetadataError(
                f"{path}: ROI {index} ({str(roi.get('name'))[:80]!r}) has no valid scanfield pixelResolutionXY "
                f"({str(resolution)[:80]}; expected [columns rows] that fit the {page_rows} x {page_columns} pages)"
            ) from None
        entries.append({"index": index, "name": roi.get("name", ""), "rows": rows,
                        "columns": columns, "center_xy": field.get("centerXY"),
                        "size_xy": field.get("sizeXY"), "z": roi.get("zs")})
    total = sum(e["rows"] for e in entries)
    gaps = len(entries) - 1
    flyto, remainder = divmod(page_rows - total, gaps)
    if remainder or page_rows < total:
        # the rows left over do not split evenly: use the fly-to time, in lines rounded up to even
        # (resonant scanners write lines in pairs), as long as it fits the page
        line_period = frame_data.get("SI.hRoiManager.linePeriod")
        flyto_time = frame_data.get("SI.hScan2D.flytoTimePerScanfield")
        if isinstance(line_period, (int, float)) and isinstance(flyto_time, (int, float)) and line_period > 0 \
                and math.isfinite(flyto_time / line_period):
            lines = math.ceil(flyto_time / line_period)
            flyto, remainder = lines + (lines % 2), 0
            if total + gaps * flyto > page_rows:
                remainder = 1
    if page_rows < total or remainder or any(e["columns"] > page_columns for e in entries):
        raise MetadataError(
            f"{path}: the {len(entries)} ROIs of the header ({total} rows in all, "
            f"{max(e['columns'] for e in entries)} columns at most) do not fit the pages ({page_rows} x "
            f"{page_columns}) with an equal number of fly-to lines between them"
        )
    line_period = frame_data.get("SI.hRoiManager.linePeriod")
    row = 0
    for entry in entries:
        entry["row_start"] = row
        entry["flyto_lines"] = flyto
        entry["time_offset_s"] = row * float(line_period) if isinstance(line_period, (int, float)) else None
        row += entry["rows"] + flyto
    return entries


def slice_selection(volumetric: bool, frames_per_slice: int, slice_sample: int | None, interleave: bool,
                    name: str) -> tuple[int | None, bool]:
    """``(slice_sample, interleave)`` a reader uses: a stack with several frames per slice needs one of them
    (``slice_sample``) or all of them as their own samples (``interleave``); anything else takes neither."""
    if volumetric and frames_per_slice > 1:
        if slice_sample is not None:
            if not 0 <= int(slice_sample) < frames_per_slice:
                raise SelectionError(
                    f"slice_sample={slice_sample} is out of range: {name} has {frames_per_slice} frames "
                    f"per slice (0 to {frames_per_slice - 1})"
                )
            return int(slice_sample), False
        if interleave:
            return None, True
        raise SelectionError(
            f"{name} has {frames_per_slice} frames per slice: pass slice_sample= (0 to "
            f"{frames_per_slice - 1}) to read one of them, or interleave_slice_samples=True to read "
            "each as its own sample"
        )
    if slice_sample not in (None, 0):
        raise SelectionError(
            f"slice_sample={slice_sample} is out of range: {name} has 1 frame per slice"
            + ("" if volumetric else " (planar data)")
        )
    return None, False


def frame_table(total_pages: int, channels: int, channel_index: int, planes: int, frames_per_slice: int,
                flyback: int, volumetric: bool, interleave: bool, slice_sample: int | None) -> np.ndarray:
    """The frame-to-IFD table of one channel: ``(samples, planes)`` global IFD indices (int64). A cycle is
    ``(planes * frames_per_slice + flyback) * channels`` pages; an incomplete last cycle is left out."""
    per_cycle = (planes * frames_per_slice + flyback) * channels
    cycles = total_pages // per_cycle
    if not volumetric:
        return (np.arange(cycles, dtype=np.int64) * per_cycle + channel_index)[:, None]
    if interleave:
        cycle = np.repeat(np.arange(cycles, dtype=np.int64), frames_per_slice)
        within = np.tile(np.arange(frames_per_slice, dtype=np.int64), cycles)
    else:
        cycle = np.arange(cycles, dtype=np.int64)
        within = np.full(cycles, slice_sample or 0, dtype=np.int64)
    plane = np.arange(planes, dtype=np.int64)
    return (cycle[:, None] * per_cycle + ((plane[None, :] * frames_per_slice + within[:, None]) * channels)
            + channel_index)
