"""Femtonics MESc reading: ophysio against roiextractors 0.10.0 and a plain h5py read of the same dataset.

Run with a Python that has roiextractors (and its ``lazyslice``) installed; ophysio is taken from this
checkout's ``src`` (put on ``sys.path`` here)::

    /tmp/venv-bench-tiff/bin/python benchmarks/bench_femtonics.py [--frames 2000] [--repeats 3]

Inputs:

- ``p29``: the real sample ``femtonics/p29.mesc`` of the shared test data (MESc 3.3; unit ``MUnit_1``,
  channel ``UR``: 5 frames of 512 x 512), found through ``$OPHYSIO_TEST_DATA``;
- ``large``: a synthetic MESc file written once to ``--folder`` with the real file's attributes
  (:func:`ophysio._synth.femtonics.write_femtonics`) and two channels of ``--frames`` uint16 frames of
  512 x 512, stored as MESc 3.3 stores them: one frame per chunk, deflate level 1. The frames are a
  smooth image plus 10 bits of noise, so that zlib keeps about 70% of the bytes as with real PMT data.

Each (input, tool, task) runs in its own subprocess, so that its peak RSS (``VmHWM``) is its own;
times are the best of ``--repeats`` from a warm page cache. Tasks: ``construct`` (open the file and
choose unit and channel; h5py: open the file and the dataset), ``full`` (every frame of the channel
into a new array: ``get_series()``; h5py: ``read_direct`` into ``np.empty``). ``peak+MB`` is the growth of
the peak RSS over the RSS before the task. For ``full``, the ophysio process also times ophysio and the
h5py read alternately (``paired``), the steadier comparison on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from _common import SRC, alternate, best_of, emit, peak_mb, rss_mb, run_worker

if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

ROWS = COLUMNS = 512
TOOLS = ("h5py", "ophysio", "roiextractors")
KWARGS = {"p29": {"munit_name": "MUnit_1", "channel_name": "UR"}, "large": {"channel_name": "UG"}}
DATASET = {"p29": "MSession_0/MUnit_1/Channel_1", "large": "MSession_0/MUnit_0/Channel_0"}


def _frames(start: int, count: int, channel: int) -> np.ndarray:
    y, x = np.mgrid[0:ROWS, 0:COLUMNS]
    base = (30000 + 3000 * np.sin(x / 40.0) * np.cos(y / 50.0)).astype(np.int64)
    rng = np.random.default_rng([start, channel])
    return (base[None] + rng.integers(0, 1024, size=(count, ROWS, COLUMNS))).astype(np.uint16)


def write_large(folder: Path, frames: int) -> Path:
    """The synthetic MESc file: the writer's attributes, then each channel rewritten in blocks of frames."""
    import h5py

    from ophysio._synth.femtonics import MescUnit, write_femtonics

    path = folder / f"large_{frames}.mesc"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"large_{frames}.tmp.mesc"
    write_femtonics(tmp, [[MescUnit(frames=1, rows=ROWS, columns=COLUMNS)]])
    with h5py.File(tmp, "r+") as f:
        unit = f["MSession_0/MUnit_0"]
        for k in range(2):
            del unit[f"Channel_{k}"]
            dset = unit.create_dataset(f"Channel_{k}", shape=(frames, ROWS, COLUMNS), dtype=np.uint16,
                                       chunks=(1, ROWS, COLUMNS), compression="gzip", compression_opts=1)
            for a in range(0, frames, 100):
                n = min(100, frames - a)
                dset[a : a + n] = _frames(a, n, k)
        unit.attrs["ZDim"] = np.uint64(frames)
    os.replace(tmp, path)
    return path


# ------------------------------------------------------------------------------------------- workers
class H5pyReader:
    """The dataset read with h5py alone: the floor for any reader of the file."""

    def __init__(self, path: str, dataset: str):
        import h5py

        self.file = h5py.File(path, "r")
        self.dset = self.file[dataset]

    def get_series(self):
        out = np.empty(self.dset.shape, self.dset.dtype)
        self.dset.read_direct(out)
        return out


