"""The cheap content check of ThorImageLS acquisitions: an ``Experiment.xml`` whose root is ``ThorImageExperiment``
beside the images (or the folder that holds it, or that file itself)."""

from __future__ import annotations

from pathlib import Path

from .._tiff.head import tiff_kind

__all__ = ["sniff_thor"]

_NAME = "Experiment.xml"
_ROOT = b"<ThorImageExperiment"


def _is_experiment(path: Path, head: bytes | None = None) -> bool:
    if head is None:
        try:
            with open(path, "rb") as fh:
                head = fh.read(1024)
        except OSError:
            return False
    return _ROOT in bytes(head[:1024])


def sniff_thor(path: Path, head: bytes) -> bool | str:
    """A ThorImageLS folder, its Experiment.xml, or a TIFF / .raw file beside that Experiment.xml."""
    if path.is_dir():
        xml = path / _NAME
        if not xml.is_file():
            return f"no {_NAME} in the folder (ThorImageLS writes one in every acquisition folder)"
        return True if _is_experiment(xml) else f"the folder's {_NAME} is not a ThorImageLS experiment"
    if path.name == _NAME:
        return True if _is_experiment(path, head) else f"{_NAME} without a <ThorImageExperiment> root"
    name = path.name.lower()
    if name.endswith((".tif", ".tiff")):
        if tiff_kind(head) is None:
            return "not a TIFF file"
    elif not name.endswith(".raw"):
        return "not a TIFF, .raw or Experiment.xml of a ThorImageLS acquisition"
    xml = path.parent / _NAME
    if not xml.is_file():
        return f"no {_NAME} beside the file (ThorImageLS writes one in every acquisition folder)"
    return True if _is_experiment(xml) else f"the {_NAME} beside the file is not a ThorImageLS experiment"
