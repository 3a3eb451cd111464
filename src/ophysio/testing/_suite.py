"""What both conformance suites (:class:`~ophysio.testing.conformance.ExtractorTests` for imaging,
:class:`~ophysio.testing.segmentation.SegmentationTests` for segmentation) check the same way: the cases
and the extractor fixture, pickling, no file left open after ``close()``, a source cut short while open,
and the harness that reads from many threads at once.

Each suite says what "a read" is for its contract through three hooks: :meth:`SourceSuite._read_some`
(reads that open everything the extractor opens), :meth:`SourceSuite._assert_same_reads` (a clone reads
what the original reads) and :meth:`SourceSuite._reads_after_cut` (the reads to try once the files are cut,
with the values the untouched source gives).
"""

from __future__ import annotations

import gc
import os
import pickle
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..errors import OphysioError
from ..extractors._handles import open_handle_count

__all__ = ["SourceSuite", "open_fd_count", "open_fd_targets", "assert_descriptors_back", "run_in_threads"]


def open_fd_count() -> int:
    """Open file descriptors of this process (-1 where /proc is not available)."""
    try:
        return len(os.listdir(f"/proc/{os.getpid()}/fd"))
    except OSError:
        return -1


def open_fd_targets() -> Counter:
    """What this process's open descriptors point at (``/proc/self/fd`` links), counted; empty where there
    is no /proc."""
    targets: Counter = Counter()
    try:
        names = os.listdir(f"/proc/{os.getpid()}/fd")
    except OSError:
        return targets
    for name in names:
        try:
            targets[os.readlink(f"/proc/{os.getpid()}/fd/{name}")] += 1
        except OSError:  # closed meanwhile
            pass
    return targets


def assert_descriptors_back(before_count: int, before_targets: Counter, paths: list[str]) -> None:
    """After ``close()``: this process holds no more descriptors than ``before_count``. Other threads of the
    test process (a server's, a previous test's pool winding down) may open or close one meanwhile, so a
    count still above is given a moment to settle; what stays open must then be none of the extractor's
    files, nor anything inside their folders."""
    for _ in range(40):
        if open_fd_count() <= before_count:
            return
        gc.collect()
        time.sleep(0.025)
    folders = {os.path.dirname(os.path.realpath(p)) for p in paths}
    extra = open_fd_targets() - before_targets
    mine = [target for target in extra if os.path.isabs(target)
            and (os.path.realpath(target) in {os.path.realpath(p) for p in paths}
                 or os.path.dirname(target) in folders)]
    assert not mine, f"descriptors left open after close(): {mine}"


def run_in_threads(count: int, work: Callable[[int, list[str]], None]) -> list[str]:
    """Run ``work(number, failures)`` in ``count`` threads released together; the failures they noted."""
    failures: list[str] = []
    start = threading.Barrier(count)

    def run(number: int) -> None:
        start.wait()
        work(number, failures)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


class SourceSuite:
    """The contract-independent half of a conformance suite; subclasses set ``cases`` and the hooks."""

    cases: list[Any] = [None]
    #: ids shown by pytest for the cases (default: str of each case, shortened)
    case_ids: list[str] | None = None

    # ---- hooks -------------------------------------------------------------------------------
    def make_extractor(self, case: Any) -> Any:  # pragma: no cover - must be overridden
        raise NotImplementedError

    def make_shrinkable(self, case: Any, tmp_path: Path) -> tuple[Any, list] | None:
        """``(extractor on copies of the case's files, the copies to cut)``; None only for in-memory cases."""
        return None

    def _read_some(self, extractor: Any) -> None:  # pragma: no cover - each suite says
        """Reads that open what the extractor opens."""
        raise NotImplementedError

    def _assert_same_reads(self, clone: Any, extractor: Any) -> None:  # pragma: no cover - each suite says
        raise NotImplementedError

    def _reads_after_cut(self, case: Any, extractor: Any) -> list[tuple[Callable[[], Any], Any]]:  # pragma: no cover
        """``[(read, values of the untouched source)]``, computed before the cut; ``extractor`` has read a little."""
        raise NotImplementedError

    # ---- parametrisation ---------------------------------------------------------------------
    def pytest_generate_tests(self, metafunc):
        if "case" in metafunc.fixturenames:
            ids = self.case_ids or [os.path.basename(str(case))[:60] for case in self.cases]
            metafunc.parametrize("case", self.cases, ids=ids)

    @pytest.fixture
    def extractor(self, case):
        extractor = self.make_extractor(case)
        yield extractor
        extractor.close()

    # ---- resources -----------------------------------------------------------------------------
    def test_pickle_round_trip(self, extractor):
        clone = pickle.loads(pickle.dumps(extractor))
        try:
            self._assert_same_reads(clone, extractor)
        finally:
            clone.close()

    def test_no_handle_left_open_after_close(self, case):
        # one read first: what a library sets up once per process on first use (a codec's thread pool, an
        # event descriptor) is not this extractor's to close; what each extractor opens must be closed
        with self.make_extractor(case) as warm:
            self._read_some(warm)
        before_fds, before_targets, before_handles = open_fd_count(), open_fd_targets(), open_handle_count()
        extractor = self.make_extractor(case)
        self._read_some(extractor)
        paths = [str(p) for p in extractor.get_file_paths()]
        extractor.close()
        assert open_handle_count() == before_handles
        if before_fds >= 0:
            assert_descriptors_back(before_fds, before_targets, paths)
        with self.make_extractor(case) as again:  # closing one extractor leaves the next one working
            self._read_some(again)
        assert open_handle_count() == before_handles

    # ---- a source that shrinks while it is read ------------------------------------------------
    def test_shrinking_source_is_an_error(self, case, tmp_path):
        """Files cut to half after the extractor opened them: a read is an ophysio error naming one of them,
        or gives the values of the untouched source (when the cut spares every byte it needs, as in a tiny
        file whose metadata fill its second half); never other values, zeros or a crash."""
        made = self.make_shrinkable(case, tmp_path)
        if made is None:
            extractor = self.make_extractor(case)
            try:
                paths = extractor.get_file_paths()
            finally:
                extractor.close()
            if paths:
                pytest.fail(f"{type(self).__name__} case {case!r} reads {paths}: implement make_shrinkable")
            pytest.skip("in-memory source: no file to cut short")
        extractor, paths = made
        names = [os.path.basename(str(p)) for p in paths]
        assert names, "make_shrinkable gave no file to cut"
        try:
            reads = self._reads_after_cut(case, extractor)
            for path in paths:
                with open(path, "r+b") as fh:
                    fh.truncate(os.path.getsize(path) // 2)
            for read, expected in reads:
                try:
                    got = read()
                except OphysioError as exc:
                    assert any(name in str(exc) for name in names), f"{exc} names none of {names}"
                else:
                    self._assert_values_equal(got, expected, "a read after the cut gave other values")
        finally:
            extractor.close()

    @staticmethod
    def _assert_values_equal(got: Any, expected: Any, message: str) -> None:
        import numpy as np

        np.testing.assert_array_equal(got, expected, err_msg=message)
