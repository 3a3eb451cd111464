"""A mean image over a 5 GB ScanImage series: ophysio's ``to_dask()`` against tifffile's zarr/dask interface,
ophysio's ``iter_series`` loop and roiextractors 0.10.0 in a loop.

Run with the environment that has ophysio's ``dask`` extra (dask.distributed, and zarr 3 for tifffile's
store) and name the roiextractors environment::

    PYTHONPATH=src /work/venv/bin/python benchmarks/bench_arrays.py \
        --roiextractors-python /tmp/venv-bench-tiff/bin/python

Input, written once with :func:`ophysio.testing.synthetic.write_scanimage` (ScanImage's real layout): a grab
split over 20 files of 2000 frames each, 256 x 256 int16, one channel (40,000 frames, 5.2 GB);
``--scale`` shrinks the frames per file (0.1: 520 MB).

Each method computes the float64 mean image of every frame and runs in its own subprocess, so that its peak
memory is its own; for the process cluster the peaks of the two workers are added to the driver's.

- ``ophysio to_dask, LocalCluster``: ``extractor.to_dask().mean(axis=0)`` on a ``distributed``
  LocalCluster of 2 worker processes with 1 thread each (10 MiB chunks, the NWB chunk size); the
  cluster's start is timed apart.
- ``ophysio to_dask, LocalCluster, malloc``: the same, with the workers' ``MALLOC_TRIM_THRESHOLD_`` left
  at glibc's default: dask's nannies set it to 64 KiB (``distributed.nanny.pre-spawn-environ``) to give
  memory back to the system, which makes every new chunk array fresh pages from the kernel (this VM's
  first touch of memory is slow).
- ``ophysio to_dask 64 MiB, LocalCluster``: chunks of 64 MiB (``to_dask(chunk_samples=512)``), 79 chunks
  instead of 500, on the default cluster.
- ``ophysio to_dask, threads``: the same array with dask's threaded scheduler (2 threads) in one process.
- ``ophysio iter_series``: ``for chunk in extractor.iter_series(): total += chunk.sum(0)`` (64 MB chunks
  through one reused buffer), one thread.
- ``tifffile aszarr, threads``: ``tifffile.imread(files, aszarr=True)`` (a zarr store over the file
  sequence, one chunk per file as tifffile makes it), ``dask.array.from_zarr(...).mean(axis=(0, 1))``
  with the threaded scheduler. (The same store on the process cluster: ``--tifffile-cluster``.)
- ``roiextractors loop``: ``ScanImageImagingExtractor`` and ``get_series`` in blocks of 500 frames (the
  incumbent has no dask interface), in its own environment.

Times are wall clock from a warm page cache (the files are read once before), best of ``--repeats``.
Every method's mean image is compared with ophysio's ``iter_series`` result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import emit, peak_mb, rss_mb, run_worker

METHODS = ("ophysio iter_series", "ophysio to_dask, threads", "ophysio to_dask, LocalCluster",
           "ophysio to_dask, LocalCluster, malloc", "ophysio to_dask 64 MiB, LocalCluster",
           "tifffile aszarr, threads", "roiextractors loop")
ROI_BLOCK = 500


def write_input(folder: Path, scale: float) -> list[str]:
    from ophysio.testing.synthetic import write_scanimage

    per_file = max(50, int(2000 * scale))
    target = folder / f"series_{per_file}"
    done = target / "done.json"
    if not done.exists():
        paths = write_scanimage(target, "series", num_samples=20 * per_file, rows=256, columns=256,
                                frames_per_file=per_file, channel_save_as_row=True)
        done.write_text(json.dumps([str(p) for p in paths]))
    return json.loads(done.read_text())


# ------------------------------------------------------------------------------------------- workers
def _cluster_worker_mb() -> dict:
    return {"rss": rss_mb(), "peak": peak_mb()}


def run_method(method: str, files: list[str], repeats: int, out: str, tifffile_cluster: bool) -> dict:
    rss0 = rss_mb()
    result: dict = {"method": method}
    times = []
    mean = None
    if method == "roiextractors loop":
        from roiextractors import ScanImageImagingExtractor

        t0 = time.perf_counter()
        extractor = ScanImageImagingExtractor(file_path=files[0])
        result["construct_s"] = time.perf_counter() - t0
        n = extractor.get_num_samples()
        for _ in range(repeats):
            t0 = time.perf_counter()
            total = np.zeros(extractor.get_sample_shape(), dtype=np.float64)
            for a in range(0, n, ROI_BLOCK):
                total += extractor.get_series(a, min(a + ROI_BLOCK, n)).sum(axis=0, dtype=np.float64)
            mean = total / n
            times.append(time.perf_counter() - t0)
    elif method.startswith("ophysio"):
        import ophysio

        t0 = time.perf_counter()
        extractor = ophysio.open_imaging(files[0])
        result["construct_s"] = time.perf_counter() - t0
        if method == "ophysio iter_series":
            for _ in range(repeats):
                t0 = time.perf_counter()
                total = np.zeros(extractor.get_image_shape(), dtype=np.float64)
                for chunk in extractor.iter_series():
                    total += chunk.sum(axis=0, dtype=np.float64)
                mean = total / extractor.get_num_samples()
                times.append(time.perf_counter() - t0)
        else:
            per_chunk = (64 << 20) // extractor.sample_nbytes if "64 MiB" in method else None
            array = extractor.to_dask(chunk_samples=per_chunk)
            result["chunks"] = len(array.chunks[0])
            reduction = array.mean(axis=0, dtype=np.float64)
            if method.endswith("threads"):
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    mean = reduction.compute(scheduler="threads", num_workers=2)
                    times.append(time.perf_counter() - t0)
            else:
                client, cluster = _start_cluster(keep_malloc=method.endswith("malloc"))
                result["cluster_start_s"] = client.cluster_start_s
                before = client.run(_cluster_worker_mb)
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    mean = client.compute(reduction).result()
                    times.append(time.perf_counter() - t0)
                after = client.run(_cluster_worker_mb)
                result["workers_peak_growth_mb"] = sum(after[w]["peak"] - before[w]["rss"] for w in after)
                client.close()
                cluster.close()
    elif method.startswith("tifffile"):
        import dask.array as da
        import tifffile
        import zarr

        t0 = time.perf_counter()
        store = tifffile.imread(files, aszarr=True)
        array = da.from_zarr(zarr.open(store, mode="r"))
        result["construct_s"] = time.perf_counter() - t0
        result["chunks"] = int(np.prod(array.numblocks))
        result["shape"] = list(array.shape)
        axes = tuple(range(array.ndim - 2))
        reduction = array.mean(axis=axes, dtype=np.float64)
        if tifffile_cluster:
            client, cluster = _start_cluster()
            before = client.run(_cluster_worker_mb)
        for _ in range(repeats):
            t0 = time.perf_counter()
            if tifffile_cluster:
                mean = client.compute(reduction).result()
            else:
                mean = reduction.compute(scheduler="threads", num_workers=2)
            times.append(time.perf_counter() - t0)
        if tifffile_cluster:
            after = client.run(_cluster_worker_mb)
            result["workers_peak_growth_mb"] = sum(after[w]["peak"] - before[w]["rss"] for w in after)
            client.close()
            cluster.close()
        store.close()
    else:
        raise ValueError(method)
    np.save(out, np.asarray(mean))
    result["seconds"] = min(times)
    result["all_seconds"] = times
    result["peak_growth_mb"] = peak_mb() - rss0
    return result


def _start_cluster(keep_malloc: bool = False):
    import logging

    import dask
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    config = {"distributed.worker.profile.enabled": False}
    if keep_malloc:
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        config["distributed.nanny.pre-spawn-environ"] = environ
    with dask.config.set(config):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.CRITICAL, memory_limit="4GiB")
    client = Client(cluster)
    client.cluster_start_s = time.perf_counter() - t0
    return client, cluster


# ------------------------------------------------------------------------------------------- driver
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-arrays")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--roiextractors-python", default="/tmp/venv-bench-tiff/bin/python",
                        help="a Python with roiextractors 0.10.0 (empty: leave it out)")
    parser.add_argument("--tifffile-cluster", action="store_true",
                        help="compute tifffile's store on the process cluster too")
    parser.add_argument("--worker", nargs=3, metavar=("METHOD", "FILES", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        method, files, out = args.worker
        emit(run_method(method, json.loads(Path(files).read_text()), args.repeats, out, args.tifffile_cluster))
        return
    t0 = time.perf_counter()
    files = write_input(Path(args.folder), args.scale)
    size = sum(os.path.getsize(p) for p in files)
    print(f"input: {len(files)} files, {size / 1e9:.2f} GB, ready in {time.perf_counter() - t0:.1f} s")
    for path in files:  # warm the page cache
        with open(path, "rb") as fh:
            while fh.read(64 << 20):
                pass
    methods = list(METHODS)
    if args.tifffile_cluster:
        methods.append("tifffile aszarr, LocalCluster")
    here = Path(__file__).resolve().parent
    rows, means = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        listing = Path(scratch) / "files.json"
        listing.write_text(json.dumps(files))
        for method in methods:
            python = sys.executable
            env = dict(os.environ)
            if method.startswith("roiextractors"):
                if not args.roiextractors_python:
                    continue
                python = args.roiextractors_python
                env.pop("PYTHONPATH", None)
            worker_method = "tifffile aszarr, threads" if method.startswith("tifffile") else method
            out = Path(scratch) / f"{len(rows)}.npy"
            options = ["--tifffile-cluster"] if method == "tifffile aszarr, LocalCluster" else []
            row = run_worker(here / "bench_arrays.py", [*options, "--repeats", args.repeats, "--worker", worker_method,
                                                        listing, out], python=python, env=env, cwd=here, label=method,
                             tail=3000)
            if row is None:
                continue
            row["method"] = method
            rows.append(row)
            means[method] = np.load(out)
    reference = means.get("ophysio iter_series")
    print(f"\n{'method':40} {'time':>8} {'GB/s':>6} {'vs iter':>8} {'peak+MB':>8} {'workers+MB':>10} {'open':>8} "
          f"{'chunks':>7} agree")
    base = next((r["seconds"] for r in rows if r["method"] == "ophysio iter_series"), None)
    for row in rows:
        agree = "-" if reference is None else str(np.allclose(means[row["method"]], reference, rtol=1e-9))
        workers = row.get("workers_peak_growth_mb")
        extra = f" (cluster start {row['cluster_start_s']:.1f} s)" if "cluster_start_s" in row else ""
        print(f"{row['method']:40} {row['seconds']:7.2f}s {size / 1e9 / row['seconds']:6.2f} "
              f"{row['seconds'] / base if base else float('nan'):7.2f}x {row['peak_growth_mb']:8.0f} "
              f"{'-' if workers is None else f'{workers:.0f}':>10} {row.get('construct_s', 0) * 1000:6.0f}ms "
              f"{row.get('chunks', '-')!s:>7} {agree}{extra}")
    print("\nall times (s):", {r["method"]: [round(t, 2) for t in r["all_seconds"]] for r in rows})


if __name__ == "__main__":
    main()
