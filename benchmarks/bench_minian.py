"""Minian segmentation reading: ophysio against roiextractors 0.10.0 and a plain zarr read of the same arrays.

Run with the project venv (zarr 3; ophysio from this checkout's ``src``); roiextractors runs in a subprocess
of the benchmark venv (``--incumbent``, default ``/tmp/venv-bench-tiff/bin/python``, with zarr 2 and
pandas)::

    PYTHONPATH=src python benchmarks/bench_minian.py [--folder /tmp/ophysio-bench-minian] [--units 100] \
        [--frames 20000]

Input, written once with zarr in Minian's layout (xarray's Zarr v2 groups, ``_ARRAY_DIMENSIONS``,
Minian's chunks; zarr's default compressor): ``A`` ``(units, 608, 608)`` float64 footprints (a disk of
radius 8 per unit, chunks ``(1, 304, 304)``, chunks of zeros left out), ``C``, ``S``, ``b0``, ``c0``
``(units, frames)``, ``b``, ``f``, ``max_proj`` and a ``timeStamps.csv`` of ~30 Hz with jitter.

Each (tool, task) runs in its own subprocess (peak RSS = its ``VmHWM``, imports included); times are the
best of ``--repeats``. Imports are not timed. Tasks: ``construct`` (open and list ROIs); ``full``
(construct, then every ROI's dense mask, every trace and the timestamps). The raw baseline reads the same
arrays with zarr, with no checks.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from _common import best_run, emit, peak_mb, ratio, with_src

TRACES = {"denoised": "C", "deconvolved": "S", "baseline": "b0"}


def write_input(folder: Path, units: int, frames: int) -> Path:
    import zarr

    target = folder / f"minian_{units}u_{frames}f"
    if (target / "done").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    zarr.open_group(str(target), mode="a", zarr_format=2)  # Minian's folder is a group too (roiextractors opens it)
    rng = np.random.default_rng(0)
    h = w = 608

    def put(name, data, dims, chunks, coords):
        group = zarr.open_group(str(target / f"{name}.zarr"), mode="w", zarr_format=2)
        array = group.create_array(name, shape=data.shape, dtype=data.dtype, chunks=chunks, fill_value=0,
                                   config={"write_empty_chunks": False})
        array[...] = data
        array.attrs["_ARRAY_DIMENSIONS"] = dims
        for dim, values in coords.items():
            coord = group.create_array(dim, shape=values.shape, dtype=values.dtype)
            coord[...] = values
            coord.attrs["_ARRAY_DIMENSIONS"] = [dim]

    ids = np.arange(units)
    frame_ids = np.arange(frames)
    yy, xx = np.mgrid[:h, :w]
    A = zarr.open_group(str(target / "A.zarr"), mode="w", zarr_format=2)
    a = A.create_array("A", shape=(units, h, w), dtype="f8", chunks=(1, 304, 304), fill_value=0,
                       config={"write_empty_chunks": False})
    for u in range(units):
        cy, cx = rng.integers(10, h - 10), rng.integers(10, w - 10)
        a[u] = np.where((yy - cy) ** 2 + (xx - cx) ** 2 <= 64, rng.random((h, w)), 0.0)
    a.attrs["_ARRAY_DIMENSIONS"] = ["unit_id", "height", "width"]
    for dim, values in (("unit_id", ids), ("height", np.arange(h)), ("width", np.arange(w))):
        coord = A.create_array(dim, shape=values.shape, dtype=values.dtype)
        coord[...] = values
        coord.attrs["_ARRAY_DIMENSIONS"] = [dim]
    for name in ("C", "S", "b0", "c0"):
        put(name, rng.random((units, frames)), ["unit_id", "frame"], (units, min(frames, 5000)),
            {"unit_id": ids, "frame": frame_ids})
    put("b", rng.random((h, w)), ["height", "width"], (152, 304), {})
    put("f", rng.random(frames), ["frame"], (min(frames, 5000),), {"frame": frame_ids})
    put("max_proj", rng.random((h, w)), ["height", "width"], (152, 304), {})
    with open(target / "timeStamps.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Frame Number", "Time Stamp (ms)", "Buffer Index"])
        times = np.round(np.arange(frames) * 33.3 + rng.integers(-2, 3, frames)).astype(int)
        for i, t in enumerate(times):
            writer.writerow([i, int(t), 0])
    (target / "done").write_text("ok")
    return target


def run_task(tool: str, task: str, folder: str) -> dict:
    import zarr  # imports are not timed: both tools import zarr (and roiextractors pandas)

    if tool == "ophysio":
        from ophysio.extractors import MinianSegmentationExtractor as Extractor
    elif tool == "roiextractors":
        import warnings

        warnings.simplefilter("ignore")
        from roiextractors import MinianSegmentationExtractor as Extractor
    start = time.perf_counter()
    if tool == "ophysio":
        ex = Extractor(folder)
        ids = ex.get_roi_ids()
        if task == "full":
            ex.get_roi_image_masks()
            for name in ex.get_trace_names():
                ex.get_traces(name=name, roi_ids=ex.get_background_ids() if name == "background" else None)
            ex.get_timestamps()
    elif tool == "roiextractors":
        ex = Extractor(folder_path=folder)
        ids = ex.get_roi_ids()
        if task == "full":
            ex.get_roi_image_masks()
            for trace in ex.get_traces_dict().values():
                if trace is not None:
                    np.asarray(trace[:])
            ex.get_timestamps()
    else:
        ids = zarr.open_array(f"{folder}/A.zarr/unit_id", mode="r")[...]
        if task == "full":
            np.moveaxis(zarr.open_array(f"{folder}/A.zarr/A", mode="r")[...], 0, -1)
            for name in (*TRACES.values(), "f"):
                np.ascontiguousarray(zarr.open_array(f"{folder}/{name}.zarr/{name}", mode="r")[...].T)
            with open(f"{folder}/timeStamps.csv", newline="") as fh:
                np.array([float(r["Time Stamp (ms)"]) for r in csv.DictReader(fh)]) / 1000
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "peak_mb": peak_mb(), "rois": len(ids)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs=3)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-minian")
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--incumbent", default="/tmp/venv-bench-tiff/bin/python")
    args = parser.parse_args()
    if args.worker:
        emit(run_task(*args.worker))
        return
    source = write_input(Path(args.folder), args.units, args.frames)
    print(f"input: {source} ({args.units} units, {args.frames} frames, 608 x 608)")
    env = with_src(keep=False)
    results: dict = {}
    for task in ("construct", "full"):
        for tool in ("raw", "ophysio", "roiextractors"):
            python = args.incumbent if tool == "roiextractors" else sys.executable
            results[(tool, task)] = best_run(__file__, ["--worker", tool, task, source], args.repeats, python=python,
                                             env=env, label=f"{tool} {task}")
    print(f"{'task':<10} {'tool':<14} {'seconds':>9} {'peak MB':>9} {'vs roiext':>10} {'vs raw':>8}")
    for task in ("construct", "full"):
        theirs, raw = results.get(("roiextractors", task)), results.get(("raw", task))
        for tool in ("raw", "ophysio", "roiextractors"):
            r = results.get((tool, task))
            if r is None:
                continue
            vs = ratio(r["seconds"], theirs and theirs["seconds"])
            vr = ratio(r["seconds"], raw and raw["seconds"])
            print(f"{task:<10} {tool:<14} {r['seconds']:>9.3f} {r['peak_mb']:>9.0f} {vs:>10} {vr:>8}")


if __name__ == "__main__":
    main()
