"""Scanbox reading: ophysio against roiextractors 0.10.0, sbxreader and a raw numpy read of the same file.

Run with the benchmark venv (roiextractors and ``sbxreader`` installed), ophysio from this checkout::

    PYTHONPATH=src /tmp/venv-bench-tiff/bin/python benchmarks/bench_scanbox.py [--folder /tmp/ophysio-bench-sbx]
        [--frames 600] [--repeats 3] [--keep]

Inputs, written once (and removed at the end unless ``--keep``):

- ``pmt0``: the real info file ``scanbox/sample.mat`` of the shared test data (512 lines x 796 pixels,
  PMT0 only, unidirectional) beside a ``.sbx`` of ``--frames`` frames (600: 489 MB);
- ``two_pmts``: a synthetic info file of the same geometry with both PMTs
  (:func:`ophysio._synth.scanbox.scanbox_info`) beside ``--frames / 2`` frames of two channels (the same
  bytes on disk); the tools read PMT1. roiextractors does not read two channels (it raises).

Pixels are 12-bit noise stored as Scanbox stores them (``65535 - value``). Every (tool, dataset, task)
runs in its own subprocess, so its peak RSS (VmHWM) and its growth over the RSS before opening are its
own; times are the best of ``--repeats`` runs from a warm page cache. Tasks: construction; the full
series (``full``: a fresh array; ``full_out``: into a reused ``out=`` buffer, ophysio and raw only);
100-frame chunks (``get_series`` per chunk; sbxreader ``np.array(memmap[a:b])``); one random frame (mean
of 200). The raw baseline is ``numpy.fromfile`` of the whole file (``full``), ``readinto`` a reused
buffer (``full_out``) or ``numpy.fromfile`` with an offset (chunks, frames): the bytes without the
complement or the channel selection, the floor for any reader. ophysio's ``paired`` column times it and
the raw read alternately in one process (the machine is shared). Every tool's full read is checked to
give the same pixels (a hash of its first and last frames).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from _common import as_ratio, best_of, emit, paired_ratio, peak_mb, ratio, rss_mb, run_worker, seconds_cell

TOOLS = ("raw", "ophysio", "roiextractors", "sbxreader")
TASKS = ("construct", "full", "full_out", "chunks", "random")
RANDOM_READS = 200
ROWS, COLUMNS = 512, 796


def _write_frames(path: Path, frames: int, channels: int) -> None:
    rng = np.random.default_rng(0)
    with open(path, "wb") as fh:
        for a in range(0, frames, 50):
            values = rng.integers(0, 4096, size=(min(50, frames - a), ROWS, COLUMNS, channels), dtype=np.uint16)
            fh.write((np.uint16(65535) - values).astype("<u2").tobytes())


def write_inputs(folder: Path, frames: int) -> dict[str, Path]:
    from ophysio._synth.scanbox import scanbox_info, write_scanbox_info
    from ophysio.testing.data import sample_file

    inputs = {}
    target = folder / f"pmt0_{frames}"
    if not (target / "done").exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample_file("scanbox/sample.mat"), target / "sample.mat")
        _write_frames(target / "sample.sbx", frames, 1)
        (target / "done").write_text("")
    inputs["pmt0"] = target / "sample.sbx"
    target = folder / f"two_pmts_{frames}"
    if not (target / "done").exists():
        target.mkdir(parents=True, exist_ok=True)
        write_scanbox_info(target / "both.mat", scanbox_info(rows=ROWS, columns=COLUMNS, channels=1))
        _write_frames(target / "both.sbx", frames // 2, 2)
        (target / "done").write_text("")
    inputs["two_pmts"] = target / "both.sbx"
    return inputs


# ------------------------------------------------------------------------------------------- workers
class Raw:
    """The file's bytes as uint16, no complement and no channel selection."""

    def __init__(self, path: str, channels: int):
        self.path = path
        self.frame_values = ROWS * COLUMNS * channels
        self.n = os.path.getsize(path) // (2 * self.frame_values)

    def full(self, out=None):
        if out is None:
            return np.fromfile(self.path, dtype="<u2")
        with open(self.path, "rb", buffering=0) as fh:
            fh.readinto(memoryview(out.reshape(-1).view(np.uint8)))
        return out

    def frames(self, a, b):
        return np.fromfile(self.path, dtype="<u2", count=(b - a) * self.frame_values, offset=a * 2 * self.frame_values)


def _make(tool: str, path: str, two: bool):
    channels = 2 if two else 1
    if tool == "raw":
        return Raw(path, channels)
    if tool == "ophysio":
        from ophysio.extractors import SbxImagingExtractor

        return SbxImagingExtractor(path, channel_name="PMT1" if two else None)
    if tool == "roiextractors":
        from roiextractors import SbxImagingExtractor

        return SbxImagingExtractor(path)
    from sbxreader import sbx_memmap

    return sbx_memmap(path)


def _n(tool: str, ex) -> int:
    if tool == "raw":
        return ex.n
    if tool == "sbxreader":
        return ex.shape[0]
    return ex.get_num_samples()


