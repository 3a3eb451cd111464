import pickle

import pytest

from ophysio.errors import FileSetError
from ophysio.extractors import _handles
from ophysio.extractors._handles import CachedFile, open_handle_count
from ophysio.testing.conformance import open_fd_count


def test_lru_keeps_few_files_open_and_reopens_on_demand(tmp_path, monkeypatch):
    monkeypatch.setattr(_handles, "MAX_OPEN_FILES", 4)
    files = []
    for i in range(20):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(bytes([i]) * 8)
        files.append(CachedFile(path))
    before = open_fd_count()
    for _ in range(2):
        for i, ref in enumerate(files):
            with ref.open() as fd:
                assert _handles.os.pread(fd, 1, 3) == bytes([i])
            assert open_handle_count() <= 4
    assert open_fd_count() <= before + 4
    for ref in files:
        ref.close()
    assert open_fd_count() == before


def test_reference_pickles_without_its_handle(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc")
    ref = CachedFile(path)
    with ref.open():
        clone = pickle.loads(pickle.dumps(ref))
    assert not clone.is_open
    with clone.open() as fd:
        assert _handles.os.pread(fd, 3, 0) == b"abc"
    clone.close()
    ref.close()


def test_missing_file_is_a_file_set_error(tmp_path):
    ref = CachedFile(tmp_path / "gone.bin")
    with pytest.raises(FileSetError, match="gone.bin does not exist"):
        with ref.open():
            pass
    with pytest.raises(FileNotFoundError):
        with ref.open():
            pass


def _numbered_files(tmp_path, count):
    refs = []
    for i in range(count):
        path = tmp_path / f"n{i}.bin"
        path.write_bytes(bytes([i]) * 64)
        refs.append(CachedFile(path))
    return refs


def test_threads_under_a_small_cap_read_their_own_file_while_others_close(tmp_path, monkeypatch):
    # a descriptor closed while another thread reads through it, and reused by the next open, would hand
    # that thread another file's bytes: every read checks the bytes are its file's
    import threading

    import numpy as np

    monkeypatch.setattr(_handles, "MAX_OPEN_FILES", 2)
    refs = _numbered_files(tmp_path, 12)
    before = open_fd_count()
    wrong: list[str] = []
    start = threading.Barrier(9)

    def reader(seed):
        rng = np.random.default_rng(seed)
        start.wait()
        for _ in range(300):
            i = int(rng.integers(len(refs)))
            with refs[i].open() as fd:
                got = _handles.os.pread(fd, 64, 0)
            if got != bytes([i]) * 64:
                wrong.append(f"file {i} read {got[:4]!r}")

    def closer():
        rng = np.random.default_rng(99)
        start.wait()
        for _ in range(600):
            refs[int(rng.integers(len(refs)))].close()

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(8)] + [threading.Thread(target=closer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong, wrong[:5]
    assert open_handle_count() <= 2
    for ref in refs:
        ref.close()
    assert open_handle_count() == 0 and open_fd_count() == before


def test_a_collected_reference_does_not_wait_for_a_lock_another_thread_holds(tmp_path):
    # The collector runs __del__ in whatever thread allocates, possibly one holding h5py's lock while
    # another thread holds the handle lock and waits for h5py's: waiting here would deadlock both.
    import threading

    ref = CachedFile(tmp_path / "a.bin")
    (tmp_path / "a.bin").write_bytes(b"abc")
    with ref.open():
        pass
    count = open_handle_count()
    held, done = threading.Event(), threading.Event()
    outcome = {}

    def hold_the_lock():
        with _handles._lock:
            held.set()
            outcome["waited_out"] = not done.wait(30)  # released early only if __del__ returned without the lock

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    held.wait()
    ref.__del__()
    done.set()
    holder.join()
    assert outcome["waited_out"] is False
    assert open_handle_count() == count - 1  # the next holder of the lock closed it
    del ref


@pytest.mark.skipif(not hasattr(_handles.os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")  # the point of the test
def test_a_forked_child_gets_a_free_lock_and_opens_its_own_handles(tmp_path):
    import os
    import threading

    path = tmp_path / "a.bin"
    path.write_bytes(b"xyz")
    ref = CachedFile(path)
    with ref.open():
        pass
    held, done = threading.Event(), threading.Event()

    def hold_the_lock():  # a thread of the parent is inside the LRU when the process forks
        with _handles._lock:
            held.set()
            done.wait(60)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    held.wait()
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            import signal

            signal.alarm(20)  # a child stuck on the parent's lock dies of SIGALRM instead of hanging the test
            try:
                status = 0 if open_handle_count() == 0 else 3
                with ref.open() as fd:
                    status = status or (0 if os.pread(fd, 3, 0) == b"xyz" else 4)
            except BaseException:
                status = 5
            os._exit(status)
        _, status = os.waitpid(pid, 0)
    finally:
        done.set()
        holder.join()
        ref.close()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child ended with status {status}"
