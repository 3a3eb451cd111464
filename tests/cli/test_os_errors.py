"""The command line when the file system says no: a full disk, a read-only file system, no permission, a
file where a folder should be, a folder or link at the output; Ctrl-C; partials of killed runs.

Every case runs ``python -m ophysio.cli`` in a subprocess, so that a crash shows as a negative return code
instead of ending the test run. Each ends with one line on stderr naming the path and the cause, exit
status 1 (130 for Ctrl-C), and no temporary file left behind.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="mounts tmpfs file systems (Linux)")

METADATA = """\
NWBFile: {session_start_time: "2024-05-01T10:00:00+02:00", session_description: file system test}
Subject: {subject_id: m1, species: Mus musculus, sex: F, age: P90D}
Ophys: {ImagingPlane: [{excitation_lambda: 920, indicator: GCaMP6f, location: VISp,
                        optical_channel: [{name: Green, emission_lambda: 510}]}]}
"""

# (--to format or None for NWB, extra arguments, output name)
OUTPUTS = [
    (None, [], "out.nwb"),
    ("tiff", [], "out.tif"),
    ("ome-tiff", [], "out.ome.tif"),
    ("hdf5", [], "out.h5"),
    ("mat", [], "out.mat"),
    ("mat", ["-W", "version=5"], "out_v5.mat"),
    ("suite2p", [], "suite2p"),
    ("zarr", [], "out.zarr"),
]


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "ophysio.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def convert_args(source, meta, fmt, extra, output):
    args = ["convert", source, "-O", "sampling_frequency=10", "-o", output, "--no-progress"]
    if fmt is None:
        return [*args, "--metadata", meta]
    return [*args, "--to", fmt, *extra]


def assert_one_line(result, path, *causes, status=1):
    """Exit ``status``, and stderr is one line naming ``path`` and one of ``causes``."""
    assert result.returncode == status, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0], lines[0]
    assert any(cause in lines[0] for cause in causes), lines[0]


def leftovers(folder):
    return sorted(p.name for p in Path(folder).rglob("*") if ".partial" in p.name)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """An 8 MiB int16 movie of noise (gzip cannot shrink it below a 4 MiB disk) and complete metadata."""
    folder = tmp_path_factory.mktemp("source")
    path = folder / "movie.npy"
    rng = np.random.default_rng(0)
    np.save(path, rng.integers(-32768, 32767, size=(256, 128, 128), dtype=np.int16))
    meta = folder / "meta.yaml"
    meta.write_text(METADATA)
    return path, meta


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no mount command here, so no small file system to fill")
    if result.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {result.stderr.strip() or result.returncode}")


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs."""
    folder = tmp_path / "disk"
    _mount_tmpfs(folder, "4m")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture
