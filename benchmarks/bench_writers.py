"""Peak memory and time of ophysio's streamed writers on a 2 GB movie, against the usual way: read the
whole movie with roiextractors, then hand the array to tifffile / h5py / numpy / scipy.

Run with the benchmark venv (roiextractors installed)::

    /work/venv-bench/bin/python benchmarks/bench_writers.py [--size-gb 2] [--formats tiff,hdf5,...]
        [--zarr-python /work/venv/bin/python]

The input is a headerless binary movie of int16 frames of 512 x 512 written once to ``--folder``
(default ``/tmp/ophysio-bench-writers``). ophysio reads it with its ``NumpyMemmapImagingExtractor``
(positional reads into a reused buffer) and streams it with ``write_imaging`` (default
``target_chunk_mb=32``); the incumbent path reads it with roiextractors' ``NumpyMemmapImagingExtractor``
``get_series()`` and writes the array in one call (``tifffile.imwrite``, ``h5py create_dataset(data=)``,
``ndarray.tofile`` for suite2p's data.bin, h5py's own gzip filter at its default level 4 for
``hdf5-gzip`` against ophysio's threaded gzip at level 1, ``scipy.io.savemat`` for ``mat-v5`` (run it
with ``--size-gb 1.9``: a v5 variable must stay under 2 GB), ``zarr`` array assignment). Every run is its own
subprocess, so its peak RSS (``VmHWM``, absolute, imports included) is its own. Outputs are deleted
after each run. The Zarr writer needs zarr>=3, which the benchmark venv (zarr 2 for neuroconv) lacks:
``--zarr-python`` names an interpreter that has it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from _common import call_worker, emit, peak_mb

ROWS = COLUMNS = 512
DTYPE = np.dtype("<i2")
RATE = 30.0
SUFFIX = {"tiff": "out.tif", "ome-tiff": "out.ome.tif", "hdf5": "out.h5", "hdf5-gzip": "out-gzip.h5", "mat": "out.mat",
          "mat-v5": "out-v5.mat",
          "suite2p": "suite2p", "zarr": "out.zarr"}


def write_input(folder: Path, frames: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / f"movie_{frames}_int16.bin"
    if not raw.exists() or raw.stat().st_size != frames * ROWS * COLUMNS * DTYPE.itemsize:
        from ophysio.testing.synthetic import movie

        with open(raw.with_suffix(".tmp"), "wb") as fh:
            for a in range(0, frames, 256):
                fh.write(movie(min(256, frames - a), ROWS, COLUMNS, dtype="int16", seed=a).tobytes())
        os.replace(raw.with_suffix(".tmp"), raw)
    return raw


def _ophysio_source(path: str):
    from ophysio.extractors.binary import NumpyMemmapImagingExtractor, VideoStructure

    return NumpyMemmapImagingExtractor(path, VideoStructure(ROWS, COLUMNS), RATE, DTYPE)


def _incumbent_array(path: str) -> np.ndarray:
    try:
        from roiextractors import NumpyMemmapImagingExtractor
    except ImportError:  # the zarr>=3 interpreter has no roiextractors: numpy reads the whole file instead
        return np.fromfile(path, dtype=DTYPE).reshape(-1, ROWS, COLUMNS)
    from roiextractors.extraction_tools import VideoStructure

    structure = VideoStructure(num_rows=ROWS, num_columns=COLUMNS, num_channels=1, rows_axis=1, columns_axis=2,
                               channels_axis=3, frame_axis=0)
    ex = NumpyMemmapImagingExtractor(path, structure, RATE, DTYPE)
    return np.asarray(ex.get_series()).reshape(-1, ROWS, COLUMNS)  # roiextractors adds a channel axis


def run_ophysio(fmt: str, path: str, out: Path, chunk_mb: float) -> None:
    from ophysio.conversion.writers import write_imaging

    options = {"hdf5-gzip": {"format": "hdf5", "compression": "gzip"}, "mat-v5": {"format": "mat", "version": "5"}}
    options = options.get(fmt, {"format": fmt})
    write_imaging(_ophysio_source(path), out, target_chunk_mb=chunk_mb, **options)


def run_incumbent(fmt: str, path: str, out: Path) -> None:
    data = _incumbent_array(path)
    if fmt in ("tiff", "ome-tiff"):
        import tifffile

        tifffile.imwrite(out, data, bigtiff=True, ome=fmt == "ome-tiff", metadata={"axes": "TYX"})
    elif fmt == "hdf5-gzip":  # h5py's gzip filter at its default level 4 (neuroconv's default too)
        import h5py

        with h5py.File(out, "w") as f:
            f.create_dataset("mov", data=data, chunks=(4, ROWS, COLUMNS), compression="gzip")
    elif fmt == "mat-v5":  # scipy needs the MATLAB-ordered (Y, X, T) array
        from scipy.io import savemat

        savemat(out, {"mov": data.transpose(1, 2, 0)}, format="5")
    elif fmt in ("hdf5", "mat"):
        import h5py

        with h5py.File(out, "w") as f:  # the MAT case: the transposed copy MATLAB needs, in one go
            f.create_dataset("mov", data=data if fmt == "hdf5" else np.ascontiguousarray(data.transpose(0, 2, 1)))
    elif fmt == "suite2p":
        (out / "plane0").mkdir(parents=True)
        data.tofile(out / "plane0" / "data.bin")
    elif fmt == "zarr":
        import zarr

        arr = zarr.create_array(out, shape=data.shape, dtype=data.dtype, chunks=(8, ROWS, COLUMNS))
        arr[:] = data
    else:
        raise ValueError(fmt)


def worker(tool: str, fmt: str, path: str, out: str, chunk_mb: float) -> dict:
    out_path = Path(out)
    t0 = time.perf_counter()
    if tool == "ophysio":
        run_ophysio(fmt, path, out_path, chunk_mb)
    else:
        run_incumbent(fmt, path, out_path)
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in out_path.rglob("*")) if out_path.is_dir() else out_path.stat().st_size
    return {"tool": tool, "format": fmt, "seconds": seconds, "peak_rss_mb": peak_mb(), "output_bytes": size}


def _spawn(python: str, tool: str, fmt: str, path: Path, out: Path, chunk_mb: float) -> dict | str:
    try:
        run = call_worker(__file__, ["--worker", tool, "--format-one", fmt, "--path", path, "--out", out,
                                     "--chunk-mb", chunk_mb], python=python)
        if run.result is None:
            return (run.last_lines(1) or [run.why()])[0]
        return run.result
    finally:
        if out.is_dir():
            shutil.rmtree(out, ignore_errors=True)
        for leftover in (out, out.with_name(out.name + "_frame_metadata.json")):
            if leftover.is_file():
                leftover.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument("--formats", default="tiff,ome-tiff,hdf5,hdf5-gzip,mat,suite2p,zarr")
    parser.add_argument("--chunk-mb", type=float, default=32.0)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-writers")
    parser.add_argument("--zarr-python", default=sys.executable, help="interpreter with zarr>=3 for the Zarr runs")
    parser.add_argument("--skip-incumbent", action="store_true")
    parser.add_argument("--worker")
    parser.add_argument("--format-one")
    parser.add_argument("--path")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        emit(worker(args.worker, args.format_one, args.path, args.out, args.chunk_mb))
        return
    frame_bytes = ROWS * COLUMNS * DTYPE.itemsize
    frames = int(args.size_gb * 1024**3 // frame_bytes)
    folder = Path(args.folder)
    raw = write_input(folder, frames)
    print(f"{frames} frames of {ROWS}x{COLUMNS} int16 = {frames * frame_bytes / 1e9:.2f} GB from a raw binary file; "
          f"ophysio chunks of {args.chunk_mb:g} MiB; one run each; {os.cpu_count()} cores "
          f"(shared machine: other jobs may be running, load {os.getloadavg()[0]:.2f})")
    print(f"{'format':10s} {'tool':22s} {'seconds':>8s} {'peak RSS MB':>12s} {'output GB':>10s} {'time ratio':>10s}")
    for fmt in args.formats.split(","):
        python = args.zarr_python if fmt == "zarr" else sys.executable
        tools = ["ophysio"] + ([] if args.skip_incumbent else ["load-all+write"])
        results = {}
        for tool in tools:
            out = folder / f"{tool}-{SUFFIX[fmt]}"
            results[tool] = _spawn(python, tool if tool == "ophysio" else "incumbent", fmt, raw, out, args.chunk_mb)
        base = results.get("load-all+write")
        for tool, res in results.items():
            if isinstance(res, str):
                print(f"{fmt:10s} {tool:22s} failed: {res}")
                continue
            ratio = ""
            if tool == "ophysio" and isinstance(base, dict):
                ratio = f"{res['seconds'] / base['seconds']:.2f}x"
            print(f"{fmt:10s} {tool:22s} {res['seconds']:8.1f} {res['peak_rss_mb']:12.0f} "
                  f"{res['output_bytes'] / 1e9:10.2f} {ratio:>10s}")


if __name__ == "__main__":
    main()
