"""Sphinx configuration for ophysio's documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath("../src"))
sys.path.insert(0, os.path.abspath("_ext"))

from ophysio import __version__  # noqa: E402

project = "ophysio"
author = "the ophysio developers"
copyright = "2026, the ophysio developers"
release = __version__
version = __version__
# ophysio_docs (docs/_ext) runs the commands and examples the pages show while the docs build.
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode", "ophysio_docs"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# the test kit's suites (ophysio.testing.*) are pytest classes; the docs extra has no pytest (tox -e docs)
autodoc_mock_imports: list[str] = ["pytest"]
nitpicky = False
exclude_patterns = ["_build", "examples", "_ext"]

# pydata-sphinx-theme: the theme of NumPy, SciPy, pandas, xarray and neuroconv, so a neuroconv user
# finds the same layout; it needs no network at build time.
html_theme = "pydata_sphinx_theme"
html_title = f"ophysio {release}"
html_static_path = ["_static"]
html_css_files = ["ophysio.css"]
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
suppress_warnings = ["ref.python"]
