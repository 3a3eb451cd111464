"""What every benchmark script measures the same way: this process's memory from /proc/self/status.

Peak RSS is ``VmHWM``, which starts afresh at exec; ``ru_maxrss`` would carry the forking parent's peak
over, so a child measured with it could report the parent's size. The scripts import this module by
name (their own folder is on ``sys.path`` when they run as scripts).
"""

from __future__ import annotations

import resource


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
