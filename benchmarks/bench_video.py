"""Movie files: ophysio's video reader and writer against OpenCV (what neuroconv's video interfaces and
roiextractors' Miniscope reader use) and a plain PyAV decode.

Run with the benchmark venv (opencv-python-headless installed), ophysio from the checkout's ``src``::

    PYTHONPATH=src /tmp/venv-bench-tiff/bin/python benchmarks/bench_video.py [--frames 2000] [--repeats 2]

Inputs, written once to ``--folder`` (default ``/tmp/ophysio-bench-video``), 512 x 512 frames of a smooth
field of cells with noise:

- ``h264.mp4``: 8-bit grey as H.264 in MP4 with B-frames and a keyframe every 60 frames (libx264's defaults,
  limited-range yuv420p), as camera software and mesofield write acquisitions;
- ``ffv1.mkv``: the same frames as 16-bit grey (x 64), lossless FFV1 in Matroska, written by ophysio.

Each (tool, input, task) runs in its own subprocess. Tasks: ``construct`` (open the file), ``full`` (read
every frame in chunks of 100 and sum), ``random`` (100 scattered frames, the same seeded indices, sorted;
OpenCV seeks with ``CAP_PROP_POS_FRAMES`` before each). OpenCV always gives 8-bit BGR: its grey is
``COLOR_BGR2GRAY`` of that, so its sums differ from the others' (and on the 16-bit file it cannot give the
values at all). ``pyav`` is the floor of a full read: frames decoded in order, luma taken from the plane.

Writing: the same 8-bit movie written as FFV1 MKV and H.264 MP4 by ``ophysio.write_imaging`` and as FFV1
by ``cv2.VideoWriter`` (grey, ``isColor=False``), from frames in memory.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from _common import best_run, emit, peak_mb

SIZE = 512
RANDOM_FRAMES = 100


def frames(count: int) -> np.ndarray:
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    base = 40 + 30 * np.exp(-(((x - 250) / 220) ** 2 + ((y - 260) / 200) ** 2))
    cells = np.random.default_rng(1).integers(16, SIZE - 16, size=(50, 2))
    out = np.empty((count, SIZE, SIZE), np.uint8)
    for k in range(count):
        image = base.copy()
        for j, (cy, cx) in enumerate(cells):
            image[cy - 5 : cy + 6, cx - 5 : cx + 6] += 50 * (0.5 + 0.5 * np.sin(k / 8.0 + j))
        image += np.random.default_rng(k).normal(0, 3, size=(SIZE, SIZE))
        out[k] = np.clip(image, 0, 255)
    return out


def write_inputs(folder: Path, count: int) -> dict[str, Path]:
    import av

    import ophysio
    from ophysio.extractors import NumpyImagingExtractor

    folder = folder / f"frames_{count}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"h264": folder / "h264.mp4", "ffv1": folder / "ffv1.mkv"}
    if (folder / "done").exists():
        return paths
    movie = frames(count)
    with av.open(str(paths["h264"]), mode="w") as container:
        stream = container.add_stream("libx264", rate=30, options={"crf": "18", "g": "60"})
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for k, image in enumerate(movie):
            frame = av.VideoFrame.from_ndarray(image, format="gray").reformat(
                format="yuv420p", src_color_range="JPEG", dst_color_range="MPEG")
            frame.pts = k
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    ophysio.write_imaging(NumpyImagingExtractor(movie.astype(np.uint16) * 64, 30.0), paths["ffv1"], overwrite=True)
    (folder / "done").write_text("ok")
    return paths


def indices(count: int) -> list[int]:
    return sorted(np.random.default_rng(7).choice(count, size=min(RANDOM_FRAMES, count), replace=False).tolist())


def read_task(tool: str, task: str, path: str) -> dict:
    if tool == "ophysio":
        import av  # noqa: F401 - PyAV, imported on first use by ophysio: not timed, as OpenCV's import is not

        from ophysio.extractors import VideoImagingExtractor
    elif tool == "opencv":
        import cv2  # noqa: F401 - imported before the clock starts, like the others
    else:
        import av  # noqa: F401
    total = 0
    t0 = time.perf_counter()
    if tool == "pyav":
        if task != "full":
            return {}
        import av

        with av.open(path) as container:
            for frame in container.decode(video=0):
                plane = frame.planes[0]
                dtype = np.dtype("<u2") if frame.format.name == "gray16le" else np.dtype(np.uint8)
                values = np.frombuffer(plane, dtype).reshape(plane.height, -1)[:, :SIZE]
                if frame.format.name.startswith("yuv") and frame.color_range != 2:
                    values = frame.reformat(format="gray", src_color_range="MPEG", dst_color_range="JPEG").to_ndarray()
                total += int(values.sum(dtype=np.uint64))
        return {"seconds": time.perf_counter() - t0, "sum": total, "peak_mb": peak_mb()}
    if tool == "ophysio":
        ex = VideoImagingExtractor(path)
        count = ex.get_num_samples()
    else:
        import cv2

        capture = cv2.VideoCapture(path)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    construct = time.perf_counter() - t0
    t1 = time.perf_counter()
    if task == "full":
        if tool == "ophysio":
            for block in ex.iter_series(100):
                total += int(block.sum(dtype=np.uint64))
        else:
            while True:
                ok, image = capture.read()
                if not ok:
                    break
                total += int(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).sum(dtype=np.uint64))
    elif task == "random":
        picks = indices(count)
        if tool == "ophysio":
            total = int(ex.get_samples(picks).sum(dtype=np.uint64))
        else:
            for i in picks:
                capture.set(cv2.CAP_PROP_POS_FRAMES, i)
                ok, image = capture.read()
                total += int(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).sum(dtype=np.uint64))
    seconds = construct if task == "construct" else time.perf_counter() - t1
    return {"seconds": seconds, "sum": total, "peak_mb": peak_mb()}


def write_task(tool: str, folder: str, count: int) -> dict:
    movie = frames(count)
    target = Path(folder) / f"written_{tool}"
    if tool == "ophysio-ffv1" or tool == "ophysio-h264":
        import ophysio
        from ophysio.extractors import NumpyImagingExtractor

        source = NumpyImagingExtractor(movie, 30.0)
        t0 = time.perf_counter()
        out = ophysio.write_imaging(source, target.with_suffix(".mkv" if tool.endswith("ffv1") else ".mp4"),
                                    overwrite=True)
    else:
        import cv2

        out = target.with_suffix(".mkv")
        t0 = time.perf_counter()
        writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"FFV1"), 30.0, (SIZE, SIZE), isColor=False)
        for image in movie:
            writer.write(image)
        writer.release()
    return {"seconds": time.perf_counter() - t0, "bytes": Path(out).stat().st_size, "peak_mb": peak_mb()}


def child(args: list[str]) -> dict:
    if args[0] == "write":
        return write_task(args[1], args[2], int(args[3]))
    return read_task(args[1], args[2], args[3])


def run(command: list[str], repeats: int) -> dict | None:
    return best_run(__file__, ["--child", *command], repeats, label=" ".join(command), tail=1500)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-video")
    parser.add_argument("--tasks", default="construct,full,random,write")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        emit(child(args.child))
        return
    paths = write_inputs(Path(args.folder), args.frames)
    print(f"inputs: {args.frames} frames of {SIZE}x{SIZE}: " + ", ".join(
        f"{p.name} {p.stat().st_size / 1e6:.0f} MB" for p in paths.values()) + f"; best of {args.repeats}")
    print(f"{'input':<7}{'task':<11}{'tool':<10}{'seconds':>9}{'x ophysio':>11}{'peak RSS MB':>13}  sum")
    for name, path in paths.items():
        for task in [t for t in args.tasks.split(",") if t != "write"]:
            results = {tool: run(["read", tool, task, str(path)], args.repeats)
                       for tool in ("ophysio", "opencv", "pyav")}
            reference = results["ophysio"]
            for tool, r in results.items():
                if r is None:
                    continue
                ratio = r["seconds"] / reference["seconds"] if reference and reference["seconds"] else float("nan")
                extra = f"  {r['sum']}" if task != "construct" else ""
                print(f"{name:<7}{task:<11}{tool:<10}{r['seconds']:>9.3f}{ratio:>11.2f}{r['peak_mb']:>13.0f}{extra}")
    if "write" not in args.tasks.split(","):
        return
    print(f"{'writer':<22}{'seconds':>9}{'MB/s in':>9}{'MB out':>9}{'peak RSS MB':>13}")
    raw = args.frames * SIZE * SIZE / 1e6
    for tool in ("ophysio-ffv1", "ophysio-h264", "opencv-ffv1"):
        r = run(["write", tool, str(Path(args.folder)), str(args.frames)], args.repeats)
        if r is not None:
            print(f"{tool:<22}{r['seconds']:>9.2f}{raw / r['seconds']:>9.0f}{r['bytes'] / 1e6:>9.1f}"
                  f"{r['peak_mb']:>13.0f}")


if __name__ == "__main__":
    main()
