"""Where the source's header goes: one JSON text per photon series, in ``/scratch``.

The whole header of each source (ScanImage frame data and ROI groups, OME-XML, suite2p ops, HDF5
attributes...) is stored as JSON text in the scratch dataset ``/scratch/source_metadata_<series name>``
(an NWB ``ScratchData``; one per photon series, so appending keeps every header), holding the object
``{"photon_series": name, "format": ophysio format id, "files": [source files in reading order],
"metadata": the header}`` (numpy values become lists and numbers; NaN stays NaN as Python's json writes
it). A text dataset has no size limit (an attribute, such as a series description, is limited to 64 KiB),
and nwbinspector's DANDI configuration accepts it (a JSON dictionary in a table column is reported as a
best-practice violation). Read it back with :func:`read_source_metadata`.

A numeric array of more than :data:`LARGE_ARRAY` elements (suite2p's ops hold whole images) is stored as
``{"__ndarray__": {"dtype": "<f8", "shape": [512, 512], "base64": ...}}``, its bytes in base64: as JSON
numbers a 512 x 512 float image is ~5 MB of text that takes a second to write, in base64 1.4 MB and
milliseconds. :func:`read_source_metadata` gives such arrays back as nested lists, as the others.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .options import require_hdmf_zarr

__all__ = ["SOURCE_METADATA_PREFIX", "header_json", "source_row", "add_source_metadata", "read_source_metadata"]

#: Name prefix of the scratch datasets that hold the sources' headers (see the module documentation).
SOURCE_METADATA_PREFIX = "source_metadata_"
#: Numeric arrays with more elements than this are stored in base64 (see the module documentation).
LARGE_ARRAY = 4096
_NDARRAY = "__ndarray__"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.size > LARGE_ARRAY and value.dtype.kind in "biuf":
            import base64

            data = np.ascontiguousarray(value)
            return {_NDARRAY: {"dtype": data.dtype.str, "shape": list(data.shape),
                               "base64": base64.b64encode(data.tobytes()).decode("ascii")}}
        return value.tolist()
    if isinstance(value, np.generic):
        item = value.item()
        if isinstance(item, np.generic):  # long double: item() gives itself back, and this would recurse
            return complex(item) if value.dtype.kind == "c" else float(item) if value.dtype.kind == "f" else str(item)
        return item
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def _string_keys(value: Any, depth: int = 0) -> Any:
    """``value`` with every dict key made text (bytes keys, from HDF5 or ops, are not JSON), no deeper than
    64 levels (deeper values become their repr)."""
    if depth > 64:
        return repr(value)[:1000]
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else k.decode("latin-1") if isinstance(k, bytes) else str(k)):
                _string_keys(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_string_keys(v, depth + 1) for v in value]
    return value


def header_json(header: Any) -> str:
    """The source's header as JSON text (numpy values as lists and numbers, NaN kept as NaN)."""
    try:
        text = json.dumps(header, default=_json_default, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # keys that are not text, or nesting too deep for json
        header = _string_keys(header)
        text = json.dumps(header, default=_json_default, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (h5py's text of bytes that are not UTF-8): escape them
        text = json.dumps(header, default=_json_default, ensure_ascii=True)
    return text


def source_row(series_name: str, extractor, kind: str = "photon_series") -> dict:
    """The record stored for the photon series (or, with ``kind="plane_segmentation"``, the PlaneSegmentation)
    ``series_name`` written from ``extractor``."""
    return {
        kind: series_name,
        "format": str(extractor.format_id),
        "files": [os.fspath(p) for p in extractor.get_file_paths()],
        "metadata": extractor.get_metadata(),
    }


def add_source_metadata(nwbfile, rows: list[dict]) -> None:
    """Add one ``ScratchData`` per record of :func:`source_row` to ``nwbfile``."""
    from pynwb.core import ScratchData

    for row in rows:
        if "plane_segmentation" in row:
            name = row["plane_segmentation"]
            tables = ", ".join(row.get("plane_segmentations", [name]))
            what = (f"the PlaneSegmentation(s) {tables} of /processing/ophys/ImageSegmentation as JSON (keys "
                    "plane_segmentation, plane_segmentations, format, files, metadata), kept by ophysio so that "
                    "nothing the segmentation software recorded is lost.")
        else:
            name = row["photon_series"]
            what = (f"the photon series /acquisition/{name} as JSON (keys photon_series, format, files, metadata), "
                    "kept by ophysio so that nothing the acquisition software recorded is lost.")
        nwbfile.add_scratch(ScratchData(name=f"{SOURCE_METADATA_PREFIX}{name}", data=header_json(row),
                                        description=f"Whole header of the source of {what}"))


def _zarr_scratch(nwbfile_path: str | os.PathLike) -> dict[str, str]:
    """Text of the scratch datasets of an NWB-Zarr store: name -> text."""
    NWBZarrIO = require_hdmf_zarr()
    result: dict[str, str] = {}
    with NWBZarrIO(str(nwbfile_path), mode="r") as io:
        nwbfile = io.read()
        for name, item in nwbfile.scratch.items():
            data = item.data[()] if hasattr(item.data, "shape") else item.data
            if isinstance(data, np.ndarray):
                data = data.item() if data.shape == () else data[0]
            result[name] = data.decode("utf-8") if isinstance(data, bytes) else str(data)
    return result


def _decode_array(value: dict) -> Any:
    """A large array stored in base64, back as nested lists (other objects as they are)."""
    if len(value) != 1 or _NDARRAY not in value:
        return value
    import base64

    spec = value[_NDARRAY]
    return np.frombuffer(base64.b64decode(spec["base64"]), dtype=spec["dtype"]).reshape(spec["shape"]).tolist()


def read_source_metadata(nwbfile_path: str | os.PathLike) -> dict[str, dict]:
    """The source headers stored by ophysio in an NWB file (HDF5, or an NWB-Zarr folder):
    photon series (or PlaneSegmentation) name -> {format, files, metadata}."""
    texts: dict[str, Any] = {}
    if Path(nwbfile_path).is_dir():
        texts = _zarr_scratch(nwbfile_path)
    else:
        import h5py

        with h5py.File(nwbfile_path, "r") as f:
            scratch = f.get("scratch", {})
            texts = {name: scratch[name][()] for name in scratch if name.startswith(SOURCE_METADATA_PREFIX)}
    result: dict[str, dict] = {}
    for name in sorted(texts):
        if not name.startswith(SOURCE_METADATA_PREFIX):
            continue
        raw = texts[name]
        record = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw, object_hook=_decode_array)
        keys = [record["photon_series"]] if "photon_series" in record else record.get(
            "plane_segmentations", [record.get("plane_segmentation")])
        for key in keys:
            result[key] = {k: record[k] for k in ("format", "files", "metadata")}
    return result
