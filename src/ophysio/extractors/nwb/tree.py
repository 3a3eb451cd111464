"""NWB objects seen the same way in an HDF5 file (local or streamed) and in an NWB-Zarr store.

An NWB file is a tree of groups and datasets with attributes, and links between them (a photon series
names its imaging plane, the plane its device). :class:`H5Node` and :class:`ZarrNode` answer the same
few questions, so that finding the photon series and reading the facts (:mod:`.series`, :mod:`.facts`)
is written once:

- ``attrs()``: the attributes as Python values (text decoded; references and unreadable values left out);
- ``child(name)``: a member, links followed (HDF5 soft and hard links; hdmf-zarr's ``zarr_link`` attribute
  entries whose ``source`` is the file itself); a link to another file only when the caller asks
  (``follow_external=True``, after checking where it leads: the reader does for the data it reads);
- ``children()``: the member names;
- ``value()``: a small dataset read whole (hdmf-zarr's one-element "scalar" arrays as the scalar);
- ``slice(start, stop)``: rows of a dataset; ``reference(name)``: where an object-reference attribute points.
"""

from __future__ import annotations

import posixpath
from typing import Any

import numpy as np

from ..axes import python_value

__all__ = ["H5Node", "ZarrNode", "text", "number"]


def text(value: Any) -> str | None:
    """A text value (a one-element list or array of text is its element), else None."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def number(value: Any) -> float | None:
    """A finite number (a one-element array of one), else None."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    value = float(value)
    return value if np.isfinite(value) else None


class H5Node:
    """A group or dataset of an open h5py file."""

    def __init__(self, obj, path: str):
        self.obj = obj
        self.path = path

    @property
    def is_group(self) -> bool:
        import h5py

        return isinstance(self.obj, h5py.Group)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.obj.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.obj.dtype

    def attrs(self) -> dict[str, Any]:
        import h5py

        result = {}
        for key in self.obj.attrs:
            try:
                value = self.obj.attrs[key]
            except (OSError, TypeError, ValueError, KeyError):  # types h5py cannot read
                continue
            if isinstance(value, (h5py.Reference, h5py.RegionReference)):
                continue
            if isinstance(value, np.ndarray) and value.dtype.kind == "O" and value.size and \
                    isinstance(value.flat[0], (h5py.Reference, h5py.RegionReference)):
                continue
            result[key] = python_value(value)
        return result

    def reference(self, name: str) -> str | None:
        """The in-file path an object-reference attribute ``name`` points to (a DynamicTableRegion's ``table``);
        None when there is none or it cannot be resolved."""
        import h5py

        try:
            value = self.obj.attrs[name]
            if isinstance(value, h5py.Reference) and value:
                return self.obj.file[value].name
        except (KeyError, OSError, TypeError, ValueError):
            pass
        return None

    def child(self, name: str, follow_external: bool = False) -> H5Node | None:
        """The member ``name``; an external link is followed only with ``follow_external`` (the caller checked
        where it leads), else it counts as absent."""
        import h5py

        try:
            link = self.obj.get(name, getlink=True)
        except (KeyError, TypeError, ValueError):
            return None
        if link is None or (isinstance(link, h5py.ExternalLink) and not follow_external):
            return None
        try:
            target = self.obj[name]  # soft links resolve inside the file
        except (KeyError, OSError, ValueError):
            return None  # a dangling soft link
        path = link.path if isinstance(link, h5py.SoftLink) and link.path.startswith("/") else \
            posixpath.join(self.path, name)
        return H5Node(target, path)

    def children(self) -> list[str]:
        if not self.is_group:
            return []
        return [name for name in self.obj if isinstance(name, str)]

    def value(self) -> Any:
        return python_value(self.obj[()])

    def slice(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.obj[start:stop])


class ZarrNode:
    """A group or array of an NWB-Zarr store (hdmf-zarr's layout, Zarr v2)."""

    def __init__(self, tree, node, cache=None):
        self.tree = tree
        self.node = node
        self.path = "/" + node.path
        self._array = None

    @property
    def is_group(self) -> bool:
        return self.node.kind == "group"

    def array(self):
        from .._zarr.array import ZarrArray

        if self._array is None:
            self._array = ZarrArray(self.tree.store, self.node)
        return self._array

    @property
    def shape(self) -> tuple[int, ...]:
        shape = self.array().shape
        return () if self._scalar() else shape

    @property
    def dtype(self) -> np.dtype:
        return self.array().dtype

    def _scalar(self) -> bool:
        return self.node.attrs.get("zarr_dtype") == "scalar" and tuple(self.node.meta.get("shape") or ()) in ((1,), ())

    def attrs(self) -> dict[str, Any]:
        return {k: v for k, v in self.node.attrs.items() if k not in ("zarr_link", "zarr_dtype", "_ARRAY_DIMENSIONS")}

    def _link(self, name: str) -> str | None | bool:
        """The in-file target path of the link ``name``; False when it leads to another file; None: no link."""
        links = self.node.attrs.get("zarr_link")
        if not isinstance(links, list):
            return None
        for link in links:
            if isinstance(link, dict) and link.get("name") == name:
                source, path = link.get("source", "."), link.get("path")
                if source not in (".", "", None) or not isinstance(path, str):
                    return False
                return path
        return None

    def reference(self, name: str) -> str | None:
        """The in-store path an object-reference attribute ``name`` points to (hdmf-zarr writes
        ``{"zarr_dtype": "object", "value": {"source": ".", "path": ...}}``); None for none or another file."""
        entry = self.node.attrs.get(name)
        value = entry.get("value") if isinstance(entry, dict) else None
        if not isinstance(value, dict) or value.get("source", ".") not in (".", "", None):
            return None
        path = value.get("path")
        return "/" + path.strip("/") if isinstance(path, str) else None

    def child(self, name: str, follow_external: bool = False) -> ZarrNode | None:
        """The member ``name``; a link to another file counts as absent (NWB-Zarr links are followed inside the
        store only)."""
        from .._zarr.nodes import join

        target = self._link(name)
        if target is False:
            return None
        path = target if target is not None else join(self.node.path, name)
        try:
            node = self.tree.node(path)
        except Exception:  # noqa: BLE001 - a link leading outside the store or to damaged metadata: absent
            if target is None:
                raise
            return None
        return None if node is None else ZarrNode(self.tree, node)

    def children(self) -> list[str]:
        names = set(self.tree.children(self.node.path)) if self.is_group else set()
        links = self.node.attrs.get("zarr_link")
        if isinstance(links, list):
            names.update(link["name"] for link in links if isinstance(link, dict) and isinstance(link.get("name"), str))
        return sorted(names)

    def value(self) -> Any:
        data = self.array().read_all()
        if self._scalar():
            data = data.reshape(-1)[0] if data.size else None
        return python_value(data)

    def slice(self, start: int, stop: int) -> np.ndarray:
        array = self.array()
        out = np.empty((max(stop - start, 0), *array.shape[1:]), dtype=array.dtype)
        from .._remote.chunks import ChunkCache

        array.chunked(ChunkCache(2**62)).read(start, stop, out)
        return out
