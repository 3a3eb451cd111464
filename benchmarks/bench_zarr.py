"""Zarr read back, locally and over a loopback HTTP server: ophysio's reader against zarr-python, side by side.

Run with ophysio's environment (zarr 3, fsspec and aiohttp installed; ``PYTHONPATH`` at ophysio's ``src``)::

    PYTHONPATH=src python benchmarks/bench_zarr.py [--folder /tmp/ophysio-bench-zarr] [--frames 1500]

Input, made once: ``--frames`` 512 x 512 int16 frames that look like two-photon data (the generator of
``bench_nwb_remote.py``) written by ophysio's Zarr writer (``--to zarr``: Zarr v3, OME-NGFF 0.5, zstd,
whole-frame chunks of about 4 MB) and, sharded, with chunks of one frame in shards of 16 frames.

Each (reader, task) runs in a fresh process: ``construct`` (open the store), ``full`` (the whole movie, local
only), ``frame0`` (open + first frame), ``100 consecutive`` (frames 500..599), ``100 scattered`` (100 random
frames, seed 0). Readers: ophysio (``ZarrImagingExtractor``) and zarr-python (``zarr.open_group`` on the
folder, or ``zarr.storage.FsspecStore.from_url`` over HTTP; frames by ``array[a:b]`` and
``array.get_orthogonal_selection``). Remote runs report the server's requests and bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, peak_mb, run_worker, with_src  # noqa: E402
from bench_nwb_remote import _cells, _control  # noqa: E402 - the same frames, the same test server

CONSECUTIVE = (500, 600)


def make_inputs(folder: Path, frames: int) -> dict[str, Path]:
    import numpy as np

    from ophysio.conversion.writers import write_imaging

    folder.mkdir(parents=True, exist_ok=True)
    stores = {"chunks": folder / f"cells_{frames}.ome.zarr", "sharded": folder / f"cells_{frames}_sharded.ome.zarr"}
    if all(p.exists() for p in stores.values()):
        return stores
    movie = np.concatenate(list(_cells(frames)))
    for name, path in stores.items():
        if path.exists():
            continue
        options = {} if name == "chunks" else {"chunks": (1, 512, 512), "shards": (16, 512, 512)}
        t0 = time.perf_counter()
        write_imaging(movie, path, format="zarr", sampling_frequency=30.0, **options)
        print(f"wrote {path.name} in {time.perf_counter() - t0:.1f} s", flush=True)
    return stores


def worker(reader: str, where: str, base: str, task: str, frames: list[int]) -> dict:
    import numpy as np

    remote = where.startswith("http")
    if reader == "ophysio":
        import numcodecs  # noqa: F401 - imported before the clock starts, as zarr-python's import brings it

        from ophysio.extractors import ZarrImagingExtractor
        from ophysio.extractors._zarr import array, nodes, store  # noqa: F401

        def opener():
            return ZarrImagingExtractor(where + ("/" if remote else ""))

        def read(ex, task):
            if task == "full":
                return ex.get_series()
            if task == "100 scattered":
                return ex.get_samples(frames)
            return ex.get_series(frames[0], frames[-1] + 1)
    else:
        import zarr

        def opener():
            if remote:
                from zarr.storage import FsspecStore

                store = FsspecStore.from_url(where, read_only=True)
                return zarr.open_group(store, mode="r")["0"]
            return zarr.open_group(where, mode="r")["0"]

        def read(array, task):
            if task == "full":
                return array[:]
            if task == "100 scattered":
                return array.get_orthogonal_selection((np.asarray(frames), slice(None), slice(None)))
            return array[frames[0] : frames[-1] + 1]

    if remote:
        _control(base, "reset")
    t0 = time.perf_counter()
    source = opener()
    opened = time.perf_counter() - t0
    if task == "construct":
        value = np.zeros(1)
    else:
        if task != "frame0" and remote:
            _control(base, "reset")
            t0 = time.perf_counter()
        value = read(source, "frame0" if task == "frame0" else task)
    seconds = time.perf_counter() - t0
    result = {"seconds": seconds, "open_s": opened, "peak_rss_mb": peak_mb(),
              "checksum": int(np.asarray(value, dtype=np.int64).sum())}
    if remote:
        stats = _control(base, "stats")
        result.update(requests=stats["requests"], bytes=stats["bytes_sent"])
    return result


def _run(arguments: list[str]) -> dict | None:
    return run_worker(__file__, arguments, env=with_src(), label=f"  {' '.join(arguments[:4])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="/tmp/ophysio-bench-zarr")
    parser.add_argument("--frames", type=int, default=1500)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        reader, where, base, task, frames = args.worker
        emit(worker(reader, where, base, task, json.loads(frames)))
        return

    import numpy as np

    from ophysio.testing.http_server import ProcessRangeServer

    folder = Path(args.folder)
    stores = make_inputs(folder, args.frames)
    scattered = sorted(np.random.default_rng(0).choice(args.frames, 100, replace=False).tolist())
    tasks = {"frame0": [0], "100 consecutive": list(range(*CONSECUTIVE)), "100 scattered": scattered}
    report: list = []
    for name, path in stores.items():
        print(f"\n{name}: {path.name} (local)", flush=True)
        for task in ("construct", "full"):
            sums = set()
            for reader in ("ophysio", "zarr-python"):
                result = _run(["--worker", reader, str(path), "", task, "[]"])
                report.append({"store": name, "where": "local", "reader": reader, "task": task, **(result or {})})
                if result:
                    sums.add(result["checksum"])
                    print(f"  {task:16s} {reader:12s} {result['seconds']:7.3f} s, peak RSS "
                          f"{result['peak_rss_mb']:6.0f} MB", flush=True)
            if len(sums) > 1:
                print(f"  !! the readers disagree on {task}", flush=True)
    with ProcessRangeServer(folder) as server:
        for name, path in stores.items():
            print(f"\n{name}: {path.name} over HTTP (loopback)", flush=True)
            for task, frames in tasks.items():
                sums = set()
                for reader in ("ophysio", "zarr-python"):
                    result = _run(["--worker", reader, server.url(path), server.base_url, task, json.dumps(frames)])
                    report.append({"store": name, "where": "http", "reader": reader, "task": task, **(result or {})})
                    if result:
                        sums.add(result["checksum"])
                        print(f"  {task:16s} {reader:12s} {result['requests']:5d} requests "
                              f"{result['bytes'] / 1e6:8.2f} MB {result['seconds']:7.3f} s", flush=True)
                if len(sums) > 1:
                    print(f"  !! the readers disagree on {task}", flush=True)
    (folder / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
