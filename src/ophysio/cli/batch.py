"""Command-line commands for many sessions and for DANDI: ``convert-batch``, ``validate``, ``upload``, ``preview``.

:func:`register` adds them to the ``ophysio`` parser; each handler returns the exit status.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .options import parse_key_values

__all__ = ["register", "cmd_convert_batch", "cmd_validate", "cmd_upload", "cmd_preview"]


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"a positive number of seconds, not {text!r}")
    return value


def cmd_convert_batch(args: argparse.Namespace) -> int:
    """``ophysio convert-batch SPEC.yaml -o FOLDER``: exit 0 when every session is done or skipped, 1 otherwise."""
    from ..conversion.batch import convert_sessions

    result = convert_sessions(args.spec, args.output, scheduler=args.scheduler, workers=args.workers,
                              memory_limit=args.memory_limit, retries=args.retries,
                              progress=not args.quiet, session_timeout=args.session_timeout)
    if args.quiet:
        print(result.table())
    for failure in result.failed:
        print(f"ophysio convert-batch: session {failure.session_id!r} failed: {failure.error}", file=sys.stderr)
    return 0 if result.ok else 1


def cmd_validate(args: argparse.Namespace) -> int:
    """``ophysio validate PATH``: one report per NWB file; exit 1 when any file has an error."""
    from ..conversion.batch.validate import format_reports, validate_path

    dandi = None if args.dandi == "auto" else args.dandi == "yes"
    if args.dandiset is not None:
        _dandiset_stub(Path(args.path), args.dandiset)
    reports = validate_path(args.path, dandi=dandi, workers=args.workers)
    print(format_reports(reports))
    return 0 if all(r.ok for r in reports) else 1


def _dandiset_stub(path: Path, dandiset: str) -> None:
    """``validate --dandiset ID``: a minimal ``dandiset.yaml`` in the folder (a file's folder) when neither it
    nor a parent has one, so that ``dandi validate`` runs before the dandiset is downloaded or even exists."""
    import re

    from ..conversion.batch.dandi import write_dandiset_yaml
    from ..conversion.batch.validate import _find_dandiset_root
    from .options import UsageError

    if not re.fullmatch(r"\d{6}", dandiset):
        raise UsageError(f"--dandiset takes a six-digit dandiset id such as 000123, not {dandiset!r}")
    if not path.exists():
        return  # validate names the missing path
    root = _find_dandiset_root(path)
    if root is not None:
        print(f"using {root / 'dandiset.yaml'} (already there; --dandiset {dandiset} does not replace it)")
        return
    written = write_dandiset_yaml(path if path.is_dir() else path.parent, dandiset)
    print(f"wrote {written} (a minimal stub for dandiset {dandiset}; `dandi download` gets the real one)")


def cmd_upload(args: argparse.Namespace) -> int:
    """``ophysio upload FOLDER --dandiset ID [--sandbox]``: validate, then upload with the dandi package."""
    from ..conversion.batch.dandi import upload_folder

    staged = upload_folder(args.folder, args.dandiset, sandbox=args.sandbox, validate=not args.no_validate)
    print(f"uploaded {args.folder} to dandiset {args.dandiset} ({'sandbox' if args.sandbox else 'dandi'}) "
          f"from {staged}")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    """``ophysio preview SOURCE_OR_NWB -o DIR``: PNGs and an index.html (a batch spec gives one row per session)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print('ophysio preview: needs matplotlib: pip install "ophysio[preview]"', file=sys.stderr)
        return 1
    from ..preview import preview, preview_sessions

    source = Path(args.source)
    if source.suffix.lower() in (".yaml", ".yml") and source.is_file():
        from ..conversion.batch import load_batch_spec, session_metadata

        spec = load_batch_spec(source)
        base = Path(spec.base_folder or ".")
        sessions = []
        for entry in spec.sessions:
            paths = entry.source if isinstance(entry.source, list) else [entry.source]
            metadata = session_metadata(spec, entry)
            sessions.append((entry.session_id, [str(base / p) for p in paths], metadata,
                             entry.format or spec.format, {**spec.options, **entry.options}))
        index = preview_sessions(sessions, args.output, timezone=args.timezone or spec.conversion.timezone)
        print(f"preview of {len(sessions)} sessions: {index}")
        return 0
    metadata = None
    if args.metadata:
        from ..conversion.metadata import load_metadata

        metadata = load_metadata(args.metadata)
    session = preview(args.source, args.output, metadata=metadata, format=args.format,
                      options=parse_key_values(args.option), timezone=args.timezone)
    print(f"preview: {session.index}")
    failing = [item for ok, item in session.checklist if not ok]
    if failing:
        print("to give before a DANDI-ready conversion:")
        for item in failing:
            print(f"  - {item}")
    return 0




def register(subparsers) -> None:
    """Add ``convert-batch``, ``validate``, ``upload`` and ``preview`` to the ``ophysio`` sub-command parsers."""
    p = subparsers.add_parser("convert-batch", help="convert the sessions of a YAML spec on Dask (DANDI layout)")
    p.add_argument("spec", metavar="SPEC.yaml", help="batch spec: metadata, options and sessions")
    p.add_argument("-o", "--output", required=True, metavar="FOLDER", help="output folder")
    p.add_argument("--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler "
                   "(default: start a local cluster)")
    p.add_argument("--workers", type=int, metavar="N", help="processes of the local cluster (default: cores)")
    p.add_argument("--memory-limit", default="4GiB", help="memory limit per local worker (default 4GiB)")
    p.add_argument("--retries", type=int, default=1, help="extra attempts of a failing session (default 1)")
    p.add_argument("--session-timeout", type=_positive_seconds, metavar="SECONDS",
                   help="end a worker whose session runs longer than this (default: no limit)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_convert_batch)

    p = subparsers.add_parser("validate", help="check NWB files with pynwb, nwbinspector (DANDI config), dandi")
    p.add_argument("path", metavar="PATH", help="an NWB file or a folder of them")
    p.add_argument("--dandi", choices=("auto", "yes", "no"), default="auto",
                   help="run `dandi validate` too (auto: when the dandi package is installed; it needs a "
                   "dandiset.yaml in the folder or a parent: --dandiset writes a stub)")
    p.add_argument("--dandiset", metavar="ID", help="six-digit dandiset id: write a minimal dandiset.yaml into "
                   "the folder (a file's folder) first, when neither it nor a parent has one")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="files validated in parallel (default 1)")
    p.set_defaults(func=cmd_validate)

    p = subparsers.add_parser("upload", help="validate a folder and upload it to a DANDI dandiset (extra dandi)")
    p.add_argument("folder", metavar="FOLDER", help="output folder of convert-batch")
    p.add_argument("--dandiset", required=True, metavar="ID", help="six-digit dandiset id, e.g. 000123")
    p.add_argument("--sandbox", action="store_true", help="use the sandbox instance (DANDI_SANDBOX_API_KEY)")
    p.add_argument("--no-validate", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_upload)

    p = subparsers.add_parser("preview", help="images, timing and a DANDI checklist of a source or NWB file "
                              "(extra preview)")
    p.add_argument("source", metavar="SOURCE_OR_NWB", help="a source file, an NWB file, or a batch SPEC.yaml")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the PNGs and index.html")
    p.add_argument("--format", help="format id of the source (detected when omitted)")
    p.add_argument("--metadata", metavar="META.yaml", help="metadata the source would be converted with")
    p.add_argument("--timezone", metavar="ZONE", help="zone of a start time recorded without one, as convert's "
                   "(default for a batch spec: its conversion.timezone)")
    p.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE",
                   help="extractor keyword, e.g. -O sampling_frequency=30 (VALUE parsed as JSON if it can be)")
    p.set_defaults(func=cmd_preview)
