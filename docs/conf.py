"""Sphinx configuration for ophysio's documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath("../src"))

from ophysio import __version__  # noqa: E402

project = "ophysio"
author = "ophysio developers"
release = __version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# the test kit's suites (ophysio.testing.*) are pytest classes; the docs extra has no pytest (tox -e docs)
autodoc_mock_imports: list[str] = ["pytest"]
nitpicky = False
exclude_patterns = ["_build", "examples"]
html_theme = "alabaster"
suppress_warnings = ["ref.python"]
