import json
import os
import subprocess
import sys
import time

import pytest

from ophysio.conversion._atomic import (
    FOREIGN_PARTIAL_AGE,
    OUTPUT_MARKER,
    OutputExistsError,
    OutputRefusedError,
    _host_tag,
    atomic_output,
    is_ophysio_output,
    sweep_partials,
)


def test_output_appears_only_when_complete(tmp_path):
    target = tmp_path / "out.bin"
    with atomic_output(target) as temp:
        temp.write_bytes(b"data")
        assert not target.exists()
    assert target.read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temp:
            temp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        with atomic_output(target):
            pass
    with pytest.raises(OutputExistsError):
        with atomic_output(target):
            pass
    with atomic_output(target, overwrite=True) as temp:
        temp.write_bytes(b"new")
    assert target.read_bytes() == b"new"


def test_folder_outputs_replace_as_a_whole(tmp_path):
    target = tmp_path / "store.zarr"
    with atomic_output(target) as temp:  # ophysio's own folder output: it carries the marker
        temp.mkdir()
        (temp / "old").write_text("x")
    assert sorted(p.name for p in target.iterdir()) == [OUTPUT_MARKER, "old"]
    with atomic_output(target, overwrite=True) as temp:
        temp.mkdir()
        (temp / "new").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == [OUTPUT_MARKER, "new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.zarr"]  # the old folder is gone too


def test_overwrite_refuses_a_folder_ophysio_did_not_write(tmp_path):
    target = tmp_path / "results"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputRefusedError, match="did not write") as caught:
        with atomic_output(target, overwrite=True) as temp:
            temp.write_bytes(b"new")
    assert isinstance(caught.value, IsADirectoryError)
    assert (target / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_overwrite_replaces_an_earlier_ophysio_zarr_store_without_marker(tmp_path):
    target = tmp_path / "m.zarr"
    target.mkdir()
    (target / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group",
                                                  "attributes": {"ophysio": {"version": "0.1"}}}))
    assert is_ophysio_output(target)
    with atomic_output(target, overwrite=True) as temp:
        temp.mkdir()
        (temp / "zarr.json").write_text("{}")
    assert (target / "zarr.json").read_text() == "{}"
    other = tmp_path / "other.zarr"  # a Zarr store someone else wrote
    other.mkdir()
    (other / "zarr.json").write_text(json.dumps({"zarr_format": 3, "attributes": {"lab": "x"}}))
    assert not is_ophysio_output(other)


def test_overwrite_never_deletes_through_a_link_to_a_folder(tmp_path):
    real = tmp_path / "real"
    with atomic_output(real) as temp:  # even a folder ophysio wrote
        temp.mkdir()
        (temp / "data").write_text("keep")
    link = tmp_path / "link.zarr"
    link.symlink_to(real, target_is_directory=True)
    with pytest.raises(OutputRefusedError, match="symbolic link"):
        with atomic_output(link, overwrite=True) as temp:
            temp.mkdir()
    assert (real / "data").read_text() == "keep" and link.is_symlink()
    # a link to a file: the link is replaced, the file it points to is left as it is
    file = tmp_path / "file.bin"
    file.write_bytes(b"old")
    link_to_file = tmp_path / "out.bin"
    link_to_file.symlink_to(file)
    with atomic_output(link_to_file, overwrite=True) as temp:
        temp.write_bytes(b"new")
    assert not link_to_file.is_symlink() and link_to_file.read_bytes() == b"new" and file.read_bytes() == b"old"


def test_an_output_under_a_file_is_one_clear_os_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError) as caught:
        with atomic_output(tmp_path / "file" / "out.nwb"):
            pass
    assert caught.value.filename == str(tmp_path / "file")


# ---------------------------------------------------------------------- stale partials
def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_partials_of_dead_writers_are_swept_and_live_ones_kept(tmp_path):
    target = tmp_path / "out.nwb"
    host = _host_tag()
    dead = tmp_path / f".out.nwb.{host}-{_dead_pid()}-0123abcd.partial"
    dead_folder = tmp_path / f".other.zarr.{host}-{_dead_pid()}-0123abcd.partial"  # another output's
    dead.write_bytes(b"half")
    dead_folder.mkdir()
    (dead_folder / "chunk").write_bytes(b"half")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".out.nwb.{host}-{sleeper.pid}-0123abcd.partial"
        live.write_bytes(b"being written")
        mine = tmp_path / f".out.nwb.{host}-{os.getpid()}-0123abcd.partial"
        mine.write_bytes(b"being written here")
        foreign = tmp_path / f".out.nwb.{'f' * 8 if host != 'f' * 8 else 'e' * 8}-1-0123abcd.partial"
        foreign.write_bytes(b"another machine, still writing")
        old_foreign = tmp_path / f".out.nwb.{'f' * 8 if host != 'f' * 8 else 'e' * 8}-2-0123abcd.partial"
        old_foreign.write_bytes(b"another machine, abandoned")
        day_ago = time.time() - FOREIGN_PARTIAL_AGE - 60
        os.utime(old_foreign, (day_ago, day_ago))
        legacy = tmp_path / ".out.nwb.0badc0de.partial"  # an earlier version's name: no writer recorded
        legacy.write_bytes(b"")
        unrelated = [tmp_path / "notes.partial", tmp_path / ".out.nwb.zarr.0badc0de.partial.txt"]
        for path in unrelated:
            path.write_bytes(b"")
        removed = sweep_partials(target)
        assert sorted(removed) == sorted([dead, dead_folder, old_foreign, legacy])
        assert live.exists() and mine.exists() and foreign.exists() and all(p.exists() for p in unrelated)
        assert not dead.exists() and not dead_folder.exists() and not old_foreign.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_partial_names_record_the_writer(tmp_path):
    with atomic_output(tmp_path / "out.bin") as temp:
        host, pid, _ = temp.name[len(".out.bin."):-len(".partial")].split("-")
        assert host == _host_tag() and int(pid) == os.getpid()
        temp.write_bytes(b"x")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads process states from /proc")
def test_a_partial_of_an_ended_but_unreaped_writer_is_stale(tmp_path):
    """A killed worker is a zombie until its parent reaps it; its pid still 'exists' for os.kill."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                break
            time.sleep(0.01)
        assert state == "Z"
        partial = tmp_path / f".out.nwb.{_host_tag()}-{child.pid}-0123abcd.partial"
        partial.write_bytes(b"half")
        assert sweep_partials(tmp_path / "out.nwb") == [partial] and not partial.exists()
    finally:
        child.wait()
