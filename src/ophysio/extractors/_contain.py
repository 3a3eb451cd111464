"""Containment: which files a reader may open when a dataset refers to them.

Files are untrusted input, and some formats refer to other files: HDF5 external links, virtual datasets
and external raw storage, OME-TIFF ``TiffData``/``UUID FileName`` and ``BinaryOnly`` companions,
suite2p's ``reg_file``. A reader follows such a reference only when the file it leads to lies inside
the dataset's folder (the folder of the file the user opened, or the folder the user passed), compared
by real path, so that a symlink inside the folder that points outside counts as outside. Anything else
is a :class:`~ophysio.errors.ContainmentError` that names the reference and the file that holds it.

Every reader that follows references takes the same keyword, ``allow_outside``:

- ``False`` (default): only inside the dataset's folder;
- ``True``: anywhere (for datasets you trust);
- a folder, or a list of folders: inside the dataset's folder or inside one of these.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ContainmentError, OptionError

__all__ = ["AllowOutside", "ReferencePolicy"]

#: What ``allow_outside=`` takes: a bool, one folder, or a list of folders.
AllowOutside = bool | str | os.PathLike | Sequence[str | os.PathLike]


def _real(path: str | os.PathLike) -> str:
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class ReferencePolicy:
    """Where references found in a dataset may lead.

    Attributes
    ----------
    root : str
        Real path of the dataset's folder.
    allowed : tuple of str, or None
        Real paths of the folders references may lead into (``root`` first); None: anywhere.
    opened : str or None
        Real path of the file the user opened, which references may always lead back to (even when it
        is a symlink to a file elsewhere).
    """

    root: str
    allowed: tuple[str, ...] | None
    opened: str | None = None

    @classmethod
    def for_dataset(cls, folder: str | os.PathLike, allow_outside: AllowOutside = False,
                    opened: str | os.PathLike | None = None) -> ReferencePolicy:
        """The policy of a dataset in ``folder`` (that of the file ``opened``) with the user's
        ``allow_outside`` option.

        Raises
        ------
        OptionError
            ``allow_outside`` is not a bool, a folder or a list of folders, or names a folder that does
            not exist (a typo must not silently allow nothing, nor everything).
        """
        root = _real(folder)
        opened = None if opened is None else _real(opened)
        if isinstance(allow_outside, bool):
            return cls(root, None if allow_outside else (root,), opened)
        if isinstance(allow_outside, (str, os.PathLike)):
            extra = [allow_outside]
        elif isinstance(allow_outside, Sequence) and all(isinstance(p, (str, os.PathLike)) for p in allow_outside):
            extra = list(allow_outside)
        else:
            raise OptionError(f"allow_outside must be True, False, a folder or a list of folders, not "
                              f"{allow_outside!r}")
        folders = [root]
        for path in extra:
            if not os.path.isdir(path):
                raise OptionError(f"allow_outside names {os.fspath(path)!r}, which is not an existing folder "
                                  f"(pass True to follow references anywhere)")
            folders.append(_real(path))
        return cls(root, tuple(folders), opened)

    def permits(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` (resolved: symlinks followed) may be read."""
        if self.allowed is None:
            return True
        real = _real(path)
        return real == self.opened or any(_inside(real, folder) for folder in self.allowed)

    def check(self, path: str | os.PathLike, reference: str, holder: str | os.PathLike) -> str:
        """``path`` when it may be read; else a :class:`ContainmentError` naming ``reference`` and ``holder``.

        Parameters
        ----------
        path : path
            Where the reference leads (the file that would be opened).
        reference : str
            What refers to it, in the format's words (``"external link 'mov' to '../x.h5'"``).
        holder : path
            The file that holds the reference.
        """
        if self.permits(path):
            return os.fspath(path)
        real = _real(path)
        shown = os.fspath(path)
        leads = shown if shown == real else f"{shown} ({real})"
        where = ("the dataset's folder " + self.root if self.allowed == (self.root,)
                 else "the dataset's folder and the allowed folders " + ", ".join(self.allowed or ()))
        raise ContainmentError(
            f"{os.fspath(holder)}: {reference} leads to {leads}, outside {where}; ophysio follows references "
            f"only inside the dataset's folder. If you trust this dataset, pass allow_outside=True (or "
            f"allow_outside=[folder, ...]; on the command line -O allow_outside=true)"
        )
