"""The docs' runnable examples run here too, so that a page cannot rot between docs builds.

- The worked examples of docs/adding_a_format.rst run through ExtractorTests and SegmentationTests.
- Each gallery script of docs/examples.rst (docs/examples/gallery/*.py) runs as ``python script.py`` on
  the real sample files, as the docs build runs it; the page lists every script.
- The format table of docs/formats/index.rst has a row for every registry format.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
EXAMPLES = DOCS / "examples"
GALLERY = sorted((EXAMPLES / "gallery").glob("*.py"))
sys.path.insert(0, str(EXAMPLES))

from test_toy_format import TestToyFormat, test_the_spec_sniffs_and_loads  # noqa: E402
from test_toy_segmentation import TestToySegmentation  # noqa: E402
from test_toy_segmentation import test_the_spec_sniffs_and_loads as test_the_segmentation_spec_sniffs_and_loads  # noqa: E402

__all__ = ["TestToyFormat", "test_the_spec_sniffs_and_loads", "TestToySegmentation",
           "test_the_segmentation_spec_sniffs_and_loads"]


def test_the_gallery_page_shows_every_script():
    page = (DOCS / "examples.rst").read_text()
    assert GALLERY
    for script in GALLERY:
        assert f".. ophysio-script:: examples/gallery/{script.name}" in page


@pytest.mark.parametrize("script", GALLERY, ids=[s.stem for s in GALLERY])
def test_gallery_script_runs(script, shared_data, tmp_path):
    env = dict(os.environ, OPHYSIO_TEST_DATA=str(shared_data))
    src = str(DOCS.parent / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip()


def test_the_format_table_has_a_row_per_registry_format():
    from ophysio.extractors.registry import FORMATS

    page = (DOCS / "formats" / "index.rst").read_text()
    table = page.split(".. ophysio-format-table::", 1)[1].split("\n\n", 2)[1]
    ids = [line.split("|", 1)[0].strip() for line in table.splitlines() if line.strip()]
    assert ids == [spec.id for spec in FORMATS]
