"""Synthetic Inscopix ``.isxd`` movies and cell sets, laid out as isxcore's ``MosaicMovieFile`` and
``CellSetFile`` write them.

The file is the stored frames in time order (dropped, cropped and blank samples are not stored), each
between a 2560-value header and footer when ``frame_headers`` is set, then the JSON footer (indented by 4,
keys sorted, as nlohmann's ``std::setw(4)`` dump), one NUL byte, and the footer's length as a
little-endian uint64. Frame headers carry, one byte per value in the upper bits of the sensor's 12,
the colour code at value 1256, the frame count at 1258, the LED powers at 1262 and 1266, the efocus at
1270 and the time stamp counter (microseconds) at 1272, as isxcore decodes them.

A cell set (:func:`write_isxd_cellset`) is, for each cell in order, its image (rows x columns float32, row by
row) then its trace (``numTimes`` float32, NaN at dropped, cropped and blank samples), then the same kind
of footer with the cell names, statuses (0 accepted, 1 undecided, 2 rejected), activity and colours.

Pixel values of time index ``t`` come from :func:`ophysio.examples.movie` (``movie(num_times, ...)[t]``), so
a test computes the expected frames of any stored subset independently of the reader.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_isxd", "write_isxd_cellset", "cell_set_values", "isxd_extra_properties", "encode_frame_header"]

#: numpy type -> ``dataType`` code
_DATA_TYPES = {"uint16": 0, "float32": 1, "uint8": 2}
_HEADER_VALUES = 2560


def _movie(*args, **kwargs) -> np.ndarray:
    from .movie import movie

    return movie(*args, **kwargs)


def encode_frame_header(colour: str = "G", frame_count: int = 0, led1_power: int = 0, led2_power: int = 0,
                        efocus: int = 0, tsc: int = 0) -> np.ndarray:
    """A frame header of 2560 uint16 values with the per-frame metadata the sensor writes."""
    values = np.zeros(_HEADER_VALUES, dtype="<u2")
    values[0] = 0x0A0  # the sensor's marker (isxcore checks it in debug builds)

    def put(first: int, number: int, width: int) -> None:
        for k in range(width):
            values[first + k] = ((number >> (8 * k)) & 0xFF) << 4

    put(1256, ord(colour), 1)
    put(1257, 0xAD, 1)
    put(1258, frame_count, 4)
    put(1262, led1_power, 2)
    put(1266, led2_power, 2)
    put(1270, efocus, 2)
    put(1272, tsc, 8)
    return values


def isxd_extra_properties(microscope: str = "NVista3", planes: Sequence[int] | None = None,
                          mux_ratio: tuple[int, int] | None = None, start_channel: str = "green",
                          single_channel: str | None = None, probe_id: str | None = "1050-004637",
                          producer_version: str = "1.9.0", downsampling: int = 1) -> dict:
    """``extraProperties`` as the acquisition software writes them (the parts ophysio reads, and some more).

    ``planes``: efocus of each plane of a multiplane recording; ``mux_ratio``: (green, red) frames per cycle
    of a multiplexed dual-colour recording; ``single_channel``: the colour of a dual-colour recording in
    single mode.
    """
    scope: dict[str, Any] = {
        "type": microscope, "serial": "FA-11092903", "systemSerial": "AC-11093403", "exp": 33, "gain": 6,
        "focus": 500, "fps": {"ctrlExp": True, "fps": 30}, "downSamplingFactor": downsampling, "binMode": 1,
        "led": {"exPower": 1.3, "ogPower": 0.2, "exPower2": 0.4, "diPower": 0.2},
        "multiplane": {"enabled": bool(planes and len(planes) > 1), "activePlanes": len(planes) if planes else 1,
                       "planes": {f"plane-{i + 1}": {"enabled": True, "focus": str(f)}
                                  for i, f in enumerate(planes or [500])}},
    }
    if mux_ratio is not None or single_channel is not None:
        green, red = mux_ratio or (1, 1)
        scope["dualColor"] = {"enabled": True, "mode": "multiplexing" if mux_ratio else "single",
                              "muxRatio": {"led1": green, "led2": red}, "startChannel": start_channel,
                              "single": {"channel": single_channel or "green"}}
    probe = {"id": probe_id or "none", "name": "ProView Integrated Lens 1.0 mm x 4.2 mm" if probe_id else "None",
             "diameter": 1.0, "length": 4.2, "flip": "none", "pitch": 0, "rotation": 0,
             "type": "ProView Integrated Lens" if probe_id else "None"}
    return {
        "animal": {"id": "m1", "sex": "m", "species": "", "dob": "", "weight": 0, "description": ""},
        "microscope": scope, "probe": probe, "probeId": probe["id"], "name": "synthetic session",
        "personnel": {"name": "synthetic"},
        "producer": {"name": "AcquisitionSW", "version": producer_version, "versionBE": f"{producer_version}-0000000"},
        "type": "inscopix-session",
    }


def write_isxd(
    path: str | os.PathLike,
    num_times: int = 20,
    rows: int = 16,
    columns: int = 12,
    dtype: str = "uint16",
    period: tuple[int, int] = (50_000, 1_000_000),
    start: tuple[int, int] = (1_700_000_000_250_000, 1_000_000),
    utc_offset: int = 0,
    dropped: Sequence[int] = (),
    cropped: Sequence[str] = (),
    blank: Sequence[int] = (),
    frame_headers: bool = False,
    planes: Sequence[int] | None = None,
    mux_ratio: tuple[int, int] | None = None,
    start_channel: str = "green",
    single_channel: str | None = None,
    extra_properties: dict | None = None,
    data_set_type: int = 0,
    tsc_start: int = 560_273_515_867,
    tsc_steps_us: Sequence[int] | None = None,
    probe_id: str | None = "1050-004637",
) -> Path:
    """Write an ``.isxd`` movie of ``num_times`` samples and return its path.

    ``dropped``/``blank`` are time indices and ``cropped`` index ranges (``"3"`` or ``"3 - 5"``), none of them
    stored. With ``frame_headers`` (uint16 only) each frame carries a header with its colour, efocus and
    time stamp (``tsc_start`` plus ``tsc_steps_us`` microseconds per time index, default the period).
    """
    dtype = np.dtype(dtype)
    if dtype.name not in _DATA_TYPES:
        raise ValueError(f"an Inscopix movie holds uint16, float32 or uint8 pixels, not {dtype}")
    skipped = set(dropped) | set(blank)
    for text in cropped:
        first, _, last = str(text).partition("-")
        skipped |= set(range(int(first), int(last or first) + 1))
    props = extra_properties if extra_properties is not None else isxd_extra_properties(
        planes=planes, mux_ratio=mux_ratio, start_channel=start_channel, single_channel=single_channel,
        probe_id=probe_id)
    step = period[0] * 1_000_000 // period[1]
    steps = np.full(num_times, step, dtype=np.int64) if tsc_steps_us is None else np.asarray(tsc_steps_us)
    tsc = tsc_start + np.concatenate(([0], np.cumsum(steps[: num_times - 1])))
    cycle: list[str] = []
    if mux_ratio is not None:
        green, red = mux_ratio
        order = [("G", green), ("R", red)] if start_channel != "red" else [("R", red), ("G", green)]
        cycle = [code for code, n in order for _ in range(n)]
    path = Path(path)
    block = max(1, (16 << 20) // (rows * columns * 8))  # frames computed at once (int64 intermediates)
    with open(path, "wb") as fh:
        for t in range(num_times):
            if t % block == 0:
                values = _movie(min(block, num_times - t), rows, columns, None, dtype, first_sample=t)
            if t in skipped:
                continue
            if frame_headers:
                colour = cycle[t % len(cycle)] if cycle else (single_channel or "green")[0].upper()
                efocus = planes[t % len(planes)] if planes else 500
                fh.write(encode_frame_header(colour, 52_618_805 + t, 1078, 0, efocus, int(tsc[t])).tobytes())
            fh.write(np.ascontiguousarray(values[t % block], dtype=dtype.newbyteorder("<")).tobytes())
            if frame_headers:
                fh.write((np.arange(_HEADER_VALUES, dtype="<u2") * 16).tobytes())
        footer = {
            "dataType": _DATA_TYPES[dtype.name],
            "extraProperties": props,
            "fileVersion": 1,
            "hasFrameHeaderFooter": bool(frame_headers),
            "producer": {"name": "isxcore", "version": [1, 9, 0]},
            "spacingInfo": {"numPixels": {"x": columns, "y": rows},
                            "pixelSize": {"x": {"den": 1, "num": 3}, "y": {"den": 1, "num": 3}},
                            "topLeft": {"x": {"den": 1, "num": 0}, "y": {"den": 1, "num": 0}}},
            "timingInfo": {"blank": sorted(blank), "cropped": list(cropped), "dropped": sorted(dropped),
                           "numTimes": num_times, "period": {"den": period[1], "num": period[0]},
                           "start": {"secsSinceEpoch": {"den": start[1], "num": start[0]}, "utcOffset": utc_offset}},
            "type": data_set_type,
        }
        text = json.dumps(footer, indent=4, sort_keys=True).encode()
        fh.write(text + b"\0" + struct.pack("<Q", len(text)))
    return path


def _skipped(num_times: int, dropped: Sequence[int], cropped: Sequence[str], blank: Sequence[int]) -> np.ndarray:
    """Whether each time index is dropped, cropped or blank."""
    mask = np.zeros(num_times, dtype=bool)
    mask[list(dropped)] = True
    mask[list(blank)] = True
    for text in cropped:
        first, _, last = str(text).partition("-")
        mask[int(first) : int(last or first) + 1] = True
    return mask


def cell_set_values(cells: int, num_times: int, rows: int, columns: int,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic cell images ``(cells, rows, columns)`` (a Gaussian blob per cell, zero far from it) and
    traces ``(cells, num_times)``, float32."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns]
    images = np.zeros((cells, rows, columns), dtype=np.float32)
    for k in range(cells):
        cy, cx = rng.uniform(0, rows - 1), rng.uniform(0, columns - 1)
        blob = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 1.5 ** 2))
        blob[blob < 0.05] = 0
        images[k] = (blob / blob.sum()).astype(np.float32)
    traces = (rng.standard_normal((cells, num_times)) + np.arange(cells)[:, None]).astype(np.float32)
    return images, traces


def write_isxd_cellset(
    path: str | os.PathLike,
    images: np.ndarray | None = None,
    traces: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    statuses: Sequence[int] | None = None,
    cells: int = 5,
    num_times: int = 30,
    rows: int = 14,
    columns: int = 11,
    period: tuple[int, int] = (50_000, 1_000_000),
    start: tuple[int, int] = (1_700_000_000_250_000, 1_000_000),
    utc_offset: int = 0,
    dropped: Sequence[int] = (),
    cropped: Sequence[str] = (),
    blank: Sequence[int] = (),
    activity: Sequence[bool] | None = None,
    file_version: int = 5,
    extra_properties: dict | None = None,
    seed: int = 0,
) -> Path:
    """Write an ``.isxd`` cell set and return its path.

    ``images`` ``(cells, rows, columns)`` and ``traces`` ``(cells, num_times)`` default to
    :func:`cell_set_values`; the traces are written NaN at the ``dropped``, ``cropped`` (``"3"`` or
    ``"3 - 5"``) and ``blank`` time indices, as isxcore writes them. ``names`` default to ``C0``, ``C1``...
    and ``statuses`` (0 accepted, 1 undecided, 2 rejected) to accepted, undecided, rejected in turn. The
    footer has the keys of ``file_version`` (``CellActivity`` from 1, ``CellColors`` from 2, the longitudinal
    registration fields from 3, ``cellMetrics`` from 4).
    """
    if images is None or traces is None:
        made_images, made_traces = cell_set_values(cells, num_times, rows, columns, seed)
        images = made_images if images is None else images
        traces = made_traces if traces is None else traces
    images = np.asarray(images, dtype="<f4")
    traces = np.array(traces, dtype="<f4")
    cells, rows, columns = images.shape
    if traces.ndim != 2 or traces.shape[0] != cells:
        raise ValueError(f"traces must be (cells={cells}, samples), not {traces.shape}")
    num_times = traces.shape[1]
    traces[:, _skipped(num_times, dropped, cropped, blank)] = np.nan
    names = [f"C{k}" for k in range(cells)] if names is None else list(names)
    statuses = [(0, 1, 2)[k % 3] for k in range(cells)] if statuses is None else list(statuses)
    activity = [True] * cells if activity is None else [bool(a) for a in activity]
    path = Path(path)
    with open(path, "wb") as fh:
        for k in range(cells):
            fh.write(images[k].tobytes())
            fh.write(traces[k].tobytes())
        footer: dict[str, Any] = {
            "CellNames": names,
            "CellStatuses": statuses,
            "dataType": "float",
            "efocusValues": [0],
            "extraProperties": extra_properties,
            "fileVersion": file_version,
            "isRoiSet": False,
            "producer": {"name": "isxcore", "version": [1, 9, 0]},
            "spacingInfo": {"numPixels": {"x": columns, "y": rows},
                            "pixelSize": {"x": {"den": 1, "num": 3}, "y": {"den": 1, "num": 3}},
                            "topLeft": {"x": {"den": 1, "num": 0}, "y": {"den": 1, "num": 0}}},
            "timingInfo": {"blank": sorted(blank), "cropped": list(cropped), "dropped": sorted(dropped),
                           "numTimes": num_times, "period": {"den": period[1], "num": period[0]},
                           "start": {"secsSinceEpoch": {"den": start[1], "num": start[0]}, "utcOffset": utc_offset}},
            "type": 1,
        }
        if file_version >= 1:
            footer["CellActivity"] = activity
        if file_version >= 2:
            footer["CellColors"] = [4294967295] * cells
        if file_version >= 3:
            footer.update({"SizeGlobalCS": 0, "Matches": [], "PairScores": [], "CentroidDistances": []})
        if file_version >= 4:
            footer["cellMetrics"] = None
        text = json.dumps(footer, indent=4, sort_keys=True).encode()
        fh.write(text + b"\0" + struct.pack("<Q", len(text)))
    return path


def _example_inscopix(folder: Path) -> tuple[Path, dict]:
    path = write_isxd(folder / "example_movie.isxd", num_times=102, rows=64, columns=64, dropped=(40, 41),
                      frame_headers=True)
    return path, {}


#: Built-in examples of this module (see :func:`ophysio.examples.write_example`).
EXAMPLES = {"inscopix": _example_inscopix}
