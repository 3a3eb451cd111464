"""``python -m ophysio``: the ``ophysio`` command."""

import sys

from .cli.entry_point import main

sys.exit(main())
