"""One line for an operating-system error: the path it concerns, its cause and what to do."""

from __future__ import annotations

import errno
import os
import re

__all__ = ["describe_os_error"]


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
    from ..conversion._atomic import PARTIAL_SUFFIX

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
