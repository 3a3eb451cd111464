"""Peak Python-visible allocation of one call (tracemalloc sees numpy buffers and bytes objects)."""

import tracemalloc
from collections.abc import Callable
from typing import Any


def traced_peak(call: Callable[[], Any]) -> tuple[Any, int]:
    """``(call(), peak bytes allocated while it ran)``."""
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak
