"""NWB conversion of ScanImage data: ophysio defaults against neuroconv defaults, side by side.

Run with the benchmark venv (neuroconv, roiextractors 0.10.0, psutil and isal installed)::

    /work/venv-bench/bin/python benchmarks/bench_conversion.py [--folder /tmp/ophysio-bench-conv] [--scale 1.0]

Inputs, written once with :func:`ophysio.testing.synthetic.write_scanimage` (ScanImage's real layout,
``pattern="cells"``: background, flashing cells and shot noise, so that compression behaves as on real
data rather than on a ramp):

- ``single``: one 512 x 512 int16 planar file of 3000 frames (1.5 GB);
- ``series``: a 20-file two-channel 256 x 256 int16 grab series, 150 frames per file (3000 frames, 393 MB
  per channel); channel 1 is converted.

Each (tool, task) runs in its own subprocess, so its peak RSS (``VmHWM``, imports included) is its own.
Tasks: ``construct`` (build the interface of the series: neuroconv is given ``file_paths`` of all 20 files,
as given only ``file_path`` it reads the first file alone; ophysio finds the files from the first),
``convert`` (interface construction + ``run_conversion`` with the tool's default compression; neuroconv:
gzip level 4 through hdmf's chunk iterator; ophysio: shuffle + ISA-L deflate on all cores). The output
is written to a fresh path and its size reported. ``--scale`` shrinks the frame counts for a quick run.

``--stages`` instead measures ophysio's conversion of a 1.5 GB file against each of its stages alone
(read, compress, write) in the same run, and ``ophysio info``'s start-up: see ``bench_stages.py``, whose
options follow ``--stages`` (e.g. ``--stages --frames 3000 --compare-src /tmp/old/src``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from _common import call_worker, emit, fastest, peak_mb
from bench_stages import SESSION, SUBJECT, fill_metadata


def write_inputs(folder: Path, scale: float) -> dict[str, Path]:
    from ophysio.testing.synthetic import write_scanimage

    folder.mkdir(parents=True, exist_ok=True)
    single_frames = max(100, int(3000 * scale))
    per_file = max(10, int(150 * scale))
    inputs = {}
    target = folder / f"single_{single_frames}"
    if not (target / "done").exists():
        paths = write_scanimage(target, "single", num_samples=single_frames, rows=512, columns=512, pattern="cells",
                                channel_save_as_row=True)
        (target / "done").write_text(str(paths[0]))
    inputs["single"] = Path((target / "done").read_text())
    target = folder / f"series_{per_file}"
    if not (target / "done").exists():
        paths = write_scanimage(target, "series", num_samples=20 * per_file, rows=256, columns=256, channels=(1, 2),
                                frames_per_file=per_file, pattern="cells", channel_save_as_row=True)
        (target / "done").write_text(str(paths[0]))
    inputs["series"] = Path((target / "done").read_text())
    return inputs


# ------------------------------------------------------------------------------------------- workers
def _interface(tool: str, dataset: str, first: str):
    two = dataset == "series"
    if tool == "ophysio":
        from ophysio.conversion.interfaces import ScanImageImagingInterface

        return ScanImageImagingInterface(file_path=first, **({"channel_name": "Channel 1"} if two else {}))
    from neuroconv.datainterfaces import ScanImageImagingInterface

    if two:
        files = sorted(str(p) for p in Path(first).parent.glob("*.tif"))
        return ScanImageImagingInterface(file_paths=files, channel_name="Channel 1")
    return ScanImageImagingInterface(file_path=first)


def _convert(tool: str, interface, output: str) -> None:
    if tool == "ophysio":
        interface.run_conversion(output, fill_metadata(interface.get_metadata()), overwrite=True)
        return
    meta = interface.get_metadata()
    meta["NWBFile"].update(SESSION)
    meta["NWBFile"]["session_start_time"] = datetime(2024, 3, 14, 9, 26, 53, tzinfo=timezone.utc)
    meta["Subject"] = dict(SUBJECT)
    interface.run_conversion(nwbfile_path=output, metadata=meta, overwrite=True)


def worker(tool: str, dataset: str, first: str, task: str, output: str) -> dict:
    result: dict = {"tool": tool, "dataset": dataset, "task": task}
    t0 = time.perf_counter()
    interface = _interface(tool, dataset, first)
    result["construct_s"] = time.perf_counter() - t0
    if task == "convert":
        _convert(tool, interface, output)
        result["seconds"] = time.perf_counter() - t0
        result["output_mb"] = os.path.getsize(output) / 1e6
        os.remove(output)
    else:
        result["seconds"] = result["construct_s"]
    result["peak_rss_mb"] = peak_mb()
    return result


# ------------------------------------------------------------------------------------------- driver
def _run(tool: str, dataset: str, first: Path, task: str, output: Path) -> dict:
    run = call_worker(__file__, ["--worker", tool, dataset, first, task, output])
    if run.result is None:
        return {"tool": tool, "dataset": dataset, "task": task, "error": run.last_lines(1)}
    return run.result


def main() -> None:
    if "--stages" in sys.argv[1:]:
        import bench_stages

        sys.argv = [sys.argv[0]] + [a for a in sys.argv[1:] if a != "--stages"]
        bench_stages.main()
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-conv")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each (tool, task); the best is kept")
    parser.add_argument("--worker", nargs=5, metavar=("TOOL", "DATASET", "FIRST", "TASK", "OUTPUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        emit(worker(*args.worker))
        return
    t0 = time.perf_counter()
    inputs = write_inputs(Path(args.folder), args.scale)
    print(f"inputs ready in {time.perf_counter() - t0:.1f} s")
    plan = [("series", "construct"), ("single", "convert"), ("series", "convert")]
    rows = []
    for dataset, task in plan:
        pair = {}
        for tool in ("ophysio", "neuroconv"):
            runs = [_run(tool, dataset, inputs[dataset], task, Path(args.folder) / f"out_{tool}.nwb")
                    for _ in range(args.repeats)]
            pair[tool] = fastest(runs)
            rows.append(pair[tool])
            print(json.dumps(pair[tool]), flush=True)
        o, n = pair["ophysio"], pair["neuroconv"]
        if "error" not in o and "error" not in n:
            line = f"{dataset:7s} {task:9s}: ophysio {o['seconds']:7.2f} s, neuroconv {n['seconds']:7.2f} s -> " \
                   f"{n['seconds'] / o['seconds']:5.1f}x faster; peak RSS {o['peak_rss_mb']:.0f} MB vs " \
                   f"{n['peak_rss_mb']:.0f} MB ({o['peak_rss_mb'] / n['peak_rss_mb']:.2f})"
            if task == "convert":
                line += f"; output {o['output_mb']:.0f} MB vs {n['output_mb']:.0f} MB " \
                        f"({o['output_mb'] / n['output_mb']:.2f})"
            print(line, flush=True)


if __name__ == "__main__":
    main()
