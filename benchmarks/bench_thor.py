"""ThorImageLS reading: ophysio against roiextractors 0.10.0 and a plain read of the same bytes, with peak memory.

Run with the benchmark venv (roiextractors installed) and ophysio on the path::

    PYTHONPATH=src /tmp/venv-bench-tiff/bin/python benchmarks/bench_thor.py [--folder /tmp/ophysio-bench-thor]

Inputs (written once with :func:`ophysio._synth.thor.write_thor`, ThorImageLS's layout; the real sample as is):

- ``real``: ``thor/20231018-002`` from the shared test data (3 single-page OME-TIFFs of 512 x 512);
- ``series``: ``--series-frames`` (1000) single-page 512 x 512 OME-TIFFs, each carrying the OME-XML that
  lists every file of the series, as ThorImageLS writes them;
- ``long``: ``--long-frames`` (20,000) single-page 64 x 64 OME-TIFFs, the hour-long-recording shape (the
  listing OME-XML in the first file only, to keep the folder small: 20,000 copies of a 2.6 MB listing
  would be 52 GB);
- ``multipage``: one multipage TIFF of ``--multipage-frames`` (100,000) 64 x 64 frames;
- ``raw``: ``Image_0001_0001.raw`` of ``--raw-frames`` (1000) 512 x 512 frames (roiextractors reads no
  Thor .raw).

Tools, each (tool, dataset, task) in its own subprocess so that its peak RSS (VmHWM) is its own:
``ophysio`` (``ThorTiffImagingExtractor``), ``roiextractors`` (``ThorTiffImagingExtractor``, given the
first TIFF as neuroconv does), ``raw`` (tifffile ``pages[0].asarray()`` per file, ``pages[i].asarray()``
for the multipage file, ``numpy.fromfile`` slices of the .raw; its setup is not timed). Tasks:
``construct``; ``full`` (``get_series()`` whole); ``chunks`` (every sample in chunks of about 64 MB, summed:
ophysio's ``iter_series`` reuses one buffer, the others read a new array per chunk). Times are the best of
``--repeats`` from a warm page cache; ``peak+MB`` is the growth of the peak RSS over the RSS after the
tool was imported (imports are neither timed nor counted), over the whole task, construction included.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from _common import best_of, emit, peak_mb, ratio, rss_mb, run_worker, seconds_cell

TOOLS = ("raw", "ophysio", "roiextractors")
#: Bytes of the chunks of the ``chunks`` task (about 64 MB, as ophysio's default chunk).
CHUNK_BYTES = 64 << 20


def write_inputs(folder: Path, args) -> dict[str, Path]:
    from ophysio._synth.thor import write_thor
    from ophysio.testing.data import sample_file

    folder.mkdir(parents=True, exist_ok=True)
    plans = {
        "series": dict(num_samples=args.series_frames, rows=512, columns=512, ome="all"),
        "long": dict(num_samples=args.long_frames, rows=64, columns=64, ome="first"),
        "multipage": dict(num_samples=args.multipage_frames, rows=64, columns=64, storage="multipage"),
        "raw": dict(num_samples=args.raw_frames, rows=512, columns=512, storage="raw"),
    }
    inputs = {"real": sample_file("thor/20231018-002")}
    for name, options in plans.items():
        target = folder / f"{name}_{options['num_samples']}"
        if not (target / "done").exists():
            t0 = time.perf_counter()
            write_thor(target, frame_rate=30.0, **options)
            (target / "done").write_text("")
            print(f"wrote {target} in {time.perf_counter() - t0:.1f} s", flush=True)
        inputs[name] = target
    return inputs


# ------------------------------------------------------------------------------------------- workers
class RawTiffs:
    """The same frames read with tifffile, one file (or page) at a time, into one array."""

    def __init__(self, folder: Path, multipage: bool):
        import tifffile

        self.tifffile = tifffile
        self.paths = sorted(str(p) for p in folder.glob("ChanA_*.tif"))
        self.multipage = multipage
        with tifffile.TiffFile(self.paths[0]) as tif:
            page = tif.pages[0]
            self.shape, self.dtype = page.shape, page.dtype
            self.count = len(tif.pages) if multipage else len(self.paths)
        self.tif = tifffile.TiffFile(self.paths[0]) if multipage else None

    def get_num_samples(self) -> int:
        return self.count

    def get_series(self, start=0, end=None):
        end = self.count if end is None else end
        out = np.empty((end - start, *self.shape), self.dtype)
        for i in range(start, end):
            if self.multipage:
                out[i - start] = self.tif.pages[i].asarray()
            else:
                with self.tifffile.TiffFile(self.paths[i]) as tif:
                    out[i - start] = tif.pages[0].asarray()
        return out


class RawStream:
    """The .raw frames read with numpy.fromfile (offset and count), the plain read of a raw stream."""

    def __init__(self, folder: Path):
        import xml.etree.ElementTree as ET

        lsm = ET.parse(folder / "Experiment.xml").getroot().find("LSM")
        self.shape = (int(lsm.get("pixelY")), int(lsm.get("pixelX")))
        self.path = folder / "Image_0001_0001.raw"
        self.count = self.path.stat().st_size // (self.shape[0] * self.shape[1] * 2)

    def get_num_samples(self) -> int:
        return self.count

    def get_series(self, start=0, end=None):
        end = self.count if end is None else end
        frame = self.shape[0] * self.shape[1]
        data = np.fromfile(self.path, dtype="<u2", count=(end - start) * frame, offset=start * frame * 2)
        return data.reshape(end - start, *self.shape)


def _load(tool: str):
    """The tool's extractor class, imported before anything is timed or measured."""
    if tool == "ophysio":
        from ophysio.extractors import ThorTiffImagingExtractor

        ThorTiffImagingExtractor.__init__  # noqa: B018 - the lazy name resolves the reader module
        return ThorTiffImagingExtractor
    if tool == "roiextractors":
        import warnings

        warnings.simplefilter("ignore")
        from roiextractors import ThorTiffImagingExtractor

        return ThorTiffImagingExtractor
    import tifffile  # noqa: F401

    return None


