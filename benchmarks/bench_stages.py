"""One NWB conversion against each of its three stages measured alone, in the same run.

::

    python benchmarks/bench_stages.py [--frames 3000] [--threads 2] [--compare-src OLD/src] [--keep DIR]

Writes a 512 x 512 int16 ScanImage file (``frames`` frames: 3000 is 1.57 GB) with
:func:`ophysio._synth.scanimage.write_scanimage` (``pattern="cells"``, so that compression behaves as on
real data) into a temporary folder that it removes at the end (``--keep DIR`` writes it there instead and
reuses it). The file is read once first, so every measurement starts from a warm page cache. Then, each
in its own subprocess:

- ``read``: the extractor's chunks (whole frames, about 10 MB, as the conversion chunks them) read into
  one reused buffer;
- ``compress``: the same chunks, read into memory beforehand (not timed), transposed, shuffled and
  deflated (ISA-L level 1) by the chunk pipeline in ``threads`` threads;
- ``write``: those compressed chunks stored with ``write_direct_chunk`` into an empty gzip+shuffle
  dataset of the same shape and chunks, file closed and synced to disk (a conversion syncs its output
  before renaming it into place, so the stage it is compared with does too; ``write_unsynced_s`` is the
  same without the sync);
- ``convert``: :func:`ophysio.write_nwb` of the file (imports not counted), and ``ophysio convert`` on the
  command line (wall time, Python start-up and imports included);
- ``startup``: ``python -X importtime`` of ``ophysio info FILE``: its wall time and whether pynwb or hdmf
  were imported (they must not be).

``--compare-src`` runs ``convert`` a second time with another source tree first on ``sys.path`` (e.g. an
older commit exported with ``git archive``), for before/after numbers in the same run. ``--rounds N``
instead alternates compress alone, the conversion and the other tree's conversion N times and reports
medians: on a shared machine whose speed drifts by 20% within minutes, best-of-2 numbers taken one
after the other are not comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SRC, call_worker, emit, fastest, peak_mb, with_src

HERE = Path(__file__).resolve().parent
#: ``ophysio`` on the command line, with the source tree of PYTHONPATH (the console script may point elsewhere)
CLI = ["-c", "import sys; from ophysio.cli import main; sys.exit(main(sys.argv[1:]))"]
SESSION = {"session_description": "benchmark", "session_start_time": "2024-03-14T09:26:53+00:00"}
SUBJECT = {"subject_id": "bench", "species": "Mus musculus", "sex": "U", "age": "P90D"}
PLANE = {"excitation_lambda": 920.0, "indicator": "GCaMP6f", "location": "VISp"}


def complete_metadata(path: str) -> dict:
    import ophysio
    from ophysio.conversion.interfaces import interface_for_extractor

    return fill_metadata(interface_for_extractor(ophysio.open_imaging(path)).get_metadata())


def fill_metadata(meta: dict) -> dict:
    """An ophysio interface's metadata completed with the benchmark's session, subject and imaging plane."""
    for plane in meta["Ophys"]["ImagingPlane"]:
        plane.update(PLANE)
        for channel in plane["optical_channel"]:
            channel["emission_lambda"] = 510.0
    meta["NWBFile"] = dict(SESSION)
    meta["Subject"] = dict(SUBJECT)
    return meta


def _chunks(extractor):
    from ophysio.conversion.chunks import chunk_shape_for

    per_chunk = chunk_shape_for(extractor)[0]
    n = extractor.get_num_samples()
    return [(a, min(a + per_chunk, n)) for a in range(0, n, per_chunk)], per_chunk


# ------------------------------------------------------------------------------------ stage workers
def stage(name: str, path: str, threads: int, scratch: str) -> dict:
    import numpy as np

    import ophysio

    out: dict = {"stage": name}
    if name in ("read", "compress", "write"):
        extractor = ophysio.open_imaging(path)
        ranges, per_chunk = _chunks(extractor)
        buffer = np.empty((per_chunk, *extractor.get_sample_shape()), dtype=extractor.dtype)
        if name == "read":
            t0 = time.perf_counter()
            for a, b in ranges:
                extractor.get_series(a, b, out=buffer[: b - a])
            out["seconds"] = time.perf_counter() - t0
        else:
            from concurrent.futures import ThreadPoolExecutor

            from ophysio.conversion.pipeline import Compression

            data = extractor.get_series(0, None)
            data.fill(0)
            data[...] = extractor.get_series(0, None)  # touched once, before the clock starts
            pipeline = Compression().pipeline(data.dtype, transpose=True)
            blocks = [np.ascontiguousarray(data[a:b]) if b - a == per_chunk else
                      np.concatenate([data[a:b], np.zeros((per_chunk - (b - a), *data.shape[1:]), data.dtype)])
                      for a, b in ranges]
            del data
            t0 = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                encoded = list(pool.map(pipeline.encode, blocks))
            compress_s = time.perf_counter() - t0
            out["compressed_mb"] = sum(len(e) for e in encoded) / 1e6
            if name == "compress":
                out["seconds"] = compress_s
            else:
                import h5py

                del blocks
                target = Path(scratch) / "write_alone.h5"
                shape = (extractor.get_num_samples(), *extractor.get_sample_shape()[::-1])
                t0 = time.perf_counter()
                with h5py.File(target, "w") as f:
                    dataset = f.create_dataset("data", shape=shape, dtype=extractor.dtype,
                                               chunks=(per_chunk, *shape[1:]), compression="gzip",
                                               compression_opts=1, shuffle=True)
                    for (a, _), chunk in zip(ranges, encoded):
                        dataset.id.write_direct_chunk((a, 0, 0), chunk)
                out["write_unsynced_s"] = time.perf_counter() - t0
                fd = os.open(target, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                out["seconds"] = time.perf_counter() - t0
                target.unlink()
    elif name == "convert":
        import pynwb  # noqa: F401 - start-up imports are measured apart (``startup``), not in the conversion

        meta = complete_metadata(path)
        target = Path(scratch) / "convert.nwb"
        t0 = time.perf_counter()
        ophysio.write_nwb(ophysio.open_imaging(path), target, meta, overwrite=True, max_workers=threads)
        out["seconds"] = time.perf_counter() - t0
        out["output_mb"] = target.stat().st_size / 1e6
        target.unlink()
    out["peak_rss_mb"] = peak_mb()
    return out


def _run_stage(name: str, path: Path, threads: int, scratch: Path, src: Path = SRC) -> dict:
    run = call_worker(__file__, ["--stage", name, path, threads, scratch], env=with_src(src=src, keep=False))
    if run.result is None:
        return {"stage": name, "error": run.last_lines(3)}
    return run.result


def _cli_convert(path: Path, threads: int, scratch: Path, src: Path) -> float:
    env = with_src(src=src, keep=False)
    meta = scratch / "meta.json"
    code = f"import json,sys; sys.path.insert(0, {str(HERE)!r}); from bench_stages import complete_metadata; " \
           f"json.dump(complete_metadata({str(path)!r}), open({str(meta)!r}, 'w'), default=str)"
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    output = scratch / "cli.nwb"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *CLI, "convert", str(path), "-o", str(output), "--metadata",
                           str(meta), "--threads", str(threads), "--overwrite", "--no-progress"],
                          capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    output.unlink()
    return seconds


def _startup(path: Path, src: Path) -> dict:
    env = with_src(src=src, keep=False)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", *CLI, "info", str(path)],
                          capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    total_us = sum(int(line.split("|")[1]) for line in proc.stderr.splitlines()
                   if "|" in line and line.split("|")[1].strip().isdigit() and not line.split("|")[-1].startswith("  "))
    return {"info_s": seconds, "imports_s": total_us / 1e6, "pynwb": "pynwb" in imported, "hdmf": "hdmf" in imported,
            "returncode": proc.returncode}


def _rounds(path: Path, args, folder: Path) -> None:
    """Alternate the measurements ``args.rounds`` times, so that a machine whose speed drifts during the run
    (a shared host) weighs on each alike; report each one's runs and median, and the ratios of the medians."""
    import statistics

    plan = [("compress", SRC), ("convert", SRC)] + ([("convert", args.compare_src)] if args.compare_src else [])
    runs: dict[tuple[str, Path], list[float]] = {key: [] for key in plan}
    peaks: dict[tuple[str, Path], float] = {}
    for _ in range(args.rounds):
        for name, src in plan:
            result = _run_stage(name, path, args.threads, folder, src)
            if "seconds" in result:
                runs[(name, src)].append(result["seconds"])
                peaks[(name, src)] = max(peaks.get((name, src), 0.0), result.get("peak_rss_mb", 0.0))
    median = {key: statistics.median(values) for key, values in runs.items() if values}
    for (name, src), values in runs.items():
        print(f"{name:8} {str(src):40} median {median.get((name, src), float('nan')):6.2f} s  runs "
              f"{', '.join(f'{v:.2f}' for v in values)}  peak RSS {peaks.get((name, src), float('nan')):.0f} MB")
    compress = median.get(("compress", SRC))
    for name, src in plan[1:]:
        if compress and (name, src) in median:
            print(f"conversion ({src}) / compress alone, medians: {median[(name, src)] / compress:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeats", type=int, default=2, help="runs of each measurement; the best is kept")
    parser.add_argument("--compare-src", type=Path, help="another source tree to run the conversion with")
    parser.add_argument("--keep", type=Path, help="write (and reuse) the input here instead of a temporary folder")
    parser.add_argument("--rounds", type=int, default=0,
                        help="instead: N alternating rounds of compress alone, the conversion, and (with "
                        "--compare-src) the other tree's conversion; medians and ratios (for a noisy machine)")
    parser.add_argument("--stage", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        name, path, threads, scratch = args.stage
        emit(stage(name, path, int(threads), scratch))
        return
    folder = args.keep or Path(tempfile.mkdtemp(prefix="ophysio-bench-stages-"))
    try:
        from ophysio._synth.scanimage import write_scanimage

        folder.mkdir(parents=True, exist_ok=True)
        done = folder / f"single_{args.frames}.done"
        if not done.exists():
            t0 = time.perf_counter()
            paths = write_scanimage(folder / f"single_{args.frames}", "single", num_samples=args.frames, rows=512,
                                    columns=512, pattern="cells", channel_save_as_row=True)
            done.write_text(str(paths[0]))
            print(f"input written in {time.perf_counter() - t0:.1f} s", flush=True)
        path = Path(done.read_text())
        print(f"input {path.name}: {path.stat().st_size / 1e9:.2f} GB, {args.threads} threads", flush=True)
        with open(path, "rb") as fh:  # warm the page cache
            while fh.read(64 << 20):
                pass
        if args.rounds:
            _rounds(path, args, folder)
            return
        results: dict[str, dict] = {}

        def best(name: str, src: Path = SRC) -> dict:
            result = fastest([_run_stage(name, path, args.threads, folder, src) for _ in range(args.repeats)])
            print(json.dumps(result), flush=True)
            return result

        for name in ("read", "compress", "write", "convert"):
            results[name] = best(name)
        cli = min(_cli_convert(path, args.threads, folder, SRC) for _ in range(args.repeats))
        start = _startup(path, SRC)
        print(json.dumps({"cli_convert_s": cli, **start}), flush=True)
        slowest = max(("read", "compress", "write"), key=lambda k: results[k].get("seconds", 0))
        convert = results["convert"]["seconds"]
        print(f"read {results['read']['seconds']:.2f} s, compress {results['compress']['seconds']:.2f} s, "
              f"write {results['write']['seconds']:.2f} s; conversion {convert:.2f} s = "
              f"{convert / results[slowest]['seconds']:.2f}x the slowest stage ({slowest}); "
              f"ophysio convert {cli:.2f} s; ophysio info {start['info_s']:.2f} s "
              f"(pynwb imported: {start['pynwb']}, hdmf imported: {start['hdmf']})", flush=True)
        if args.compare_src:
            old = best("convert", args.compare_src)
            old_cli = min(_cli_convert(path, args.threads, folder, args.compare_src) for _ in range(args.repeats))
            print(f"compared tree {args.compare_src}: conversion {old['seconds']:.2f} s "
                  f"({old['seconds'] / results[slowest]['seconds']:.2f}x the slowest stage), ophysio convert "
                  f"{old_cli:.2f} s", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
