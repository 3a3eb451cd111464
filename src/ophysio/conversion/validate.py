"""Moved to :mod:`ophysio.conversion.batch.validate`; this name stays for existing scripts and is the same module."""

import sys

from .batch import validate as _moved

sys.modules[__name__] = _moved
