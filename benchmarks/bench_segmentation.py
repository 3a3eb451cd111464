"""A large suite2p segmentation into NWB: ophysio against neuroconv's Suite2pSegmentationInterface.

Run with the benchmark venv (neuroconv 0.10, roiextractors 0.10.0, pynwb, h5py); ophysio is taken from
this checkout's ``src``::

    /tmp/venv-bench-tiff/bin/python benchmarks/bench_segmentation.py [--folder /tmp/ophysio-bench-seg] \
        [--planes 3] [--rois 5000] [--frames 100000]

Input, written once with :func:`ophysio.testing.synthetic.write_suite2p_segmentation` (suite2p's files:
``stat.npy`` with disk-shaped ROIs of ~30 pixels and Gaussian ``lam``, ``F.npy``, ``Fneu.npy`` and
``spks.npy`` float32 ``(ROIs, frames)``, ``iscell.npy``, ``ops.npy`` with mean, enhanced mean, max and
correlation images of 512 x 512): ``--planes`` planes sharing ``--rois`` ROIs, ``--frames`` frames each.
The traces are a slow sine plus unit Gaussian noise on a level of 300 (5 for spks), so that gzip keeps most
of the bytes, as on real fluorescence.

Each tool runs in its own subprocess (peak RSS = its ``VmHWM``, imports included) and writes every plane:

- neuroconv: one ``Suite2pSegmentationInterface`` per plane in a ``ConverterPipe``, its defaults (pixel
  masks, as roiextractors holds suite2p's; gzip level 4 through hdmf's chunk iterator, on one core);
- ophysio: ``SegmentationInterface(Suite2pSegmentationExtractor(folder))`` (one PlaneSegmentation per
  plane; masks "auto" = pixel masks at this size; gzip = shuffle + ISA-L deflate level 1 on every core).

The two files are then compared table by table: ids, every ROI's pixel mask (neuroconv stores suite2p's
row in ``x``: the comparison swaps it back), iscell/Accepted, every trace (in blocks) and the mean and
correlation images.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _common import SRC, emit, peak_mb, ratio, run_worker

if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

SESSION = {"session_description": "benchmark", "session_start_time": "2024-03-14T09:26:53+00:00"}
SUBJECT = {"subject_id": "bench", "species": "Mus musculus", "sex": "U", "age": "P90D"}
PLANE = {"excitation_lambda": 920.0, "indicator": "GCaMP6f", "location": "VISp",
         "optical_channel": [{"emission_lambda": 510.0}]}
TRACES = {"raw": ("F", "RoiResponseSeries"), "neuropil": ("Fneu", "Neuropil"), "deconvolved": ("spks", "Deconvolved")}


def write_input(folder: Path, planes: int, rois: int, frames: int) -> Path:
    from ophysio.testing.synthetic import write_suite2p_segmentation

    target = folder / f"suite2p_{planes}x{rois}x{frames}"
    if not (target / "done").exists():
        per_plane = [rois // planes + (1 if p < rois % planes else 0) for p in range(planes)]
        write_suite2p_segmentation(target, num_planes=planes, rois_per_plane=per_plane, num_frames=frames, rows=512,
                                   columns=512, num_channels=1, crop=(8, 8), combined=False, radius=3.0)
        (target / "done").write_text("ok")
    return target / "suite2p"


def convert(tool: str, folder: str, out: str) -> dict:
    start = time.perf_counter()
    if tool == "neuroconv":
        from neuroconv import ConverterPipe
        from neuroconv.datainterfaces import Suite2pSegmentationInterface

        planes = Suite2pSegmentationInterface.get_available_planes(folder_path=folder)
        interfaces = {p: Suite2pSegmentationInterface(folder_path=folder, plane_name=p, channel_name="chan1")
                      for p in planes}
        pipe = ConverterPipe(data_interfaces=interfaces)
        metadata = pipe.get_metadata()
        metadata["NWBFile"].update(SESSION)
        metadata["Subject"] = SUBJECT
        pipe.run_conversion(nwbfile_path=out, metadata=metadata, overwrite=True)
    else:
        from ophysio.conversion.segmentation_interface import SegmentationInterface
        from ophysio.extractors import Suite2pSegmentationExtractor

        interface = SegmentationInterface(Suite2pSegmentationExtractor(folder))
        interface.run_conversion(out, {"NWBFile": SESSION, "Subject": SUBJECT, "Ophys": {"ImagingPlane": [PLANE]}},
                                 overwrite=True)
    return {"tool": tool, "seconds": time.perf_counter() - start, "peak_mb": peak_mb(),
            "output_gb": os.path.getsize(out) / 1e9}


def _tables(f) -> dict:
    return {name: f[f"processing/ophys/ImageSegmentation/{name}"] for name in f["processing/ophys/ImageSegmentation"]}


def _pixel_masks(table, swap: bool) -> list[np.ndarray]:
    data, ends = table["pixel_mask"][:], table["pixel_mask_index"][:]
    masks, begin = [], 0
    for end in ends:
        piece = data[begin:end]
        x, y = (piece["y"], piece["x"]) if swap else (piece["x"], piece["y"])
        masks.append(np.column_stack([x, y, piece["weight"]]))
        begin = end
    return masks


def compare(ours: str, theirs: str, planes: int) -> list[str]:
    """Differences between the two files' tables, traces and images (empty when equivalent)."""
    import h5py

    problems = []
    with h5py.File(ours, "r") as a, h5py.File(theirs, "r") as b:
        mine, other = _tables(a), _tables(b)
        for p in range(planes):
            ta, tb = mine[f"PlaneSegmentationPlane{p}"], other[f"PlaneSegmentationChan1Plane{p}"]
            if len(ta["id"]) != len(tb["id"]):
                problems.append(f"plane {p}: {len(ta['id'])} ROIs against {len(tb['id'])}")
                continue
            for i, (x, y) in enumerate(zip(_pixel_masks(ta, False), _pixel_masks(tb, True))):
                if not np.array_equal(x, y):
                    problems.append(f"plane {p}: the mask of ROI {i} differs")
                    break
            if not np.array_equal(ta["Accepted"][:], tb["iscell"][:] == 1):
                problems.append(f"plane {p}: accepted (ophysio) != iscell (neuroconv)")
            for _, (_, series) in TRACES.items():
                da = a[f"processing/ophys/Fluorescence/{series}Plane{p}/data"]
                db = b[f"processing/ophys/Fluorescence/{series}Chan1Plane{p}/data"]
                if da.shape != db.shape:
                    problems.append(f"plane {p}: {series} shapes {da.shape} != {db.shape}")
                    continue
                step = max(1, (64 << 20) // max(da.shape[1] * 4, 1))
                for s in range(0, da.shape[0], step):
                    if not np.array_equal(da[s : s + step], db[s : s + step]):
                        problems.append(f"plane {p}: {series} differs in samples {s}..{s + step}")
                        break
            images = a["processing/ophys/SegmentationImages"], b["processing/ophys/SegmentationImages"]
            for ours_name, their_name in (("mean_image", "MeanImage"), ("correlation_image", "CorrelationImage")):
                x = images[0][f"{ours_name}_PlaneSegmentationPlane{p}"][:]
                y = images[1][f"{their_name}Chan1Plane{p}"][:]
                if not np.array_equal(x, y):
                    problems.append(f"plane {p}: {ours_name} differs ({x.shape} against {y.shape})")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-seg")
    parser.add_argument("--planes", type=int, default=3)
    parser.add_argument("--rois", type=int, default=5000)
    parser.add_argument("--frames", type=int, default=100000)
    parser.add_argument("--tools", default="ophysio,neuroconv")
    parser.add_argument("--worker", nargs=3, metavar=("TOOL", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        emit(convert(*args.worker))
        return
    folder = Path(args.folder)
    t0 = time.perf_counter()
    source = write_input(folder, args.planes, args.rois, args.frames)
    size = sum(p.stat().st_size for p in source.rglob("*.npy"))
    print(f"input ready in {time.perf_counter() - t0:.0f} s: {source} ({args.planes} planes, {args.rois} ROIs, "
          f"{args.frames} frames; {size / 1e9:.2f} GB of .npy); {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}")
    rows, outputs = [], {}
    for tool in args.tools.split(","):
        out = folder / f"{tool}.nwb"
        if out.exists():
            out.unlink()
        subprocess.run(["sync"])
        row = run_worker(__file__, ["--worker", tool, source, out], label=tool, tail=3000)
        if row is None:
            continue
        rows.append(row)
        outputs[tool] = out
    base = next((r for r in rows if r["tool"] == "neuroconv"), None)
    print(f"\n{'tool':10} {'time':>9} {'vs neuroconv':>13} {'peak RSS':>10} {'output':>9}")
    for row in rows:
        vs = ratio(row["seconds"], base and base["seconds"])
        print(f"{row['tool']:10} {row['seconds']:8.1f}s {vs:>13} {row['peak_mb']:8.0f}MB "
              f"{row['output_gb']:7.2f}GB")
    if set(outputs) == {"ophysio", "neuroconv"}:
        t0 = time.perf_counter()
        problems = compare(str(outputs["ophysio"]), str(outputs["neuroconv"]), args.planes)
        verdict = "equivalent" if not problems else "DIFFERENT:\n  " + "\n  ".join(problems)
        print(f"\nNWB tables, masks, traces and images: {verdict} (checked in {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
