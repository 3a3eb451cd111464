"""Bruker Prairie View reading: ophysio against roiextractors 0.10.0 and raw reads of the same pages.

Run with the benchmark venv (roiextractors installed) and ophysio's sources first on the path::

    PYTHONPATH=src /tmp/venv-bench-tiff/bin/python benchmarks/bench_bruker.py [--folder /tmp/ophysio-bench-bruker]

Inputs, written once with :func:`ophysio._synth.bruker.write_bruker` (Prairie View's XML and TIFF layout)
and removed at the end unless ``--keep``:

- ``single``: a ``TSeries Timed Element`` of ``--frames`` (100,000) frames, one single-page 32 x 32
  uint16 OME-TIFF per frame (about 400 MB on disk);
- ``volume``: a ``TSeries ZSeries Element`` of 5,000 volumes x 2 planes, one single-page 64 x 64 file per
  frame (10,000 files);
- ``multipage``: Prairie View 5.8's layout, 5,000 frames of 256 x 256 uint16 as the pages of one file
  (655 MB).

Tools, each task in its own subprocess (its peak memory is its own):

- ``ophysio``: ``BrukerTiffImagingExtractor(folder)``;
- ``roiext``: roiextractors' ``BrukerTiffImagingExtractor(folder)`` (0.10.0's unified class);
- ``roiext-old``: roiextractors' ``BrukerTiffSinglePlaneImagingExtractor`` (planar) or
  ``BrukerTiffMultiPlaneImagingExtractor`` (volume), the classes neuroconv's Bruker interfaces use;
- ``tifffile``: ``TiffFile(path, is_ome=False).pages[k].asarray()`` for every page, in the XML's order
  (file names and pages found beforehand, not timed): the floor for a tifffile-based reader;
- ``raw``: ``os.preadv`` of each page's pixels at offsets found beforehand (opening each file): the floor
  for any reader.

Tasks: ``construct`` (the extractor, from nothing), ``full`` (construction, then ``get_series()`` of
every sample into a new array; the time printed is the read alone, the first touch of the new array's
memory included, which is slow in this VM) and ``full_out`` (the same into an array already touched,
``get_series(out=...)``: the read alone; ophysio and the baselines only, roiextractors has no ``out=``).
Every full read's pixel sum is printed so that the tools can be seen to agree. Every file of a dataset is
read once before its tasks run (a warm page cache for every tool). The machine these ran on is shared, so
the ``full_out`` task of ophysio also times ophysio and the raw read alternately in one process (``paired``:
the best of three each), the reliable comparison with the floor. ``peak+MB`` is the growth
of the process's peak RSS (``VmHWM``) over its RSS before the extractor was built. A tool that fails or
runs longer than ``--timeout`` seconds is reported as such (that is its result).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np

from _common import as_ratio, call_worker, emit, paired_ratio, peak_mb, ratio, rss_mb

DATASETS = {
    "single": dict(rows=32, columns=32),
    "volume": dict(num_samples=5000, rows=64, columns=64, planes=2),
    "multipage": dict(num_samples=5000, rows=256, columns=256, multipage=True),
}
TOOLS = ("ophysio", "roiext", "roiext-old", "tifffile", "raw")


def write_inputs(folder: Path, frames: int) -> dict[str, Path]:
    from ophysio._synth.bruker import write_bruker

    folder.mkdir(parents=True, exist_ok=True)
    inputs = {}
    for name, options in DATASETS.items():
        options = dict(options)
        if name == "single":
            options["num_samples"] = frames
        target = folder / name
        done = target / "done"
        if not done.exists():
            if target.exists():
                shutil.rmtree(target)
            t0 = time.perf_counter()
            dataset = write_bruker(target, f"TSeries-{name}", **options)
            done.write_text(str(dataset))
            print(f"wrote {name} in {time.perf_counter() - t0:.1f} s", flush=True)
        inputs[name] = Path(done.read_text())
    return inputs


# ------------------------------------------------------------------------------------------- baselines
class _Pages:
    """The pages of a dataset in the XML's order (parsed with xml.etree; not timed), read without an extractor."""

    def __init__(self, dataset: Path):
        import xml.etree.ElementTree as ET

        import tifffile

        root = ET.parse(dataset / f"{dataset.name}.xml").getroot()
        self.pages = [(str(dataset / f.get("filename")), int(f.get("page", "1")) - 1)
                      for f in root.iter("File")]
        with tifffile.TiffFile(self.pages[0][0], is_ome=False) as tif:
            page = tif.pages[0]
            self.shape, self.dtype = page.shape, page.dtype
        self.multipage = len({path for path, _ in self.pages}) < len(self.pages)


