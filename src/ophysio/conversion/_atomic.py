"""Outputs that appear at their path only when complete.

Every writer of ophysio writes beside the final path under a hidden temporary name, syncs it to disk,
and renames it into place at the end, so that an interrupted or failed write (or a power loss) leaves
nothing at the output path, and an existing output is replaced only when the caller said
``overwrite=True`` (``--overwrite``).

Overwrite replaces a file, or a folder that ophysio wrote itself (every folder output carries the marker
file :data:`OUTPUT_MARKER`; Zarr stores of earlier versions are known by ophysio's attributes); any other
folder, or a symbolic link to a folder, is refused and left untouched.

A temporary output is named ``.<name>.<host>-<pid>-<random>.partial`` (``<host>``: a short hash of the
machine's name). A writer killed outright leaves it behind; :func:`sweep_partials`, run by every
:func:`atomic_output` and by the batch, removes those whose writer is gone: on this machine when its
process no longer exists, from another machine (a folder shared by a cluster) when nothing in it changed
for :data:`FOREIGN_PARTIAL_AGE` seconds. The partial of a live writer is never touched.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .._version import __version__
from ..errors import OphysioError, OutputExistsError, OutputRefusedError

__all__ = ["atomic_output", "OutputExistsError", "OutputRefusedError", "partial_name_prefix", "sweep_partials",
           "is_ophysio_output", "OUTPUT_MARKER"]

#: Temporary outputs are named ``.<name>.<host>-<pid>-<random>.partial`` beside the final path.
PARTIAL_SUFFIX = ".partial"

#: The file every folder output of ophysio holds, so that ``overwrite`` knows the folder is ophysio's.
OUTPUT_MARKER = ".ophysio-output"

#: Seconds without any change after which a partial written on another machine counts as abandoned.
FOREIGN_PARTIAL_AGE = 24 * 3600

# .<name>.<host>-<pid>-<random>.partial, or .<name>.<random>.partial (earlier versions recorded no
# writer), optionally followed by a writer's sidecar suffix (OME-TIFF's _frame_metadata.json)
_PARTIAL = re.compile(r"^\.(?P<name>.+)\.(?:(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-)?[0-9a-f]{8}"
                      r"\.partial(?:_[A-Za-z0-9_.]+)?$")


def partial_name_prefix(path: str | os.PathLike) -> str:
    """The name prefix of temporary outputs for ``path`` (to find leftovers of killed writers)."""
    return f".{Path(path).name}."


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _partial_path(final: Path) -> Path:
    return final.with_name(f"{partial_name_prefix(final)}{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
                           f"{PARTIAL_SUFFIX}")


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:  # a writer that ended but was not reaped yet (a zombie) is gone too
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else (EPERM), or we cannot tell: keep its file
        return True
    return True


def _changed_since(path: Path, moment: float) -> bool:
    """Whether ``path`` or anything in it (a folder output) was modified after ``moment``."""
    try:
        if path.lstat().st_mtime > moment:
            return True
        if path.is_dir() and not path.is_symlink():
            for folder, _, files in os.walk(path):
                for name in [".", *files]:
                    if (Path(folder) / name).lstat().st_mtime > moment:
                        return True
    except OSError:
        return True  # cannot tell: keep it
    return False


def _is_stale(entry: Path, target: Path | None) -> bool:
    match = _PARTIAL.match(entry.name)
    if match is None:
        return False
    if match["host"] is None:  # no writer recorded: only as a leftover of this very target (the batch's rule)
        return target is not None and entry.name.startswith(partial_name_prefix(target))
    if match["host"] == _host_tag():
        return not _process_exists(int(match["pid"]))
    return not _changed_since(entry, time.time() - FOREIGN_PARTIAL_AGE)


def sweep_partials(target: str | os.PathLike) -> list[Path]:
    """Remove the temporary outputs of killed ophysio writers in the folder of ``target``; return them.

    A partial whose writer still runs (its process exists on this machine, or it changed recently on
    another machine) is left alone; so is every file that is not an ophysio partial.
    """
    target = Path(target)
    removed = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:  # no folder yet, or not readable: nothing to sweep
        return removed
    for entry in sorted(entries):
        if not _is_stale(entry, target):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:  # swept by another run at the same time
            continue
        except OSError:  # not ours to remove after all (permissions): leave it
            continue
        removed.append(entry)
    return removed


def is_ophysio_output(path: str | os.PathLike) -> bool:
    """Whether the folder at ``path`` is an output ophysio wrote (its marker, or a Zarr store of ophysio's)."""
    path = Path(path)
    marker = path / OUTPUT_MARKER
    if marker.is_file() and not marker.is_symlink():
        return True
    meta = path / "zarr.json"  # Zarr stores written before the marker: ophysio's attributes in the root group
    try:
        if not meta.is_file() or meta.is_symlink() or meta.stat().st_size > 1 << 20:
            return False
        attributes = json.loads(meta.read_text(encoding="utf-8")).get("attributes")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(attributes, dict) and isinstance(attributes.get("ophysio"), dict)


def _check_replaceable(final: Path) -> None:
    """Raise :class:`OutputRefusedError` unless overwrite may replace what is at ``final``."""
    if final.is_symlink():
        if final.is_dir():
            raise OutputRefusedError(
                f"{final} is a symbolic link to the folder {os.readlink(final)}; overwrite replaces a file or "
                "a folder ophysio wrote, never what a link points to: remove the link or choose another output")
        return  # a link to a file is itself replaced; the file it points to is left as it is
    if final.is_dir() and not is_ophysio_output(final):
        raise OutputRefusedError(
            f"{final} is a folder that ophysio did not write (it has no {OUTPUT_MARKER}); overwrite replaces a "
            "file or a folder ophysio wrote, nothing else: move or delete the folder yourself, or choose "
            "another output")


def _sync(path: Path) -> None:
    """fsync a file or folder where the platform allows it (folders cannot be opened on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _sync_tree(path: Path) -> None:
    """fsync a written file, or every file and folder of a written folder, before it is renamed in."""
    if path.is_dir():
        for folder, _, files in os.walk(path):
            for name in files:
                _sync(Path(folder) / name)
            _sync(Path(folder))
    else:
        _sync(path)


@contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on failure remove it.

    Works for files and for folders (Zarr stores, multi-file outputs): whatever the block creates at the
    temporary path is moved into place as a whole; a folder gets the :data:`OUTPUT_MARKER` file. Stale
    partial outputs of killed writers in the same folder are swept first (:func:`sweep_partials`).

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False (checked before and again after writing).
    OutputRefusedError
        ``overwrite`` is True but ``path`` is a folder ophysio did not write, or a link to a folder.
    """
    final = Path(path)
    if (final.exists() or final.is_symlink()) and not overwrite:
        raise OutputExistsError(f"{final} exists; pass overwrite=True to replace it")
    if overwrite:
        _check_replaceable(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # a file where a folder of the path should be
        raise NotADirectoryError(errno.ENOTDIR, "a file is in the way: it is not a folder", exc.filename) from None
    sweep_partials(final)
    temp = _partial_path(final)
    try:
        yield temp
        if not temp.exists():
            raise OphysioError(f"the writer produced nothing for {final}")
        if temp.is_dir():
            (temp / OUTPUT_MARKER).write_text(json.dumps({"written_by": "ophysio", "version": __version__}) + "\n",
                                              encoding="utf-8")
        _sync_tree(temp)
        _put_in_place(temp, final, overwrite)
        _sync(final.parent)  # make the rename itself durable
    finally:
        if temp.exists():
            shutil.rmtree(temp) if temp.is_dir() else temp.unlink()


def _put_in_place(temp: Path, final: Path, overwrite: bool) -> None:
    """Rename ``temp`` to ``final``, replacing what is there when ``overwrite`` allows it."""
    if not (final.exists() or final.is_symlink()):
        os.replace(temp, final)
        return
    if not overwrite:
        raise OutputExistsError(f"{final} appeared while writing; pass overwrite=True to replace it")
    _check_replaceable(final)  # again: it may have changed while we wrote
    if final.is_dir() and not final.is_symlink():
        # os.replace cannot replace a folder: move the old one aside under a partial name (swept if we are
        # killed now), put the new one in place, then delete the old one
        old = _partial_path(final)
        os.replace(final, old)
        os.replace(temp, final)
        shutil.rmtree(old, ignore_errors=True)
        return
    if temp.is_dir():  # a folder replaces a file (or a link to one): the link itself goes, not its target
        final.unlink()
    os.replace(temp, final)
