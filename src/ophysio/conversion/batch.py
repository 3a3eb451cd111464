"""Many sessions at once: a YAML spec, Dask distributed, DANDI layout, manifests and re-runs.

``ophysio.convert_sessions(spec, output_folder)`` converts every session of a spec into its own NWB file,
one session per task on a Dask cluster: a :class:`~distributed.LocalCluster` of processes with one thread
each (HDF5 serialises threads within a process) when no client is given, or any existing cluster through
its :class:`~distributed.Client` or scheduler address (a ``dask_jobqueue.SLURMCluster`` works unchanged).
Tasks carry paths and metadata only; each worker opens its own files.

The spec (YAML, read with a safe loader)::

    metadata:                  # for every session (NWBFile, Subject, Ophys), as for write_nwb
      NWBFile: {session_description: Visual stimulation, lab: Smith}
      Subject: {species: Mus musculus, sex: F, age: P90D}
      Ophys: {ImagingPlane: [{indicator: GCaMP6f, location: VISp, excitation_lambda: 920,
                              optical_channel: [{name: Green, emission_lambda: 510}]}]}
    format: scanimage          # optional; detected from content otherwise
    options: {}                # extractor keywords for every session
    conversion: {compression: gzip, timezone: Europe/Berlin}
    dandi: true                # DANDI names and required subject fields (default)
    sessions:
      - session_id: "2024-05-01-a"
        source: raw/m12/2024-05-01/file_00001_00001.tif     # relative to the spec file
        metadata: {Subject: {subject_id: m12}, NWBFile: {session_start_time: "2024-05-01T10:00:00"}}

Each session's metadata are merged over the global ones (lists replace lists), and its ``session_id`` is
the NWB ``session_id``. With ``dandi: true`` files go to
``sub-<subject_id>/sub-<subject_id>_ses-<session_id>_ophys.nwb`` and every session must give the subject
fields DANDI requires before anything starts; otherwise to ``<session_id>.nwb``.

A run is safe to repeat: beside each file a small hidden manifest (``.<file stem>.ophysio.json``) records
the inputs (source paths with sizes and modification times, options, metadata), every file the extractor
read (a series found from its first file), the ophysio version and whether the write finished, and a
re-run skips only sessions whose manifest matches and says ``done`` (a killed or failed re-conversion is
redone, never taken for the old file). Partial files of killed workers
(``.<name>.<random>.partial``, see :func:`~ophysio.conversion._atomic.atomic_output`) are swept before
and after a run. A failing session is retried (``retries``), then reported with its error; it never
stops the others.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import MetadataError, OphysioError
from ._atomic import sweep_partials
from .batch_spec import BatchSpec, ConversionOptions, SessionEntry, load_batch_spec

__all__ = [
    "BatchSpec",
    "SessionEntry",
    "ConversionOptions",
    "load_batch_spec",
    "session_metadata",
    "plan_sessions",
    "convert_sessions",
    "BatchResult",
    "SessionResult",
    "manifest_path",
]

#: Environment given to every worker (and set by every task): HDF5 file locks fail on many network
#: file systems, and a batch never has two writers on one file.
WORKER_ENV = {"HDF5_USE_FILE_LOCKING": "FALSE"}


# ---------------------------------------------------------------------- planning
@dataclass
class _Task:
    """What one worker needs: paths and plain metadata, nothing open."""

    session_id: str
    sources: list[str]
    format: str | None
    options: dict[str, Any]
    metadata: dict[str, Any]
    conversion: dict[str, Any]
    target: str
    compression_threads: int | None = 1
    timeout: float | None = None

    def inputs(self) -> dict[str, Any]:
        """What the manifest records and a re-run compares."""
        return {"sources": _stat_files(self.sources), "format": self.format, "options": self.options,
                "metadata": self.metadata, "conversion": self.conversion}


def _stat_files(paths: Sequence[str]) -> list[dict[str, Any]]:
    files = []
    for path in paths:
        try:
            st = os.stat(path)
            files.append({"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
        except OSError:
            files.append({"path": str(path), "size": None, "mtime_ns": None})
    return files


def manifest_path(nwbfile_path: str | os.PathLike) -> Path:
    """The manifest beside an output file: ``.<stem>.ophysio.json`` (hidden, so dandi does not upload it)."""
    path = Path(nwbfile_path)
    return path.with_name(f".{path.stem}.ophysio.json")


def _json_ready(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def session_metadata(spec: BatchSpec, entry: SessionEntry) -> dict[str, Any]:
    """The session's metadata over the spec's, with ``NWBFile.session_id`` set to the entry's ``session_id``."""
    from .metadata import merge_metadata

    own = ((entry.metadata or {}).get("NWBFile") or {}).get("session_id")
    if own is not None and str(own) != entry.session_id:
        raise MetadataError(f"session {entry.session_id!r}: metadata.NWBFile.session_id is {own!r}; the session's "
                            "session_id is the NWB session_id, drop one of them")
    merged = merge_metadata(spec.metadata, entry.metadata)
    merged.setdefault("NWBFile", {})["session_id"] = entry.session_id
    return merged