class TifffileReader(_Pages):
    def get_series(self, out=None):
        import tifffile

        out = np.empty((len(self.pages), *self.shape), self.dtype) if out is None else out
        if self.multipage:
            with tifffile.TiffFile(self.pages[0][0], is_ome=False) as tif:
                for i, (_, k) in enumerate(self.pages):
                    out[i] = tif.pages[k].asarray()
            return out
        for i, (path, k) in enumerate(self.pages):
            with tifffile.TiffFile(path, is_ome=False) as tif:
                out[i] = tif.pages[k].asarray()
        return out


class RawReader(_Pages):
    def __init__(self, dataset: Path):
        import tifffile

        super().__init__(dataset)
        if self.multipage:
            with tifffile.TiffFile(self.pages[0][0], is_ome=False) as tif:
                self.offsets = [int(p.dataoffsets[0]) for p in tif.pages]
        else:
            with tifffile.TiffFile(self.pages[0][0], is_ome=False) as tif:
                first = int(tif.pages[0].dataoffsets[0])
            self.offsets = [first] * len(self.pages)  # Prairie View puts every file's pixels at the same offset

    def get_series(self, out=None):
        out = np.empty((len(self.pages), *self.shape), self.dtype) if out is None else out
        flat = memoryview(out.reshape(-1).view(np.uint8))
        size = out[0].nbytes
        if self.multipage:
            fd = os.open(self.pages[0][0], os.O_RDONLY)
            try:
                for i, (_, k) in enumerate(self.pages):
                    os.preadv(fd, [flat[i * size : (i + 1) * size]], self.offsets[k])
            finally:
                os.close(fd)
            return out
        for i, (path, _) in enumerate(self.pages):
            fd = os.open(path, os.O_RDONLY)
            os.preadv(fd, [flat[i * size : (i + 1) * size]], self.offsets[i])
            os.close(fd)
        return out


def _make(tool: str, dataset: Path, name: str):
    if tool == "ophysio":
        from ophysio.extractors import BrukerTiffImagingExtractor

        return BrukerTiffImagingExtractor(dataset)
    if tool == "tifffile":
        return TifffileReader(dataset)
    if tool == "raw":
        return RawReader(dataset)
    import warnings

    warnings.simplefilter("ignore", FutureWarning)
    import roiextractors

    if tool == "roiext":
        return roiextractors.BrukerTiffImagingExtractor(folder_path=str(dataset))
    if name == "volume":
        return roiextractors.BrukerTiffMultiPlaneImagingExtractor(folder_path=str(dataset))
    return roiextractors.BrukerTiffSinglePlaneImagingExtractor(folder_path=str(dataset))


def worker(tool: str, name: str, dataset: Path, task: str) -> dict:
    result: dict = {"tool": tool, "dataset": name, "task": task}
    rss0 = rss_mb()
    t0 = time.perf_counter()
    extractor = _make(tool, dataset, name)
    result["construct_s"] = time.perf_counter() - t0
    if task == "construct":
        result["seconds"] = result["construct_s"]
    else:
        out = None
        if task == "full_out":  # into a buffer already touched: the read alone, without first-touch page faults
            first = extractor.get_series()
            out = np.empty_like(first)
            out.fill(0)
            del first
        t0 = time.perf_counter()
        data = extractor.get_series() if out is None else extractor.get_series(out=out)
        result["seconds"] = time.perf_counter() - t0
        result["shape"] = list(data.shape)
        result["sum"] = int(data.sum(dtype=np.uint64))
        result["output_mb"] = data.nbytes / 1e6
    result["peak_growth_mb"] = peak_mb() - rss0
    if tool == "ophysio" and task == "full_out":
        # the machine is shared: time ophysio and the raw read alternately in this process as well
        raw = RawReader(dataset)
        raw_out = np.empty((len(raw.pages), *raw.shape), raw.dtype)
        raw_out.fill(0)
        result["paired_vs_raw"] = paired_ratio(lambda: extractor.get_series(out=out),
                                               lambda: raw.get_series(out=raw_out), 3)
    return result


