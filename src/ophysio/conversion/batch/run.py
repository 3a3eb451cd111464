"""The driver: plan the sessions, start or join a Dask cluster, hand out one task per session, collect the results."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._atomic import sweep_partials
from .manifest import _is_current
from .plan import plan_sessions
from .results import BatchResult, SessionResult
from .spec import BatchSpec, load_batch_spec
from .task import WORKER_ENV, _Task
from .worker import _convert_task, _describe_failure, _take_timeout_report

__all__ = ["convert_sessions"]


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
    # a bar on a terminal; a plain line per session otherwise (a log file, a cluster job's output)
    terminal = progress and _is_terminal(sys.stdout)
    finished = already
    with tqdm(total=total, initial=already, desc="sessions", unit="session", disable=not terminal) as bar:
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
            finished += 1
            if progress and not terminal:
                result = results[task.session_id]
                print(f"sessions: {finished} of {total} done ({task.session_id}: {result.status})", flush=True)
            submit_more(running)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _takes_n_workers(client) -> bool:
    """Whether ``client.scheduler_info`` lists every worker only when asked (``n_workers=-1``, newer Dask)."""
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters
