"""An independent reading of .isxd movies for the tests: numpy and json from the documented layout.

The last 8 bytes give the JSON footer's length; the footer ends one NUL byte before them. Frames are
stored in time order without the dropped, cropped and blank samples; with ``hasFrameHeaderFooter`` each
frame sits between 2560 uint16 values of header and of footer. The header's time stamp counter is
decoded here as isxcore's ``MosaicMovieFile::readFrameTimestamp`` describes it.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

DTYPES = {0: "<u2", 1: "<f4", 2: "u1"}


def footer(path) -> tuple[dict, int]:
    data = Path(path).read_bytes()
    length = int.from_bytes(data[-8:], "little")
    assert data[-9] == 0
    return json.loads(data[len(data) - 9 - length : len(data) - 9]), len(data) - 9 - length


def stored_times(header: dict) -> list[int]:
    info = header["timingInfo"]
    skip = set(info.get("dropped", [])) | set(info.get("blank", []))
    for text in info.get("cropped", []):
        first, _, last = str(text).partition("-")
        skip |= set(range(int(first), int(last or first) + 1))
    return [t for t in range(info["numTimes"]) if t not in skip]


def period(header: dict) -> Fraction:
    p = header["timingInfo"]["period"]
    return Fraction(p["num"], p["den"])


def raw_frames(path) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(pixels of every stored frame, their headers as uint16 or None, the footer)."""
    header, end = footer(path)
    dtype = np.dtype(DTYPES[header["dataType"]])
    rows, columns = header["spacingInfo"]["numPixels"]["y"], header["spacingInfo"]["numPixels"]["x"]
    count = len(stored_times(header))
    data = np.fromfile(path, dtype=np.uint8, count=end)
    if header.get("hasFrameHeaderFooter"):
        values = data.view("<u2").reshape(count, 2560 + rows * columns + 2560)
        return values[:, 2560 : 2560 + rows * columns].reshape(count, rows, columns), values[:, :2560], header
    return data.view(dtype).reshape(count, rows, columns), None, header


def tsc(headers: np.ndarray) -> np.ndarray:
    pixels = headers[:, 1272:1280].astype(np.uint64)
    out = np.zeros(len(headers), dtype=np.uint64)
    for j in range(4):
        part = (pixels[:, 2 * j + 1] << np.uint64(4)) | (pixels[:, 2 * j] >> np.uint64(4))
        out |= (part & np.uint64(0xFFFF)) << np.uint64(16 * j)
    return out


def frame_times(path) -> np.ndarray:
    """Seconds since the start of every stored frame: time stamps when the headers have them, else the grid."""
    _, headers, header = raw_frames(path)
    times = np.array(stored_times(header), dtype=np.float64)
    grid = times * float(period(header))
    if headers is None:
        return grid
    counter = tsc(headers)
    return grid[0] + (counter - counter[0]).astype(np.float64) / 1e6


def expected(path, planes: int = 1, plane_index: int | None = None, cycle: tuple | None = None,
             channel: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(samples, their times) of a movie: frames, one plane's frames, volumes of ``planes``, or the frames of
    ``channel`` in a colour ``cycle`` (a label per time index modulo its length)."""
    pixels, _, header = raw_frames(path)
    times = stored_times(header)
    when = frame_times(path)
    row = {t: k for k, t in enumerate(times)}
    if planes > 1 and plane_index is None:
        volumes = [v for v in range(header["timingInfo"]["numTimes"] // planes)
                   if all(v * planes + p in row for p in range(planes))]
        data = np.stack([np.stack([pixels[row[v * planes + p]] for p in range(planes)], axis=-1) for v in volumes]) \
            if volumes else np.empty((0, *pixels.shape[1:], planes), pixels.dtype)
        return data, np.array([when[row[v * planes]] for v in volumes])
    keep = [k for k, t in enumerate(times)
            if (plane_index is None or t % planes == plane_index)
            and (channel is None or cycle[t % len(cycle)] == channel)]
    return pixels[keep], when[keep]


def cell_set(path) -> dict:
    """A cell set read from the layout isxcore's ``CellSetFile`` writes: per cell its image (numPixels y rows by x
    columns, float32, row by row) then its trace (numTimes float32), then the footer; statuses 0 accepted,
    1 undecided, 2 rejected."""
    header, end = footer(path)
    rows, columns = header["spacingInfo"]["numPixels"]["y"], header["spacingInfo"]["numPixels"]["x"]
    num_times = header["timingInfo"]["numTimes"]
    names = header["CellNames"]
    values = np.fromfile(path, dtype="<f4", count=end // 4).reshape(len(names), rows * columns + num_times)
    images = values[:, : rows * columns].reshape(len(names), rows, columns)
    traces = values[:, rows * columns :]
    words = {0: "accepted", 1: "undecided", 2: "rejected"}
    statuses = [words[s] for s in header["CellStatuses"]]
    return {"header": header, "images": images, "traces": traces, "names": names, "statuses": statuses,
            "period": period(header), "shape": (rows, columns), "num_times": num_times,
            "activity": header.get("CellActivity")}
