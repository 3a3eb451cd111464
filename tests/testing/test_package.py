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


def test_a_descriptor_left_open_on_the_extractors_file_fails_the_check(tmp_path):
    """The settle-then-look check of ``test_no_handle_left_open_after_close`` still catches a leak: a
    descriptor on the source file (or beside it) kept open after close() fails it; one that closes within the
    settling time passes."""
    import os
    import threading

    import pytest

    from ophysio.testing._suite import assert_descriptors_back, open_fd_count, open_fd_targets

    source = tmp_path / "movie.bin"
    source.write_bytes(b"\0" * 64)
    before, targets = open_fd_count(), open_fd_targets()
    leaked = os.open(source, os.O_RDONLY)
    try:
        with pytest.raises(AssertionError, match="movie.bin"):
            assert_descriptors_back(before, targets, [str(source)])
    finally:
        os.close(leaked)
    late = os.open(source, os.O_RDONLY)  # closed by another thread shortly: the count settles back
    threading.Timer(0.1, os.close, args=(late,)).start()
    assert_descriptors_back(before, targets, [str(source)])
