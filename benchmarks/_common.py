"""What every benchmark script does the same way: memory, the worker subprocess, timing, table cells.

Memory: this process's from /proc/self/status. Peak RSS is ``VmHWM``, which starts afresh at exec;
``ru_maxrss`` would carry the forking parent's peak over, so a child measured with it could report the
parent's size.

Workers: a script measures each (tool, dataset, task) in a subprocess of itself (``--worker ...``), so that
the peak RSS is that measurement's own. The worker prints its result as one JSON line (:func:`emit`); the
driver runs it and reads that line back (:func:`run_worker`, :func:`call_worker` where a failure is a row of
the results, :func:`best_run` for the fastest of several runs).

Timing: :func:`best_of` (the lowest of several calls) and :func:`alternate` / :func:`paired_ratio` (two or
more readers timed in turn in one process: on a shared machine their ratio holds better than that of
separate processes).

The scripts import this module by name (their own folder is on ``sys.path`` when they run as scripts). It
uses the standard library alone, so that workers run by the incumbents' interpreters can import it too.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: ophysio's sources in this checkout (scripts that run under another interpreter put them on the path)
SRC = Path(__file__).resolve().parents[1] / "src"


# ------------------------------------------------------------------------------------------- memory
def status_mb(field: str) -> float:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``...) in MiB, or NaN where there is none."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def rss_mb() -> float:
    """Resident memory of this process now, in MiB."""
    return status_mb("VmRSS")


def peak_mb() -> float:
    """Peak resident memory of this process image, in MiB (``ru_maxrss`` where /proc is missing)."""
    peak = status_mb("VmHWM")
    if peak == peak:  # not NaN
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------------- workers
def emit(result: dict) -> None:
    """A worker's answer to its driver: ``result`` as one JSON line on stdout (the last line it prints)."""
    print(json.dumps(result), flush=True)


def last_json(stdout: str) -> dict | None:
    """The result a worker emitted: the last line of its output that is a JSON object (None if there is none)."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None


@dataclass
class WorkerRun:
    """One run of a worker: its result, or what went wrong."""

    #: what the worker emitted; None when it failed, ran out of time or emitted nothing
    result: dict | None
    #: its exit status; None when it ran out of time
    returncode: int | None
    stderr: str
    #: wall time of the subprocess, start-up included
    seconds: float
    timeout: float | None = None

    def last_lines(self, count: int = 1) -> list[str]:
        """The last ``count`` lines of its stderr (a traceback's last is the exception)."""
        return self.stderr.strip().splitlines()[-count:]

    def why(self) -> str:
        """Why there is no result, in a few words."""
        if self.returncode is None:
            return f"timeout after {self.timeout:g} s"
        if self.returncode:
            return f"exit status {self.returncode}"
        return "no JSON result on stdout"


def worker_command(script: str | Path, args: Sequence, python: str | None = None) -> list[str]:
    """The command line running ``script`` with ``args`` under ``python`` (default: this interpreter)."""
    return [python or sys.executable, str(script), *(str(a) for a in args)]


def call_worker(script: str | Path, args: Sequence, *, timeout: float | None = None, env: Mapping | None = None,
                cwd: str | Path | None = None, python: str | None = None) -> WorkerRun:
    """Run ``python script *args`` (a worker) in a subprocess, its output captured; nothing is printed.

    ``env`` replaces the environment (default: this one's); ``timeout`` (seconds) stops a worker that runs
    longer, which is then a failure."""
    command = worker_command(script, args, python)
    t0 = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=None if env is None else dict(env), cwd=None if cwd is None else str(cwd))
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return WorkerRun(None, None, stderr, time.perf_counter() - t0, timeout)
    seconds = time.perf_counter() - t0
    result = last_json(done.stdout) if done.returncode == 0 else None
    return WorkerRun(result, done.returncode, done.stderr, seconds, timeout)


def run_worker(script: str | Path, args: Sequence, *, label: str | None = None, tail: int = 2000,
               timeout: float | None = None, env: Mapping | None = None, cwd: str | Path | None = None,
               python: str | None = None) -> dict | None:
    """The result of a worker run by :func:`call_worker`, or None after printing that it failed.

    The failure line names the run (``label``, default: its arguments) and is followed by the last ``tail``
    characters of the worker's stderr."""
    run = call_worker(script, args, timeout=timeout, env=env, cwd=cwd, python=python)
    if run.result is None:
        name = label if label is not None else " ".join(str(a) for a in args)
        reason = "" if run.returncode else f" ({run.why()})"
        print(f"{name} failed{reason}:\n{run.stderr[-tail:]}", flush=True)
    return run.result


def best_run(script: str | Path, args: Sequence, repeats: int, **options) -> dict | None:
    """The fastest (lowest ``"seconds"``) of ``repeats`` runs of a worker, each a fresh process.

    The runs stop at a failure (printed by :func:`run_worker`, which takes ``options``) or at an empty
    result (the worker's way of saying the tool has no such task); None when no run gave a result."""
    best = None
    for _ in range(repeats):
        result = run_worker(script, args, **options)
        if not result:
            break
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    return best


def fastest(rows: Sequence[dict]) -> dict:
    """Of several runs' rows, the one with the lowest ``"seconds"`` among those without an ``"error"``
    (the first row when every run failed)."""
    good = [row for row in rows if "error" not in row]
    return min(good, key=lambda row: row["seconds"]) if good else rows[0]


def with_src(env: Mapping | None = None, src: str | Path = SRC, *, keep: bool = True) -> dict:
    """An environment (default: this one) whose ``PYTHONPATH`` starts with ``src``; ``keep=False`` puts
    ``src`` there alone."""
    env = dict(os.environ if env is None else env)
    rest = env.get("PYTHONPATH") if keep else None
    env["PYTHONPATH"] = str(src) + (os.pathsep + rest if rest else "")
    return env


# ------------------------------------------------------------------------------------------- timing
def best_of(fn: Callable[[], object], repeats: int) -> float:
    """The lowest wall time, in seconds, of ``repeats`` calls of ``fn()`` (infinity for none).

    What a call returns is let go before its clock stops (as a caller that discards it would, freeing a
    large array included) and before the next call, so no two results are held at once: a task that wants
    something from its calls keeps it itself."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def alternate(fns: Mapping[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Every function of ``fns`` timed once in turn (in their order), ``rounds`` times, in this process:
    each one's times, round by round. On a shared machine a change of load hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(best_of(fn, 1))
    return times


def paired_ratio(ours: Callable[[], object], theirs: Callable[[], object], rounds: int) -> float:
    """``ours``' best time over ``theirs``', the two timed alternately (``theirs`` first) for ``rounds`` rounds."""
    times = alternate({"theirs": theirs, "ours": ours}, rounds)
    return min(times["ours"]) / min(times["theirs"])


# ------------------------------------------------------------------------------------------- table cells
def ratio(value: float | None, base: float | None, digits: int = 2) -> str:
    """``value / base`` as a table cell, ``"1.23x"``, or ``"-"`` where either is missing (None)."""
    return "-" if value is None or base is None else as_ratio(value / base, digits)


def as_ratio(value: float | None, digits: int = 2) -> str:
    """A ratio as a table cell, ``"1.23x"``, or ``"-"`` where there is none (None)."""
    return "-" if value is None else f"{value:.{digits}f}x"


def seconds_cell(seconds: float) -> str:
    """A time as a 10-character table cell: milliseconds under a second (``"   12.34ms"``), else seconds."""
    if seconds < 1:
        return f"{seconds * 1000:8.2f}ms"
    return f"{seconds:8.2f} s"
