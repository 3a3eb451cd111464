"""CaImAn segmentation files: opening and a full read, ophysio against roiextractors and a raw h5py read.

Run with the benchmark venv (roiextractors 0.10.0, h5py, scipy); ophysio is taken from this checkout's
``src``::

    /tmp/venv-bench-tiff/bin/python benchmarks/bench_caiman.py [--folder /tmp/ophysio-bench-caiman] \
        [--rois 1000] [--frames 20000] [--side 256]

Inputs: the real sample (``$OPHYSIO_TEST_DATA/segmentation/caiman/caiman_analysis.hdf5``, when present)
and a synthetic file in ``CNMF.save``'s layout (``--rois`` footprints of ~50 pixels in a ``--side``-square
field, float64 ``C``, ``YrA``, ``S``, ``F_dff`` of ``--frames`` frames, 2 background components), written
once. Each tool runs in its own subprocess (peak RSS = its ``VmHWM``, imports included) and:

- opens the file ("open": importing the package and constructing the extractor; roiextractors reads
  ``C + YrA`` whole while constructing);
- reads every trace (``raw`` = C + YrA, ``dff``, ``deconvolved``, ``denoised``) of every ROI, and every
  ROI's pixel mask (the full read).

``raw`` reads the same bytes with h5py + scipy.sparse and no extractor. A checksum of what each tool read
is compared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from _common import SRC, emit, peak_mb, ratio, run_worker

NAMES = ("raw", "dff", "deconvolved", "denoised")


def write_input(folder: Path, rois: int, frames: int, side: int) -> Path:
    import h5py
    import scipy.sparse

    path = folder / f"caiman_{rois}x{frames}x{side}.hdf5"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    cols, rows_ = [], []
    for k in range(rois):
        cy, cx = rng.integers(4, side - 4, size=2)
        yy, xx = np.mgrid[-4:5, -4:5]
        inside = yy**2 + xx**2 <= 16
        pixels = (cy + yy[inside]) + (cx + xx[inside]) * side  # Fortran order
        rows_.append(pixels)
        cols.append(np.full(len(pixels), k))
    r, c = np.concatenate(rows_), np.concatenate(cols)
    a = scipy.sparse.csc_matrix((rng.random(len(r)), (r, c)), shape=(side * side, rois))
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        est = f.create_group("estimates")
        g = est.create_group("A")
        g["data"], g["indices"], g["indptr"] = a.data, a.indices.astype(np.int32), a.indptr.astype(np.int32)
        g["shape"] = np.array(a.shape, dtype=np.int32)
        for key in ("C", "YrA", "S", "F_dff"):
            est[key] = rng.standard_normal((rois, frames))
        est["b"] = rng.random((side * side, 2))
        est["f"] = rng.random((2, frames))
        f["params/data/dims"] = np.array([side, side], dtype=np.int32)
        f["params/data/fr"] = 30.0
    tmp.rename(path)
    return path


def run(tool: str, path: str) -> dict:
    start = time.perf_counter()
    checksum = 0.0
    if tool == "raw":
        import h5py
        import scipy.sparse

        with h5py.File(path, "r") as f:
            opened = time.perf_counter()
            est = f["estimates"]
            c = est["C"][()]
            traces = {"raw": c + est["YrA"][()], "dff": est["F_dff"][()], "deconvolved": est["S"][()], "denoised": c}
            checksum += sum(float(traces[n].sum()) for n in NAMES)
            a = scipy.sparse.csc_matrix((est["A/data"][()], est["A/indices"][()], est["A/indptr"][()]),
                                        shape=tuple(est["A/shape"][()]))
            checksum += float(a.data.sum())
    else:
        if tool == "ophysio":
            sys.path.insert(0, str(SRC))
            from ophysio.extractors import CaimanSegmentationExtractor
        else:
            from roiextractors import CaimanSegmentationExtractor
        ex = CaimanSegmentationExtractor(file_path=path)
        opened = time.perf_counter()
        for name in NAMES:
            checksum += float(np.asarray(ex.get_traces(name=name)).sum())
        masks = ex.get_roi_pixel_masks(roi_ids=ex.get_roi_ids())
        checksum += float(sum(np.asarray(m)[:, -1].sum() for m in masks))
    end = time.perf_counter()
    return {"tool": tool, "open_s": opened - start, "read_s": end - opened, "peak_mb": peak_mb(),
            "checksum": checksum}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-caiman")
    parser.add_argument("--rois", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--worker", nargs=2, metavar=("TOOL", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        emit(run(*args.worker))
        return
    inputs = []
    real = Path(os.environ.get("OPHYSIO_TEST_DATA", "/work/shared/data")) / "segmentation/caiman/caiman_analysis.hdf5"
    if real.exists():
        inputs.append(real)
    inputs.append(write_input(Path(args.folder), args.rois, args.frames, args.side))
    for path in inputs:
        print(f"\n{path.name} ({path.stat().st_size / 1e6:.1f} MB); {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.2f}")
        rows = []
        for tool in ("raw", "roiextractors", "ophysio"):
            row = run_worker(__file__, ["--worker", tool, path], label=tool)
            if row is not None:
                rows.append(row)
        base = next((r for r in rows if r["tool"] == "roiextractors"), None)
        print(f"{'tool':14} {'open':>9} {'full read':>10} {'vs roiextractors':>17} {'peak RSS':>9}  checksum")
        for r in rows:
            vs = ratio(r["open_s"] + r["read_s"], base and base["open_s"] + base["read_s"])
            print(f"{r['tool']:14} {r['open_s'] * 1e3:7.1f}ms {r['read_s']:9.3f}s {vs:>17} {r['peak_mb']:7.0f}MB"
                  f"  {r['checksum']:.6g}")


if __name__ == "__main__":
    main()
