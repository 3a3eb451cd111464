"""The ``ophysio`` parser and :func:`main`, which runs one sub-command and maps errors to exit statuses."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from .. import __version__
from ..errors import OphysioError
from . import batch, convert, info
from .os_errors import describe_os_error

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ophysio", description="Read optical-physiology imaging files and convert them to NWB."
    )
    parser.add_argument("--version", action="version", version=f"ophysio {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    info.register(sub)
    convert.register(sub)
    batch.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command; return its exit status.

    Exit status 2: the inputs or options are wrong (ophysio's own errors, a missing source). 1: the
    operating system refused or failed (a full disk, no permission, a read-only file system, a file where
    a folder should be) or the output is a folder ophysio will not replace; one line on stderr names the
    path and the cause. 130: interrupted (Ctrl-C). Temporary files are removed on the way out by the
    writers themselves.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _one_line_warning(args.command)
        return _run(args)


def _one_line_warning(command: str):
    """Show a warning as one line, ``ophysio COMMAND: warning: MESSAGE``, without the code line under it."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"ophysio {command}: warning: {message}", file=sys.stderr)

    return show


def _run(args: argparse.Namespace) -> int:
    from ..conversion._atomic import OutputRefusedError

    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"ophysio {args.command}: interrupted", file=sys.stderr)
        return 130
    except OutputRefusedError as exc:
        print(f"ophysio {args.command}: {exc}", file=sys.stderr)
        return 1
    except OphysioError as exc:
        print(f"ophysio {args.command}: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"ophysio {args.command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ophysio {args.command}: {describe_os_error(exc, getattr(args, 'output', None))}", file=sys.stderr)
        return 1
