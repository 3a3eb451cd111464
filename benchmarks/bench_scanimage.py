"""ScanImage reading: ophysio against roiextractors 0.10.0 and a plain positional read of the same bytes.

Run with the benchmark venv (roiextractors installed)::

    /work/venv-bench/bin/python benchmarks/bench_scanimage.py [--folder /tmp/ophysio-bench-si] [--scale 1.0]

Inputs, written once with :func:`ophysio.testing.synthetic.write_scanimage` (ScanImage's real layout):

- ``single``: one 512 x 512 int16 planar file of 3000 frames (1.5 GB);
- ``series``: a 20-file x 2000-IFD two-channel 256 x 256 int16 grab series (1000 frames per file, 5.2 GB).

``--scale`` shrinks the frame counts (e.g. 0.1 for a quick run). Every (tool, task) runs in its own
subprocess, so its peak RSS is its own; times are the best of ``--repeats`` runs from a warm page cache.
Tasks: construction; full ``get_series`` (``full``: into a fresh array; ``full_out``: into a reused
``out=`` buffer, ophysio and raw only); reading in 100-sample chunks (``chunks``: ``get_series`` per
chunk, a fresh array each; ``chunks_out``: ophysio's ``iter_series(100)`` and raw reads into one reused
buffer); ``get_timestamps``/``get_times``; one random frame (mean of 200). The ``vs roiext`` column of
the ``_out`` tasks compares with roiextractors' plain task (it has no ``out=``). The raw baseline reads
the same pages with one ``os.preadv`` per page into one array, from offsets found beforehand (its
construction is not timed).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from _common import as_ratio, best_of, emit, paired_ratio, peak_mb, ratio, rss_mb, run_worker, seconds_cell

TOOLS = ("raw", "ophysio", "roiextractors")
RANDOM_READS = 200


def write_inputs(folder: Path, scale: float) -> dict[str, Path]:
    from ophysio.testing.synthetic import write_scanimage

    folder.mkdir(parents=True, exist_ok=True)
    single_frames = max(200, int(3000 * scale))
    series_frames = max(100, int(1000 * scale))
    inputs = {}
    target = folder / f"single_{single_frames}"
    if not (target / "done").exists():
        paths = write_scanimage(target, "single", num_samples=single_frames, rows=512, columns=512)
        (target / "done").write_text(str(paths[0]))
    inputs["single"] = Path((target / "done").read_text())
    target = folder / f"series_{series_frames}"
    if not (target / "done").exists():
        paths = write_scanimage(target, "series", num_samples=20 * series_frames, rows=256, columns=256,
                                channels=(1, 2), frames_per_file=series_frames, channel_save_as_row=True)
        (target / "done").write_text(str(paths[0]))
    inputs["series"] = Path((target / "done").read_text())
    return inputs


# ------------------------------------------------------------------------------------------- workers
class RawReader:
    """The same pages read with one positional read each into one array (the floor for any reader)."""

    def __init__(self, first: str):
        import tifffile

        folder = Path(first).parent
        self.paths = sorted(str(p) for p in folder.glob("*.tif"))
        offsets, files = [], []
        for number, path in enumerate(self.paths):
            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                self.shape, self.dtype = page.shape, page.dtype
                for page in tif.pages:
                    offsets.append(page.dataoffsets[0])
                    files.append(number)
        self.offsets = np.asarray(offsets[::2] if "series" in first else offsets)  # channel 1 of two
        self.files = np.asarray(files[::2] if "series" in first else files)
        self.fds = [os.open(p, os.O_RDONLY) for p in self.paths]

    def get_num_samples(self):
        return len(self.offsets)

    def get_series(self, start=0, end=None, out=None):
        end = len(self.offsets) if end is None else end
        if out is None:
            out = np.empty((end - start, *self.shape), self.dtype)
        flat = memoryview(out.reshape(-1).view(np.uint8))
        size = out[0].nbytes if len(out) else 0
        for i, (offset, number) in enumerate(zip(self.offsets[start:end].tolist(), self.files[start:end].tolist())):
            os.preadv(self.fds[number], [flat[i * size : (i + 1) * size]], offset)
        return out


def _make(tool: str, first: str, two_channels: bool):
    if tool == "raw":
        return RawReader(first)
    kwargs = {"channel_name": "Channel 1"} if two_channels else {}
    if tool == "ophysio":
        from ophysio.extractors import ScanImageImagingExtractor

        return ScanImageImagingExtractor(file_path=first, **kwargs)
    from roiextractors import ScanImageImagingExtractor

    return ScanImageImagingExtractor(file_path=first, **kwargs)


def _task(tool: str, extractor, task: str, n: int):
    """(function running the task once, divisor of its time) or None when the tool lacks the task."""
    if task == "full":
        return (lambda: extractor.get_series(0, n)), 1
    if task == "full_out":
        if tool == "roiextractors":
            return None
        out = extractor.get_series(0, n)
        return (lambda: extractor.get_series(0, n, out=out)), 1
    if task == "chunks":
        def chunked():
            for a in range(0, n, 100):
                extractor.get_series(a, min(a + 100, n))

        return chunked, 1
    if task == "chunks_out":
        if tool == "roiextractors":
            return None
        first = extractor.get_series(0, 1)
        buffer = np.empty((100, *first.shape[1:]), first.dtype)

        def chunked_into():
            if tool == "ophysio":
                for _ in extractor.iter_series(100, 0, n, out=buffer):
                    pass
            else:
                for a in range(0, n, 100):
                    extractor.get_series(a, min(a + 100, n), out=buffer[: min(100, n - a)])

        return chunked_into, 1
    if task == "timestamps":
        if tool == "raw":
            return None

        def times():
            extractor._times = None  # roiextractors caches its times here
            if hasattr(extractor, "_native_timestamps_cache"):
                extractor._native_timestamps_cache = None
            return extractor.get_times()

        return times, 1
    if task == "random":
        picks = np.random.default_rng(0).integers(0, n, RANDOM_READS).tolist()

        def randoms():
            for i in picks:
                extractor.get_series(i, i + 1)

        return randoms, RANDOM_READS
    raise ValueError(task)


def worker(tool: str, dataset: str, first: str, task: str, repeats: int, limit: int | None) -> dict:
    two = dataset == "series"
    rss0 = rss_mb()
    result: dict = {"tool": tool, "dataset": dataset, "task": task}
    t0 = time.perf_counter()
    extractor = _make(tool, first, two)
    result["construct_s"] = time.perf_counter() - t0
    n = extractor.get_num_samples() if limit is None else min(limit, extractor.get_num_samples())
    if task == "construct":
        result["seconds"] = min(result["construct_s"], best_of(lambda: _make(tool, first, two), repeats - 1))
        result["peak_growth_mb"] = peak_mb() - rss0
        return result
    job = _task(tool, extractor, task, n)
    if job is None:
        return {**result, "seconds": None}
    fn, divisor = job
    result["seconds"] = best_of(fn, repeats) / divisor
    if task.startswith("full"):
        result["output_mb"] = extractor.get_series(0, 1).nbytes * n / 1e6
    result["peak_growth_mb"] = peak_mb() - rss0
    if tool == "ophysio" and task != "timestamps":
        # the machine is shared: time ophysio and the raw read alternately in this process as well
        raw_job = _task("raw", RawReader(first), task, n)
        result["paired_vs_raw"] = paired_ratio(fn, raw_job[0], repeats)
    return result


# ------------------------------------------------------------------------------------------- driver
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-si")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--series-samples", type=int, default=2000,
                        help="samples of the series read by the full/chunk/random tasks (all for 0)")
    parser.add_argument("--worker", nargs=5, metavar=("TOOL", "DATASET", "FIRST", "TASK", "LIMIT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        tool, dataset, first, task, limit = args.worker
        emit(worker(tool, dataset, first, task, args.repeats, int(limit) or None))
        return
    t0 = time.perf_counter()
    inputs = write_inputs(Path(args.folder), args.scale)
    print(f"inputs ready in {time.perf_counter() - t0:.1f} s: {', '.join(str(p) for p in inputs.values())}")
    plan = [("single", task) for task in ("construct", "full", "full_out", "chunks", "chunks_out", "random")]
    plan += [("series", task) for task in ("construct", "timestamps", "full", "full_out", "chunks", "chunks_out",
                                           "random")]
    rows = []
    for dataset, task in plan:
        limit = args.series_samples if dataset == "series" else 0
        for tool in TOOLS:
            if task == "timestamps" and tool == "raw":
                continue
            row = run_worker(__file__, ["--repeats", args.repeats, "--worker", tool, dataset, inputs[dataset], task,
                                        limit], label=f"{tool} {dataset} {task}")
            if row is not None and row.get("seconds") is not None:
                rows.append(row)
    print()
    print(f"{'dataset':8} {'task':10} {'tool':14} {'time':>10} {'vs raw':>8} {'paired':>7} {'vs roiext':>10} "
          f"{'peak+MB':>8} {'out MB':>8}")
    index = {(r["dataset"], r["task"], r["tool"]): r for r in rows}
    for row in rows:
        if row["task"] == "construct" and row["tool"] == "raw":
            continue  # its offsets come from tifffile, outside the timed reads
        raw = index.get((row["dataset"], row["task"], "raw"))
        roi = index.get((row["dataset"], row["task"], "roiextractors"))
        if row["task"] in ("full_out", "chunks_out"):
            roi = index.get((row["dataset"], row["task"][:-4], "roiextractors"))
        ratio_raw = ratio(row["seconds"], raw and raw["seconds"])
        ratio_roi = ratio(row["seconds"], roi and roi["seconds"], 3)
        paired = as_ratio(row.get("paired_vs_raw"))
        print(f"{row['dataset']:8} {row['task']:10} {row['tool']:14} {seconds_cell(row['seconds'])} {ratio_raw:>8} "
              f"{paired:>7} {ratio_roi:>10} {row['peak_growth_mb']:8.0f} {row.get('output_mb', 0):8.0f}")
    ours = {k[:2]: v for k, v in index.items() if k[2] == "ophysio"}
    for dataset in ("single", "series"):
        for kind in ("", "_out"):
            full, chunks = ours.get((dataset, "full" + kind)), ours.get((dataset, "chunks" + kind))
            if full and chunks:
                print(f"ophysio {dataset}: 100-sample chunks{kind} / full read{kind}: "
                      f"{chunks['seconds'] / full['seconds']:.2f}x")


if __name__ == "__main__":
    main()
