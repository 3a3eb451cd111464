"""HDF5 references to other files, checked against a :class:`~._contain.ReferencePolicy` before reading.

An HDF5 file can make a read open other files: an external link on the way to an object, a virtual
dataset (VDS) whose sources live in other files, and a dataset whose raw values are stored in external
files (``H5Pset_external``, h5py's ``external=``). :func:`check_object` walks the path of an object
link by link (never letting libhdf5 traverse an external link it has not checked), then inspects the
dataset it reaches, following what it finds into the files it leads to (opened by ophysio only once
they are known to be allowed), so that every file the read would open is checked first.

Where libhdf5 looks for the file of an external link or a VDS source is mirrored from
``H5F_prefix_open_file``: the name as given when absolute (else its last component is searched for),
the ``HDF5_EXT_PREFIX`` / ``HDF5_VDS_PREFIX`` folders, the folder of the file that holds the reference,
then the working directory. Every candidate that exists, up to the first HDF5 file (the one libhdf5
opens), must be allowed. External raw files are looked for under ``HDF5_EXTFILE_PREFIX`` (or the
dataset's access prefix) and else relative to the working directory, as libhdf5 does.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

from ...errors import CorruptFileError
from .._contain import ReferencePolicy

__all__ = ["check_object", "check_dataset"]

#: Most files chained through external links and virtual sources (libhdf5 limits link hops to 16 too).
MAX_CHAIN = 16
#: Most soft links followed on the way to one object.
MAX_SOFT_LINKS = 16


def _prefixes(env_var: str, prop_prefix: bytes | str | None, origin: str) -> list[str]:
    prefixes = [p for p in os.environ.get(env_var, "").split(os.pathsep) if p]
    if prop_prefix:
        prefixes.append(prop_prefix.decode() if isinstance(prop_prefix, bytes) else prop_prefix)
    return [p.replace("${ORIGIN}", origin) for p in prefixes]


def _search_paths(name: str, holder: str, env_var: str, prop_prefix: bytes | str | None = None) -> list[str]:
    """Where libhdf5 looks for the file of an external link or VDS source, in its order."""
    origin = os.path.dirname(os.path.abspath(holder))
    paths = []
    if os.path.isabs(name):
        paths.append(name)
        name = os.path.basename(name)
    paths += [os.path.join(prefix, name) for prefix in _prefixes(env_var, prop_prefix, origin)]
    paths.append(os.path.join(origin, name))
    paths.append(os.path.abspath(name))  # relative to the working directory
    return paths


@dataclass
class _Walk:
    policy: ReferencePolicy
    seen: set = field(default_factory=set)

    def first_hdf5(self, paths: list[str], reference: str, holder: str) -> str | None:
        """The file libhdf5 would open among ``paths`` (checking every existing one up to it), or None."""
        import h5py

        for path in paths:
            if not os.path.isfile(path):
                continue
            self.policy.check(path, reference, holder)
            if h5py.is_hdf5(path):
                return path
        return None

    def in_other_file(self, path: str, objects: list[str], holder: str, depth: int, whole: bool = False) -> None:
        import h5py

        if depth >= MAX_CHAIN:
            raise CorruptFileError(f"{holder}: more than {MAX_CHAIN} files chained by external links or virtual "
                                   f"dataset sources; refused")
        with h5py.File(path, "r") as other:
            if whole:
                self.whole_file(other, path, depth + 1)
            for name in objects:
                self.object(other, name, path, depth + 1)

    def object(self, h5, path: str, holder: str, depth: int) -> None:
        import h5py

        key = (os.path.realpath(h5.filename), path)
        if key in self.seen:
            return
        self.seen.add(key)
        parts = [p for p in path.split("/") if p and p != "."]
        group, walked, hops = h5["/"], "", 0
        while parts:
            name = parts.pop(0)
            link = group.get(name, getlink=True)
            if link is None:
                return  # missing: the caller says so
            if isinstance(link, h5py.SoftLink):
                hops += 1
                if hops > MAX_SOFT_LINKS:
                    raise CorruptFileError(f"{holder}: more than {MAX_SOFT_LINKS} soft links on the way to {path!r}")
                target = link.path
                if target.startswith("/"):
                    group, walked = h5["/"], ""
                parts = [p for p in target.split("/") if p and p != "."] + parts
                continue
            walked = f"{walked}/{name}"
            if isinstance(link, h5py.ExternalLink):
                reference = f"the external link {walked} (to {link.filename!r}, object {link.path!r})"
                found = self.first_hdf5(_search_paths(link.filename, holder, "HDF5_EXT_PREFIX"), reference, holder)
                if found is not None:
                    self.in_other_file(found, ["/".join([link.path.rstrip("/"), *parts])], found, depth)
                return
            obj = group[name]  # a hard link: nothing outside the file is opened
            if isinstance(obj, h5py.Dataset):
                if not parts:
                    self.dataset(obj, holder, depth)
                return
            if not isinstance(obj, h5py.Group):
                return
            group = obj

    def dataset(self, dset, holder: str, depth: int) -> None:
        origin = os.path.dirname(os.path.abspath(holder))
        external = dset.external
        if external:
            prefix = dset.id.get_access_plist().get_efile_prefix()
            for file_name, _, _ in external:
                reference = f"the external raw storage {file_name!r} of dataset {dset.name}"
                if os.path.isabs(file_name):
                    candidates = [file_name]
                else:
                    candidates = [os.path.join(p, file_name) for p in _prefixes("HDF5_EXTFILE_PREFIX", prefix, origin)]
                    candidates.append(os.path.abspath(file_name))
                for path in candidates:
                    if os.path.exists(path):
                        self.policy.check(path, reference, holder)
        if dset.is_virtual:
            prefix = dset.id.get_access_plist().get_virtual_prefix()
            for source in dset.virtual_sources():
                reference = (f"the virtual dataset {dset.name}'s source {source.file_name!r} "
                             f"(dataset {source.dset_name!r})")
                patterned = "%b" in source.dset_name
                if source.file_name == ".":
                    if patterned:
                        self.whole_file(dset.file, holder, depth)
                    else:
                        self.object(dset.file, source.dset_name, holder, depth)
                    continue
                for path in self._source_files(source.file_name, holder, prefix, reference):
                    self.in_other_file(path, [] if patterned else [source.dset_name], path, depth, whole=patterned)

    def _source_files(self, file_name: str, holder: str, prefix, reference: str) -> list[str]:
        paths = _search_paths(file_name, holder, "HDF5_VDS_PREFIX", prefix)
        if "%b" not in file_name:
            found = self.first_hdf5(paths, reference, holder)
            return [] if found is None else [found]
        # an unlimited VDS: a source file per block; every file the pattern matches may be read
        found = []
        for pattern in paths:
            pattern = glob.escape(pattern).replace("%b", "*").replace("%%", "%")
            for path in sorted(glob.glob(pattern)):
                first = self.first_hdf5([path], reference, holder)
                if first is not None:
                    found.append(first)
        return found

    def whole_file(self, h5, holder: str, depth: int) -> None:
        """Every external link and every dataset of a file (for patterned VDS source names)."""
        import h5py

        links: list[tuple[str, object]] = []
        h5.visititems_links(lambda name, link: links.append((name, link)) if not isinstance(name, bytes) else None)
        for name, link in links:
            if isinstance(link, (h5py.ExternalLink, h5py.HardLink)):
                self.object(h5, "/" + name, holder, depth)


def check_object(h5, path: str, policy: ReferencePolicy, holder: str | os.PathLike) -> None:
    """Refuse (:class:`~ophysio.errors.ContainmentError`) an object of an open file whose reading would
    open a file that ``policy`` does not allow: through an external link on its path, or, for a dataset,
    through its virtual sources or external raw storage (followed into the files they lead to).

    Nothing outside the policy is opened on the way. A missing object passes (the caller reports it).
    """
    if policy.allowed is None:
        return
    _Walk(policy).object(h5, path, os.fspath(holder), 0)


def check_dataset(dset, policy: ReferencePolicy, holder: str | os.PathLike) -> None:
    """:func:`check_object` for a dataset object already at hand (reached through hard links)."""
    if policy.allowed is None:
        return
    _Walk(policy).dataset(dset, os.fspath(holder), 0)
