"""Synthetic ScanImage 2016+ file series, laid out as ScanImage writes them.

Layout of every file (as in real ScanImage 5.7, 2021 and 2023 files): a little-endian BigTIFF header;
at offset 16 the ScanImage block (magic 117637889, TIFF format version, length of the frame data,
length of the ROI data) followed by one copy of the ``SI.* = value`` text and of the ``RoiGroups``
JSON (each NUL-terminated); then one page per channel per frame: an IFD of ScanImage's 18 tags, the
page's own ImageDescription (``frameNumbers``, ``frameTimestamps_sec``, ``epoch``... padded with spaces
to a fixed size, NUL-terminated, 8-byte aligned) and one uncompressed strip. Every page's Software and
Artist tags point at the shared header text and JSON, so the IFD stride is constant.

Pages are written in ScanImage's order: saved channel fastest, then frames of a slice, then planes,
then flyback frames, then volumes. Pixel values are :func:`page_pixels` of the page's global index.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

__all__ = ["write_scanimage", "page_pixels", "scanimage_frame_data_text", "EXAMPLES"]

MAGIC = 117637889
_TAGS = (256, 257, 258, 259, 262, 270, 273, 274, 277, 278, 279, 282, 283, 284, 296, 305, 315, 339)
_IFD_BYTES = 8 + len(_TAGS) * 20 + 8


def page_pixels(pages: np.ndarray | Sequence[int], rows: int, columns: int, dtype: str | np.dtype = "int16",
                seed: int = 0) -> np.ndarray:
    """The pixel values of global pages ``pages`` of a synthetic series: shape (len(pages), rows, columns).

    Values vary along every axis and wrap within the dtype's range.
    """
    dtype = np.dtype(dtype)
    g = np.asarray(pages, dtype=np.int64).reshape(-1, 1, 1)
    y = np.arange(rows, dtype=np.int64).reshape(1, -1, 1)
    x = np.arange(columns, dtype=np.int64).reshape(1, 1, -1)
    base = g * 7919 + y * 131 + x * 17 + seed * 7
    if dtype.kind == "f":
        return ((base % 65521) / 7.0).astype(dtype)
    info = np.iinfo(dtype)
    span = min(int(info.max) - int(info.min) + 1, 1 << 31)
    return ((base % span) + (int(info.min) if info.min < 0 else 0)).astype(dtype)


def _cells_pixels(pages: np.ndarray, rows: int, columns: int, channels: int, frames_per_page_cycle: int,
                  seed: int) -> np.ndarray:
    """A movie that looks like two-photon data: background, neurons that flash, shot noise (uint-ish int16)."""
    rng = np.random.default_rng(seed)
    n_cells = max(4, rows * columns // 900)
    cy, cx = rng.uniform(0, rows, n_cells), rng.uniform(0, columns, n_cells)
    radius = rng.uniform(3, 6, n_cells)
    yy, xx = np.mgrid[0:rows, 0:columns]
    masks = np.exp(-(((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2)
                     / (2 * radius[:, None, None] ** 2)))
    background = 200 + 60 * np.sin(yy / rows * 3.1) * np.cos(xx / columns * 2.3)
    out = np.empty((len(pages), rows, columns), np.int16)
    for i, page in enumerate(np.asarray(pages).tolist()):
        frame, channel = divmod(page, channels)
        local = np.random.default_rng(seed * 1_000_003 + page)
        phase = np.sin(frame * 0.21 + np.arange(n_cells) * 1.7)
        activity = 400 * np.clip(phase, 0, None) ** 4 + 150
        image = background * (1 + 0.3 * channel) + np.tensordot(activity, masks, axes=1) / (1 + channel)
        out[i] = np.clip(local.poisson(np.clip(image, 0, None)), -32768, 32767)
    return out


def _matlab(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float):
        if math.isinf(value):
            return "Inf" if value > 0 else "-Inf"
        return repr(value) if value != int(value) else str(int(value))
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, str) for v in value):
            return "{" + " ".join(_matlab(v) for v in value) + "}"
        return "[" + " ".join(_matlab(v) for v in value) + "]"
    return str(value)


def scanimage_frame_data_text(values: dict) -> str:
    """``SI.key = value`` lines for a dict of Python values (lists become row vectors / cell arrays)."""
    lines = []
    for key, value in values.items():
        if isinstance(value, tuple) and len(value) == 2 and value[0] == "column":
            lines.append(f"{key} = [" + ";".join(_matlab(v) for v in value[1]) + "]")
        else:
            lines.append(f"{key} = {_matlab(value)}")
    return "\n".join(lines) + "\n"


def _roi_json(rois: list[dict] | None, rows: int, columns: int) -> str:
    def roi(index, spec):
        return {
            "ver": 1, "classname": "scanimage.mroi.Roi", "name": spec.get("name", f"ROI {index + 1}"),
            "UserData": None, "roiUuid": f"{index:016X}", "zs": spec.get("z", 0),
            "scanfields": {
                "ver": 1, "classname": "scanimage.mroi.scanfield.fields.RotatedRectangle",
                "name": f"Scanfield {index + 1}", "centerXY": list(spec.get("center_xy", [0, 0])),
                "sizeXY": list(spec.get("size_xy", [18, 18])), "rotationDegrees": 0, "enable": 1,
                "pixelResolutionXY": [spec["columns"], spec["rows"]],
            },
            "discretePlaneMode": 0, "powers": None, "enable": 1,
        }

    specs = rois or [{"rows": rows, "columns": columns, "name": "Default Imaging Roi"}]
    roi_list = [roi(i, s) for i, s in enumerate(specs)]
    group = {"ver": 1, "classname": "scanimage.mroi.RoiGroup", "name": "Default Imaging ROI Group",
             "UserData": None, "rois": roi_list if len(roi_list) > 1 else roi_list[0]}
    return json.dumps({"RoiGroups": {"imagingRoiGroup": group, "photostimRoiGroups": None,
                                     "integrationRoiGroup": {"ver": 1, "rois": {"_ArrayType_": "double",
                                                                                "_ArraySize_": [1, 0]}}}},
                      indent=2)


def _file_names(folder: Path, name: str, count: int, acq_state: str, acquisition: int, split: bool) -> list[Path]:
    if acq_state == "grab":
        if split:
            return [folder / f"{name}_{acquisition:05d}_{k:05d}.tif" for k in range(1, count + 1)]
        return [folder / f"{name}_{acquisition:05d}.tif"]
    return [folder / f"{name}_{k:05d}.tif" for k in range(1, count + 1)]


def write_scanimage(
    folder: str | os.PathLike,
    name: str = "scan",
    *,
    num_samples: int = 10,
    rows: int = 32,
    columns: int = 32,
    channels: Sequence[int] = (1,),
    num_slices: int = 1,
    frames_per_slice: int = 1,
    num_flyback: int = 0,
    stack_enabled: bool | None = None,
    stack_mode: str = "fast",
    frames_per_file: int | None = None,
    acq_state: str = "grab",
    acquisition: int = 1,
    frame_rate: float = 30.0,
    rois: list[dict] | None = None,
    flyto_lines: int = 0,
    page_rows: int | None = None,
    extra_pages: int = 0,
    dtype: str = "int16",
    version: int = 4,
    description_bytes: int = 2000,
    software_version: tuple = (2023, 1),
    epoch: tuple = (2024, 3, 14, 9, 26, 53.5),
    pattern: str | Callable[[np.ndarray, int, int], np.ndarray] = "ramp",
    seed: int = 0,
    channel_save_as_row: bool = False,
    omit_keys: Sequence[str] = (),
    extra_keys: dict | None = None,
) -> list[Path]:
    """Write a ScanImage 2016+ acquisition and return its files in order.

    Parameters
    ----------
    folder, name : where and under which base name (files are ``name_00001_00001.tif``... for a grab
        split over files, ``name_00001.tif`` for one grab file, ``name_00001.tif``, ``name_00002.tif``...
        for loop acquisitions and slow stacks).
    num_samples : frames (planar) or volumes (volumetric) to write.
    rows, columns : page size (for mROI, computed from ``rois`` and ``flyto_lines``).
    channels : 1-based numbers of the saved channels (e.g. ``(1, 4)``).
    num_slices, frames_per_slice, num_flyback : the stack; volumetric when ``stack_enabled`` (default:
        ``num_slices > 1``) and more than one slice.
    frames_per_file : ``SI.hScan2D.logFramesPerFile`` (frames, each ``len(channels)`` pages); None = Inf.
    acq_state : ``"grab"`` or ``"loop"``; ``stack_mode`` ``"fast"`` or ``"slow"``.
    frame_rate : ``scanFrameRate``; ``frameTimestamps_sec`` of frame ``k`` is ``k / frame_rate``.
    rois : mROI: list of ``{"rows", "columns", "center_xy", "size_xy", "name"}`` (enables mroiEnable),
        stacked with ``flyto_lines`` rows between them (``page_rows`` may add rows at the bottom);
        ``SI.hScan2D.flytoTimePerScanfield`` is written as ``flyto_lines - 0.8`` line periods.
    extra_pages : pages of an incomplete last cycle appended after the complete ones.
    description_bytes : fixed size of each page's ImageDescription text (ScanImage uses 2000).
    pattern : ``"ramp"`` (values from :func:`page_pixels`), ``"cells"`` (looks like real data), or a function
        ``pattern(global_pages, rows, columns)`` returning the pages' pixels (len(pages), rows, columns).
    channel_save_as_row : write ``SI.hChannels.channelSave`` as a row ``[1 2]`` instead of the column
        ``[1;2]`` ScanImage writes (roiextractors 0.10.0 with current tifffile fails on the column).
    omit_keys : ``SI.*`` keys to leave out of the header (e.g. those older ScanImage versions lack).
    extra_keys : ``SI.*`` keys to add to (or change in) the header, as Python values.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype(dtype).newbyteorder("<")
    channels = [int(c) for c in channels]
    n_ch = len(channels)
    if stack_enabled is None:
        stack_enabled = num_slices > 1
    volumetric = stack_enabled and num_slices > 1
    per_volume = num_slices * frames_per_slice if volumetric else 1
    with_flyback = per_volume + (num_flyback if volumetric else 0)
    frames = num_samples * with_flyback
    total_pages = frames * n_ch + extra_pages
    if rois:
        columns = max(int(r["columns"]) for r in rois)
        rows = sum(int(r["rows"]) for r in rois) + flyto_lines * (len(rois) - 1)
        rows = max(rows, page_rows or 0)
    line_period = 1.0 / (frame_rate * rows)
    volume_rate = frame_rate / with_flyback
    step = 2.0
    frame_data = {
        "SI.LINE_FORMAT_VERSION": 1,
        "SI.TIFF_FORMAT_VERSION": version,
        "SI.VERSION_MAJOR": software_version[0],
        "SI.VERSION_MINOR": software_version[1],
        "SI.acqState": acq_state,
        "SI.acqsPerLoop": 1,
        "SI.hChannels.channelName": [f"Channel {k}" for k in range(1, max(4, *channels) + 1)],
        "SI.hChannels.channelSave": (channels if channel_save_as_row else ("column", channels)) if n_ch > 1
        else channels[0],
        "SI.hChannels.channelsActive": ("column", channels) if n_ch > 1 else channels[0],
        "SI.hFastZ.enable": bool(volumetric and stack_mode == "fast"),
        "SI.hFastZ.numDiscardFlybackFrames": num_flyback if volumetric else 0,
        "SI.hRoiManager.linePeriod": line_period,
        "SI.hRoiManager.linesPerFrame": rows,
        "SI.hRoiManager.mroiEnable": bool(rois),
        "SI.hRoiManager.pixelsPerLine": columns,
        "SI.hRoiManager.scanFrameRate": float(frame_rate),
        "SI.hRoiManager.scanVolumeRate": float(volume_rate if volumetric else frame_rate),
        "SI.hScan2D.flytoTimePerScanfield": max(flyto_lines - 0.8, 0) * line_period,
        "SI.hScan2D.logFramesPerFile": float("inf") if frames_per_file is None else int(frames_per_file),
        "SI.hStackManager.actualNumSlices": num_slices,
        "SI.hStackManager.actualNumVolumes": num_samples if volumetric else 1,
        "SI.hStackManager.enable": bool(stack_enabled),
        "SI.hStackManager.framesPerSlice": frames_per_slice if volumetric else num_samples,
        "SI.hStackManager.numFramesPerVolume": per_volume,
        "SI.hStackManager.numFramesPerVolumeWithFlyback": with_flyback,
        "SI.hStackManager.numSlices": num_slices,
        "SI.hStackManager.stackMode": stack_mode,
        "SI.hStackManager.zs": [round(100 + step * k, 6) for k in range(num_slices)],
        "SI.imagingSystem": "ImagingScanner",
        "SI.objectiveResolution": 15,
    }
    frame_data.update(extra_keys or {})
    for key in omit_keys:
        frame_data.pop(key, None)
    text = scanimage_frame_data_text(frame_data).encode() + b"\x00"
    roi = _roi_json(rois, rows, columns).encode() + b"\x00"
    head_end = 32 + len(text) + len(roi)
    first_ifd = head_end + (head_end & 1)

    if frames_per_file is None:
        per_file_pages = [total_pages]
    else:
        size = int(frames_per_file) * n_ch
        per_file_pages = [min(size, total_pages - a) for a in range(0, total_pages, size)] or [0]
    paths = _file_names(folder, name, len(per_file_pages), acq_state, acquisition, frames_per_file is not None)

    strip = rows * columns * dtype.itemsize
    desc_field = description_bytes + 1
    desc_pad = -desc_field % 8
    strip_pad = -strip % 8
    stride = _IFD_BYTES + desc_field + desc_pad + strip + strip_pad
    sample_format = {"u": 1, "i": 2, "f": 3}[dtype.kind]
    epoch_text = "[{:d} {:2d} {:2d} {:2d} {:2d} {:.3f}]".format(*epoch)

    def template() -> bytes:
        entries = []
        for tag in _TAGS:
            if tag == 270:
                entries.append(struct.pack("<HHQQ", tag, 2, desc_field, 0))
            elif tag in (273, 279):
                entries.append(struct.pack("<HHQQ", tag, 16, 1, 0 if tag == 273 else strip))
            elif tag in (282, 283):
                entries.append(struct.pack("<HHQII", tag, 5, 1, 1_000_000, 1))
            elif tag == 305:
                entries.append(struct.pack("<HHQQ", tag, 2, len(text), 32))
            elif tag == 315:
                entries.append(struct.pack("<HHQQ", tag, 2, len(roi), 32 + len(text)))
            else:
                value = {256: columns, 257: rows, 258: dtype.itemsize * 8, 259: 1, 262: 1, 274: 1, 277: 1,
                         278: rows, 284: 1, 296: 3, 339: sample_format}[tag]
                entries.append(struct.pack("<HHQQ", tag, 3, 1, value))
        return struct.pack("<Q", len(_TAGS)) + b"".join(entries) + struct.pack("<Q", 0)

    ifd = np.frombuffer(template(), np.uint8)
    desc_value_at = 8 + _TAGS.index(270) * 20 + 12
    strip_value_at = 8 + _TAGS.index(273) * 20 + 12
    next_at = _IFD_BYTES - 8
    page_start = 0
    block_pages = max(1, (32 * 1024**2) // stride)
    for path, count in zip(paths, per_file_pages):
        with open(path, "wb") as fh:
            fh.write(b"II+\x00" + struct.pack("<HHQ", 8, 0, first_ifd))
            fh.write(struct.pack("<4I", MAGIC, version, len(text), len(roi)))
            fh.write(text + roi + b"\x00" * (first_ifd - head_end))
            for a in range(0, count, block_pages):
                b = min(a + block_pages, count)
                n = b - a
                buf = np.zeros((n, stride), np.uint8)
                buf[:, :_IFD_BYTES] = ifd
                ifd_offsets = first_ifd + np.arange(a, b, dtype=np.uint64) * np.uint64(stride)
                descs_at = ifd_offsets + np.uint64(_IFD_BYTES)
                buf[:, desc_value_at:desc_value_at + 8] = descs_at.view(np.uint8).reshape(n, 8)
                strips_at = ifd_offsets + np.uint64(_IFD_BYTES + desc_field + desc_pad)
                buf[:, strip_value_at:strip_value_at + 8] = strips_at.view(np.uint8).reshape(n, 8)
                following = np.where(np.arange(a, b) == count - 1, np.uint64(0), ifd_offsets + np.uint64(stride))
                buf[:, next_at:next_at + 8] = following.astype(np.uint64).view(np.uint8).reshape(n, 8)
                pages = np.arange(page_start + a, page_start + b)
                descs = bytearray()
                for page in pages.tolist():
                    frame = page // n_ch + 1
                    desc = (
                        f"frameNumbers = {frame}\nacquisitionNumbers = {acquisition}\n"
                        f"frameNumberAcquisition = {frame}\nframeTimestamps_sec = {(frame - 1) / frame_rate:.9f}\n"
                        f"acqTriggerTimestamps_sec = -0.000022560\nnextFileMarkerTimestamps_sec = -1.000000000\n"
                        f"endOfAcquisition = {int(page == total_pages - 1)}\nendOfAcquisitionMode = 0\n"
                        f"dcOverVoltage = 0\nepoch = {epoch_text}\nauxTrigger0 = []\nauxTrigger1 = []\n"
                        f"auxTrigger2 = []\nauxTrigger3 = []\nI2CData = {{}}"
                    ).encode()
                    if len(desc) > description_bytes:
                        raise ValueError(f"description_bytes={description_bytes} is too small ({len(desc)} needed)")
                    descs += desc.ljust(description_bytes) + b"\x00" * (1 + desc_pad)
                text_block = np.frombuffer(bytes(descs), np.uint8).reshape(n, -1)
                buf[:, _IFD_BYTES:_IFD_BYTES + desc_field + desc_pad] = text_block
                if callable(pattern):
                    pixels = np.asarray(pattern(pages, rows, columns))
                elif pattern == "cells":
                    pixels = _cells_pixels(pages, rows, columns, n_ch, with_flyback, seed)
                else:
                    pixels = page_pixels(pages, rows, columns, dtype, seed)
                start = _IFD_BYTES + desc_field + desc_pad
                buf[:, start:start + strip] = pixels.astype(dtype, copy=False).reshape(n, -1).view(np.uint8)
                fh.write(buf.data)
        page_start += count
    return paths


def _example(folder: Path) -> tuple[Path, dict]:
    # at least as many frames as the longest image side: nwbinspector flags a shorter time axis
    paths = write_scanimage(folder, "example_session", num_samples=150, rows=128, columns=128, channels=(1, 2),
                            frames_per_file=75, frame_rate=15.0, pattern="cells", seed=3)
    return paths[0], {}


#: Built-in example: a planar two-channel grab split over two files (128 x 128, 150 frames, ~10 MB).
EXAMPLES = {"scanimage": _example}
