"""The ``ophysio`` command line: ``formats``, ``info``, ``convert``, ``metadata-template`` (and more).

``convert`` and ``metadata-template`` live in :mod:`ophysio._cli_convert`; the batch, validation, upload
and preview commands in :mod:`ophysio._cli_batch`.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from . import __version__
from ._cli_common import parse_key_values
from .errors import OphysioError

__all__ = ["main", "describe", "describe_os_error"]


def describe(extractor) -> dict[str, Any]:
    """The facts ``ophysio info`` prints, as a JSON-ready dict."""
    times = extractor.get_timestamps()
    n = extractor.get_num_samples()
    return {
        "format": extractor.format_id,
        "extractor": type(extractor).__name__,
        "files": extractor.get_file_paths(),
        "num_samples": n,
        "sample_shape": list(extractor.get_sample_shape()),
        "image_shape": list(extractor.get_image_shape()),
        "num_planes": extractor.get_num_planes(),
        "volumetric": extractor.is_volumetric(),
        "dtype": str(extractor.dtype),
        "sampling_frequency_hz": extractor.get_sampling_frequency(),
        "channel_name": extractor.channel_name,
        "channel_names": extractor.get_channel_names(),
        "native_timestamps": extractor.get_native_timestamps() is not None,
        "first_time_s": float(times[0]) if n else None,
        "last_time_s": float(times[-1]) if n else None,
        "size_bytes": extractor.nbytes,
        **_roi_facts(extractor),
    }


def _roi_facts(extractor) -> dict[str, Any]:
    """The ROI read and the ROIs of the source, for ScanImage multi-ROI acquisitions only."""
    layout = extractor.get_roi_layout() if hasattr(extractor, "get_roi_layout") else []
    if len(layout) < 2:
        return {}
    return {"roi_index": extractor.roi_index, "roi_name": extractor.roi_name,
            "roi_names": [roi["name"] for roi in layout]}


def _format_info(info: dict[str, Any]) -> str:
    shape = " x ".join(str(s) for s in info["sample_shape"])
    files = info["files"]
    lines = [
        f"format:      {info['format']} ({info['extractor']})",
        f"files:       {len(files)}" + (f" ({files[0]}{' ...' if len(files) > 1 else ''})" if files else ""),
        f"samples:     {info['num_samples']} of {shape} ({'volumes' if info['volumetric'] else 'frames'})",
        f"dtype:       {info['dtype']}",
        f"rate:        {info['sampling_frequency_hz']:.6g} Hz",
        f"channel:     {info['channel_name']} (source channels: {', '.join(info['channel_names'])})",
        f"planes:      {info['num_planes']}",
    ]
    if "roi_names" in info:
        chosen = "pages as stored" if info["roi_index"] is None else f"{info['roi_name']} (index {info['roi_index']})"
        lines.append(f"roi:         {chosen} (source ROIs: {', '.join(info['roi_names'])})")
    if info["num_samples"]:
        source = "recorded" if info["native_timestamps"] else "from the rate"
        lines.append(
            f"time span:   {info['first_time_s']:.6g} s to {info['last_time_s']:.6g} s ({source})"
        )
    lines.append(f"size:        {info['size_bytes'] / 1e6:.3f} MB")
    return "\n".join(lines)


def _cmd_formats(args: argparse.Namespace) -> int:
    from .extractors.registry import FORMATS

    if args.json:
        print(json.dumps([{"id": s.id, "suffixes": list(s.suffixes), "description": s.description,
                           "detected_from_content": s.sniff is not None, "writer": s.writer} for s in FORMATS],
                         indent=2))
        return 0
    width = max(len(spec.id) for spec in FORMATS)
    for spec in FORMATS:
        note = "" if spec.sniff is not None else "  [name it with --format]"
        note += f"  [write it with --to {spec.writer}]" if spec.writer else ""
        print(f"{spec.id:<{width}}  {', '.join(spec.suffixes):<28} {spec.description}{note}")
    return 0




def _cmd_info(args: argparse.Namespace) -> int:
    from .conversion.interfaces import interface_from_paths

    with tempfile.TemporaryDirectory(prefix="ophysio-example-") as tmp:
        kwargs: dict[str, Any] = {}
        if args.example:
            from .examples import write_example

            path, kwargs = write_example(args.example, tmp)
            paths = [str(path)]
        elif args.paths:
            paths = args.paths
        else:
            raise SystemExit("ophysio info: give a PATH or --example NAME")
        kwargs.update(parse_key_values(args.option))
        # through the format's interface: a multi-channel source gives one stream per channel
        interface = interface_from_paths(paths, format=args.format, **kwargs)
        try:
            streams = [describe(extractor) for extractor in interface.extractors]
        finally:
            interface.close()
    info = {**streams[0], "streams": streams}
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print("\n\n".join(_format_info(stream) for stream in streams))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ophysio", description="Read optical-physiology imaging files and convert them to NWB."
    )
    parser.add_argument("--version", action="version", version=f"ophysio {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("formats", help="list the formats ophysio reads")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_formats)

    p = sub.add_parser("info", help="describe a recording: format, samples, shape, dtype, rate, channels")
    p.add_argument("paths", nargs="*", metavar="PATH", help="a file or folder, or the files of one series")
    p.add_argument("--format", help="format id (see `ophysio formats`); detected when omitted")
    p.add_argument("--example", help="describe a built-in synthetic example instead (e.g. numpy)")
    p.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE",
                   help="extractor keyword, e.g. -O channel_name=Channel 2 (VALUE parsed as JSON if it can be)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_info)

    from ._cli_convert import register as register_convert

    register_convert(sub)
    from ._cli_batch import register as register_batch

    register_batch(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command; return its exit status.

    Exit status 2: the inputs or options are wrong (ophysio's own errors, a missing source). 1: the
    operating system refused or failed (a full disk, no permission, a read-only file system, a file where
    a folder should be) or the output is a folder ophysio will not replace; one line on stderr names the
    path and the cause. 130: interrupted (Ctrl-C). Temporary files are removed on the way out by the
    writers themselves.
    """
    from .conversion._atomic import OutputRefusedError

    parser = build_parser()
    args = parser.parse_args(argv)
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