def _task(tool: str, ex, task: str, n: int, two: bool):
    """(function running the task once, divisor of its time), or None when the tool lacks the task."""
    channel = 1 if two else 0
    if task == "full":
        if tool == "raw":
            return ex.full, 1
        if tool == "sbxreader":
            return (lambda: ex.to_numpy()[:, 0, channel]), 1
        return (lambda: ex.get_series(0, n)), 1
    if task == "full_out":
        if tool == "raw":
            out = ex.full()
            return (lambda: ex.full(out)), 1
        if tool != "ophysio":
            return None
        out = ex.get_series(0, n)
        return (lambda: ex.get_series(0, n, out=out)), 1
    if task == "chunks":
        def chunked():
            for a in range(0, n, 100):
                b = min(a + 100, n)
                if tool == "raw":
                    ex.frames(a, b)
                elif tool == "sbxreader":
                    np.array(ex[a:b, 0, channel])
                else:
                    ex.get_series(a, b)

        return chunked, 1
    if task == "random":
        picks = np.random.default_rng(0).integers(0, n, RANDOM_READS).tolist()

        def randoms():
            for i in picks:
                if tool == "raw":
                    ex.frames(i, i + 1)
                elif tool == "sbxreader":
                    np.array(ex[i, 0, channel])
                else:
                    ex.get_series(i, i + 1)

        return randoms, RANDOM_READS
    raise ValueError(task)


def worker(tool: str, dataset: str, path: str, task: str, repeats: int) -> dict:
    two = dataset == "two_pmts"
    rss0 = rss_mb()
    result: dict = {"tool": tool, "dataset": dataset, "task": task}
    t0 = time.perf_counter()
    try:
        ex = _make(tool, path, two)
    except Exception as exc:  # roiextractors raises on two channels
        return {**result, "seconds": None, "error": f"{type(exc).__name__}: {exc}"[:160]}
    result["construct_s"] = time.perf_counter() - t0
    n = _n(tool, ex)
    if task == "construct":
        result["seconds"] = min(result["construct_s"], best_of(lambda: _make(tool, path, two), repeats - 1))
        result["peak_growth_mb"] = peak_mb() - rss0
        return result
    job = _task(tool, ex, task, n, two)
    if job is None:
        return {**result, "seconds": None}
    fn, divisor = job
    if task == "full" and tool != "raw":
        data = np.asarray(fn())
        result["output_mb"] = data.nbytes / 1e6
        result["hash"] = hashlib.sha1(np.ascontiguousarray(data[[0, -1]]).tobytes()).hexdigest()[:12]
        del data
    result["seconds"] = best_of(fn, repeats) / divisor
    result["peak_growth_mb"] = peak_mb() - rss0
    if tool == "ophysio":  # time ophysio and the raw read alternately in this process as well
        raw_fn = _task("raw", Raw(path, 2 if two else 1), task, n, two)[0]
        result["paired_vs_raw"] = paired_ratio(fn, raw_fn, repeats)
    return result


# ------------------------------------------------------------------------------------------- driver
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-sbx")
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the input files")
    parser.add_argument("--worker", nargs=4, metavar=("TOOL", "DATASET", "PATH", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        emit(worker(*args.worker, args.repeats))
        return
    folder = Path(args.folder)
    need = 2 * args.frames * ROWS * COLUMNS * 2
    free = shutil.disk_usage(folder.parent if not folder.exists() else folder).free
    if free < 2 * need:
        sys.exit(f"{folder}: {free / 1e9:.1f} GB free, the inputs need {need / 1e9:.1f} GB (and as much to spare)")
    t0 = time.perf_counter()
    inputs = write_inputs(folder, args.frames)
    print(f"inputs ready in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{p} ({p.stat().st_size / 1e6:.0f} MB)" for p in inputs.values()))
    rows = []
    try:
        for dataset, path in inputs.items():
            for task in TASKS:
                for tool in TOOLS:
                    if task == "construct" and tool == "raw":
                        continue
                    row = run_worker(__file__, ["--repeats", args.repeats, "--worker", tool, dataset, path, task],
                                     label=f"{tool} {dataset} {task}")
                    if row is None:
                        continue
                    if row.get("error") and task == "construct":
                        print(f"{tool} {dataset}: {row['error']}")
                    rows.append(row)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print()
    print(f"{'dataset':9} {'task':9} {'tool':14} {'time':>10} {'vs raw':>8} {'paired':>7} {'vs roiext':>10} "
          f"{'vs sbxr':>8} {'peak+MB':>8} {'out MB':>7}")
    index = {(r["dataset"], r["task"], r["tool"]): r for r in rows if r.get("seconds") is not None}
    def vs(row: dict, other_tool: str, digits: int = 2) -> str:
        task = row["task"] if other_tool == "raw" or row["task"] != "full_out" else "full"  # theirs has no out=
        other = index.get((row["dataset"], task, other_tool))
        return ratio(row["seconds"], other["seconds"] if other and other is not row else None, digits)

    for (dataset, task, tool), row in index.items():
        paired = as_ratio(row.get("paired_vs_raw"))
        print(f"{dataset:9} {task:9} {tool:14} {seconds_cell(row['seconds'])} {vs(row, 'raw'):>8} {paired:>7} "
              f"{vs(row, 'roiextractors', 3):>10} {vs(row, 'sbxreader', 3):>8} {row['peak_growth_mb']:8.0f} "
              f"{row.get('output_mb', 0):7.0f}")
    for dataset in inputs:
        hashes = {r["tool"]: r["hash"] for r in rows if r["dataset"] == dataset and r.get("hash")}
        agree = len(set(hashes.values())) == 1
        print(f"{dataset}: full reads {'give the same pixels' if agree else 'DIFFER'} ({hashes})")


if __name__ == "__main__":
    main()
