"""Moved to :mod:`ophysio.conversion.batch.dandi`; this name stays for existing scripts and is the same module."""

import sys

from .batch import dandi as _moved

sys.modules[__name__] = _moved
