"""Mesoscope canvases, scan-phase correction and channels from separate files: ophysio against
mbo_utilities and pyflowreg, side by side.

Run from the ophysio venv, with a second venv that has mbo_utilities and pyflowreg::

    python -m venv /tmp/venv-meso-bench && /tmp/venv-meso-bench/bin/pip install mbo_utilities pyflowreg
    PYTHONPATH=src python benchmarks/bench_meso.py --other-python /tmp/venv-meso-bench/bin/python

Inputs, written once with ophysio's synthetic ScanImage writer and tifffile/h5py/scipy:

- ``mroi``: a multi-ROI ScanImage acquisition laid out like a mesoscope's: 4 touching strips of 512 x 128
  pixels side by side (scanfields 0.5 degree per pixel), 16 fly-to lines between them (2096 x 128 pages),
  two saved channels, ``--frames`` frames; the odd scan lines of every page are displaced by +1.5 pixels
  along x (a bidirectional scan-phase error: the right correction shifts them by -1.5).
- ``movie``: one 256 x 256 int16 movie of ``--frames`` frames as TIFF (tifffile), HDF5 (h5py, "mov",
  T x Y x X) and MAT v5 (scipy.io.savemat, "mov", Y x X x T as MATLAB keeps movies), plus a second
  channel as its own TIFF.

Tasks, each tool in its own subprocess (so its peak RSS, ``VmHWM``, is its own); times are wall-clock:

- ``stitch``: read the stitched canvas of channel 1 (mbo_utilities: ``imread(fix_phase=False)[:, 0]``,
  whose ``join_contiguous`` joins touching scanfields into one field; ophysio: ``roi_mode="stitch"``).
  The canvases are compared pixel for pixel.
- ``estimate``: the scan-phase offset (mbo_utilities: its default per-frame estimate on every frame,
  and one on the mean image; ophysio: ``correct_scan_phase()`` from 200 frames).
- ``write_tiff`` / ``write_bin``: write the stitched, phase-corrected movie of channel 1 to TIFF and to
  suite2p's binary (mbo_utilities: ``imwrite(..., planes=[1], ext=...)`` with ``fix_phase=True``;
  ophysio: ``write_imaging(extractor.correct_scan_phase(), ...)``). Outputs are compared.
- ``read_tiff`` / ``read_hdf5`` / ``read_mat`` / ``read_channels``: a full read (pyflowreg:
  ``get_video_file_reader(path)[:]``, a list of files for channels; ophysio: ``open_imaging`` and
  ``open_channels``). Pixels are compared.

mbo_utilities 1.0.3 is the newest release for Python 3.11 (later ones need 3.12.7+). It imports its GUI
(imgui, fastplotlib) when imported, which fails with the wgpu that pip resolves, so the workers stub
``mbo_utilities.graphics`` and ``fastplotlib`` (display only). Its ``.bin`` writer needs suite2p's
``BinaryFile`` as suite2p 0.14 has it (``pip install --no-deps "suite2p<1"``: suite2p 1.x changed it),
and suite2p's package imports torch; the worker loads suite2p's ``io/binary.py`` (numpy and tifffile
only) on its own instead of installing torch.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import types
from pathlib import Path

import numpy as np

from _common import call_worker, emit, peak_mb, rss_mb

ROI_ROWS, ROI_COLUMNS, ROIS, FLYTO = 512, 128, 4, 16
DISPLACEMENT = 1.5
MOVIE = (256, 256)


# ------------------------------------------------------------------------------------------- inputs
def _scene(rows: int, columns: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = rows * columns // 160  # small, dense cells: fine detail in every line, as a mesoscope sees
    cy, cx = rng.uniform(0, rows, n), rng.uniform(0, columns, n)
    radius, amplitude = rng.uniform(1, 2.5, n), rng.uniform(200, 900, n)

    def image(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        out = np.full(np.broadcast(y, x).shape, 300.0)
        for k in range(n):  # each cell only where it matters
            y0, y1 = int(max(cy[k] - 4 * radius[k], 0)), int(min(cy[k] + 4 * radius[k] + 1, rows))
            sub = (slice(y0, y1), slice(None))
            out[sub] += amplitude[k] * np.exp(-((y[sub] - cy[k]) ** 2 + (x[sub] - cx[k]) ** 2) / (2 * radius[k] ** 2))
        return out

    return image


def write_inputs(folder: Path, frames: int) -> dict[str, Path]:
    from ophysio.testing.synthetic import write_scanimage

    folder.mkdir(parents=True, exist_ok=True)
    inputs: dict[str, Path] = {}
    target = folder / f"mroi_{frames}"
    if not (target / "done").exists():
        rows = ROIS * ROI_ROWS + (ROIS - 1) * FLYTO
        y, x = np.mgrid[0:rows, 0:ROI_COLUMNS].astype(float)
        image = _scene(rows, ROI_COLUMNS)
        base = image(y, x - DISPLACEMENT * (y % 2 == 1))  # odd page rows displaced by +1.5 pixels

        def pixels(pages, rows_, columns_):
            out = np.empty((len(pages), rows_, columns_), np.int16)
            for i, page in enumerate(np.asarray(pages).tolist()):
                rng = np.random.default_rng(page)
                out[i] = np.clip(rng.poisson(base * (1 + 0.2 * np.sin(page * 0.05))), 0, 32767)
            return out

        frame_rate = 10.0
        line_period = 1 / (frame_rate * rows)
        rois = [dict(rows=ROI_ROWS, columns=ROI_COLUMNS, center_xy=[-96 + 64 * k, 0], size_xy=[64, 256],
                     name=f"strip {k}") for k in range(ROIS)]
        paths = write_scanimage(target, "meso", num_samples=frames, rois=rois, flyto_lines=FLYTO, channels=(1, 2),
                                channel_save_as_row=True, frame_rate=frame_rate, pattern=pixels,
                                extra_keys={"SI.hScan2D.bidirectional": True,
                                            "SI.hScan2D.scannerFrequency": 1 / (2 * line_period),
                                            "SI.hScan2D.flybackTimePerFrame": 0.001,
                                            "SI.hScan2D.logAverageFactor": 1,
                                            "SI.hScan2D.fillFractionSpatial": 0.9,
                                            "SI.hScan2D.fillFractionTemporal": 0.712})
        (target / "done").write_text(str(paths[0]))
    inputs["mroi"] = Path((target / "done").read_text())
    target = folder / f"movie_{frames}"
    if not (target / "done").exists():
        import h5py
        import scipy.io
        import tifffile

        target.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(1)
        movie = rng.integers(0, 4000, (frames, *MOVIE), dtype=np.int16)
        red = rng.integers(0, 4000, (frames, *MOVIE), dtype=np.int16)
        tifffile.imwrite(target / "green.tif", movie)
        tifffile.imwrite(target / "red.tif", red)
        with h5py.File(target / "movie.h5", "w") as f:
            f.create_dataset("mov", data=movie)
        scipy.io.savemat(target / "movie.mat", {"mov": np.ascontiguousarray(movie.transpose(1, 2, 0))})
        np.save(target / "green.npy", movie)
        np.save(target / "red.npy", red)
        (target / "done").write_text("ok")
    inputs["movie"] = target
    return inputs


# ------------------------------------------------------------------------------------------- workers
def _import_mbo():
    for name in ("mbo_utilities.graphics", "fastplotlib"):
        stub = types.ModuleType(name)
        stub.run_gui = None
        stub.__getattr__ = lambda attribute: object
        sys.modules[name] = stub
    import mbo_utilities

    return mbo_utilities


def _suite2p_binary():
    """suite2p's BinaryFile without importing suite2p's package (which imports torch)."""
    import site

    for root in site.getsitepackages():
        path = Path(root) / "suite2p" / "io" / "binary.py"
        if path.exists():
            spec = importlib.util.spec_from_file_location("suite2p_io_binary", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            for name in ("suite2p", "suite2p.io"):
                sys.modules.setdefault(name, types.ModuleType(name))
            sys.modules["suite2p.io"].BinaryFile = module.BinaryFile
            return True
    return False


def worker(tool: str, task: str, source: str, out: str) -> dict:
    result: dict = {"tool": tool, "task": task}
    if tool == "ophysio":  # imports are not timed
        import ophysio
    elif tool == "mbo_utilities":
        have_suite2p = _suite2p_binary()  # before mbo_utilities, which imports suite2p's BinaryFile when it can
        mbo = _import_mbo()
        from mbo_utilities.phasecorr import nd_windowed
    else:
        from pyflowreg.util.io.factory import get_video_file_reader
    rss0 = rss_mb()
    t0 = time.perf_counter()
    if tool == "ophysio":

        if task in ("stitch", "estimate", "write_tiff", "write_bin"):
            extractor = ophysio.open_imaging(source, channel_name="Channel 1", roi_mode="stitch")
            if task == "stitch":
                data = extractor.get_series()
                np.save(out, data[:50])
                result["shape"] = list(data.shape)
            elif task == "estimate":
                result["offset"] = extractor.correct_scan_phase().offset
            else:
                corrected = extractor.correct_scan_phase()
                result["offset"] = corrected.offset
                target = Path(out) / ("movie.tif" if task == "write_tiff" else "suite2p")
                ophysio.write_imaging(corrected, target, overwrite=True)
        elif task == "read_channels":
            data = ophysio.open_channels([Path(source) / "green.tif", Path(source) / "red.tif"],
                                         sampling_frequency=10.0).get_series()
            result["equal"] = bool(np.array_equal(data[..., 0], np.load(Path(source) / "green.npy"))
                                   and np.array_equal(data[..., 1], np.load(Path(source) / "red.npy")))
        else:
            name = {"read_tiff": "green.tif", "read_hdf5": "movie.h5", "read_mat": "movie.mat"}[task]
            options = {"dims": "YXT"} if task == "read_mat" else {}
            data = ophysio.open_imaging(Path(source) / name, sampling_frequency=10.0, **options).get_series()
            result["equal"] = bool(np.array_equal(data, np.load(Path(source) / "green.npy")))
    elif tool == "mbo_utilities":
        if task == "stitch":
            array = mbo.imread(source, fix_phase=False)
            data = np.asarray(array[:, 0])
            np.save(out, data[:50])
            result["shape"] = list(data.shape)
        elif task == "estimate":
            array = mbo.imread(source, fix_phase=False)
            data = np.asarray(array[:, 0])
            _, per_frame = nd_windowed(data, method="frame", upsample=5, max_offset=4, border=3)
            _, on_mean = nd_windowed(data, method="mean", upsample=10, max_offset=4, border=3)
            result["offset_per_frame_mean"] = float(np.mean(per_frame))
            result["offset_per_frame_sd"] = float(np.std(per_frame))
            result["offset_mean_image"] = float(on_mean)
        else:
            if task == "write_bin" and not have_suite2p:
                return {**result, "error": "suite2p not installed"}
            array = mbo.imread(source, fix_phase=True)
            mbo.imwrite(array, Path(out), planes=[1], ext=".tiff" if task == "write_tiff" else ".bin",
                        overwrite=True)
    else:
        if task == "read_channels":
            reader = get_video_file_reader([str(Path(source) / "green.tif"), str(Path(source) / "red.tif")])
            data = reader[:]
            result["equal"] = bool(np.array_equal(data[..., 0], np.load(Path(source) / "green.npy"))
                                   and np.array_equal(data[..., 1], np.load(Path(source) / "red.npy")))
        else:
            name = {"read_tiff": "green.tif", "read_hdf5": "movie.h5", "read_mat": "movie.mat"}[task]
            reader = get_video_file_reader(str(Path(source) / name))
            data = reader[:]
            result["shape"] = list(data.shape)
            result["equal"] = bool(np.array_equal(np.asarray(data)[..., 0], np.load(Path(source) / "green.npy")))
    result["seconds"] = time.perf_counter() - t0
    result["peak_growth_mb"] = peak_mb() - rss0
    return result


# ------------------------------------------------------------------------------------------- driver
def run(python: str, tool: str, task: str, source: Path, out: Path) -> dict:
    run = call_worker(__file__, ["--worker", tool, task, source, out], python=python)
    if run.result is None:
        return {"tool": tool, "task": task, "error": (run.last_lines(1) or ["?"])[0][:200]}
    return run.result


def _comb(movie: np.ndarray) -> float:
    """Mean squared difference between the odd lines and the mean of the even lines around them."""
    data = movie.astype(np.float64)
    odd = np.arange(1, data.shape[1] - 1, 2)
    return float(np.mean((data[:, odd] - (data[:, odd - 1] + data[:, odd + 1]) / 2) ** 2))


def compare_outputs(folder: Path) -> dict:
    """The corrected outputs of both tools: shapes, where they agree, and how much combing each leaves
    (on the first 50 frames; the recorded canvas for reference)."""
    import tifffile

    result: dict = {"comb_recorded": _comb(np.load(folder / "ophysio_stitch.npy"))}
    ours = tifffile.imread(folder / "ophysio_write_tiff" / "movie.tif")
    result["ophysio_tiff_shape"] = list(ours.shape)
    result["comb_ophysio"] = _comb(ours[:50])
    found = sorted((folder / "mbo_utilities_write_tiff").rglob("*.tif*"))
    if found:
        theirs = tifffile.imread(found[0])
        result["mbo_tiff_shape"] = list(theirs.shape)
        result["comb_mbo_utilities"] = _comb(theirs[:50])
        if theirs.shape == ours.shape:
            diff = np.abs(ours.astype(np.int32) - theirs.astype(np.int32))
            result.update(even_lines_equal=bool(np.all(diff[:, 0::2] == 0)),
                          odd_lines_mean_abs_diff=float(diff[:, 1::2].mean()))
    ours_bin = folder / "ophysio_write_bin" / "suite2p" / "plane0" / "data.bin"
    theirs_bin = sorted((folder / "mbo_utilities_write_bin").rglob("*.bin"))
    if ours_bin.exists() and theirs_bin:
        a = np.fromfile(ours_bin, dtype="<i2").reshape(-1, *ours.shape[1:])
        b = np.fromfile(theirs_bin[0], dtype="<i2").reshape(-1, *ours.shape[1:])
        result["bin_shapes"] = [list(a.shape), list(b.shape)]
        result["bin_equal_to_tiff"] = [bool(np.array_equal(a, ours)), bool(found and np.array_equal(b, theirs))]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=4, metavar=("TOOL", "TASK", "SOURCE", "OUT"))
    parser.add_argument("--folder", type=Path, default=Path("/tmp/ophysio-bench-meso"))
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--other-python", default="/tmp/venv-meso-bench/bin/python")
    args = parser.parse_args()
    if args.worker:
        tool, task, source, out = args.worker
        emit(worker(tool, task, source, out))
        return
    inputs = write_inputs(args.folder, args.frames)
    plan = [("stitch", ("ophysio", "mbo_utilities")), ("estimate", ("ophysio", "mbo_utilities")),
            ("write_tiff", ("ophysio", "mbo_utilities")), ("write_bin", ("ophysio", "mbo_utilities")),
            ("read_tiff", ("ophysio", "pyflowreg")), ("read_hdf5", ("ophysio", "pyflowreg")),
            ("read_mat", ("ophysio", "pyflowreg")), ("read_channels", ("ophysio", "pyflowreg"))]
    rows = []
    for task, tools in plan:
        source = inputs["mroi"] if task in ("stitch", "estimate", "write_tiff", "write_bin") else inputs["movie"]
        for tool in tools:
            out = args.folder / f"{tool}_{task}"
            if task == "stitch":
                out = args.folder / f"{tool}_stitch.npy"
            else:
                out.mkdir(parents=True, exist_ok=True)
            python = sys.executable if tool == "ophysio" else args.other_python
            row = run(python, tool, task, source, out)
            rows.append(row)
            print(json.dumps(row), flush=True)
    ours, theirs = np.load(args.folder / "ophysio_stitch.npy"), np.load(args.folder / "mbo_utilities_stitch.npy")
    print(json.dumps({"stitched_canvases_equal": bool(ours.shape == theirs.shape and np.array_equal(ours, theirs)),
                      "shape": list(ours.shape)}))
    print(json.dumps(compare_outputs(args.folder)))
    print(f"expected scan-phase offset: {-DISPLACEMENT:+.2f} pixels")
    print(f"{'task':<14}{'tool':<16}{'seconds':>9}{'peak MB':>10}  result")
    for row in rows:
        extra = {k: v for k, v in row.items() if k not in ("tool", "task", "seconds", "peak_growth_mb")}
        seconds = row.get("seconds")
        peak = row.get("peak_growth_mb")
        print(f"{row['task']:<14}{row['tool']:<16}{'' if seconds is None else f'{seconds:9.2f}':>9}"
              f"{'' if peak is None else f'{peak:10.0f}':>10}  {json.dumps(extra)}")


if __name__ == "__main__":
    main()
