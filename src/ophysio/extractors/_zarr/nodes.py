"""The groups and arrays of a Zarr store (v2 or v3): their metadata and attributes, consolidated or per node.

A :class:`ZarrTree` reads the store's root metadata once; when the store consolidates its metadata (v2
``.zmetadata``, which hdmf-zarr writes; v3 ``consolidated_metadata`` in the root ``zarr.json``), every
node's metadata comes from there and opening a remote NWB-Zarr file costs one request. Otherwise each
node's metadata is read when asked for. Metadata are untrusted JSON: a node whose metadata is not an
object, or an unknown ``zarr_format``, is a :class:`~ophysio.errors.FormatError` naming the node.
"""

from __future__ import annotations

import json
import posixpath
import threading
from dataclasses import dataclass, field
from typing import Any

from ...errors import FormatError
from .store import checked_key

__all__ = ["ZarrNode", "ZarrTree", "join"]


def join(*parts: str) -> str:
    return posixpath.join(*[p.strip("/") for p in parts if p.strip("/")]) if any(p.strip("/") for p in parts) else ""


def _json(data: bytes | None, where: str) -> dict | None:
    if data is None:
        return None
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormatError(f"{where} is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise FormatError(f"{where} holds {type(value).__name__}, not a JSON object")
    return value


@dataclass
class ZarrNode:
    """One group or array: its path in the store, kind, format version, metadata and attributes."""

    path: str
    kind: str  # "group" or "array"
    zarr_format: int
    meta: dict = field(repr=False)
    attrs: dict = field(repr=False)


class ZarrTree:
    """The nodes of one store (see the module documentation)."""

    def __init__(self, store):
        self.store = store
        self._lock = threading.Lock()
        self._nodes: dict[str, ZarrNode | None] = {}
        self._consolidated: dict[str, Any] | None = None
        self.zarr_format = 0
        root = self._read_root()
        if root is None:
            raise FormatError(f"{store.name} is not a Zarr store (no zarr.json, .zgroup or .zarray at its root)")
        self.root = root

    def __getstate__(self):
        return {"store": self.store}

    def __setstate__(self, state):
        self.__init__(state["store"])

    @property
    def name(self) -> str:
        return self.store.name

    def _where(self, path: str, key: str) -> str:
        return f"{self.store.name}: {join(path, key) or key}"

    def _read_root(self) -> ZarrNode | None:
        prefetch = getattr(self.store, "prefetch", None)
        if prefetch is not None:  # both candidates of the root metadata in one round trip
            prefetch(["zarr.json", ".zmetadata"])
        v3 = _json(self.store.get("zarr.json"), self._where("", "zarr.json"))
        if v3 is not None:
            self.zarr_format = 3
            consolidated = v3.get("consolidated_metadata")
            if isinstance(consolidated, dict) and isinstance(consolidated.get("metadata"), dict):
                self._consolidated = consolidated["metadata"]
            return self._v3_node("", v3)
        consolidated = _json(self.store.get(".zmetadata"), self._where("", ".zmetadata"))
        if consolidated is None and prefetch is not None:
            prefetch([".zgroup", ".zattrs", ".zarray"])
        if consolidated is not None and isinstance(consolidated.get("metadata"), dict):
            self._consolidated = consolidated["metadata"]
        self.zarr_format = 2
        return self._v2_node("")

    # ------------------------------------------------------------------ per version
    def _v3_node(self, path: str, meta: dict) -> ZarrNode:
        where = self._where(path, "zarr.json")
        if meta.get("zarr_format") != 3:
            raise FormatError(f"{where}: zarr_format is {meta.get('zarr_format')!r}, not 3")
        kind = meta.get("node_type")
        if kind not in ("group", "array"):
            raise FormatError(f"{where}: node_type {kind!r} is neither group nor array")
        attrs = meta.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise FormatError(f"{where}: its attributes are not a JSON object")
        return ZarrNode(path, kind, 3, meta, attrs)

    def _v2_json(self, path: str, name: str) -> dict | None:
        key = join(path, name)
        if self._consolidated is not None:
            value = self._consolidated.get(key)
            if value is not None and not isinstance(value, dict):
                raise FormatError(f"{self._where(path, name)} (consolidated) is not a JSON object")
            return value
        return _json(self.store.get(key), self._where(path, name))

    def _v2_node(self, path: str) -> ZarrNode | None:
        array = self._v2_json(path, ".zarray")
        group = self._v2_json(path, ".zgroup") if array is None else None
        if array is None and group is None:
            return None
        attrs = self._v2_json(path, ".zattrs") or {}
        meta = array if array is not None else group
        if meta.get("zarr_format") != 2:
            raise FormatError(f"{self._where(path, '.zarray' if array is not None else '.zgroup')}: zarr_format is "
                              f"{meta.get('zarr_format')!r}, not 2")
        return ZarrNode(path, "array" if array is not None else "group", 2, meta, attrs)

    # ------------------------------------------------------------------ lookups
    def node(self, path: str) -> ZarrNode | None:
        """The node at ``path`` (``""`` is the root), or None."""
        path = checked_key(path.strip("/"), self.store.name)
        if not path:
            return self.root
        with self._lock:
            if path in self._nodes:
                return self._nodes[path]
        if self.zarr_format == 3:
            if self._consolidated is not None:
                meta = self._consolidated.get(path)
                if meta is not None and not isinstance(meta, dict):
                    raise FormatError(f"{self._where(path, 'zarr.json')} (consolidated) is not a JSON object")
            else:
                meta = _json(self.store.get(join(path, "zarr.json")), self._where(path, "zarr.json"))
            node = None if meta is None else self._v3_node(path, meta)
        else:
            node = self._v2_node(path)
        with self._lock:
            self._nodes[path] = node
        return node

    def prefetch_values(self, paths: list[str], max_bytes: int = 1 << 16) -> None:
        """Fetch at once the chunks of the small arrays under ``paths`` (groups, recursively, and arrays),
        when the store can (a remote one); known only with consolidated metadata."""
        prefetch = getattr(self.store, "prefetch", None)
        if prefetch is None or self._consolidated is None:
            return
        keys = []
        prefixes = [checked_key(p.strip("/"), self.store.name) for p in paths]
        for key, meta in self._consolidated.items():
            if not isinstance(meta, dict):
                continue
            name = key[: -len("/zarr.json")] if key.endswith("/zarr.json") else key
            if self.zarr_format == 2:
                if not key.endswith("/.zarray"):
                    continue
                name = key[: -len("/.zarray")]
            elif meta.get("node_type") != "array":
                continue
            if not any(name == p or name.startswith(p + "/") or not p for p in prefixes):
                continue
            shape = meta.get("shape")
            if not isinstance(shape, list) or not all(isinstance(n, int) for n in shape):
                continue
            count = 1
            for n in shape:
                count *= n
            if count * 8 > max_bytes or count == 0:
                continue
            chunks = meta.get("chunks") if self.zarr_format == 2 else None
            if self.zarr_format == 2 and isinstance(chunks, list) and all(
                    isinstance(c, int) and c >= n for c, n in zip(chunks, shape)):
                separator = meta.get("dimension_separator") or "."
                keys.append(join(name, separator.join("0" for _ in shape) if shape else "0"))
        if keys:
            prefetch(keys)

    def children(self, path: str) -> list[str]:
        """Names of the groups and arrays directly under ``path`` (from the consolidated metadata, else by
        listing a local folder; a remote store without consolidated metadata cannot be listed: empty)."""
        path = checked_key(path.strip("/"), self.store.name)
        prefix = f"{path}/" if path else ""
        names: set[str] = set()
        if self._consolidated is not None:
            for key in self._consolidated:
                if not key.startswith(prefix):
                    continue
                rest = key[len(prefix):]
                if self.zarr_format == 3:
                    if rest and "/" not in rest:
                        names.add(rest)
                else:
                    parts = rest.split("/")
                    if len(parts) == 2 and parts[1] in (".zarray", ".zgroup"):
                        names.add(parts[0])
            return sorted(names)
        lister = getattr(self.store, "list_dir", None)
        listed = lister(path) if lister is not None else None
        for name in listed or []:
            if name.startswith(".") or name in ("zarr.json",):
                continue
            if self.node(join(path, name)) is not None:
                names.add(name)
        return sorted(names)
