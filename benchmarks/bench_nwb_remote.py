"""NWB read back, streamed over a loopback HTTP server and locally: ophysio against the incumbents, side by side.

Run it with ophysio's environment (this script's interpreter, ``PYTHONPATH`` at ophysio's ``src``) and name
the incumbents' environment (neuroconv, roiextractors 0.10.0, h5py, fsspec with aiohttp, remfile)::

    PYTHONPATH=src python benchmarks/bench_nwb_remote.py --bench-python /tmp/venv-bench-tiff/bin/python \\
        [--folder /tmp/ophysio-bench-nwb-remote] [--frames 1500]

Inputs, made once in ``--folder``: a plain TIFF of ``--frames`` 512 x 512 int16 frames that look like
two-photon data (background, flashing cells, shot noise: 300 distinct frames, repeated), converted to NWB
by ophysio (``write_nwb`` defaults) and by neuroconv (``TiffImagingInterface.run_conversion`` defaults). Both
files are served by ``ophysio.testing.http_server`` in a child process on 127.0.0.1, which counts every
request and every byte it sends.

Remote tasks, each (reader, task) in a fresh process (nothing cached), on each file, with the server
answering at once (loopback) and after a 20 ms round trip (``--latency-ms``, a nearby cloud region):

- ``open+frame0``: open the file and read the first frame (the open counted);
- ``100 consecutive``: frames 500..599, as one read (after an open not counted);
- ``100 scattered``: 100 distinct random frames (seed 0), one read (ophysio ``get_samples``) or one frame at a
  time in increasing order (h5py).

Readers: ophysio (``NwbImagingExtractor(url)``); h5py over fsspec's HTTP file system with its default settings
(``h5py.File(fsspec.filesystem("http").open(url, "rb"))``, as the pynwb streaming tutorial shows); h5py over
remfile (``h5py.File(remfile.File(url))``). Reported: requests, bytes sent by the server, the compressed bytes
of the chunks the frames lie in (what a reader must at least fetch), seconds.

Local task: the whole series read from the ophysio-written file by ``NwbImagingExtractor.get_series()``,
roiextractors' ``NwbImagingExtractor.get_series()`` (incumbent environment) and h5py's ``read_direct`` into
one buffer (NWB's (time, x, y) layout, no transpose), each in its own process: seconds and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from _common import emit, peak_mb, run_worker, with_src

META = {
    "NWBFile": {"session_description": "benchmark", "session_start_time": "2024-03-14T09:26:53+00:00"},
    "Subject": {"subject_id": "bench", "species": "Mus musculus", "sex": "U", "age": "P90D"},
    "Ophys": {"ImagingPlane": [{"name": "ImagingPlane", "excitation_lambda": 920.0, "indicator": "GCaMP6f",
                                "location": "VISp",
                                "optical_channel": [{"name": "Channel0", "emission_lambda": 510.0}]}]},
}
CONSECUTIVE = (500, 600)
RATE = 30.0


# ------------------------------------------------------------------------------------------- inputs
def _cells(frames: int, rows: int = 512, columns: int = 512, distinct: int = 300, seed: int = 0):
    """Frames that look like two-photon data (as ``ophysio._synth.scanimage`` draws them), ``distinct`` of them
    repeated to ``frames``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_cells = max(4, rows * columns // 900)
    cy, cx = rng.uniform(0, rows, n_cells), rng.uniform(0, columns, n_cells)
    radius = rng.uniform(3, 6, n_cells)
    yy, xx = np.mgrid[0:rows, 0:columns]
    masks = np.exp(-(((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2)
                     / (2 * radius[:, None, None] ** 2))).reshape(n_cells, -1)
    background = (200 + 60 * np.sin(yy / rows * 3.1) * np.cos(xx / columns * 2.3)).reshape(-1)
    unique = np.empty((min(distinct, frames), rows, columns), np.int16)
    for i in range(len(unique)):
        activity = 400 * np.clip(np.sin(i * 0.21 + np.arange(n_cells) * 1.7), 0, None) ** 4 + 150
        image = background + activity @ masks
        unique[i] = np.clip(rng.poisson(np.clip(image, 0, None)), 0, 32767).reshape(rows, columns)
    for start in range(0, frames, len(unique)):
        yield unique[: min(len(unique), frames - start)]


def make_inputs(folder: Path, frames: int, bench_python: str) -> dict[str, Path]:
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    tiff = folder / f"cells_{frames}.tif"
    if not tiff.exists():
        with tifffile.TiffWriter(tiff.with_suffix(".part"), bigtiff=True) as writer:
            for block in _cells(frames):
                writer.write(block, contiguous=True)
        tiff.with_suffix(".part").rename(tiff)
    files = {"ophysio": folder / f"ophysio_{frames}.nwb", "neuroconv": folder / f"neuroconv_{frames}.nwb"}
    if not files["ophysio"].exists():
        import ophysio
        from ophysio.extractors import TiffImagingExtractor

        t0 = time.perf_counter()
        ophysio.write_nwb(TiffImagingExtractor(tiff, sampling_frequency=RATE), files["ophysio"], META)
        print(f"ophysio wrote {files['ophysio'].name} in {time.perf_counter() - t0:.1f} s", flush=True)
    if not files["neuroconv"].exists():
        t0 = time.perf_counter()
        _run(bench_python, ["--neuroconv-convert", str(tiff), str(files["neuroconv"])], ophysio_path=False)
        print(f"neuroconv wrote {files['neuroconv'].name} in {time.perf_counter() - t0:.1f} s", flush=True)
    return files


def neuroconv_convert(tiff: str, output: str) -> None:
    from datetime import datetime, timezone

    from neuroconv.datainterfaces import TiffImagingInterface

    interface = TiffImagingInterface(file_paths=[tiff], sampling_frequency=RATE)
    meta = interface.get_metadata()
    meta["NWBFile"].update(META["NWBFile"])
    meta["NWBFile"]["session_start_time"] = datetime(2024, 3, 14, 9, 26, 53, tzinfo=timezone.utc)
    meta["Subject"] = dict(META["Subject"])
    interface.run_conversion(nwbfile_path=output + ".part", metadata=meta, overwrite=True)
    os.replace(output + ".part", output)


# ------------------------------------------------------------------------------------------- workers
def _control(base: str, command: str) -> dict:
    from urllib.request import ProxyHandler, build_opener

    with build_opener(ProxyHandler({})).open(f"{base}/__ophysio__/{command}", timeout=60) as reply:
        return json.loads(reply.read())


def _series_path(h5) -> str:
    names = list(h5["acquisition"])
    return f"acquisition/{names[0]}/data"


def remote_worker(reader: str, url: str, base: str, task: str, frames: list[int]) -> dict:
    """Open ``url`` with ``reader`` in this fresh process and run ``task`` on ``frames``; the server's counts.

    ``open+frame0`` counts the open too; the reads are counted after an open that is not."""
    import numpy as np

    if reader == "ophysio":
        from ophysio.extractors import NwbImagingExtractor

        def opener():
            return NwbImagingExtractor(url)

        def read(ex):
            if task == "100 scattered":
                return ex.get_samples(frames)
            return ex.get_series(frames[0], frames[-1] + 1)
    else:
        import h5py

        if reader == "h5py+fsspec":
            import fsspec

            def file_object():
                return fsspec.filesystem("http").open(url, "rb")
        else:
            import remfile

            def file_object():
                return remfile.File(url)

        def opener():
            h5 = h5py.File(file_object(), "r")
            return h5[_series_path(h5)]

        def read(data):
            if task == "100 scattered":
                return np.stack([data[i] for i in frames])
            return data[frames[0] : frames[-1] + 1]

    if task != "open+frame0":
        source = opener()
    _control(base, "reset")
    t0 = time.perf_counter()
    if task == "open+frame0":
        source = opener()
    value = read(source)
    seconds = time.perf_counter() - t0
    stats = _control(base, "stats")
    return {"requests": stats["requests"], "bytes": stats["bytes_sent"], "seconds": seconds,
            "checksum": int(np.asarray(value, dtype=np.int64).sum())}


def local_worker(reader: str, path: str) -> dict:
    import numpy as np

    t0 = time.perf_counter()
    if reader == "ophysio":
        from ophysio.extractors import NwbImagingExtractor

        with NwbImagingExtractor(path) as ex:
            data = ex.get_series()
    elif reader == "roiextractors":
        from roiextractors import NwbImagingExtractor

        data = np.asarray(NwbImagingExtractor(path, optical_series_name="TwoPhotonSeries").get_series())
    else:
        import h5py

        with h5py.File(path, "r") as h5:
            dataset = h5[_series_path(h5)]
            data = np.empty(dataset.shape, dataset.dtype)
            dataset.read_direct(data)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_rss_mb": peak_mb(), "checksum": int(data.sum(dtype=np.int64)),
            "shape": list(data.shape)}


# ------------------------------------------------------------------------------------------- driver
def _run(python: str, arguments: list[str], ophysio_path: bool = True) -> dict | None:
    """A worker's result (this script's worker modes, under ``python``): with this checkout's ophysio first on
    ``PYTHONPATH``, or (the incumbents') with no ``PYTHONPATH``."""
    env = with_src() if ophysio_path else {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return run_worker(__file__, arguments, python=python, env=env, label=f"  {' '.join(arguments[:2])}")


def _needed_bytes(path: Path, frames: list[int]) -> int:
    """Compressed bytes of the chunks holding ``frames`` (what any reader must fetch at least)."""
    import h5py

    with h5py.File(path, "r") as h5:
        dataset = h5[_series_path(h5)]
        step = dataset.chunks[0]
        total = 0
        for row in sorted({f // step for f in frames}):
            total += dataset.id.get_chunk_info_by_coord((row * step, 0, 0)).size
        return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-nwb-remote")
    parser.add_argument("--frames", type=int, default=1500)
    parser.add_argument("--bench-python", default="/tmp/venv-bench-tiff/bin/python",
                        help="interpreter of the incumbents' environment")
    parser.add_argument("--latency-ms", type=float, nargs="*", default=[0.0, 20.0],
                        help="round trip the server adds to every reply (0: loopback; 20: a nearby cloud region)")
    parser.add_argument("--remote-worker", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--local-worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--neuroconv-convert", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.remote_worker:
        reader, url, base, task, frames = args.remote_worker
        emit(remote_worker(reader, url, base, task, json.loads(frames)))
        return
    if args.local_worker:
        emit(local_worker(*args.local_worker))
        return
    if args.neuroconv_convert:
        neuroconv_convert(*args.neuroconv_convert)
        emit({})
        return

    import numpy as np

    from ophysio.testing.http_server import ProcessRangeServer

    folder = Path(args.folder)
    files = make_inputs(folder, args.frames, args.bench_python)
    scattered = sorted(np.random.default_rng(0).choice(args.frames, 100, replace=False).tolist())
    tasks = {"open+frame0": [0], "100 consecutive": list(range(*CONSECUTIVE)), "100 scattered": scattered}
    report: dict = {"frames": args.frames, "remote": [], "local": {}}
    readers = (("ophysio", sys.executable), ("h5py+fsspec", args.bench_python), ("remfile", args.bench_python))
    with ProcessRangeServer(folder) as server:
        for latency in args.latency_ms:
            server.set_latency(latency)
            for writer, path in files.items():
                size = path.stat().st_size
                print(f"\n{writer}-written file ({size / 1e6:.1f} MB), server round trip {latency:g} ms:", flush=True)
                for task, frames in tasks.items():
                    needed = _needed_bytes(path, frames)
                    checksums = set()
                    for reader, python in readers:
                        result = _run(python, ["--remote-worker", reader, server.url(path), server.base_url, task,
                                               json.dumps(frames)], ophysio_path=reader == "ophysio")
                        report["remote"].append({"latency_ms": latency, "writer": writer, "reader": reader,
                                                 "task": task, "needed_bytes": needed, **(result or {})})
                        if result is None:
                            continue
                        checksums.add(result["checksum"])
                        print(f"  {task:16s} {reader:12s} {result['requests']:5d} requests "
                              f"{result['bytes'] / 1e6:8.2f} MB (chunks: {needed / 1e6:7.2f} MB) "
                              f"{result['seconds']:7.3f} s", flush=True)
                    if len(checksums) > 1:
                        print(f"  !! the readers disagree on the pixels of {task}: {checksums}", flush=True)
    print("\nlocal full read of the ophysio-written file:", flush=True)
    checksums = set()
    for reader, python in (("ophysio", sys.executable), ("roiextractors", args.bench_python),
                           ("h5py read_direct", args.bench_python)):
        result = _run(python, ["--local-worker", reader.split()[0], str(files["ophysio"])],
                      ophysio_path=reader == "ophysio")
        report["local"][reader] = result
        if result is not None:
            checksums.add(result["checksum"])
            print(f"  {reader:17s} {result['seconds']:7.2f} s, peak RSS {result['peak_rss_mb']:7.0f} MB", flush=True)
    if len(checksums) > 1:
        print(f"  !! the readers disagree on the pixels: {checksums}", flush=True)
    (folder / "report.json").write_text(json.dumps(report, indent=2))
    print(f"\nreport: {folder / 'report.json'}")


if __name__ == "__main__":
    main()
