"""Reading a 1 GB compressed (zlib) TIFF in full: ophysio against roiextractors 0.10.0 and plain tifffile.

Run with the benchmark venv (roiextractors installed)::

    /work/venv-bench/bin/python benchmarks/bench_tiff.py [--size-gb 1] [--chunk-frames 64] [--repeats 2]

The input is written once to ``--folder`` (default ``/tmp/ophysio-bench``): uint16 frames of 512 x 512
holding a smooth image plus 10 bits of pseudo-random noise (so that zlib keeps about 70% of the bytes,
like real PMT data), one zlib-compressed strip per page, frames added until the file holds
``--size-gb`` GB on disk. Each tool runs in its own subprocess, reads every frame once in chunks of
``--chunk-frames`` frames and sums the pixels (the sums must agree):

- ``ophysio``: ``TiffImagingExtractor(...).iter_series(chunk)`` (pages decoded one at a time into a
  reused chunk buffer);
- ``tifffile pages``: ``TiffFile.pages[i].asarray()`` into a reused buffer (the floor for zlib decoding);
- ``roiextractors TiffImagingExtractor``: what neuroconv's TiffImagingInterface uses; it cannot
  memory-map a compressed file and reads the whole file into memory first;
- ``roiextractors MultiTIFFMultiPageExtractor``: its page-by-page reader, ``get_series`` per chunk.

``--uncompressed`` writes and reads an uncompressed file of the same frames instead, which
roiextractors' ``TiffImagingExtractor`` memory-maps.

Printed: time, ratio to ophysio (higher = ophysio faster), the process's peak RSS (VmHWM, imports
included) and its growth over the RSS before opening the file.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from _common import best_run, emit, status_mb

ROWS = COLUMNS = 512


def frame(k: int) -> np.ndarray:
    y, x = np.mgrid[0:ROWS, 0:COLUMNS]
    base = (200 + 100 * np.sin((x + 3 * k) / 40.0) * np.cos(y / 50.0)).astype(np.int64)
    noise = np.random.default_rng(k).integers(0, 1024, size=(ROWS, COLUMNS))
    return (base + noise).astype(np.uint16)


def write_input(folder: Path, size_gb: float, compressed: bool = True) -> Path:
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{'compressed' if compressed else 'uncompressed'}_{size_gb:g}gb.tif"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    target = size_gb * 1e9
    with tifffile.TiffWriter(tmp, bigtiff=True) as tif:
        k = 0
        while k == 0 or tmp.stat().st_size < target:
            for _ in range(64):
                if compressed:
                    tif.write(frame(k), compression="zlib", compressionargs={"level": 1}, metadata=None,
                              contiguous=False)
                else:
                    tif.write(frame(k), metadata=None, contiguous=False)
                k += 1
            tif._fh.flush()
    os.replace(tmp, path)
    return path


def run_tool(tool: str, path: str, chunk: int) -> dict:
    import gc

    gc.collect()
    before = status_mb("VmRSS")
    t0 = time.perf_counter()
    total = 0
    frames = 0
    if tool == "ophysio":
        from ophysio.extractors.tiff import TiffImagingExtractor

        ex = TiffImagingExtractor(path, 30.0)
        for block in ex.iter_series(chunk):
            total += int(block.sum(dtype=np.uint64))
            frames += len(block)
        ex.close()
    elif tool == "tifffile":
        import tifffile

        with tifffile.TiffFile(path) as tif:
            n = len(tif.pages)
            buffer = np.empty((chunk, ROWS, COLUMNS), np.uint16)
            for a in range(0, n, chunk):
                b = min(a + chunk, n)
                for i in range(a, b):
                    buffer[i - a] = tif.pages[i].asarray(maxworkers=1)
                total += int(buffer[: b - a].sum(dtype=np.uint64))
                frames += b - a
    elif tool in ("roiextractors", "roiextractors-multipage"):
        import warnings

        warnings.simplefilter("ignore")
        if tool == "roiextractors":
            from roiextractors import TiffImagingExtractor

            ex = TiffImagingExtractor(path, sampling_frequency=30.0)
        else:
            from roiextractors.extractors.tiffimagingextractors.multitiffmultipageextractor import (
                MultiTIFFMultiPageExtractor,
            )

            ex = MultiTIFFMultiPageExtractor([path], sampling_frequency=30.0)
        n = ex.get_num_samples()
        for a in range(0, n, chunk):
            block = ex.get_series(a, min(a + chunk, n))
            total += int(block.sum(dtype=np.uint64))
            frames += len(block)
    else:
        raise ValueError(tool)
    seconds = time.perf_counter() - t0
    return {"tool": tool, "seconds": seconds, "frames": frames, "sum": total,
            "peak_growth_mb": status_mb("VmHWM") - before, "peak_total_mb": status_mb("VmHWM")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--chunk-frames", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--folder", default="/tmp/ophysio-bench")
    parser.add_argument("--uncompressed", action="store_true",
                        help="read an uncompressed file instead (roiextractors can memory-map it)")
    parser.add_argument("--tools", default="ophysio,tifffile,roiextractors-multipage,roiextractors")
    parser.add_argument("--child", nargs=3, metavar=("TOOL", "PATH", "CHUNK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tool, path, chunk = args.child
        emit(run_tool(tool, path, int(chunk)))
        return

    path = write_input(Path(args.folder), args.size_gb, compressed=not args.uncompressed)
    size = path.stat().st_size
    import tifffile

    with tifffile.TiffFile(path) as tif:
        pages = len(tif.pages)
    kind = "uncompressed" if args.uncompressed else "zlib"
    print(f"input: {path} ({size / 1e9:.2f} GB on disk, {pages} {kind} pages of {ROWS}x{COLUMNS} uint16, "
          f"{pages * ROWS * COLUMNS * 2 / 1e9:.2f} GB decoded); chunks of {args.chunk_frames} frames; "
          f"best of {args.repeats}")
    results = {}
    for tool in args.tools.split(","):
        best = best_run(__file__, ["--child", tool, path, args.chunk_frames], args.repeats, label=tool)
        if best is not None:
            results[tool] = best
    reference = results.get("ophysio")
    print(f"{'tool':<26}{'seconds':>9}{'MB/s read':>11}{'x ophysio':>11}{'peak RSS MB':>13}{'growth MB':>11}  sum")
    for tool, r in results.items():
        ratio = r["seconds"] / reference["seconds"] if reference else float("nan")
        print(f"{tool:<26}{r['seconds']:>9.2f}{size / 1e6 / r['seconds']:>11.0f}{ratio:>11.2f}"
              f"{r['peak_total_mb']:>13.0f}{r['peak_growth_mb']:>11.0f}  {r['sum']}")
    sums = {r["sum"] for r in results.values()}
    print("sums agree" if len(sums) == 1 else f"SUMS DIFFER: {sums}")
    if reference:
        verdict = "under" if reference["peak_total_mb"] < 200 else "OVER"  # the budget set for compressed files
        print(f"ophysio peak RSS {reference['peak_total_mb']:.0f} MB (whole process): {verdict} the 200 MB budget")


if __name__ == "__main__":
    main()