def plan_sessions(spec: BatchSpec, output_folder: str | os.PathLike) -> list[_Task]:
    """Merge metadata, check every session (DANDI fields too) and choose each output path.

    Raises
    ------
    MetadataError
        One message listing every session with invalid or missing metadata, and what is missing.
    """
    from .dandi import dandi_field_problems, dandi_relative_path
    from .metadata import Metadata

    output = Path(output_folder)
    base = Path(spec.base_folder) if spec.base_folder else Path.cwd()
    tasks: list[_Task] = []
    problems: list[str] = []
    targets: dict[str, str] = {}
    for entry in spec.sessions:
        try:
            merged = session_metadata(spec, entry)
            # validated with the defaults filled in, but the task carries only what the user wrote: the
            # model's default Ophys lists would replace the per-channel defaults the source gives
            metadata = Metadata.from_dict(merged, source=f"metadata of session {entry.session_id!r}").to_dict()
        except MetadataError as exc:
            problems.append(str(exc))
            continue
        if spec.dandi:
            missing = dandi_field_problems(metadata)
            if missing:
                problems.append(f"session {entry.session_id!r} lacks what DANDI requires:\n    "
                                + "\n    ".join(str(p) for p in missing))
                continue
            relative = dandi_relative_path(metadata["Subject"]["subject_id"], metadata["NWBFile"]["session_id"])
            target = output / relative
        else:
            target = output / f"{entry.session_id}.nwb"
        key = str(target)
        if key in targets:
            problems.append(f"sessions {targets[key]!r} and {entry.session_id!r} would both write {target}")
            continue
        targets[key] = entry.session_id
        raw = entry.source if isinstance(entry.source, list) else [entry.source]
        sources = [str((base / p).resolve()) if not Path(p).is_absolute() else str(p) for p in raw]
        tasks.append(_Task(
            session_id=entry.session_id, sources=sources, format=entry.format or spec.format,
            options=_json_ready({**spec.options, **entry.options}), metadata=_json_ready(merged),
            conversion=spec.conversion.model_dump(), target=str(target),
        ))
    if problems:
        raise MetadataError(f"{len(problems)} of {len(spec.sessions)} sessions cannot start; nothing was "
                            "converted:\n  - " + "\n  - ".join(problems))
    return tasks


