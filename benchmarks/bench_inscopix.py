"""Inscopix .isxd reading: ophysio against roiextractors 0.10.0 (through Inscopix's ``isx``) and a raw numpy read.

Run with a venv that has roiextractors and isx (``pip install isx``: CPython 3.9-3.12), ophysio from this
checkout on the path::

    PYTHONPATH=src /tmp/venv-bench-tiff/bin/python benchmarks/bench_inscopix.py [--scale 1.0] [--repeats 3]

Inputs, written once with :func:`ophysio._synth.inscopix.write_isxd` (isxcore's layout):

- ``processed``: 4000 frames of 256 x 256 uint16 without frame headers, 5 dropped (a processed movie, 0.5 GB);
- ``raw``: 1500 frames of 400 x 640 uint16 with frame headers and footers and time stamps, as the
  acquisition software writes them (0.8 GB).

``--scale`` shrinks the frame counts. Every (tool, task) runs in its own subprocess (its peak RSS is its
own); times are the best of ``--repeats`` from a warm page cache. Tasks: construction; ``full``: every
frame with ``get_series()`` (roiextractors reads frame by frame through ``isx``); ``random``: 100 scattered
frames, one ``get_series(i, i + 1)`` each (``random_batch``: ophysio's ``get_samples`` of the 100 at once);
``timestamps``. For ``full`` and ``random`` a ``paired`` run also times the three tools in turn in one
process (best of the rounds), whose ratios hold better than separate runs on a loaded machine. The raw
baseline reads the same frames with numpy from the documented offsets (one ``os.preadv`` per run of
frames, or per frame when frame headers sit between them).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from _common import alternate, best_of, emit, peak_mb, ratio, rss_mb, run_worker, seconds_cell

TOOLS = ("raw", "ophysio", "roiextractors")
RANDOM_READS = 100


def write_inputs(folder: Path, scale: float) -> dict[str, Path]:
    from ophysio._synth.inscopix import write_isxd

    folder.mkdir(parents=True, exist_ok=True)
    processed = max(100, int(4000 * scale))
    raw = max(60, int(1500 * scale))
    inputs = {"processed": folder / f"processed_{processed}.isxd", "raw": folder / f"raw_{raw}.isxd"}
    if not inputs["processed"].exists():
        write_isxd(inputs["processed"], num_times=processed + 5, rows=256, columns=256,
                   dropped=(10, 11, processed // 2, processed // 2 + 7, processed + 1))
    if not inputs["raw"].exists():
        write_isxd(inputs["raw"], num_times=raw, rows=400, columns=640, frame_headers=True)
    return inputs


class RawReader:
    """The stored frames read with numpy from the offsets the footer implies (the floor for any reader)."""

    def __init__(self, path: str):
        data_end, header = self._footer(path)
        self.dtype = np.dtype({0: "<u2", 1: "<f4", 2: "u1"}[header["dataType"]])
        self.shape = (header["spacingInfo"]["numPixels"]["y"], header["spacingInfo"]["numPixels"]["x"])
        frame = self.dtype.itemsize * self.shape[0] * self.shape[1]
        self.skip = 5120 if header.get("hasFrameHeaderFooter") else 0
        self.stride = frame + 2 * self.skip
        self.count = data_end // self.stride
        self.dropped = header["timingInfo"].get("dropped", [])
        self.fd = os.open(path, os.O_RDONLY)

    @staticmethod
    def _footer(path: str):
        with open(path, "rb") as fh:
            fh.seek(-8, 2)
            size = int.from_bytes(fh.read(8), "little")
            fh.seek(-(size + 9), 2)
            start = fh.tell()
            return start, json.loads(fh.read(size))

    def get_num_samples(self):
        return self.count

    def get_series(self, start=0, end=None):
        end = self.count if end is None else end
        out = np.empty((end - start, *self.shape), self.dtype)
        flat = memoryview(out.reshape(-1).view(np.uint8))
        size = out[0].nbytes if len(out) else 0
        if not self.skip:
            os.preadv(self.fd, [flat], start * self.stride)
            return out
        for i in range(end - start):
            os.preadv(self.fd, [flat[i * size : (i + 1) * size]], (start + i) * self.stride + self.skip)
        return out


def _make(tool: str, path: str):
    if tool == "raw":
        return RawReader(path)
    if tool == "ophysio":
        from ophysio.extractors import InscopixImagingExtractor

        return InscopixImagingExtractor(file_path=path)
    from roiextractors import InscopixImagingExtractor

    return InscopixImagingExtractor(file_path=path)


def _picks(n: int) -> np.ndarray:
    """The scattered frames of the random tasks (sorted, distinct)."""
    return np.sort(np.random.default_rng(0).choice(n, min(n, RANDOM_READS), replace=False))


def _task(tool: str, extractor, task: str, n: int):
    """(function running the task once, divisor of its time) or None when the tool lacks the task."""
    picks = _picks(n).tolist()
    if task == "full":
        return (lambda: extractor.get_series(0, n)), 1
    if task == "random":
        def randoms():
            for i in picks:
                extractor.get_series(i, i + 1)

        return randoms, 1
    if task == "random_batch":
        if tool != "ophysio":
            return None
        return (lambda: extractor.get_samples(picks)), 1
    if task == "timestamps":
        if tool == "raw":
            return None

        def times():
            if hasattr(extractor, "_native_timestamps_cache"):
                extractor._native_timestamps_cache = None
            return extractor.get_timestamps()

        return times, 1
    raise ValueError(task)


def worker(tool: str, path: str, task: str, repeats: int) -> dict:
    rss0 = rss_mb()
    result: dict = {"tool": tool, "task": task}
    t0 = time.perf_counter()
    extractor = _make(tool, path)
    result["construct_s"] = time.perf_counter() - t0
    n = extractor.get_num_samples()
    if task == "construct":
        result["seconds"] = min(result["construct_s"], best_of(lambda: _make(tool, path), repeats - 1))
        result["peak_growth_mb"] = peak_mb() - rss0
        return result
    job = _task(tool, extractor, task, n)
    if job is None:
        return {**result, "seconds": None}
    fn, divisor = job
    first = fn()  # warm up, and the values for the equality check
    result["seconds"] = best_of(fn, repeats) / divisor
    result["peak_growth_mb"] = peak_mb() - rss0
    if task in ("full", "random_batch") and tool != "raw":
        reference = RawReader(path)
        got = np.asarray(first)
        if task == "full":
            expected = reference.get_series(0, reference.count)
            if len(got) != len(expected):  # isx gives every time index, a dropped one as a frame of zeros
                stored = [t for t in range(len(got)) if t not in set(reference.dropped)]
                result["zero_frames"] = int(sum(not got[t].any() for t in reference.dropped))
                got = got[stored]
        else:
            expected = np.stack([reference.get_series(i, i + 1)[0] for i in _picks(n)])
        result["equal_to_raw"] = bool(np.array_equal(got, expected))
    if task == "full":
        result["output_mb"] = extractor.get_series(0, 1).nbytes * n / 1e6
    return result


def paired(path: str, task: str, repeats: int) -> dict:
    """Every tool's task timed in turn, ``repeats`` rounds, in one process: on a loaded machine the ratios
    of these minima are steadier than those of separate processes."""
    extractors = {tool: _make(tool, path) for tool in TOOLS}
    n = extractors["raw"].get_num_samples()
    jobs = {tool: _task(tool, ex, task, n if tool != "roiextractors" else ex.get_num_samples())
            for tool, ex in extractors.items()}
    fns = {tool: job[0] for tool, job in jobs.items() if job is not None}
    for fn in fns.values():
        fn()  # warm up
    times = alternate(fns, repeats)
    return {"task": task, "paired": {tool: min(each, default=float("inf")) for tool, each in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-isxd")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", nargs=3, metavar=("TOOL", "PATH", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        tool, path, task = args.worker
        emit(paired(path, task, args.repeats) if tool == "paired" else worker(tool, path, task, args.repeats))
        return
    t0 = time.perf_counter()
    inputs = write_inputs(Path(args.folder), args.scale)
    print(f"inputs ready in {time.perf_counter() - t0:.1f} s: {', '.join(str(p) for p in inputs.values())}")
    rows, pairs = [], {}
    for dataset, path in inputs.items():
        for task in ("construct", "full", "random", "random_batch", "timestamps"):
            if task in ("full", "random"):
                got = run_worker(__file__, ["--repeats", args.repeats, "--worker", "paired", path, task],
                                 label=f"paired {dataset} {task}")
                if got is not None:
                    pairs[(dataset, task)] = got["paired"]
            for tool in TOOLS:
                row = run_worker(__file__, ["--repeats", args.repeats, "--worker", tool, path, task],
                                 label=f"{tool} {dataset} {task}")
                if row is not None and row.get("seconds") is not None:
                    rows.append({**row, "dataset": dataset})
    print()
    print(f"{'dataset':10} {'task':13} {'tool':14} {'time':>10} {'vs raw':>8} {'vs roiext':>10} {'peak+MB':>8} "
          f"{'out MB':>7}  same pixels as raw")
    index = {(r["dataset"], r["task"], r["tool"]): r for r in rows}
    for row in rows:
        if row["task"] == "construct" and row["tool"] == "raw":
            continue  # the raw baseline's footer parse is not a reader's construction
        raw = index.get((row["dataset"], row["task"], "raw"))
        roi = index.get((row["dataset"], "random" if row["task"] == "random_batch" else row["task"], "roiextractors"))
        ratio_raw = ratio(row["seconds"], raw["seconds"] if raw and row["task"] != "construct" else None)
        ratio_roi = ratio(row["seconds"], roi and roi["seconds"], 4)
        same = {True: "yes", False: "NO"}.get(row.get("equal_to_raw"), "")
        if row.get("zero_frames"):
            same += f" +{row['zero_frames']} zero frames"
        print(f"{row['dataset']:10} {row['task']:13} {row['tool']:14} {seconds_cell(row['seconds'])} {ratio_raw:>8} "
              f"{ratio_roi:>10} {row['peak_growth_mb']:8.0f} {row.get('output_mb', 0):7.0f}  {same}")
    print("\npaired (all tools timed in turn in one process, best of the rounds):")
    for (dataset, task), best in pairs.items():
        ours = best["ophysio"]
        print(f"  {dataset:10} {task:8} ophysio {ours * 1e3:8.2f} ms   / raw {ours / best['raw']:.2f}x   "
              f"/ roiextractors {ours / best['roiextractors']:.3f}x")


if __name__ == "__main__":
    main()
