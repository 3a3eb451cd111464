"""One session on a worker: skip it if converted, else convert it with a manifest, a timeout watchdog and
errors sorted into those another attempt may cure (raised) and those it cannot (reported)."""

from __future__ import annotations

import faulthandler
import os
import time
from pathlib import Path
from typing import Any

from ..._version import __version__
from ...errors import OphysioError
from .._atomic import sweep_partials
from .manifest import _is_current, _read_manifest, _write_manifest, manifest_path
from .task import WORKER_ENV, _json_ready, _stat_files, _Task


def _describe_failure(exc: BaseException) -> str:
    name = exc.__class__.__name__
    if name == "KilledWorker":
        return ("the worker died while converting it several times (killed, or out of memory: raise "
                "memory_limit / --memory-limit); run again to retry")
    text = str(exc).strip() or repr(exc)
    return f"{name}: {text}"


def _open_source(task: _Task):
    from ..interfaces import interface_from_paths

    return interface_from_paths(task.sources, task.format, **task.options)


def _convert_task(task: _Task) -> dict[str, Any]:
    """Convert one session (the function the workers run).

    Errors that another attempt cannot cure (ophysio's own: malformed or corrupt input, missing metadata,
    missing files) come back as a ``failed`` outcome; anything else (an OSError of a network file system,
    say) is raised so that Dask retries the session.
    """
    os.environ.update(WORKER_ENV)
    report = _timeout_report(Path(task.target))
    stall = _arm_timeout(task, report) if task.timeout else None
    try:
        return _convert(task)
    except (OphysioError, FileNotFoundError) as exc:
        return {"status": "failed", "error": _describe_failure(exc), "seconds": 0.0, "size": 0}
    finally:
        if stall is not None:
            faulthandler.cancel_dump_traceback_later()
            stall.close()
            report.unlink(missing_ok=True)


def _timeout_report(target: Path) -> Path:
    """Where a worker stopped by ``session_timeout`` leaves the stacks of its threads."""
    return target.with_name(target.name + ".timed-out.txt")


def _take_timeout_report(target: Path) -> str | None:
    """Remove the report file a session left (its worker died before it could) and return the stacks in
    it when the watchdog fired: None when it did not (the worker died of something else)."""
    report = _timeout_report(target)
    try:
        text = report.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    report.unlink(missing_ok=True)
    return text if "Timeout (" in text else None  # faulthandler's first line when it fires


def _arm_timeout(task: _Task, report: Path):
    """End this worker process if the session is still converting after ``task.timeout`` seconds.

    A Python timer would not do: the converting thread may be inside a C library that holds the GIL
    (libhdf5 loops forever on some damaged files). faulthandler's watchdog is a C thread: it writes every
    thread's stack to ``report`` and exits the process. The nanny starts a new worker; Dask retries the
    session on it and, after ``distributed.scheduler.allowed-failures`` such ends, gives it up
    (KilledWorker), which the driver reports with the stacks. One task per worker process is assumed
    (as in the local cluster): the watchdog is process-wide.
    """
    report.parent.mkdir(parents=True, exist_ok=True)
    stall = open(report, "w", encoding="utf-8")  # noqa: SIM115 - faulthandler writes to it until cancelled
    stall.write(f"session {task.session_id!r} was still converting after {task.timeout:g} s "
                "(session_timeout); its worker process was ended. Where each thread was:\n")
    stall.flush()
    faulthandler.dump_traceback_later(task.timeout, exit=True, file=stall)
    return stall


def _convert(task: _Task) -> dict[str, Any]:
    from ..nwb import write_nwb

    target = Path(task.target)
    started = time.perf_counter()
    if _is_current(task):
        return {"status": "skipped", "seconds": 0.0, "size": target.stat().st_size}
    if target.exists() and _read_manifest(target) is None:
        raise OphysioError(f"{target} exists and was not written by an ophysio batch (no manifest "
                           f"{manifest_path(target).name}); move it away or delete it to convert this session")
    sweep_partials(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    inputs = _json_ready(task.inputs())
    interface = _open_source(task)
    extractors = list(getattr(interface, "extractors", []))
    files_read = _stat_files(sorted({str(p) for ex in extractors for p in ex.get_file_paths()}))
    manifest = {"ophysio_version": __version__, "inputs": inputs, "files_read": files_read}
    try:
        # written first, so that the file at the target is known to be the batch's even if the run stops
        # before the end; "writing" never counts as converted, so an interrupted session is redone
        _write_manifest(target, {**manifest, "status": "writing"})
        write_nwb(interface, target, metadata=task.metadata, overwrite=True, dandi=False,
                  max_workers=task.compression_threads, **task.conversion)
    except BaseException:
        if not target.exists():
            manifest_path(target).unlink(missing_ok=True)
        raise
    finally:
        for extractor in extractors:
            extractor.close()
    seconds = time.perf_counter() - started
    size = target.stat().st_size
    _write_manifest(target, {**manifest, "status": "done", "seconds": round(seconds, 3), "size": size,
                             "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return {"status": "done", "seconds": seconds, "size": size}