def _make(tool: str, cls, dataset: str, folder: Path):
    if tool == "raw":
        return RawStream(folder) if dataset == "raw" else RawTiffs(folder, dataset == "multipage")
    first = folder if dataset == "raw" else folder / "ChanA_001_001_001_001.tif"
    if tool == "roiextractors" and dataset == "raw":
        return None
    return cls(file_path=first)


def worker(tool: str, dataset: str, folder: str, task: str, repeats: int) -> dict:
    folder = Path(folder)
    cls = _load(tool)
    rss0 = rss_mb()
    result: dict = {"tool": tool, "dataset": dataset, "task": task}
    t0 = time.perf_counter()
    extractor = _make(tool, cls, dataset, folder)
    if extractor is None:
        return {**result, "seconds": None}
    construct = time.perf_counter() - t0
    n = extractor.get_num_samples()
    chunk = max(1, CHUNK_BYTES // extractor.get_series(0, 1)[0].nbytes) if task == "chunks" else n
    if task == "construct":
        result["seconds"] = min(construct, best_of(lambda: _make(tool, cls, dataset, folder), repeats - 1))
    else:
        sums = []

        def read():
            if task == "full":
                data = extractor.get_series(0, n)
                sums.append(int(data.sum(dtype=np.uint64)))
                del data
            elif tool == "ophysio":
                sums.append(sum(int(block.sum(dtype=np.uint64)) for block in extractor.iter_series(chunk)))
            else:
                sums.append(sum(int(extractor.get_series(a, min(a + chunk, n)).sum(dtype=np.uint64))
                                for a in range(0, n, chunk)))

        result["seconds"], result["sum"] = best_of(read, repeats), sums[-1] if sums else None
    result["samples"] = n
    result["peak_growth_mb"] = peak_mb() - rss0
    return result


# ------------------------------------------------------------------------------------------- driver
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-thor")
    parser.add_argument("--series-frames", type=int, default=1000)
    parser.add_argument("--long-frames", type=int, default=20000)
    parser.add_argument("--multipage-frames", type=int, default=100000)
    parser.add_argument("--raw-frames", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--datasets", default="real,series,long,multipage,raw")
    parser.add_argument("--worker", nargs=4, metavar=("TOOL", "DATASET", "FOLDER", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        emit(worker(*args.worker, args.repeats))
        return
    inputs = write_inputs(Path(args.folder), args)
    rows = []
    for dataset in args.datasets.split(","):
        for task in ("construct", "full", "chunks"):
            for tool in TOOLS:
                if task == "construct" and tool == "raw":
                    continue
                row = run_worker(__file__, ["--repeats", args.repeats, "--worker", tool, dataset, inputs[dataset],
                                            task], label=f"{tool} {dataset} {task}", tail=1500)
                if row is not None and row.get("seconds") is not None:
                    rows.append(row)
                    print(f"  {dataset:9} {task:9} {tool:13} {row['seconds']:9.3f} s  "
                          f"peak+{row['peak_growth_mb']:.0f} MB", flush=True)
    print()
    print(f"{'dataset':10} {'task':10} {'tool':14} {'time':>10} {'vs raw':>8} {'vs roiext':>10} {'peak+MB':>8}")
    index = {(r["dataset"], r["task"], r["tool"]): r for r in rows}
    for row in rows:
        raw = index.get((row["dataset"], row["task"], "raw"))
        roi = index.get((row["dataset"], row["task"], "roiextractors"))
        ratio_raw = ratio(row["seconds"], raw and raw["seconds"])
        ratio_roi = ratio(row["seconds"], roi and roi["seconds"], 3)
        print(f"{row['dataset']:10} {row['task']:10} {row['tool']:14} {seconds_cell(row['seconds'])} {ratio_raw:>8} "
              f"{ratio_roi:>10} {row['peak_growth_mb']:8.0f}")
    sums = {}
    for row in rows:
        if "sum" in row:
            sums.setdefault((row["dataset"], row["task"]), set()).add(row["sum"])
    bad = {key: values for key, values in sums.items() if len(values) > 1}
    print("pixel sums agree across tools" if not bad else f"PIXEL SUMS DIFFER: {bad}")


if __name__ == "__main__":
    main()
