"""The built-in examples behind ``--example`` and the deterministic writers of sample files they use.

Each writer follows the layout that the software it imitates documents, so that a test on a synthetic
file says something about real files. Pixel values are a deterministic function of (sample, row,
column, plane, channel) so that a test can compute the expected values independently of any reader.
Writers for each format family live in ``ophysio._synth`` (``_synth/scanimage.py``,
``_synth/tiff.py``, ``_synth/binary.py``) and are reachable from here by name, e.g.
``ophysio.examples.write_scanimage``; their built-in examples join :data:`EXAMPLES`. Tests and
benchmarks use them through :mod:`ophysio.testing.synthetic`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

from ._synth import FORMAT_MODULES
from ._synth.movie import movie, write_npy

__all__ = ["movie", "write_npy", "EXAMPLES", "all_examples", "write_example"]


def _example_numpy(folder: Path) -> tuple[Path, dict]:
    path = write_npy(folder / "example_movie.npy", num_samples=100, rows=64, columns=64)
    return path, {"sampling_frequency": 30.0}


#: Built-in examples: name -> writer(folder) returning (path to open, keywords to open it with).
#: ``ophysio info --example NAME`` and later commands use them.
EXAMPLES: dict[str, Callable[[Path], tuple[Path, dict]]] = {
    "numpy": _example_numpy,
}


def _format_modules():
    for name in FORMAT_MODULES:
        try:
            yield importlib.import_module(f"._synth.{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}._synth.{name}":
                raise


def all_examples() -> dict[str, Callable[[Path], tuple[Path, dict]]]:
    """Every built-in example: the ones here and those of each format module."""
    examples = dict(EXAMPLES)
    for module in _format_modules():
        examples.update(getattr(module, "EXAMPLES", {}))
    return examples


def write_example(name: str, folder: str | os.PathLike) -> tuple[Path, dict]:
    """Write the built-in example ``name`` into ``folder``; return the path and the keywords to open it."""
    examples = all_examples()
    if name not in examples:
        raise ValueError(f"unknown example {name!r}; examples: {', '.join(sorted(examples))}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return examples[name](folder)


def __getattr__(name: str):
    if name.startswith("write_"):
        for module in _format_modules():
            if name in getattr(module, "__all__", ()):
                return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
