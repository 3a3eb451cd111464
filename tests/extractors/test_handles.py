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
