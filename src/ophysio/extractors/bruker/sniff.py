"""The cheap content check of a Bruker Prairie View dataset: its PVScan XML.

A dataset is a folder holding one ``.xml`` whose root element is ``<PVScan>`` (normally named after the
folder) and the ``.ome.tif`` files it lists. Any of three paths stands for it: the folder, the XML, or one
of its TIFF files (Prairie View names them ``<base>_Cycle00001_Ch2_000001.ome.tif`` beside ``<base>.xml``).
Only heads of XML files are read, and a folder is listed only when it has no ``<folder name>.xml``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ...errors import FileSetError
from .pvscan import is_pvscan_head

__all__ = ["sniff_bruker", "find_pvscan_xml", "find_pvscan_xmls"]

_HEAD = 4096
_TIFF_NAME = re.compile(r"^(?P<base>.+?)_Cycle\d+_Ch\d+_\d+(?:\.ome)?\.tiff?$", re.IGNORECASE)
#: Most XML files of a folder whose heads are read when looking for its PVScan XML.
_MAX_XML_CANDIDATES = 64


def _is_pvscan_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return is_pvscan_head(fh.read(_HEAD))
    except OSError:
        return False


def find_pvscan_xmls(folder: Path) -> list[Path]:
    """The PVScan XML files of a folder: ``<folder name>.xml`` alone when it is one, else every one found."""
    named = folder / f"{folder.name}.xml"
    if named.is_file() and _is_pvscan_file(named):
        return [named]
    found = []
    checked = 0
    try:
        entries = sorted(e.name for e in os.scandir(folder) if e.name.lower().endswith(".xml") and e.is_file())
    except OSError:
        return []
    for name in entries:
        if checked >= _MAX_XML_CANDIDATES:
            break
        checked += 1
        if _is_pvscan_file(folder / name):
            found.append(folder / name)
    return found


def _xml_beside(tiff: Path) -> Path | None:
    """The PVScan XML of a Prairie View TIFF: ``<folder>.xml`` or ``<base>.xml`` beside it (no listing)."""
    folder = tiff.parent
    candidates = [folder / f"{folder.name}.xml"]
    match = _TIFF_NAME.match(tiff.name)
    if match:
        candidates.append(folder / f"{match.group('base')}.xml")
    for candidate in candidates:
        if candidate.is_file() and _is_pvscan_file(candidate):
            return candidate
    return None


def find_pvscan_xml(path: str | os.PathLike) -> Path:
    """The PVScan XML of a dataset given as its folder, the XML itself, or one of its TIFF files.

    Raises
    ------
    FileSetError
        The path does not exist, the folder holds no PVScan XML or several, or the file is neither.
    """
    path = Path(path)
    if path.is_dir():
        found = find_pvscan_xmls(path)
        if not found:
            raise FileSetError(f"{path} holds no Prairie View PVScan XML (an .xml file whose root element is "
                               "<PVScan>); it is not a Bruker dataset folder")
        if len(found) > 1:
            raise FileSetError(f"{path} holds {len(found)} PVScan XML files ({', '.join(p.name for p in found)}); "
                               "pass the path of the one to read")
        return found[0]
    if not path.exists():
        raise FileSetError(f"{path} does not exist")
    if path.suffix.lower() == ".xml":
        if not _is_pvscan_file(path):
            raise FileSetError(f"{path} is not a Prairie View PVScan XML (its root element is not <PVScan>)")
        return path
    xml = _xml_beside(path)
    if xml is None:
        raise FileSetError(f"{path} has no PVScan XML beside it ({path.parent.name}.xml); open the dataset's folder "
                           "or its .xml")
    return xml


def sniff_bruker(path: Path, head: bytes) -> bool | str:
    """A folder with a PVScan XML, a PVScan XML, or a TIFF with its folder's PVScan XML beside it."""
    if path.is_dir():
        return True if find_pvscan_xmls(path) else "folder without a Prairie View PVScan XML"
    if path.suffix.lower() == ".xml":
        return True if is_pvscan_head(bytes(head[:_HEAD])) else "XML whose root element is not <PVScan>"
    if path.name.lower().endswith((".tif", ".tiff")):
        return True if _xml_beside(path) is not None else "TIFF without a Prairie View PVScan XML beside it"
    return "neither a folder nor an .xml or TIFF file of a Prairie View dataset"
