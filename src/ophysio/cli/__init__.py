"""The ``ophysio`` command line: ``formats``, ``info``, ``convert``, ``metadata-template``, ``convert-batch``,
``validate``, ``upload``, ``preview``.

One module per group of commands, each with a ``register(subparsers)`` that adds its commands:
:mod:`~ophysio.cli.info` (``formats``, ``info``), :mod:`~ophysio.cli.convert` (``convert``,
``metadata-template``), :mod:`~ophysio.cli.batch` (``convert-batch``, ``validate``, ``upload``,
``preview``). :mod:`~ophysio.cli.entry_point` builds the parser and maps errors to exit statuses;
:mod:`~ophysio.cli.os_errors` words operating-system errors; :mod:`~ophysio.cli.options` parses
``KEY=VALUE`` options.
"""

from __future__ import annotations

from .entry_point import build_parser, main
from .info import describe
from .os_errors import describe_os_error

__all__ = ["main", "build_parser", "describe", "describe_os_error"]
