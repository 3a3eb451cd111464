"""Micro-Manager MMStack reading: ophysio against roiextractors 0.10.0, tifffile's MMStack series and a plain
positional read of the same bytes.

Run with the benchmark venv (roiextractors installed) and ophysio on the path::

    PYTHONPATH=src /tmp/venv-bench-tiff/bin/python benchmarks/bench_micromanager.py [--frames 3000] [--repeats 3]

Input, written once with :func:`ophysio._synth.micromanager.write_mmstack` (Micro-Manager's layout) to
``--folder`` (default ``/tmp/ophysio-bench-mm``): one position, one channel, 512 x 512 uint16 frames split
into files of ``--images-per-file`` images (``_MMStack_Pos0.ome.tif``, ``_1``, ``_2``... as Micro-Manager
splits at 4 GB), each image's JSON carrying ``--scope-properties`` device properties (about 5 KB, as a real
rig's), ``DisplaySettings.json`` beside them.

Each (tool, task) runs in its own subprocess, so that its peak RSS is its own; times are the best of
``--repeats`` from a warm page cache. Tools:

- ``ophysio``: ``MicroManagerTiffImagingExtractor(folder)``;
- ``roiextractors``: its ``MicroManagerTiffImagingExtractor(folder_path=folder)`` (tifffile pages, one
  sub-extractor per file);
- ``tifffile``: ``TiffFile(first).series[0]`` (tifffile's own MMStack reader across the files);
- ``raw``: one ``os.preadv`` per image into one array, from data offsets found beforehand with tifffile
  (not timed): the floor for any reader.

Tasks: ``construct``; ``full`` (every frame into a new array); ``chunks`` (100 frames at a time);
``random`` (one random frame, mean of 200); ``timestamps`` (ophysio's per-image ``ElapsedTime-ms``, read on
first use, against roiextractors' regular times); ``construct+times`` (what reading every image's JSON when
the extractor is built would cost: construction then timestamps); ``times-fulljson`` (the same times with
every image's JSON parsed whole instead of the number taken from the text). The ``sum`` of every full read
must agree. ``paired``: ophysio's time over the raw read's, both timed alternately in one process (the
reliable comparison on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from _common import as_ratio, best_of, emit, paired_ratio, peak_mb, ratio, rss_mb, run_worker, seconds_cell

ROWS = COLUMNS = 512
RANDOM_READS = 200


def write_input(folder: Path, frames: int, per_file: int, scope_properties: int) -> Path:
    from ophysio._synth.micromanager import write_mmstack

    target = folder / f"mm_{frames}_{per_file}_{scope_properties}"
    if not (target / "done").exists():
        base = (np.arange(ROWS * COLUMNS, dtype=np.uint32).reshape(ROWS, COLUMNS) * 2654435761 >> 20).astype(np.uint16)

        def frame(t, c, z, p):
            return base + np.uint16(t)

        write_mmstack(target, prefix="bench", frames=frames, rows=ROWS, columns=COLUMNS, images_per_file=per_file,
                      interval_ms=50.0, frame_source=frame, scope_properties=scope_properties, index_slack=1024)
        (target / "done").write_text("ok")
    return target


class RawReader:
    """The same pages read with one positional read each into one array (offsets from tifffile)."""

    def __init__(self, folder: Path):
        import tifffile

        self.paths = sorted(str(p) for p in folder.glob("*_MMStack*.ome.tif"))
        self.fds = [os.open(p, os.O_RDONLY) for p in self.paths]
        places = {}
        for number, path in enumerate(self.paths):
            with tifffile.TiffFile(path) as tif:
                offsets = {page.offset: page.dataoffsets[0] for page in tif.pages}
                for *_, t, _p, ifd in tif.micromanager_metadata["IndexMap"].tolist():
                    places[t] = (number, offsets[ifd])
        order = sorted(places)
        self.files = np.array([places[t][0] for t in order])
        self.offsets = np.array([places[t][1] for t in order])

    def get_num_samples(self):
        return len(self.offsets)

    def get_series(self, start=0, end=None):
        end = len(self.offsets) if end is None else end
        out = np.empty((end - start, ROWS, COLUMNS), np.uint16)
        flat = memoryview(out.reshape(-1).view(np.uint8))
        size = ROWS * COLUMNS * 2
        for i, (offset, number) in enumerate(zip(self.offsets[start:end].tolist(), self.files[start:end].tolist())):
            os.preadv(self.fds[number], [flat[i * size : (i + 1) * size]], offset)
        return out


class TifffileSeries:
    def __init__(self, folder: Path):
        import tifffile

        first = sorted(folder.glob("*_MMStack*.ome.tif"))[0]
        self.tif = tifffile.TiffFile(first)
        self.series = self.tif.series[0]

    def get_num_samples(self):
        return self.series.shape[0]

    def get_series(self, start=0, end=None):
        end = self.get_num_samples() if end is None else end
        if start == 0 and end == self.get_num_samples():
            return self.series.asarray()
        return self.series.asarray(key=range(start, end))


def _make(tool: str, folder: Path):
    if tool == "raw":
        return RawReader(folder)
    if tool == "tifffile":
        return TifffileSeries(folder)
    if tool == "ophysio":
        from ophysio.extractors import MicroManagerTiffImagingExtractor

        return MicroManagerTiffImagingExtractor(folder)
    import warnings

    warnings.simplefilter("ignore")
    from roiextractors import MicroManagerTiffImagingExtractor

    return MicroManagerTiffImagingExtractor(folder_path=folder)


def _fresh_times(tool, extractor):
    if tool == "ophysio":
        extractor._native_timestamps_cache = None
    return extractor.get_timestamps()


def _full_json_times(extractor) -> np.ndarray:
    """Every image's ElapsedTime-ms with its JSON parsed whole (the alternative to ophysio's text scan)."""
    from ophysio.extractors._json import loads_json

    records = extractor._read_records_raw(extractor._sample_page_of(np.arange(extractor.get_num_samples())))
    return np.array([loads_json(raw.rstrip(b"\x00"), path)["ElapsedTime-ms"] for path, _, raw in records]) / 1000


def worker(tool: str, folder: Path, task: str, repeats: int) -> dict:
    rss0 = rss_mb()
    result: dict = {"tool": tool, "task": task}
    if task in ("construct", "construct+times"):
        def build():
            ex = _make(tool, folder)
            if task == "construct+times":
                ex.get_timestamps()
            return ex

        result["seconds"] = best_of(build, repeats)
        result["peak_growth_mb"] = peak_mb() - rss0
        return result
    extractor = _make(tool, folder)
    n = extractor.get_num_samples()
    if task == "full":
        sums = []

        def full():
            data = extractor.get_series(0, n)
            sums.append(int(data.sum(dtype=np.uint64)))

        result["seconds"] = best_of(full, repeats)
        result["sum"] = sums[-1]
        result["output_mb"] = n * ROWS * COLUMNS * 2 / 1e6
    elif task == "chunks":
        def chunks():
            for a in range(0, n, 100):
                extractor.get_series(a, min(a + 100, n))

        result["seconds"] = best_of(chunks, repeats)
    elif task == "random":
        picks = np.random.default_rng(0).integers(0, n, RANDOM_READS).tolist()

        def randoms():
            for i in picks:
                extractor.get_series(i, i + 1)

        result["seconds"] = best_of(randoms, repeats) / RANDOM_READS
    elif task == "timestamps":
        if tool not in ("ophysio", "roiextractors"):
            return {**result, "seconds": None}
        result["seconds"] = best_of(lambda: _fresh_times(tool, extractor), repeats)
        result["first"] = float(_fresh_times(tool, extractor)[1])
    elif task == "times-fulljson":
        if tool != "ophysio":
            return {**result, "seconds": None}
        result["seconds"] = best_of(lambda: _full_json_times(extractor), repeats)
        assert np.array_equal(_full_json_times(extractor), extractor.get_timestamps())
    else:
        raise ValueError(task)
    result["peak_growth_mb"] = peak_mb() - rss0
    if tool == "ophysio" and task in ("full", "chunks", "random"):
        # the machine is shared: time ophysio and the raw read alternately in this process as well
        raw = RawReader(folder)
        jobs = {"full": lambda x: x.get_series(0, n),
                "chunks": lambda x: [x.get_series(a, min(a + 100, n)) for a in range(0, n, 100)] and None,
                "random": lambda x: [x.get_series(i, i + 1) for i in range(0, n, max(1, n // RANDOM_READS))]}
        result["paired_vs_raw"] = paired_ratio(lambda: jobs[task](extractor), lambda: jobs[task](raw), repeats)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-mm")
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--images-per-file", type=int, default=1000)
    parser.add_argument("--scope-properties", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tools", default="raw,tifffile,ophysio,roiextractors")
    parser.add_argument("--worker", nargs=3, metavar=("TOOL", "FOLDER", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        tool, folder, task = args.worker
        emit(worker(tool, Path(folder), task, args.repeats))
        return
    t0 = time.perf_counter()
    folder = write_input(Path(args.folder), args.frames, args.images_per_file, args.scope_properties)
    files = sorted(folder.glob("*_MMStack*.ome.tif"))
    size = sum(f.stat().st_size for f in files)
    json_bytes = len(json.dumps(__import__("tifffile").TiffFile(files[0]).pages[1].tags[51123].value))
    print(f"input ready in {time.perf_counter() - t0:.1f} s: {folder}, {len(files)} files, {size / 1e9:.2f} GB, "
          f"{args.frames} frames of {ROWS}x{COLUMNS} uint16, per-image JSON ~{json_bytes} bytes")
    tasks = ("construct", "construct+times", "timestamps", "times-fulljson", "full", "chunks", "random")
    rows = []
    for task in tasks:
        for tool in args.tools.split(","):
            if task in ("construct+times", "times-fulljson") and tool != "ophysio":
                continue
            if task == "timestamps" and tool not in ("ophysio", "roiextractors"):
                continue
            row = run_worker(__file__, ["--repeats", args.repeats, "--worker", tool, folder, task],
                             label=f"{tool} {task}")
            if row is not None and row.get("seconds") is not None:
                rows.append(row)
    index = {(r["task"], r["tool"]): r for r in rows}
    print()
    print(f"{'task':16} {'tool':14} {'time':>10} {'vs raw':>8} {'paired':>7} {'vs roiext':>10} {'peak+MB':>8}  note")
    for row in rows:
        raw, roi = index.get((row["task"], "raw")), index.get((row["task"], "roiextractors"))
        if row["task"] in ("construct+times", "times-fulljson"):
            roi = None
        vs_raw = ratio(row["seconds"], raw and raw["seconds"])
        vs_roi = ratio(row["seconds"], roi and roi["seconds"], 3)
        note = f"sum {row['sum']}" if "sum" in row else ""
        paired = as_ratio(row.get("paired_vs_raw"))
        print(f"{row['task']:16} {row['tool']:14} {seconds_cell(row['seconds'])} {vs_raw:>8} {paired:>7} {vs_roi:>10} "
              f"{row['peak_growth_mb']:8.0f}  {note}")
    sums = {r["sum"] for r in rows if "sum" in r}
    print("full-read sums agree" if len(sums) == 1 else f"FULL-READ SUMS DIFFER: {sums}")


if __name__ == "__main__":
    main()
