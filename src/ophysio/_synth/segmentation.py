"""Synthetic segmentations laid out as the pipelines that write them document.

- suite2p (:func:`write_suite2p_segmentation`): ``suite2p/plane<i>/`` with ``ops.npy`` (a pickled dict),
  ``stat.npy`` (a pickled object array of ROI dicts: ``ypix``, ``xpix``, ``lam``, ``overlap``, ``med`` and
  scalar statistics), ``F.npy``, ``Fneu.npy``, ``spks.npy`` (float32 ``(ROIs, frames)``), ``F_chan2.npy``,
  ``Fneu_chan2.npy`` with a second channel, ``iscell.npy`` and ``redcell.npy`` (``(ROIs, 2)``: label and
  probability); ``max_proj`` and ``Vcorr`` cover only the registered range ``yrange`` x ``xrange`` when
  ``crop`` is given; and ``combined/`` with every plane tiled side by side, as suite2p's
  ``io.save.combined`` makes it (coordinates shifted, ``iplane`` set, shorter planes' traces padded with
  zeros). Traces are written block by block, so a benchmark-sized run never sits in memory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["write_suite2p_segmentation"]

_KINDS = ("F", "Fneu", "spks", "F_chan2", "Fneu_chan2")


def _masks(rng: np.random.Generator, count: int, rows: int, columns: int, radius: float) -> list[dict]:
    """ROIs as disks with Gaussian weights (lam summing to 1), at random centres."""
    stat = []
    yy, xx = np.mgrid[-int(radius) - 1 : int(radius) + 2, -int(radius) - 1 : int(radius) + 2]
    disk = yy**2 + xx**2 <= radius**2
    for _ in range(count):
        cy, cx = int(rng.integers(0, rows)), int(rng.integers(0, columns))
        ypix, xpix = yy[disk] + cy, xx[disk] + cx
        keep = (ypix >= 0) & (ypix < rows) & (xpix >= 0) & (xpix < columns)
        ypix, xpix = ypix[keep].astype(np.int32), xpix[keep].astype(np.int32)
        lam = np.exp(-((ypix - cy) ** 2 + (xpix - cx) ** 2) / (2 * (radius / 2) ** 2)).astype(np.float32)
        lam /= lam.sum()
        stat.append({"ypix": ypix, "xpix": xpix, "lam": lam, "med": [float(cy), float(cx)], "npix": int(len(ypix)),
                     "radius": float(radius), "aspect_ratio": float(1 + rng.random()), "compact": float(rng.random()),
                     "skew": np.float32(rng.random() * 3), "std": np.float32(rng.random() * 50),
                     "npix_norm": np.float32(1.0)})
    counts = np.zeros((rows, columns), dtype=np.int32)
    for roi in stat:
        counts[roi["ypix"], roi["xpix"]] += 1
    for roi in stat:
        roi["overlap"] = counts[roi["ypix"], roi["xpix"]] > 1
    return stat


def _write_traces(path: Path, rois: int, frames: int, seed: Sequence[int], fortran: bool, scale: float) -> None:
    """Float32 ``(rois, frames)`` traces, ``rows`` at a time (deterministic for ``seed``)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rois, frames), fortran_order=fortran)
    block = max(1, (32 << 20) // max(frames * 4, 1))
    t = np.arange(frames, dtype=np.float32) / 7.0
    sin_t, cos_t = np.sin(t), np.cos(t)
    for start in range(0, rois, block):
        stop = min(start + block, rois)
        rng = np.random.default_rng([*seed, start])
        phase = np.arange(start, stop, dtype=np.float32)[:, None]
        # scale * (1 + 0.2 sin(t + phase)) + noise, the sine by angle addition (no sin per element)
        values = rng.standard_normal((stop - start, frames), dtype=np.float32)
        values += (0.2 * scale) * (sin_t * np.cos(phase) + cos_t * np.sin(phase))
        values += scale
        out[start:stop] = values
    out.flush()
    del out


def _ops(plane: int, planes: int, channels: int, frames: int, rows: int, columns: int, rate: float,
         crop: tuple[int, int] | None, folder: Path, rng: np.random.Generator) -> dict:
    y0, x0 = crop if crop else (0, 0)
    yrange, xrange = [y0, rows - y0], [x0, columns - x0]
    field = rng.random((rows, columns))
    ops = {"Ly": rows, "Lx": columns, "nframes": frames, "fs": rate, "nplanes": planes, "nchannels": channels,
           "functional_chan": 1, "align_by_chan": 1, "save_path": str(folder), "suite2p_version": "0.14.6",
           "xrange": xrange, "yrange": yrange, "allow_overlap": False, "tau": 1.0, "diameter": 8,
           "meanImg": (1000 * field).astype(np.float64), "meanImgE": field.astype(np.float32),
           "max_proj": (2000 * field[yrange[0]:yrange[1], xrange[0]:xrange[1]]).astype(np.float32),
           "Vcorr": (field[yrange[0]:yrange[1], xrange[0]:xrange[1]] ** 2).astype(np.float64),
           "refImg": (500 * field).astype(np.int16)}
    if channels > 1:
        ops["meanImg_chan2"] = (800 * field[::-1]).astype(np.float64)
        ops["meanImg_chan2_corrected"] = ops["meanImg_chan2"] / 2
    return ops


def write_suite2p_segmentation(
    folder: str | os.PathLike,
    num_planes: int = 2,
    rois_per_plane: int | Sequence[int] = (6, 4),
    num_frames: int | Sequence[int] = 40,
    rows: int = 24,
    columns: int = 32,
    num_channels: int = 2,
    sampling_frequency: float = 10.0,
    crop: tuple[int, int] | None = (2, 3),
    combined: bool = True,
    fortran: bool = False,
    radius: float = 3.0,
    seed: int = 0,
) -> Path:
    """Write a suite2p segmentation run into ``folder/suite2p``; return that folder.

    ``rois_per_plane`` and ``num_frames`` may differ per plane (suite2p planes can differ by a frame);
    ``crop`` is ``(rows, columns)`` left out on each side of the registered range (``yrange``,
    ``xrange``); ``fortran`` stores the traces in Fortran order (as ``numpy.save`` of a transposed array).
    """
    root = Path(folder) / "suite2p"
    rois = [rois_per_plane] * num_planes if isinstance(rois_per_plane, int) else list(rois_per_plane)
    frames = [num_frames] * num_planes if isinstance(num_frames, int) else list(num_frames)
    if len(rois) != num_planes or len(frames) != num_planes:
        raise ValueError("rois_per_plane and num_frames need one value per plane")
    all_ops, all_stat = [], []
    for plane in range(num_planes):
        target = root / f"plane{plane}"
        target.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, plane])
        stat = _masks(rng, rois[plane], rows, columns, radius)
        ops = _ops(plane, num_planes, num_channels, frames[plane], rows, columns, sampling_frequency, crop, target,
                   rng)
        np.save(target / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
        np.save(target / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
        iscell = np.column_stack([rng.random(rois[plane]) > 0.4, rng.random(rois[plane])]).astype(np.float64)
        np.save(target / "iscell.npy", iscell)
        kinds = _KINDS if num_channels > 1 else _KINDS[:3]
        for k, kind in enumerate(kinds):
            _write_traces(target / f"{kind}.npy", rois[plane], frames[plane], (seed, plane, k), fortran,
                          300.0 if kind.startswith("F") else 5.0)
        if num_channels > 1:
            redcell = np.column_stack([rng.random(rois[plane]) > 0.7, rng.random(rois[plane])]).astype(np.float64)
            np.save(target / "redcell.npy", redcell)
        all_ops.append(ops)
        all_stat.append(stat)
    if combined:
        _write_combined(root, all_ops, all_stat, frames)
    return root


def _write_combined(root: Path, all_ops: list[dict], all_stat: list[list[dict]], frames: list[int]) -> None:
    """``combined/``: the planes tiled left to right, as suite2p's ``combined`` arranges a run."""
    target = root / "combined"
    target.mkdir(exist_ok=True)
    rows, columns = all_ops[0]["Ly"], all_ops[0]["Lx"]
    width = columns * len(all_ops)
    longest = max(frames)
    images = {key: np.zeros((rows, width)) for key in ("meanImg", "meanImgE", "Vcorr", "max_proj")}
    stat, traces = [], {kind: [] for kind in ("F", "Fneu", "spks")}
    labels = {"iscell": [], "redcell": []}
    for k, (ops, plane_stat) in enumerate(zip(all_ops, all_stat)):
        dx = k * columns
        images["meanImg"][:, dx:dx + columns] = ops["meanImg"]
        images["meanImgE"][:, dx:dx + columns] = ops["meanImgE"]
        (y0, y1), (x0, x1) = ops["yrange"], ops["xrange"]
        images["Vcorr"][y0:y1, dx + x0:dx + x1] = ops["Vcorr"]
        images["max_proj"][y0:y1, dx + x0:dx + x1] = ops["max_proj"]
        for roi in plane_stat:
            shifted = dict(roi)
            shifted["xpix"] = roi["xpix"] + dx
            shifted["med"] = [roi["med"][0], roi["med"][1] + dx]
            shifted["iplane"] = k
            stat.append(shifted)
        plane_folder = root / f"plane{k}"
        for kind in traces:
            values = np.load(plane_folder / f"{kind}.npy")
            pad = np.zeros((values.shape[0], longest - values.shape[1]), dtype=np.float32)
            traces[kind].append(np.concatenate([values, pad], axis=1))
        for name in labels:
            if (plane_folder / f"{name}.npy").is_file():
                labels[name].append(np.load(plane_folder / f"{name}.npy"))
    ops = dict(all_ops[0])
    ops.update({key: value for key, value in images.items()}, Ly=rows, Lx=width, xrange=[0, width],
               yrange=[0, rows], nframes=longest, save_path=str(target))
    ops.pop("meanImg_chan2", None)
    ops.pop("meanImg_chan2_corrected", None)
    np.save(target / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    np.save(target / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    for kind, parts in traces.items():
        np.save(target / f"{kind}.npy", np.concatenate(parts))
    for name, parts in labels.items():
        if parts:
            np.save(target / f"{name}.npy", np.concatenate(parts))


def _example_suite2p_session(folder: Path) -> tuple[Path, dict]:
    """A suite2p run with its movie and its segmentation (2 planes, 2 channels, 64 x 64, 120 frames)."""
    from .binary import write_suite2p

    write_suite2p(folder, num_frames=120, rows=64, columns=64, num_planes=2, num_channels=2)
    root = write_suite2p_segmentation(folder, num_planes=2, rois_per_plane=(12, 9), num_frames=120, rows=64,
                                      columns=64, num_channels=2, crop=(4, 4), combined=False, radius=4.0)
    return root, {}


#: Built-in examples of this module (see :func:`ophysio.examples.write_example`): ``ophysio convert --example
#: suite2p_session --segmentation -o session.nwb`` writes the movie and its segmentation.
EXAMPLES = {"suite2p_session": _example_suite2p_session}