def _make(tool: str, path: str, case: str):
    if tool == "h5py":
        return H5pyReader(path, DATASET[case])
    if tool == "ophysio":
        from ophysio.extractors import FemtonicsImagingExtractor

        return FemtonicsImagingExtractor(path, **KWARGS[case])
    from roiextractors import FemtonicsImagingExtractor

    return FemtonicsImagingExtractor(path, **KWARGS[case])


def worker(tool: str, case: str, path: str, task: str, repeats: int) -> dict:
    import gc

    import h5py  # noqa: F401 - imported before the RSS baseline, by every tool alike

    rss0 = rss_mb()
    result: dict = {"tool": tool, "case": case, "task": task}
    if task == "construct":
        made = []

        def construct():
            made.append(_make(tool, path, case))

        result["seconds"] = best_of(construct, repeats)
        result["peak_growth_mb"] = peak_mb() - rss0
        return result
    extractor = _make(tool, path, case)
    gc.collect()
    rss0 = rss_mb()
    checksum = []

    def full():
        data = extractor.get_series()
        checksum.append(int(data[:, ::64, ::64].sum(dtype=np.uint64)))
        result["output_mb"] = data.nbytes / 1e6

    result["seconds"] = best_of(full, repeats)
    result["peak_growth_mb"] = peak_mb() - rss0
    result["checksum"] = checksum[-1]
    if tool == "ophysio":  # the machine is shared: time the h5py read and ophysio alternately here too
        times = alternate({"h5py": H5pyReader(path, DATASET[case]).get_series, "ophysio": extractor.get_series},
                          repeats)
        result["paired_vs_h5py"] = float(np.median([o / t for o, t in zip(times["ophysio"], times["h5py"])]))
    return result


# ------------------------------------------------------------------------------------------- driver
def _format_seconds(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-femtonics")
    parser.add_argument("--frames", type=int, default=2000, help="frames per channel of the synthetic file")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", nargs=4, metavar=("TOOL", "CASE", "PATH", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        emit(worker(*args.worker, args.repeats))
        return
    from ophysio.testing.data import sample_file

    t0 = time.perf_counter()
    inputs = {"p29": sample_file("femtonics/p29.mesc"), "large": write_large(Path(args.folder), args.frames)}
    print(f"inputs ready in {time.perf_counter() - t0:.1f} s; large: {inputs['large']} "
          f"({inputs['large'].stat().st_size / 1e9:.2f} GB on disk, {args.frames} frames x 2 channels); "
          f"best of {args.repeats}; {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    rows = []
    for case in ("p29", "large"):
        for task in ("construct", "full"):
            for tool in TOOLS:
                row = run_worker(__file__, ["--repeats", args.repeats, "--worker", tool, case, inputs[case], task],
                                 label=f"{tool} {case} {task}")
                if row is not None:
                    rows.append(row)
    index = {(r["case"], r["task"], r["tool"]): r for r in rows}
    print(f"\n{'input':6} {'task':10} {'tool':14} {'time':>11} {'vs h5py':>8} {'paired':>7} {'vs roiext':>10} "
          f"{'peak+MB':>8} {'out MB':>8}")
    for row in rows:
        raw = index.get((row["case"], row["task"], "h5py"))
        roi = index.get((row["case"], row["task"], "roiextractors"))
        same = "" if row.get("checksum") == (raw or row).get("checksum") else "  (checksum differs!)"
        print(f"{row['case']:6} {row['task']:10} {row['tool']:14} {_format_seconds(row['seconds']):>11} "
              f"{row['seconds'] / raw['seconds'] if raw else float('nan'):7.2f}x "
              f"{row.get('paired_vs_h5py', float('nan')):6.2f}x "
              f"{row['seconds'] / roi['seconds'] if roi else float('nan'):9.2f}x "
              f"{row['peak_growth_mb']:8.0f} {row.get('output_mb', float('nan')):8.0f}{same}")


if __name__ == "__main__":
    main()
