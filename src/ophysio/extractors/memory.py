"""Former home of :class:`NumpyImagingExtractor`, kept importable: it lives in :mod:`ophysio.extractors.numpy`."""

from .numpy.reader import NumpyImagingExtractor  # noqa: F401 - the old import path keeps working
