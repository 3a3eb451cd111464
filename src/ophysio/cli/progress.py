"""One progress display for a whole conversion: every photon series on one bar, in MB and MB/s.

On a terminal (stdout is one) it is a tqdm bar on stderr that ends at 100% and stays; otherwise (a log
file, a cluster job, a pipe) it is plain lines on stdout, one per tenth done and one at 100%, with no
carriage returns for a log to be littered with.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["ConversionProgress"]


class ConversionProgress:
    """A ``progress_callback(done, total)`` (samples, across every series) shown as bytes.

    Parameters
    ----------
    label : str
        What is written (the output's name).
    bytes_per_sample : float
        Bytes of one sample of the source (the bar counts MB, not samples).
    terminal : bool, optional
        Draw a bar (default: when stdout is a terminal); else log lines.
    """

    def __init__(self, label: str, bytes_per_sample: float, terminal: bool | None = None,
                 out: TextIO | None = None, err: TextIO | None = None):
        self.label = label
        self.bytes_per_sample = max(float(bytes_per_sample), 0.0)
        self.terminal = _is_terminal(sys.stdout) if terminal is None else terminal
        self.out = out
        self.err = err
        self._bar: Any = None
        self._total_bytes = 0
        self._done_bytes = 0
        self._next_tenth = 1
        self._started = time.perf_counter()  # MB/s over the conversion, file set-up included

    def _bytes(self, samples: int, total: int) -> int:
        return self._total_bytes if samples >= total else int(round(samples * self.bytes_per_sample))

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None and self._total_bytes == 0:
            self._total_bytes = max(int(round(total * self.bytes_per_sample)), 1)
            if self.terminal:
                from tqdm import tqdm

                self._bar = tqdm(total=self._total_bytes, unit="B", unit_scale=True, unit_divisor=1000,
                                 desc=self.label, file=self.err or sys.stderr, leave=True, dynamic_ncols=True)
        done_bytes = self._bytes(done, total)
        if self._bar is not None:
            self._bar.update(done_bytes - self._bar.n)
        else:
            tenth = min(done_bytes * 10 // self._total_bytes, 10)
            if tenth >= self._next_tenth:  # one line per tenth reached (a jump over several is one line)
                self._log(int(done_bytes * 100 // self._total_bytes), done_bytes)
                self._next_tenth = tenth + 1
        self._done_bytes = done_bytes

    def _log(self, percent: int, done_bytes: int) -> None:
        seconds = max(time.perf_counter() - self._started, 1e-9)
        print(f"{self.label}: {percent}% ({done_bytes / 1e6:.1f} of {self._total_bytes / 1e6:.1f} MB, "
              f"{done_bytes / 1e6 / seconds:.1f} MB/s)", file=self.out or sys.stdout, flush=True)

    def close(self) -> None:
        """End the bar (where it is: 100% after a whole conversion)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
