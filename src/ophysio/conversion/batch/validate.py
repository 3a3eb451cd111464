"""Check NWB files before they go to DANDI: one readable report per file.

Each file is checked by:

* **pynwb**: validation of the file against the NWB schema it was written with;
* **nwbinspector** with its ``dandi`` configuration (the one DANDI applies at upload: missing subject
  fields are critical there);
* **dandi validate**, when the ``dandi`` package is installed (``pip install "ophysio[dandi]"``): DANDI's
  own check, which runs the two above itself and adds DANDI's rules for file and folder names. It needs a
  ``dandiset.yaml`` in the folder or a parent (``dandi download`` gets the real one;
  ``ophysio validate PATH --dandiset ID`` or :func:`ophysio.conversion.batch.dandi.write_dandiset_yaml`
  writes a minimal one); without it pynwb and
  nwbinspector run directly and the report says that dandi validate did not run, and why.

Errors make :attr:`FileReport.ok` False (and ``ophysio validate`` exit with status 1); warnings and hints
are reported but pass.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Finding", "FileReport", "validate_file", "validate_path", "format_report", "format_reports",
           "find_nwb_files", "dandi_available"]

ERROR, WARNING, HINT, NOTE = "error", "warning", "hint", "note"
_ORDER = {ERROR: 0, WARNING: 1, HINT: 2, NOTE: 3}


@dataclass(frozen=True)
class Finding:
    """One message about one file."""

    severity: str  #: ``error``, ``warning``, ``hint`` or ``note`` (a check that did not run, and why)
    checker: str  #: ``pynwb``, ``nwbinspector``, ``dandi`` or ``ophysio``
    message: str
    location: str = ""  #: object path inside the file, when known
    check: str = ""  #: name of the check, when known

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location and self.location != "/" else ""
        name = f" [{self.check}]" if self.check else ""
        return f"{self.checker}{name}{where}: {self.message}"


@dataclass
class FileReport:
    """All findings for one file."""

    path: Path
    findings: list[Finding] = field(default_factory=list)
    checkers: list[str] = field(default_factory=list)  #: the checkers that ran

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def ok(self) -> bool:
        """True when no checker reported an error."""
        return not self.errors

    def __str__(self) -> str:
        return format_report(self)


def dandi_available() -> bool:
    """Whether the ``dandi`` package can be imported."""
    try:
        import dandi  # noqa: F401
    except ImportError:
        return False
    return True


def find_nwb_files(path: str | os.PathLike) -> list[Path]:
    """``path`` itself if it is a file, else every ``*.nwb`` below it (hidden and partial files skipped)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist")
    return sorted(
        p for p in path.rglob("*.nwb")
        if not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def _find_dandiset_root(path: Path) -> Path | None:
    for folder in [path if path.is_dir() else path.parent, *path.resolve().parents]:
        if (folder / "dandiset.yaml").is_file():
            return folder
    return None


def _run_pynwb(path: Path, report: FileReport) -> None:
    from pynwb import validate

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            errors = validate(path=str(path))
    except Exception as exc:  # an unreadable file is a finding, not a crash of the whole report
        report.findings.append(Finding(ERROR, "pynwb", f"could not be read: {exc.__class__.__name__}: {exc}"))
        return
    if isinstance(errors, tuple):  # older pynwb returned (errors, status)
        errors = errors[0]
    for error in errors:
        location = getattr(error, "location", "") or ""
        reason = getattr(error, "reason", None) or str(error)
        name = getattr(error, "name", "")
        report.findings.append(Finding(ERROR, "pynwb", f"{name}: {reason}" if name else reason, str(location)))


def _run_nwbinspector(path: Path, report: FileReport) -> None:
    from nwbinspector import Importance, inspect_nwbfile, load_config

    severity = {"ERROR": ERROR, "PYNWB_VALIDATION": ERROR, "CRITICAL": ERROR,
                "BEST_PRACTICE_VIOLATION": WARNING, "BEST_PRACTICE_SUGGESTION": HINT}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            messages = list(inspect_nwbfile(nwbfile_path=str(path), skip_validate=True,
                                            config=load_config(filepath_or_keyword="dandi"),
                                            importance_threshold=Importance.BEST_PRACTICE_SUGGESTION))
    except Exception as exc:
        report.findings.append(Finding(ERROR, "nwbinspector", f"could not inspect: {exc.__class__.__name__}: {exc}"))
        return
    for message in messages:
        if message is None:
            continue
        report.findings.append(Finding(
            severity.get(message.importance.name, WARNING), "nwbinspector", message.message,
            message.location or "", message.check_function_name,
        ))


def _dandi_note() -> Finding:
    return Finding(
        NOTE, "dandi", "dandi validate did not run: it needs a dandiset.yaml in the file's folder or a parent "
        "(`ophysio validate PATH --dandiset ID` writes a minimal one; "
        "`dandi download https://dandiarchive.org/dandiset/<ID>/draft` gets the real one)",
    )


def _run_dandi(path: Path, report: FileReport) -> None:
    """``dandi validate`` of one file: pynwb, nwbinspector (dandi config) and DANDI's layout rules."""
    try:
        from dandi.validate import validate as dandi_validate
    except ImportError:  # dandi >= 0.70 keeps it in a private module, as its own docs say to import it
        from dandi.validate._core import validate as dandi_validate

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = list(dandi_validate(str(path)))
    except Exception as exc:
        report.findings.append(Finding(ERROR, "dandi", f"dandi validate failed: {exc.__class__.__name__}: {exc}"))
        return
    for result in results:
        level = int(result.severity) if result.severity is not None else 30
        severity = ERROR if level >= 40 else WARNING if level >= 30 else HINT
        validator = str(getattr(result.origin, "validator", "")).lower()
        location = ""
        if result.within_asset_paths:
            location = str(next(iter(result.within_asset_paths.values())))
        if result.id.startswith("NWBI."):
            checker, check = "nwbinspector", result.id[len("NWBI."):]
        elif "pynwb" in validator:
            checker, check = "pynwb", ""
        else:
            checker, check = "dandi", result.id
        report.findings.append(Finding(severity, checker, result.message or result.id, location, check))


def validate_file(path: str | os.PathLike, dandi: bool | None = None) -> FileReport:
    """Validate one NWB file with pynwb, nwbinspector (``dandi`` config) and, if available, dandi.

    With dandi (and a ``dandiset.yaml`` above the file) the file is checked by ``dandi validate``, which
    runs pynwb's validation and nwbinspector with the dandi configuration itself, plus DANDI's rules for
    file and folder names; the report then lists its findings (nwbinspector's best-practice *suggestions*
    are below its threshold and do not appear). Otherwise pynwb and nwbinspector run directly.

    Parameters
    ----------
    path : path
        The NWB file.
    dandi : bool, optional
        Run ``dandi validate``. None (default) runs it when the dandi package is importable.
    """
    path = Path(path)
    report = FileReport(path)
    if not path.is_file():
        report.findings.append(Finding(ERROR, "ophysio", "file does not exist"))
        return report
    if dandi is None:
        dandi = dandi_available()
        if not dandi:
            report.findings.append(Finding(
                NOTE, "dandi", 'dandi validate did not run: the dandi package is not installed '
                '(pip install "ophysio[dandi]")'))
    if dandi and _find_dandiset_root(path) is not None:
        _run_dandi(path, report)
        report.checkers.append("dandi validate (pynwb, nwbinspector dandi config, DANDI layout)")
    else:
        if dandi:
            report.findings.append(_dandi_note())
        _run_pynwb(path, report)
        report.checkers.append("pynwb")
        if not any(f.message.startswith("could not be read") for f in report.errors):
            _run_nwbinspector(path, report)
            report.checkers.append("nwbinspector (dandi config)")
    report.findings.sort(key=lambda f: _ORDER[f.severity])
    return report


def validate_path(path: str | os.PathLike, dandi: bool | None = None, workers: int = 1) -> list[FileReport]:
    """Validate an NWB file, or every NWB file in a folder (one :class:`FileReport` each, in path order).

    Parameters
    ----------
    path : path
        A file, or a folder searched recursively (hidden files and folders skipped).
    dandi : bool, optional
        See :func:`validate_file`.
    workers : int
        Processes validating files in parallel (each file is independent; useful for hundreds).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist, or a folder holds no ``.nwb`` file.
    """
    files = find_nwb_files(path)
    if not files:
        raise FileNotFoundError(f"no .nwb files under {path}")
    if workers > 1 and len(files) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
        with ProcessPoolExecutor(max_workers=min(workers, len(files)), mp_context=context) as pool:
            return list(pool.map(validate_file, files, [dandi] * len(files)))
    return [validate_file(f, dandi=dandi) for f in files]


def format_report(report: FileReport, max_hints: int = 5) -> str:
    """A few readable lines: verdict, counts, then the findings (errors first)."""
    counts = {s: sum(f.severity == s for f in report.findings) for s in (ERROR, WARNING, HINT)}
    verdict = "OK  " if report.ok else "FAIL"
    lines = [f"{verdict} {report.path}  ({counts[ERROR]} errors, {counts[WARNING]} warnings, "
             f"{counts[HINT]} hints; checked by {', '.join(report.checkers) or 'nothing'})"]
    hints = 0
    for finding in report.findings:
        if finding.severity == HINT:
            hints += 1
            if hints > max_hints:
                continue
        lines.append(f"  {finding.severity:<7} {finding}")
    if hints > max_hints:
        lines.append(f"  ... and {hints - max_hints} more hints")
    return "\n".join(lines)


def format_reports(reports: Iterable[FileReport]) -> str:
    """Every report, then one summary line."""
    reports = list(reports)
    failed = sum(not r.ok for r in reports)
    body = "\n\n".join(format_report(r) for r in reports)
    return f"{body}\n\n{len(reports) - failed} of {len(reports)} files passed" + (
        f"; {failed} failed" if failed else "")
