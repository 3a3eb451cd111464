"""The ``ophysio`` parser and :func:`main`, which runs one sub-command and maps errors to exit statuses."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from .. import __version__
from ..errors import OphysioError, UnknownFormatError
from . import batch, convert, info
from .os_errors import describe_os_error

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ophysio", description="Read optical-physiology imaging files and convert them to NWB.",
        epilog="exit status: 0 done; 1 reading, checking or writing failed (one line names the path and the "
        "cause); 2 the command line is wrong; 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"ophysio {__version__}")
    verbose_help = "say more when something fails (e.g. what each format said of a file none reads)"
    parser.add_argument("-v", "--verbose", action="store_true", help=verbose_help)
    sub = parser.add_subparsers(dest="command", required=True)
    info.register(sub)
    convert.register(sub)
    batch.register(sub)
    for command in sub.choices.values():  # also after the command: `ophysio info x --verbose`
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=verbose_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command; return its exit status.

    ====  ==========================================================================================
    0     done
    1     anything went wrong while reading, checking or writing: a source ophysio cannot read or
          that is damaged, missing metadata, an output that exists (``--overwrite`` replaces it), a
          full disk, no permission; one line on stderr names the path and the cause, and no temporary
          file is left
    2     the command line itself is wrong (argparse's errors, no PATH, an output name that says no
          format, a flag that contradicts a metadata file)
    130   interrupted (Ctrl-C)
    ====  ==========================================================================================

    Advice in a library message is given in the command line's words (``--overwrite``,
    ``--format``, ``-O sampling_frequency=HZ``).
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
    from .options import UsageError, in_cli_words

    def say(text: str) -> None:
        print(f"ophysio {args.command}: {in_cli_words(text, bool(getattr(args, 'to', None)))}", file=sys.stderr)

    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"ophysio {args.command}: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:
        say(str(exc))
        return 2
    except UnknownFormatError as exc:
        # one line; what each format said only with --verbose (the library's full text is str(exc))
        if getattr(args, "verbose", False) or not exc.summary:
            say(str(exc))
        else:
            say(exc.summary)
        return 1
    except OphysioError as exc:
        say(str(exc))
        return 1
    except OSError as exc:
        say(describe_os_error(exc, getattr(args, "output", None)))
        return 1
