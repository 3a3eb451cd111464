"""Synthetic Scanbox recordings: a ``.sbx`` movie and its ``.mat`` info struct, as Scanbox writes them.

- The info file holds one variable, ``info``, written with :func:`scipy.io.savemat`; its fields, their
  order and their MATLAB classes follow a real Scanbox 2 info file (``scanbox/sample.mat`` of the shared
  test data): TTL event records (``frame``, ``line``, ``event_id``), ``resfreq``, ``recordsPerBuffer``
  (half the lines when bidirectional), ``channels`` (1 both PMTs, 2 PMT0, 3 PMT1), ``scanbox_version``,
  ``scanmode`` (1 unidirectional, 0 bidirectional), ``config`` (wavelength, lines, magnification and its
  list, PMT gains, knobby stage position and schedule), ``sz`` = [lines, pixels], the optotune fields
  (``otwave``, ``otwave_um``, ``otparam`` = [min max period], ``volscan``), ``calibration`` (a 1 x 13
  struct array, one per magnification: ``uv``, ``delta``, ``x``, ``y``, ``gain_resonant_mult``),
  ``objective``, ``messages`` and ``usernotes``. ``fold_lines`` and ``chan.nchan`` (newer versions) are
  written when asked for.
- The movie: frame after frame of uint16, each frame ``(lines, pixels, channels)`` in C order (MATLAB's
  ``[channels, pixels, lines]``), storing ``65535 - value``; the planes of an optotune volume are
  consecutive frames.

Pixel values come from :func:`ophysio.examples.movie` over all frames of the file (planes included), one
call per channel (``channel=c`` for the c-th stored channel).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["scanbox_info", "write_scanbox_info", "write_sbx", "sbx_values", "write_scanbox"]

_MAGNIFICATIONS = ["1.0", "1.2", "1.4", "1.7", "2.0", "2.4", "2.8", "3.4", "4.0", "4.8", "5.7", "6.7", "8.0"]
_DELTAS = [100, 100, 80, 70, 60, 50, 40, 35, 30, 25, 20, 20, 15]


def _scalar(value: Any, dtype: str) -> np.ndarray | None:
    """A 1 x 1 MATLAB value of class ``dtype``; an array is kept as it is, None (no field) too."""
    if value is None or isinstance(value, np.ndarray):
        return value
    return np.array([[value]], dtype=dtype)


def _empty() -> np.ndarray:
    return np.zeros((0, 0), dtype=np.uint8)


def _calibration() -> np.ndarray:
    """A 1 x 13 struct array: stage moves of ``delta`` um shifted the image by ``uv`` = (rows, columns)."""
    names = ["uv", "delta", "x", "y", "gain_resonant_mult"]
    table = np.empty((1, len(_DELTAS)), dtype=[(name, object) for name in names])
    for i, delta in enumerate(_DELTAS):
        u, v = 70 + 3 * i, 71 + 3 * i
        table[0, i] = (np.array([[u, v]], dtype=np.uint8), _scalar(delta, "uint8"), _scalar(delta / v, "float64"),
                       _scalar(delta / u, "float64"), _scalar(1.42, "float64"))
    return table


def scanbox_info(
    rows: int = 64,
    columns: int = 80,
    channels: int = 2,
    scanmode: int = 1,
    planes: int = 1,
    resfreq: int = 7916,
    lines: int | None = None,
    magnification: int = 3,
    fold_lines: int | None = None,
    nchan: int | None = None,
    otwave_um: list[float] | None = None,
    **extra: Any,
) -> dict:
    """The ``info`` struct of a recording of stored frames of ``rows`` lines x ``columns`` pixels, as a
    dict for :func:`scipy.io.savemat` (MATLAB classes as in a real Scanbox file).

    ``channels`` is Scanbox's code (1 both PMTs, 2 PMT0, 3 PMT1); ``nchan`` adds ``chan.nchan`` (newer
    versions); ``planes`` > 1 makes an optotune volume (``volscan`` 1, ``otwave`` of ``planes`` values,
    ``otparam`` = [min max planes], and ``otwave_um`` when given); ``extra`` fields are added or replace
    the defaults. An array given for a scalar field is written as it is (another class, a damaged
    value), and a field given as None is left out.
    """
    bidirectional = scanmode == 0
    records = rows // 2 if bidirectional else rows
    events = np.array([[3], [7], [11]], dtype=np.uint16)
    info: dict[str, Any] = {
        "frame": events,
        "line": np.array([[191], [320], [17]], dtype=np.uint16),
        "event_id": np.ones((3, 1), dtype=np.uint8),
        "resfreq": _scalar(resfreq, "uint16"),
        "postTriggerSamples": _scalar(5000, "uint16"),
        "recordsPerBuffer": _scalar(records, "uint16"),
        "bytesPerBuffer": _scalar(5000 * records * 4, "int32"),
        "channels": _scalar(channels, "uint8"),
        "ballmotion": _empty(),
        "abort_bit": _scalar(0, "uint8"),
        "scanbox_version": _scalar(2, "uint8"),
        "scanmode": _scalar(scanmode, "uint8"),
        "config": {
            "wavelength": _scalar(920, "uint16"),
            "frames": _scalar(0, "uint8"),
            "lines": _scalar(rows if lines is None else lines, "uint16"),
            "magnification": _scalar(magnification, "uint8"),
            "magnification_list": np.array(_MAGNIFICATIONS),
            "pmt0_gain": _scalar(0.74, "float64"),
            "pmt1_gain": _scalar(0.5, "float64"),
            "knobby": {
                "pos": {"x": _scalar(352.96, "float64"), "y": _scalar(-311.4, "float64"),
                        "z": _scalar(-1359.37, "float64"), "a": _scalar(15, "uint8")},
                "schedule": np.array([[0, 0, 10, 0, 30 * (i + 1)] for i in range(6)], dtype=np.uint8),
            },
        },
        "sz": np.array([[rows, columns]], dtype=np.uint16),
        "otwave": _empty(),
        "otwave_um": _empty(),
        "otparam": _empty(),
        "otwavestyle": _scalar(1, "uint8"),
        "volscan": _scalar(0, "uint8"),
        "power_depth_link": _scalar(0, "uint8"),
        "opto2pow": _empty(),
        "area_line": _scalar(1, "uint8"),
        "calibration": _calibration(),
        "objective": "Nikon 16x/0.8w/WD3.0",
        "messages": np.empty((0, 0), dtype=object),
        "usernotes": "",
    }
    if planes > 1:
        info["volscan"] = _scalar(1, "uint8")
        info["otwave"] = np.linspace(1000, 2000, planes).round().astype(np.uint16).reshape(1, -1)
        info["otparam"] = np.array([[1000, 2000, planes]], dtype=np.float64)
        if otwave_um is not None:
            info["otwave_um"] = np.asarray(otwave_um, dtype=np.float64).reshape(1, -1)
    if fold_lines is not None:
        info["fold_lines"] = _scalar(fold_lines, "uint16")
    if nchan is not None:
        info["chan"] = {"nchan": _scalar(nchan, "uint8")}
    info.update(extra)
    return {key: value for key, value in info.items() if value is not None}


def write_scanbox_info(path: str | os.PathLike, info: dict, compressed: bool = True) -> Path:
    """Write ``info`` as the one variable of a MAT-file (v7: compressed by default, as MATLAB saves)."""
    from scipy.io import savemat

    path = Path(path)
    with open(path, "wb") as fh:  # a file object keeps the name as given
        savemat(fh, {"info": info}, do_compression=compressed, oned_as="column")
    return path


def sbx_values(num_frames: int, rows: int, columns: int, num_channels: int) -> np.ndarray:
    """The pixel values of ``num_frames`` frames as ``(frames, rows, columns, channels)`` uint16."""
    from .movie import movie

    return np.stack([movie(num_frames, rows, columns, dtype="uint16", channel=c) for c in range(num_channels)],
                    axis=-1)


def write_sbx(path: str | os.PathLike, values: np.ndarray) -> Path:
    """Write frames ``(frames, rows, columns, channels)`` of uint16 as a ``.sbx`` (storing ``65535 - value``)."""
    values = np.asarray(values, dtype=np.uint16)
    if values.ndim != 4:
        raise ValueError(f"values must be (frames, rows, columns, channels), got shape {values.shape}")
    path = Path(path)
    with open(path, "wb") as fh:
        step = max(1, (16 << 20) // max(1, values[0].nbytes))
        for a in range(0, len(values), step):
            fh.write((np.uint16(65535) - values[a : a + step]).astype("<u2").tobytes())
    return path


def write_scanbox(
    folder: str | os.PathLike,
    name: str = "mouse_000_001",
    num_frames: int = 12,
    rows: int = 16,
    columns: int = 20,
    channels: int = 2,
    compressed: bool = True,
    **info_options: Any,
) -> tuple[Path, Path]:
    """Write ``<name>.sbx`` and ``<name>.mat`` into ``folder``; return their paths.

    ``num_frames`` counts the frames of the file (an optotune volume of ``planes`` planes is ``planes``
    frames); ``rows`` are the lines of a stored frame. Other keywords go to :func:`scanbox_info`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    nchan = info_options.get("nchan")
    count = int(nchan) if nchan is not None else (2 if isinstance(channels, int) and channels == 1 else 1)
    info = scanbox_info(rows=rows, columns=columns, channels=channels, **info_options)
    mat = write_scanbox_info(folder / f"{name}.mat", info, compressed)
    sbx = write_sbx(folder / f"{name}.sbx", sbx_values(num_frames, rows, columns, count))
    return sbx, mat


def _example_scanbox(folder: Path) -> tuple[Path, dict]:
    """Both PMTs, unidirectional, 100 frames of 64 x 80 at the rate of 7916 Hz lines (123.7 Hz)."""
    sbx, _ = write_scanbox(folder, "example_000_001", num_frames=100, rows=64, columns=80, channels=1)
    return sbx, {}


#: Built-in examples of this module (see :func:`ophysio.examples.write_example`).
EXAMPLES = {
    "scanbox": _example_scanbox,
}
