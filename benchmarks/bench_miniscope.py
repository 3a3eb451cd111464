"""Miniscope reading: ophysio against roiextractors 0.10.0 (OpenCV) and a plain sequential PyAV decode.

Run with the benchmark venv (roiextractors and opencv-python-headless installed), ophysio from the
checkout's ``src``::

    PYTHONPATH=src /tmp/venv-bench-tiff/bin/python benchmarks/bench_miniscope.py [--frames 2500] [--repeats 2]

The input is written once to ``--folder`` (default ``/tmp/ophysio-bench-miniscope``) in the Miniscope DAQ
software's layout: a recording folder with ``metaData.json`` and the device folder ``Miniscope/`` holding
``0.avi, 1.avi, ...`` (1000 frames each, FFV1 grey 608 x 608 as a Miniscope V4 writes them, a keyframe every
12 frames as OpenCV's writer makes them), ``metaData.json`` and ``timeStamps.csv``. The frames are a smooth
field of cells with noise, so that FFV1 keeps about half the bytes, as on real data.

Each (tool, task) runs in its own subprocess (its peak RSS is its own, no cache carries over):

- ``construct``: open the device folder (``MiniscopeImagingExtractor(folder_path=...)``; imports, PyAV's
  and OpenCV's included, not timed);
- ``full``: construct, then read every frame in chunks of 100 (ophysio ``iter_series(100)``, roiextractors
  ``get_series`` per chunk) and sum the pixels;
- ``random``: construct, then read 100 frames scattered over the recording (the same seeded indices;
  ophysio ``get_samples``, roiextractors ``get_series(i, i + 1)`` per frame) and sum them.

``pyav`` is the floor of a full read: every file decoded once in order with plain PyAV, each frame's grey
plane summed. Printed: seconds (task time, construction excluded for full and random), the ratio to
ophysio (higher = ophysio faster), peak RSS of the process (VmHWM) and the sums (which must agree).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from _common import best_run, emit, peak_mb

ROWS = COLUMNS = 608
FRAMES_PER_FILE = 1000
RANDOM_FRAMES = 100
TOOLS = ("ophysio", "roiextractors", "pyav")
TASKS = ("construct", "full", "random")


def frame(k: int, cells: np.ndarray) -> np.ndarray:
    """A Miniscope-like frame: background, cells that flicker, sensor noise."""
    y, x = np.mgrid[0:ROWS, 0:COLUMNS]
    image = 40 + 25 * np.exp(-(((x - 300) / 260) ** 2 + ((y - 310) / 240) ** 2))
    activity = 0.5 + 0.5 * np.sin(k / 9.0 + np.arange(len(cells)))
    for (cy, cx), a in zip(cells, activity):
        image[cy - 6 : cy + 7, cx - 6 : cx + 7] += 60 * a
    noise = np.random.default_rng(k).normal(0, 3, size=(ROWS, COLUMNS))
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def write_input(folder: Path, frames: int) -> Path:
    """The device folder of a recording of ``frames`` frames (written once)."""
    import av

    from ophysio.extractors._video.frames import to_video_frame

    device = folder / f"frames_{frames}" / "12_00_00" / "Miniscope"
    if (device / "done").exists():
        return device
    device.mkdir(parents=True, exist_ok=True)
    cells = np.random.default_rng(1).integers(20, ROWS - 20, size=(60, 2))
    for number, first in enumerate(range(0, frames, FRAMES_PER_FILE)):
        container = av.open(str(device / f"{number}.avi"), mode="w")
        stream = container.add_stream("ffv1", rate=60, options={"g": "12"})
        stream.width, stream.height, stream.pix_fmt = COLUMNS, ROWS, "gray"
        for k in range(first, min(first + FRAMES_PER_FILE, frames)):
            video_frame = to_video_frame(frame(k, cells), "gray")
            video_frame.pts = k - first
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        container.close()
    times = np.round(np.arange(frames) * 1000 / 30.0 + (np.arange(frames) % 3) - 12).astype(int)
    lines = ["Frame Number,Time Stamp (ms),Buffer Index"] + [f"{i},{t},0" for i, t in enumerate(times)]
    (device / "timeStamps.csv").write_text("\n".join(lines) + "\n")
    (device / "metaData.json").write_text(json.dumps({
        "compression": "FFV1", "deviceName": "Miniscope", "deviceType": "Miniscope_V4_BNO", "deviceID": 0,
        "frameRate": "30FPS", "framesPerFile": FRAMES_PER_FILE, "gain": "Medium", "led0": 20, "ewl": 60}))
    start = {"year": 2024, "month": 1, "day": 2, "hour": 12, "minute": 0, "second": 0, "msec": 0}
    (device.parent / "metaData.json").write_text(json.dumps({"recordingStartTime": start,
                                                             "miniscopes": ["Miniscope"], "cameras": []}))
    (device / "done").write_text("ok")
    return device


def random_indices(frames: int) -> list[int]:
    return sorted(np.random.default_rng(7).choice(frames, size=min(RANDOM_FRAMES, frames), replace=False).tolist())


def run(tool: str, task: str, device: str) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    if tool == "ophysio":
        import av  # noqa: F401 - PyAV, imported on first use by ophysio: not timed, as OpenCV's import is not

        from ophysio.extractors import MiniscopeImagingExtractor
    elif tool == "roiextractors":
        import cv2  # noqa: F401 - imported by roiextractors' constructor, not timed
        from roiextractors.extractors.miniscopeimagingextractor import MiniscopeImagingExtractor
    t0 = time.perf_counter()
    total = 0
    if tool == "pyav":
        import av

        if task != "full":
            return {}
        t1 = time.perf_counter()
        for path in sorted(Path(device).glob("*.avi"), key=lambda p: int(p.stem)):
            with av.open(str(path)) as container:
                for video_frame in container.decode(video=0):
                    plane = video_frame.planes[0]
                    values = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :COLUMNS]
                    total += int(values.sum(dtype=np.uint64))
        return {"seconds": time.perf_counter() - t1, "construct": 0.0, "sum": total, "peak_mb": peak_mb()}
    ex = MiniscopeImagingExtractor(folder_path=device)
    construct = time.perf_counter() - t0
    n = ex.get_num_samples()
    t1 = time.perf_counter()
    if task == "full":
        if tool == "ophysio":
            for block in ex.iter_series(100):
                total += int(block.sum(dtype=np.uint64))
        else:
            for a in range(0, n, 100):
                total += int(ex.get_series(a, min(a + 100, n)).sum(dtype=np.uint64))
    elif task == "random":
        picks = random_indices(n)
        if tool == "ophysio":
            total = int(ex.get_samples(picks).sum(dtype=np.uint64))
        else:
            total = sum(int(ex.get_series(i, i + 1).sum(dtype=np.uint64)) for i in picks)
    seconds = time.perf_counter() - t1 if task != "construct" else construct
    return {"seconds": seconds, "construct": construct, "sum": total, "frames": n, "peak_mb": peak_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-miniscope")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--child", nargs=3, metavar=("TOOL", "TASK", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        emit(run(*args.child))
        return
    device = write_input(Path(args.folder), args.frames)
    size = sum(p.stat().st_size for p in device.glob("*.avi"))
    print(f"input: {device} ({args.frames} frames of {ROWS}x{COLUMNS} uint8 in "
          f"{len(list(device.glob('*.avi')))} FFV1 AVI files, {size / 1e6:.0f} MB on disk, "
          f"{args.frames * ROWS * COLUMNS / 1e6:.0f} MB decoded); best of {args.repeats}")
    results: dict[tuple[str, str], dict] = {}
    tasks = [t for t in TASKS if t in args.tasks.split(",")]
    for task in tasks:
        for tool in args.tools.split(","):
            best = best_run(__file__, ["--child", tool, task, device], args.repeats, label=f"{tool} {task}")
            if best is not None:
                results[(tool, task)] = best
    print(f"{'task':<11}{'tool':<15}{'seconds':>9}{'x ophysio':>11}{'peak RSS MB':>13}  sum")
    for task in tasks:
        reference = results.get(("ophysio", task))
        sums = set()
        for tool in args.tools.split(","):
            r = results.get((tool, task))
            if r is None:
                continue
            ratio = r["seconds"] / reference["seconds"] if reference and reference["seconds"] else float("nan")
            extra = f"  {r['sum']}" if task != "construct" else ""
            print(f"{task:<11}{tool:<15}{r['seconds']:>9.3f}{ratio:>11.2f}{r['peak_mb']:>13.0f}{extra}")
            if task != "construct":
                sums.add(r["sum"])
        if task != "construct":
            print(f"{'':<11}{'sums agree' if len(sums) == 1 else f'SUMS DIFFER: {sums}'}")


if __name__ == "__main__":
    main()
