"""How a run went: one :class:`SessionResult` per session and the :class:`BatchResult` table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SessionResult", "BatchResult"]


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
