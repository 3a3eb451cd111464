"""ophysio.testing imports without pytest; its suites are where the docs say."""

import subprocess
import sys


def test_the_testing_package_imports_without_pytest():
    code = (
        "import sys\n"
        "sys.modules['pytest'] = None  # as if pytest were not installed\n"
        "import ophysio.testing, ophysio.testing.synthetic, ophysio.testing.data\n"
        "assert 'ophysio.testing.conformance' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_suites():
    from ophysio.testing.conformance import ExtractorTests
    from ophysio.testing.interfaces import InterfaceTests
    from ophysio.testing.writers import WriterTests

    for suite in (ExtractorTests, WriterTests, InterfaceTests):
        assert [name for name in dir(suite) if name.startswith("test_")]
