"""The worked example of docs/adding_a_format.rst runs through ExtractorTests, so that the page cannot rot."""

import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
sys.path.insert(0, str(EXAMPLES))

from test_toy_format import TestToyFormat, test_the_spec_sniffs_and_loads  # noqa: E402

__all__ = ["TestToyFormat", "test_the_spec_sniffs_and_loads"]
