"""Deterministic writers of sample files for tests, examples and benchmarks.

Each writer follows the layout that the software it imitates documents, so that a test on a synthetic
file says something about real files. Pixel values are a deterministic function of (sample, row,
column, plane, channel) so that a test can compute the expected values independently of any reader.
They live in production code (:mod:`ophysio.examples` and ``ophysio._synth``), because the built-in
examples behind ``--example`` use them; this module hands them on by name, e.g.
``ophysio.testing.synthetic.write_scanimage``.
"""

from __future__ import annotations

from .. import examples
from ..examples import EXAMPLES, all_examples, movie, write_example, write_npy

__all__ = ["movie", "write_npy", "EXAMPLES", "all_examples", "write_example"]


def __getattr__(name: str):
    return getattr(examples, name)
