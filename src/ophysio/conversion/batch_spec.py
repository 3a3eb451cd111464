"""Moved to :mod:`ophysio.conversion.batch.spec`; this name stays for existing scripts and is the same module."""

import sys

from .batch import spec as _moved

sys.modules[__name__] = _moved