# ---------------------------------------------------------------------- one session (runs on a worker)
def _read_manifest(target: Path) -> dict | None:
    try:
        return json.loads(manifest_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_manifest(target: Path, content: dict) -> None:
    path = manifest_path(target)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(content, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temp, path)


def _is_current(task: _Task) -> bool:
    target = Path(task.target)
    manifest = _read_manifest(target)
    # only a conversion that finished counts: "writing" is what an interrupted or failed one leaves behind
    if not (target.is_file() and manifest is not None and manifest.get("status") == "done"
            and manifest.get("ophysio_version") == __version__
            and manifest.get("inputs") == _json_ready(task.inputs())):
        return False
    # every file the extractor read (a series found from its first file, say) is unchanged
    read = manifest.get("files_read") or []
    return _stat_files([f["path"] for f in read]) == read


def _open_source(task: _Task):
    from .interfaces import interface_from_paths

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
    from .nwb import write_nwb

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


# ---------------------------------------------------------------------- results
@dataclass
class SessionResult:
    """How one session went."""

    session_id: str
    status: str  #: ``done``, ``skipped`` (already converted) or ``failed``
    path: Path
    sources: list[str]
    seconds: float = 0.0  #: conversion time on the worker
    size: int = 0  #: bytes of the NWB file
    error: str | None = None  #: the reason of a failure
    traceback: str | None = None


@dataclass
class BatchResult:
    """All sessions of a run, and the table printed at its end."""

    results: list[SessionResult]
    output_folder: Path
    wall_seconds: float = 0.0
    swept: list[Path] = field(default_factory=list)  #: partial files of killed writers that were removed

    def _with(self, status: str) -> list[SessionResult]:
        return [r for r in self.results if r.status == status]

    @property
    def done(self) -> list[SessionResult]:
        return self._with("done")

    @property
    def skipped(self) -> list[SessionResult]:
        return self._with("skipped")

    @property
    def failed(self) -> list[SessionResult]:
        return self._with("failed")

    @property
    def ok(self) -> bool:
        """True when no session failed."""
        return not self.failed

    def table(self) -> str:
        """One line per session (status, time, size, file or reason) and a totals line."""
        width = max([len("session")] + [len(r.session_id) for r in self.results])
        lines = [f"{'session':<{width}}  {'status':<7}  {'time':>8}  {'size':>10}  file / reason"]
        for r in self.results:
            if r.status == "failed":
                detail = f"{', '.join(r.sources)}: {r.error}"
            else:
                detail = str(r.path.relative_to(self.output_folder)) if r.path.is_relative_to(self.output_folder) \
                    else str(r.path)
            seconds = f"{r.seconds:.1f} s" if r.status == "done" else ""
            size = f"{r.size / 1e6:.1f} MB" if r.status != "failed" else ""
            lines.append(f"{r.session_id:<{width}}  {r.status:<7}  {seconds:>8}  {size:>10}  {detail}")
        total = sum(r.size for r in self.results if r.status != "failed")
        lines.append(f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed in "
                     f"{self.wall_seconds:.1f} s; {total / 1e6:.1f} MB in {self.output_folder}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _describe_failure(exc: BaseException) -> str:
    name = exc.__class__.__name__
    if name == "KilledWorker":
        return ("the worker died while converting it several times (killed, or out of memory: raise "
                "memory_limit / --memory-limit); run again to retry")
    text = str(exc).strip() or repr(exc)
    return f"{name}: {text}"


# ---------------------------------------------------------------------- the driver
#: Dask settings of the local cluster. A worker's statistical profiler samples its thread's stack every
#: 10 ms and its event loop checks its own health every 20 ms: both take the GIL from the converting
#: thread, for a profile and warnings nobody reads here (tasks last seconds, not milliseconds).
LOCAL_CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "500ms",
                        "distributed.admin.tick.limit": "30s", "distributed.admin.system-monitor.interval": "2s"}


def _start_cluster(workers: int, memory_limit: str | int | None):
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set(LOCAL_CLUSTER_CONFIG):  # nannies pass the configuration on to their workers
        # dashboard on a free port: a fixed one collides with any other cluster on the machine
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                               dashboard_address=":0", env=dict(WORKER_ENV), silence_logs=logging.CRITICAL)
    return Client(cluster), cluster


def convert_sessions(
    sessions: str | os.PathLike | Mapping | BatchSpec | Sequence[Mapping],
    output_folder: str | os.PathLike,
    client: Any = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    memory_limit: str | int | None = "4GiB",
    retries: int = 1,
    compression_threads: int | None = 1,
    progress: bool = True,
    session_timeout: float | None = None,
) -> BatchResult:
    """Convert many sessions to NWB on Dask, one session per task; re-runs skip what is done.

    Parameters
    ----------
    sessions : path, mapping, BatchSpec, or list of session mappings
        The batch spec (see the module documentation); a list is taken as the ``sessions`` of a spec with
        no global metadata.
    output_folder : path
        Where the files go (``sub-*/sub-*_ses-*_ophys.nwb`` with DANDI naming).
    client : distributed.Client, optional
        An existing client (of any cluster). When omitted, ``scheduler`` or a new local cluster is used.
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://10.0.0.5:8786``.
    workers : int, optional
        Processes of the local cluster (default: the cores available, at most one per session).
    memory_limit : str or int, optional
        Memory limit of each local worker (Dask's ``memory_limit``, e.g. ``"4GiB"``).
    retries : int
        Extra attempts of a session that failed for a reason another attempt may cure (an OSError, say);
        ophysio's own errors (corrupt or malformed input, missing metadata) are reported at once. A task
        whose worker dies is moved to another worker by Dask in any case.
    compression_threads : int, optional
        Compression threads per session (one per worker process by default: the processes are the
        parallelism). None lets :func:`ophysio.write_nwb` use every core.
    progress : bool
        Show a tqdm bar over sessions and print the summary table at the end.
    session_timeout : float, optional
        Seconds a session may take on a worker. Past it the worker process is ended (nothing else can
        stop a thread inside libhdf5, which loops forever on some damaged files), Dask retries the session
        on a fresh worker and, after ``distributed.scheduler.allowed-failures`` (3) such ends, reports it
        failed with the reason. Other sessions of that worker are retried elsewhere. None: no limit.

    Returns
    -------
    BatchResult
        One :class:`SessionResult` per session; ``result.ok`` is False if any failed.

    Raises
    ------
    MetadataError
        The spec is invalid, or sessions lack required (DANDI) metadata: nothing is converted then.
    """
    started = time.perf_counter()
    if isinstance(sessions, Sequence) and not isinstance(sessions, (str, bytes)):
        sessions = {"sessions": [dict(s) for s in sessions]}
    spec = load_batch_spec(sessions)
    output = Path(output_folder).resolve()
    tasks = plan_sessions(spec, output)
    if session_timeout is not None and not session_timeout > 0:
        raise ValueError(f"session_timeout must be a positive number of seconds, got {session_timeout!r}")
    for task in tasks:
        task.compression_threads = compression_threads
        task.timeout = session_timeout
    output.mkdir(parents=True, exist_ok=True)
    swept = [p for task in tasks for p in sweep_partials(Path(task.target))]

    results: dict[str, SessionResult] = {}
    pending: list[_Task] = []
    for task in tasks:
        if _is_current(task):
            results[task.session_id] = SessionResult(task.session_id, "skipped", Path(task.target), task.sources,
                                                     size=Path(task.target).stat().st_size)
        else:
            pending.append(task)

    if pending:
        own_client = own_cluster = None
        quiet = logging.getLogger("distributed")
        level = quiet.level
        if client is None:
            if scheduler:
                from distributed import Client

                client = own_client = Client(scheduler)
            else:
                count = workers or min(len(pending), os.cpu_count() or 1)
                quiet.setLevel(logging.ERROR)  # our cluster's start/stop chatter; the table reports failures
                client, own_cluster = _start_cluster(count, memory_limit)
                own_client = client
        try:
            _run(client, pending, results, retries, progress, len(tasks), len(tasks) - len(pending))
        finally:
            if own_client is not None:
                own_client.close()
            if own_cluster is not None:
                own_cluster.close()
            quiet.setLevel(level)
        swept += [p for task in pending for p in sweep_partials(Path(task.target))]

    order = {task.session_id: i for i, task in enumerate(tasks)}
    result = BatchResult(sorted(results.values(), key=lambda r: order[r.session_id]), output,
                         time.perf_counter() - started, swept)
    if progress:
        print(result.table(), file=sys.stdout, flush=True)
    return result