def warm(dataset: Path) -> None:
    """Read every file of a dataset once, so that every tool starts from a warm page cache."""
    for entry in os.scandir(dataset):
        with open(entry.path, "rb") as fh:
            while fh.read(1 << 22):
                pass


# ------------------------------------------------------------------------------------------- driver
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-bruker")
    parser.add_argument("--frames", type=int, default=100_000, help="frames of the single-page planar series")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before a tool's task is given up")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--keep", action="store_true", help="keep the inputs for another run")
    parser.add_argument("--worker", nargs=4, metavar=("TOOL", "NAME", "DATASET", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        tool, name, dataset, task = args.worker
        emit(worker(tool, name, Path(dataset), task))
        return
    folder = Path(args.folder)
    free = shutil.disk_usage(folder.parent if not folder.exists() else folder).free
    print(f"free space at {folder}: {free / 1e9:.1f} GB")
    inputs = write_inputs(folder, args.frames)
    rows = []
    try:
        for name in args.datasets.split(","):
            warm(inputs[name])
            for task in ("construct", "full", "full_out"):
                for tool in args.tools.split(","):
                    if task == "construct" and tool in ("tifffile", "raw"):
                        continue  # no extractor: their page lists are made outside the timed read
                    if task == "full_out" and tool.startswith("roiext"):
                        continue  # roiextractors has no out=
                    run = call_worker(__file__, ["--worker", tool, name, inputs[name], task], timeout=args.timeout)
                    if run.returncode is None:
                        rows.append({"tool": tool, "dataset": name, "task": task, "failed": run.why()})
                        print(f"{name} {task} {tool}: timeout", flush=True)
                        continue
                    if run.result is None:
                        last = (run.last_lines(1) or ["?"])[0]
                        rows.append({"tool": tool, "dataset": name, "task": task, "failed": last[:150],
                                     "wall_s": run.seconds})
                        print(f"{name} {task} {tool}: failed after {run.seconds:.1f} s: {last[:300]}", flush=True)
                        continue
                    row = run.result
                    rows.append(row)
                    print(f"{name} {task} {tool}: {row['seconds']:.3f} s (construct {row['construct_s']:.3f} s), "
                          f"peak +{row['peak_growth_mb']:.0f} MB" + (f", sum {row['sum']}" if "sum" in row else ""),
                          flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    report(rows)


def report(rows: list[dict]) -> None:
    index = {(r["dataset"], r["task"], r["tool"]): r for r in rows}
    print()
    print(f"{'dataset':10} {'task':9} {'tool':11} {'time':>10} {'vs raw':>8} {'paired':>7} {'vs ophysio':>10} "
          f"{'peak+MB':>8} {'sum agrees':>10}")
    for row in rows:
        key = (row["dataset"], row["task"])
        if "failed" in row:
            print(f"{row['dataset']:10} {row['task']:9} {row['tool']:11} FAILED: {row['failed']}")
            continue
        raw = index.get((*key, "raw"))
        ours = index.get((*key, "ophysio"))
        vs_raw = ratio(row["seconds"], (raw or {}).get("seconds"))
        vs_ours = ratio(row["seconds"], (ours or {}).get("seconds"))
        agrees = "-"
        if "sum" in row and ours and "sum" in ours:
            agrees = "yes" if row["sum"] == ours["sum"] else "NO"
        paired = as_ratio(row.get("paired_vs_raw"))
        print(f"{row['dataset']:10} {row['task']:9} {row['tool']:11} {row['seconds']:9.3f}s {vs_raw:>8} {paired:>7} "
              f"{vs_ours:>10} {row['peak_growth_mb']:8.0f} {agrees:>10}")


if __name__ == "__main__":
    main()