#: What to do about the usual causes, by errno.
_OS_ERROR_ADVICE = {
    errno.ENOSPC: "free some space or write the output to another disk",
    errno.EDQUOT: "free some space or write the output to another disk",
    errno.EACCES: "choose a folder you may write to, or change its permissions",
    errno.EPERM: "choose a folder you may write to, or change its permissions (or attributes: chattr)",
    errno.EROFS: "choose an output on a writable file system",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another output path",
    errno.EISDIR: "choose another output path",
}


#: How numpy (``ndarray.tofile``) and tifffile word a short write, which they raise without an errno.
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written|not enough free space", re.IGNORECASE)


def describe_os_error(exc: OSError, output: str | None = None) -> str:
    """One line for an OSError: the path it concerns and its cause, and what to do.

    The path is the error's own file name, or ``output`` when it has none (libhdf5's errors name only
    the temporary file, which the user never asked for) or names a temporary ``.partial`` file.
    """
    from .conversion._atomic import PARTIAL_SUFFIX

    path = exc.filename
    if path is None or (output is not None and PARTIAL_SUFFIX in os.path.basename(os.fsdecode(path))):
        path = output
    code = exc.errno
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if not code and _SHORT_WRITE.search(text):  # numpy's tofile and tifffile report a full disk without errno
        code = errno.ENOSPC
        text = f"{os.strerror(code)} ({text})"
    cause = os.strerror(code) if exc.errno else text
    where = f"{os.fsdecode(path)}: " if path is not None else ""
    if exc.filename2 is not None:
        where = f"{os.fsdecode(exc.filename)} -> {os.fsdecode(exc.filename2)}: "
    advice = _OS_ERROR_ADVICE.get(code or 0)
    return f"{where}{cause}" + (f"; {advice}" if advice else "")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
