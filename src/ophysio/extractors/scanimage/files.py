"""Finding the files of a ScanImage multi-file series from its first file.

ScanImage names the files of an acquisition ``<base>_<acquisition>_<file>.tif`` when a grab splits
its frames over files (``SI.hScan2D.logFramesPerFile`` finite), and ``<base>_<number>.tif`` for the
files of a loop acquisition or of a slow volumetric stack. The numbers are zero-padded counters that
start at 1. :func:`find_series_files` applies these rules, sorts the members naturally, excludes files
that match the prefix but not the numbering (with a warning), and reports gaps in the numbering.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

from natsort import natsorted

from ...errors import FileSetError

__all__ = ["find_series_files", "check_files_exist", "series_prefix"]


def series_prefix(path: Path, frame_data: dict[str, Any], volumetric: bool) -> tuple[str | None, str]:
    """The name prefix shared by the series' files and the acquisition mode it was chosen by.

    Returns ``(None, mode)`` when the file stands alone.
    """
    stem = path.stem
    state = frame_data.get("SI.acqState")
    per_file = frame_data.get("SI.hScan2D.logFramesPerFile", math.inf)
    try:
        finite = math.isfinite(float(per_file))
    except (TypeError, ValueError):
        finite = False
    parts = stem.split("_")
    if state == "grab" and finite:
        if len(parts) >= 3 and parts[-1].isdigit() and parts[-2].isdigit():
            return "_".join(parts[:-1]) + "_", "grab"
        return None, "grab"
    if state == "loop" or (frame_data.get("SI.hStackManager.stackMode") == "slow" and volumetric):
        mode = "loop" if state == "loop" else "slow stack"
        if len(parts) >= 2 and parts[-1].isdigit():
            return "_".join(parts[:-1]) + "_", mode
        return None, mode
    return None, str(state)


def find_series_files(
    path: Path, frame_data: dict[str, Any], volumetric: bool, on_missing_files: str = "warn"
) -> list[Path]:
    """The files of the series ``path`` belongs to, in acquisition order.

    Parameters
    ----------
    path : Path
        Any file of the series (normally the first).
    frame_data : dict
        Its parsed ``SI.*`` frame data.
    volumetric : bool
        Whether the acquisition is volumetric (slow stacks split files only then).
    on_missing_files : {"warn", "raise"}
        What to do about a gap in the numbering.
    """
    prefix, mode = series_prefix(path, frame_data, volumetric)
    if prefix is None:
        return [path]
    suffix = path.suffix
    candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix) and p.suffix == suffix]
    members: dict[int, Path] = {}
    excluded: list[str] = []
    for candidate in natsorted(candidates, key=lambda p: p.name):
        middle = candidate.name[len(prefix) : len(candidate.name) - len(suffix)]
        if middle.isdigit() and candidate.is_file():
            members[int(middle)] = candidate
        else:
            excluded.append(candidate.name)
    if excluded:
        warnings.warn(
            f"{len(excluded)} file(s) beside {path.name} match the series name {prefix}*{suffix} but not its "
            f"numbering and were left out: {', '.join(excluded[:10])}{' ...' if len(excluded) > 10 else ''}; "
            "pass file_paths= to choose the files yourself",
            UserWarning,
            stacklevel=3,
        )
    if path.name not in {p.name for p in members.values()}:
        members[int(path.name[len(prefix) : len(path.name) - len(suffix)])] = path
    numbers = sorted(members)
    width = len(path.name) - len(prefix) - len(suffix)
    missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
    if missing:
        names = [f"{prefix}{n:0{width}d}{suffix}" for n in missing]
        message = (
            f"the {mode} series {prefix}*{suffix} in {path.parent} is incomplete: "
            f"{', '.join(names[:10])}{' ...' if len(names) > 10 else ''} "
            f"{'is' if len(names) == 1 else 'are'} missing ({len(numbers)} of {numbers[-1]} files found)"
        )
        if on_missing_files == "raise":
            raise FileSetError(message + "; pass file_paths= to read the files that exist")
        warnings.warn(message + "; the samples of the missing files are skipped", UserWarning, stacklevel=3)
    return [members[n] for n in numbers]


def check_files_exist(paths: list[Path]) -> None:
    """Raise :class:`FileSetError` naming every path of an explicit list that is not a file."""
    absent = [str(p) for p in paths if not os.path.isfile(p)]
    if absent and len(paths) == 1:
        raise FileSetError(f"{absent[0]} does not exist (or is not a file)")
    if absent:
        raise FileSetError(
            f"{len(absent)} of the {len(paths)} files of the series do not exist: {', '.join(absent[:10])}"
            f"{' ...' if len(absent) > 10 else ''}"
        )
