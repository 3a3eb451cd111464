"""Test kit shipped with ophysio: the conformance suites and writers of faithful synthetic sample files.

- :mod:`ophysio.testing.conformance`: :class:`~ophysio.testing.conformance.ExtractorTests`, what every reader
  passes.
- :mod:`ophysio.testing.writers`: :class:`~ophysio.testing.writers.WriterTests`, what every writer passes.
- :mod:`ophysio.testing.interfaces`: :class:`~ophysio.testing.interfaces.InterfaceTests`, what every format's
  conversion interface passes.
- :mod:`ophysio.testing.synthetic` and :mod:`ophysio.testing.data`: synthetic files and the real sample files.

The suites are pytest classes and import pytest; this package imports none of them, so that
``import ophysio.testing`` works without pytest installed.
"""