def read_only(tmp_path):
    """A read-only tmpfs."""
    folder = tmp_path / "ro"
    _mount_tmpfs(folder, "1m")
    result = subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True, text=True)
    if result.returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        pytest.skip(f"remounting read-only is not permitted here: {result.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


# ---------------------------------------------------------------------- full disk
@pytest.mark.parametrize("fmt, extra, name", OUTPUTS, ids=[f"{o[0] or 'nwb'}{''.join(o[1])}" for o in OUTPUTS])
def test_a_full_disk_is_one_line_and_leaves_nothing(source, small_disk, fmt, extra, name):
    path, meta = source
    output = small_disk / name
    result = run(*convert_args(path, meta, fmt, extra, output))
    # a crash in libhdf5 after the failed write (SIGSEGV at exit) was a negative return code
    assert_one_line(result, output, "No space left on device", "free space")
    assert list(small_disk.iterdir()) == []  # no output, no partial file


# ---------------------------------------------------------------------- other refusals of the file system
@pytest.mark.parametrize("fmt, extra, name", [OUTPUTS[0], OUTPUTS[3], OUTPUTS[7]], ids=["nwb", "hdf5", "zarr"])
def test_a_read_only_file_system_is_one_line(source, read_only, fmt, extra, name):
    path, meta = source
    output = read_only / name
    assert_one_line(run(*convert_args(path, meta, fmt, extra, output)), read_only, "Read-only file system")


def test_no_permission_is_one_line(source, tmp_path):
    path, meta = source
    locked = tmp_path / "locked"
    locked.mkdir()
    # root ignores file modes: an immutable folder refuses even root
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported on this file system")
    try:
        for fmt, extra, name in (OUTPUTS[0], OUTPUTS[3]):
            result = run(*convert_args(path, meta, fmt, extra, locked / name))
            assert_one_line(result, locked, "Operation not permitted", "Permission denied")
        assert list(locked.iterdir()) == []
    finally:
        subprocess.run(["chattr", "-i", str(locked)], capture_output=True)


@pytest.mark.parametrize("fmt, extra, name", [OUTPUTS[0], OUTPUTS[6]], ids=["nwb", "suite2p"])
def test_an_output_under_a_file_is_one_line(source, tmp_path, fmt, extra, name):
    path, meta = source
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    result = run(*convert_args(path, meta, fmt, extra, blocker / name))
    assert_one_line(result, blocker, "Not a directory")
    assert blocker.read_text() == "a file, not a folder"


def test_every_command_with_an_output_reports_the_file_system_in_one_line(source, read_only, tmp_path):
    path, meta = source
    spec = tmp_path / "spec.yaml"
    spec.write_text(METADATA.replace("NWBFile: {", "metadata:\n  NWBFile: {").replace("\nSubject", "\n  Subject")
                    .replace("\nOphys", "\n  Ophys").replace("\n                        optical",
                                                            "\n                          optical")
                    + f"options: {{sampling_frequency: 10}}\ndandi: false\n"
                      f"sessions:\n  - {{session_id: a, source: {path}}}\n")
    result = run("convert-batch", spec, "-o", read_only / "batch", "--quiet", "--workers", "1")
    assert_one_line(result, read_only / "batch", "Read-only file system")
    result = run("metadata-template", path, "-O", "sampling_frequency=10", "-o", read_only / "meta.yaml")
    assert_one_line(result, read_only, "Read-only file system")
    pytest.importorskip("matplotlib")
    result = run("preview", path, "-O", "sampling_frequency=10", "-o", read_only / "preview")
    assert_one_line(result, read_only / "preview", "Read-only file system")


def test_metadata_template_on_a_full_disk_keeps_no_half_file(source, small_disk):
    path, _ = source
    filler = small_disk / "filler"
    with open(filler, "wb") as fh:  # leave a few bytes free: the template does not fit
        try:
            fh.write(b"\0" * (4 << 20))
        except OSError:
            pass
    output = small_disk / "meta.yaml"
    result = run("metadata-template", path, "-O", "sampling_frequency=10", "-o", output)
    assert_one_line(result, output, "No space left on device")
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


# ---------------------------------------------------------------------- --overwrite and folders
@pytest.mark.parametrize("fmt, extra, name", [OUTPUTS[0], OUTPUTS[6], OUTPUTS[7]], ids=["nwb", "suite2p", "zarr"])
def test_overwrite_never_deletes_a_folder_ophysio_did_not_write(source, tmp_path, fmt, extra, name):
    path, meta = source
    output = tmp_path / name
    output.mkdir()
    (output / "analysis.py").write_text("print('months of work')")
    result = run(*convert_args(path, meta, fmt, extra, output), "--overwrite")
    assert_one_line(result, output, "did not write")
    assert "--overwrite" in result.stderr or "overwrite" in result.stderr
    assert sorted(p.name for p in output.iterdir()) == ["analysis.py"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt, extra, name", [OUTPUTS[6], OUTPUTS[7]], ids=["suite2p", "zarr"])
def test_overwrite_replaces_a_folder_ophysio_wrote(source, tmp_path, fmt, extra, name):
    path, meta = source
    output = tmp_path / name
    first = run(*convert_args(path, meta, fmt, extra, output), "--stub", "--stub-samples", "5")
    assert first.returncode == 0, first.stderr
    second = run(*convert_args(path, meta, fmt, extra, output), "--overwrite")
    assert second.returncode == 0, second.stderr
    if fmt == "zarr":
        import zarr

        assert zarr.open_group(output, mode="r")["0"].shape[0] == 256  # the whole movie, not the 5-sample stub
    else:
        from ophysio import open_imaging

        with open_imaging(output) as extractor:
            assert extractor.get_num_samples() == 256
    assert leftovers(tmp_path) == []


def test_overwrite_on_a_link_to_a_folder_leaves_the_folder(source, tmp_path):
    path, meta = source
    real = tmp_path / "real.zarr"
    assert run(*convert_args(path, meta, "zarr", [], real), "--stub", "--stub-samples", "5").returncode == 0
    before = sorted(str(p.relative_to(real)) for p in real.rglob("*"))
    for fmt, extra, _ in (OUTPUTS[0], OUTPUTS[7]):
        link = tmp_path / ("link.nwb" if fmt is None else "link.zarr")  # an output name says its format
        link.symlink_to(real, target_is_directory=True)
        result = run(*convert_args(path, meta, fmt, extra, link), "--overwrite")
        assert_one_line(result, link, "symbolic link")
        assert link.is_symlink() and sorted(str(p.relative_to(real)) for p in real.rglob("*")) == before
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------- killed and interrupted runs
KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys, time
    from ophysio.conversion._atomic import atomic_output
    with atomic_output(sys.argv[1]) as temp:
        temp.write_bytes(b"half an NWB file")
        if sys.argv[2] == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        print(temp, flush=True)
        time.sleep(120)
    """
)


def test_the_next_convert_sweeps_partials_of_killed_runs_but_not_of_live_ones(source, tmp_path):
    path, meta = source
    output = tmp_path / "out.nwb"
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(output), "die"], capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    [stale] = leftovers(tmp_path)
    other = tmp_path / "other.h5"  # a killed run of another output of the same folder
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(other), "die"], capture_output=True)
    live = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(output), "live"], stdout=subprocess.PIPE,
                            text=True)
    try:
        live_partial = Path(live.stdout.readline().strip())
        assert live_partial.is_file()
        result = run(*convert_args(path, meta, None, [], output))
        assert result.returncode == 0, result.stderr
        assert leftovers(tmp_path) == [live_partial.name]  # the killed runs' partials are gone, the live one stays
        assert stale != live_partial.name
    finally:
        live.kill()
        live.wait()
        live.stdout.close()
    import h5py

    with h5py.File(output, "r") as f:
        np.testing.assert_array_equal(f["acquisition/TwoPhotonSeries/data"][()], np.load(path).swapaxes(1, 2))


def test_ctrl_c_is_one_line_exit_130_and_leaves_nothing(source, tmp_path, monkeypatch, capsys):
    """SIGINT arrives while the NWB file is being filled (raised in-process: a real signal, no race)."""
    from ophysio.cli import main
    from ophysio.conversion.nwb import hdf5 as nwb_hdf5

    path, meta = source
    output = tmp_path / "out" / "session.nwb"

    def interrupted(*args, **kwargs):
        assert leftovers(output.parent), "the write is under way: its partial file exists"
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(nwb_hdf5, "fill_dataset", interrupted)
    # Python's own handler, whatever the runner inherited (a job started with & in a script ignores SIGINT)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert main([str(a) for a in convert_args(path, meta, None, [], output)]) == 130
    finally:
        signal.signal(signal.SIGINT, previous)
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == ["ophysio convert: interrupted"]
    assert list(output.parent.iterdir()) == []


@pytest.fixture(autouse=True)
def _no_stray_mounts(tmp_path):
    yield
    for folder in (tmp_path / "disk", tmp_path / "ro"):
        if folder.is_mount():
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
    shutil.rmtree(tmp_path, ignore_errors=True)
