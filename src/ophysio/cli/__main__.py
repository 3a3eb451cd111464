"""``python -m ophysio.cli``: the ``ophysio`` command."""

import sys

from .entry_point import main

sys.exit(main())