def _run(client, pending: list[_Task], results: dict[str, SessionResult], retries: int, progress: bool,
         total: int, already: int) -> None:
    from distributed import as_completed
    from tqdm.auto import tqdm

    futures = {}
    waiting = list(pending)

    throttle = any(task.timeout for task in pending)
    every_worker = {"n_workers": -1} if throttle and _takes_n_workers(client) else {}

    def submit_more(running) -> None:
        # With session_timeout, as many sessions as the cluster has threads now (it may grow or shrink): a
        # session waits here, not queued behind one on a worker, where the end of that worker would count
        # against it too. Otherwise all at once: handing them out costs a round trip per session.
        slots = len(waiting) + len(futures)
        if throttle:
            info = client.scheduler_info(**every_worker)
            slots = max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))
        while waiting and len(futures) < slots:
            task = waiting.pop(0)
            future = client.submit(_convert_task, task, key=f"ophysio-session-{task.session_id}-{os.getpid()}-"
                                   f"{time.monotonic_ns()}", retries=retries, pure=False)
            futures[future] = task
            if running is not None:
                running.add(future)

    submit_more(None)
    running = as_completed(list(futures))
    with tqdm(total=total, initial=already, desc="sessions", unit="session", disable=not progress) as bar:
        for future in running:
            task = futures.pop(future)
            target = Path(task.target)
            try:
                outcome = future.result()
            except Exception as exc:  # one session's failure never stops the others
                import traceback as tb

                error = _describe_failure(exc)
                trace = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
                stacks = _take_timeout_report(target)
                if exc.__class__.__name__ == "KilledWorker" and stacks is not None:
                    error = (f"still converting after session_timeout ({task.timeout:g} s), so its worker was "
                             "ended (a damaged file a C library loops on, or a session too long for the "
                             "timeout); the traceback holds where it was")
                    trace = stacks
                results[task.session_id] = SessionResult(task.session_id, "failed", target, task.sources,
                                                         error=error, traceback=trace)
                bar.set_postfix_str(f"{task.session_id} failed", refresh=False)
            else:
                results[task.session_id] = SessionResult(task.session_id, outcome["status"], target, task.sources,
                                                         seconds=outcome["seconds"], size=outcome["size"],
                                                         error=outcome.get("error"))
            finally:
                future.release()
            bar.update(1)
            submit_more(running)


def _takes_n_workers(client) -> bool:
    """Whether ``client.scheduler_info`` lists every worker only when asked (``n_workers=-1``, newer Dask)."""
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters
