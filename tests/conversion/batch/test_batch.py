"""convert_sessions on a 2-worker LocalCluster: 20 sessions (one corrupt), re-runs, a killed worker."""

import copy
import importlib.util
import json
import os
import pickle
import signal
import threading
import time

import h5py
import numpy as np
import pytest
from ruamel.yaml import YAML

from ophysio import convert_sessions
from ophysio._version import __version__
from ophysio.conversion.batch import load_batch_spec, manifest_path, plan_sessions
from ophysio.conversion.batch.dandi import write_dandiset_yaml
from ophysio.conversion.batch.manifest import _is_current, _write_manifest
from ophysio.conversion.batch.run import _start_cluster
from ophysio.conversion.batch.task import _json_ready, _stat_files, _Task
from ophysio.conversion.batch.validate import validate_path
from ophysio.conversion.batch.worker import _convert_task
from ophysio.errors import MetadataError
from ophysio.testing.synthetic import movie

from ...cli.helpers import run_cli
from .test_dandi import SESSION_METADATA

HAS_DANDI = importlib.util.find_spec("dandi") is not None
SAMPLES, ROWS, COLUMNS = 300, 48, 40  # 1.1 MB per session: small, but a write lasts long enough to be killed
CORRUPT = "s07"


def session_ids():
    return [f"s{i:02d}" for i in range(20)]


def subject_of(i):
    return f"mouse_{i % 4}"  # '_' is not allowed in DANDI labels: sanitised to '-'


def expected_target(out, i):
    subject = subject_of(i).replace("_", "-")
    return out / f"sub-{subject}" / f"sub-{subject}_ses-s{i:02d}-day-1_ophys.nwb"


def write_spec(folder, ids=None):
    """Sources (.npy movies, one truncated) and a YAML spec with global and per-session metadata."""
    ids = ids or session_ids()
    sources = folder / "raw"
    sources.mkdir(parents=True, exist_ok=True)
    common = copy.deepcopy(SESSION_METADATA)
    del common["NWBFile"]["session_id"]
    del common["Subject"]["subject_id"]
    sessions = []
    for i, name in enumerate(ids):
        path = sources / f"{name}.npy"
        if not path.exists():
            with open(path, "wb") as fh:
                np.save(fh, movie(SAMPLES, ROWS, COLUMNS, dtype="uint16", seed=i))
            if name == CORRUPT:  # truncated by a failed copy: the header promises more than is there
                data = path.read_bytes()
                path.write_bytes(data[: len(data) // 3])
        sessions.append({"session_id": f"{name}.day 1", "source": f"raw/{name}.npy",
                         "metadata": {"Subject": {"subject_id": subject_of(i)}}})
    spec = {"metadata": common, "options": {"sampling_frequency": 30.0}, "sessions": sessions}
    path = folder / "spec.yaml"
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    with open(path, "w") as fh:
        yaml.dump(spec, fh)
    return path




@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    return folder, write_spec(folder)


@pytest.fixture(scope="module")
def client():
    client, cluster = _start_cluster(2, "1GiB")
    yield client
    client.close()
    cluster.close()


def partial_files(folder):
    return sorted(p for p in folder.rglob("*") if p.name.endswith(".partial"))


# ---------------------------------------------------------------------- the spec
def test_spec_errors_name_the_session_and_field(tmp_path):
    spec = {"sessions": [{"session_id": "a", "source": "x.npy"},
                         {"session_id": "b", "sorce": "y.npy"},
                         {"session_id": "c", "source": []}]}
    with pytest.raises(MetadataError) as info:
        load_batch_spec(spec)
    text = str(info.value)
    assert "session 'b' (sessions[1]): sorce: unknown key" in text
    assert "session 'b' (sessions[1]): source: required" in text
    assert "session 'c' (sessions[2]): source:" in text and "at least one file" in text
    with pytest.raises(MetadataError, match="'a' appears twice"):
        load_batch_spec({"sessions": [{"session_id": "a", "source": "x"}, {"session_id": "a", "source": "y"}]})
    path = tmp_path / "bad.yaml"
    path.write_text("sessions: [\n")
    with pytest.raises(MetadataError, match="could not be parsed"):
        load_batch_spec(path)


def test_metadata_errors_name_the_session_before_anything_starts(tmp_path):
    spec = load_batch_spec({
        "metadata": {"Subject": {"species": "Mus musculus", "sex": "F", "age": "P90D"}},
        "sessions": [
            {"session_id": "ok", "source": "x.npy", "metadata": {"Subject": {"subject_id": "m1"}}},
            {"session_id": "no-subject", "source": "y.npy"},
            {"session_id": "bad-sex", "source": "z.npy",
             "metadata": {"Subject": {"subject_id": "m2", "sex": "female"}}},
            {"session_id": "typo", "source": "w.npy", "metadata": {"Subjet": {"subject_id": "m3"}}},
        ],
    })
    with pytest.raises(MetadataError) as info:
        plan_sessions(spec, tmp_path / "out")
    text = str(info.value)
    assert text.startswith("3 of 4 sessions cannot start; nothing was converted")
    assert "session 'no-subject' lacks what DANDI requires" in text and "Subject.subject_id: missing" in text
    assert "metadata of session 'bad-sex'" in text and "Subject.sex" in text
    assert "metadata of session 'typo'" in text and "Subjet: unknown key" in text
    assert not (tmp_path / "out").exists()


def test_plan_uses_dandi_names_and_tasks_carry_only_paths_and_metadata(batch, tmp_path):
    folder, spec_path = batch
    tasks = plan_sessions(load_batch_spec(spec_path), tmp_path / "out")
    assert [t.target for t in tasks] == [str(expected_target(tmp_path / "out", i)) for i in range(20)]
    task = tasks[3]
    assert task.sources == [str(folder / "raw" / "s03.npy")]
    assert task.metadata["NWBFile"]["session_id"] == "s03.day 1"
    assert task.metadata["Subject"]["subject_id"] == "mouse_3"
    assert len(pickle.dumps(task)) < 5000
    # the session's session_id wins over one in the global metadata; a different one of its own is an error
    spec = load_batch_spec({"metadata": SESSION_METADATA, "sessions": [
        {"session_id": "b", "source": "x"},
        {"session_id": "c", "source": "y", "metadata": {"NWBFile": {"session_id": "other"}}}]})
    with pytest.raises(MetadataError, match="session 'c': metadata.NWBFile.session_id is 'other'"):
        plan_sessions(spec, tmp_path / "out3")
    spec.sessions.pop()
    [task] = plan_sessions(spec, tmp_path / "out3")
    assert task.metadata["NWBFile"]["session_id"] == "b" and task.target.endswith("sub-m12_ses-b_ophys.nwb")
    # without DANDI naming: <session_id>.nwb, and no subject required
    spec = load_batch_spec({"dandi": False, "sessions": [{"session_id": "day 1", "source": "x"}]})
    [task] = plan_sessions(spec, tmp_path / "plain")
    assert task.target == str(tmp_path / "plain" / "day 1.nwb") and "Subject" not in task.metadata
    # two sessions on one file is an error
    spec = load_batch_spec({"metadata": SESSION_METADATA, "sessions": [
        {"session_id": "a.1", "source": "x"}, {"session_id": "a_1", "source": "y"}]})
    with pytest.raises(MetadataError, match="would both write"):
        plan_sessions(spec, tmp_path / "out2")


def test_errors_another_attempt_cannot_cure_are_reported_not_raised(tmp_path, monkeypatch):
    """Corrupt input and missing files come back as a failed outcome (no retry); other errors raise."""
    from ophysio.conversion.batch import worker

    monkeypatch.setenv("HDF5_USE_FILE_LOCKING", "TRUE")  # restored after the test
    spec = load_batch_spec({"metadata": SESSION_METADATA, "options": {"sampling_frequency": 30.0},
                            "sessions": [{"session_id": "gone", "source": str(tmp_path / "missing.npy")}]})
    [task] = plan_sessions(spec, tmp_path / "out")
    outcome = _convert_task(task)
    assert outcome["status"] == "failed" and "missing.npy" in outcome["error"]
    assert os.environ["HDF5_USE_FILE_LOCKING"] == "FALSE"

    def flaky(task):
        raise OSError(5, "Input/output error (network file system)")

    monkeypatch.setattr(worker, "_open_source", flaky)
    with pytest.raises(OSError, match="network file system"):
        _convert_task(task)
    assert not manifest_path(task.target).exists()


def test_manifest_notices_changes_to_every_file_read(tmp_path):
    first, second = tmp_path / "a_00001.tif", tmp_path / "a_00002.tif"  # a series found from its first file
    first.write_bytes(b"1")
    second.write_bytes(b"2")
    target = tmp_path / "out.nwb"
    target.write_bytes(b"converted")
    task = _Task("a", [str(first)], None, {}, {"NWBFile": {"session_id": "a"}}, {}, str(target))
    finished = {"ophysio_version": __version__, "inputs": _json_ready(task.inputs()),
                "files_read": _stat_files([str(first), str(second)])}
    _write_manifest(target, {**finished, "status": "writing"})
    assert not _is_current(task)  # a write that did not finish never counts
    _write_manifest(target, {**finished, "status": "done"})
    assert _is_current(task)
    second.write_bytes(b"2 rewritten")
    assert not _is_current(task)
    _write_manifest(target, {"ophysio_version": "0.0.0", "inputs": _json_ready(task.inputs()), "files_read": []})
    assert not _is_current(task)  # another ophysio version converts again
    task.metadata = {"NWBFile": {"session_id": "a", "lab": "new"}}
    _write_manifest(target, {"ophysio_version": __version__, "inputs": {}, "files_read": []})
    assert not _is_current(task)


def _one_session(tmp_path, seed):
    """A spec of one .npy session whose movie is ``movie(..., seed=seed)``."""
    source = tmp_path / "raw" / "a.npy"
    source.parent.mkdir(exist_ok=True)
    with open(source, "wb") as fh:
        np.save(fh, movie(SAMPLES, ROWS, COLUMNS, dtype="uint16", seed=seed))
    return source, {"metadata": SESSION_METADATA, "options": {"sampling_frequency": 30.0},
                    "sessions": [{"session_id": "a", "source": str(source)}]}


@pytest.mark.parametrize("interruption", ["failed write", "killed after the manifest"])
def test_an_interrupted_reconversion_is_redone_not_skipped(tmp_path, monkeypatch, client, interruption):
    """The source of a converted session changes; its re-conversion stops mid-write; the next run must
    convert it again (not skip it and keep the old recording's NWB file)."""
    from ophysio.conversion import nwb

    source, spec = _one_session(tmp_path, seed=1)
    out = tmp_path / "out"
    first = convert_sessions(spec, out, client=client, progress=False)
    [target] = [r.path for r in first.done]
    old = read_pixels(target)[0]
    # the session's source is replaced by another recording (written later: a new mtime)
    _one_session(tmp_path, seed=2)
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    [task] = plan_sessions(load_batch_spec(spec), out.resolve())
    if interruption == "failed write":
        def disk_full(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(nwb, "write_nwb", disk_full)
        with pytest.raises(OSError, match="No space left"):
            _convert_task(task)
        monkeypatch.undo()
    else:  # the worker was killed inside write_nwb: the manifest of the new inputs says "writing"
        from ophysio.conversion.batch.manifest import _read_manifest

        manifest = _read_manifest(target)
        manifest.update(inputs=_json_ready(task.inputs()), status="writing")
        manifest.pop("finished", None)
        _write_manifest(target, manifest)
    np.testing.assert_array_equal(read_pixels(target)[0], old)  # the old recording is still there
    assert not _is_current(task)
    second = convert_sessions(spec, out, client=client, progress=False)
    assert [r.session_id for r in second.done] == ["a"] and not second.skipped and second.ok
    expected = np.load(source).swapaxes(1, 2)  # the new source, read on its own (NWB: samples, x, y)
    assert not np.array_equal(expected, old)
    np.testing.assert_array_equal(read_pixels(target)[0], expected)
    manifest = json.loads(manifest_path(target).read_text())
    assert manifest["status"] == "done" and manifest["inputs"] == _json_ready(task.inputs())
    # and now it is current: a third run skips it
    third = convert_sessions(spec, out, client=client, progress=False)
    assert [r.session_id for r in third.skipped] == ["a"]


# ---------------------------------------------------------------------- conversion
def read_pixels(path):
    with h5py.File(path, "r") as f:
        return f["acquisition/TwoPhotonSeries/data"][()], f["general/session_id"][()].decode()


def test_twenty_sessions_one_corrupt_on_two_workers(batch):
    folder, spec_path = batch
    out = folder / "out"
    result = convert_sessions(spec_path, out, workers=2, progress=False)
    assert len(result.done) == 19 and not result.skipped
    [failed] = result.failed
    assert failed.session_id == f"{CORRUPT}.day 1"
    assert "s07.npy" in failed.error and "not a readable .npy file" in failed.error
    table = result.table()
    assert "19 done, 0 skipped, 1 failed" in table and "s07.npy" in table
    for i in range(20):
        target = expected_target(out, i)
        assert target.is_file() == (i != 7)
        assert manifest_path(target).is_file() == (i != 7)
    for i in (0, 13):  # pixels are the source's (NWB layout: samples, x=column, y=row)
        pixels, session = read_pixels(expected_target(out, i))
        np.testing.assert_array_equal(pixels, movie(SAMPLES, ROWS, COLUMNS, dtype="uint16", seed=i).swapaxes(1, 2))
        assert session == f"s{i:02d}.day 1"
    assert partial_files(out) == []
    # every file passes pynwb and nwbinspector's dandi config, and dandi validate with a dandiset.yaml
    write_dandiset_yaml(out, "000123")
    reports = validate_path(out, dandi=HAS_DANDI)
    assert len(reports) == 19
    assert all(r.ok and not r.warnings for r in reports), "\n".join(str(r) for r in reports if not r.ok)
    if HAS_DANDI:
        assert all(r.checkers[0].startswith("dandi validate") for r in reports)


def test_second_run_skips_the_converted_sessions(batch, client):
    folder, spec_path = batch
    out = folder / "out"
    mtimes = {i: expected_target(out, i).stat().st_mtime_ns for i in range(20) if i != 7}
    leftover = expected_target(out, 3).with_name(f".{expected_target(out, 3).name}.0badc0de.partial")
    leftover.write_bytes(b"half a file from a killed writer")
    unrelated = out / "sub-mouse-3" / "notes.partial"  # not a partial of a target: left alone
    unrelated.write_bytes(b"")
    result = convert_sessions(spec_path, out, client=client, progress=False)
    assert len(result.skipped) == 19 and len(result.failed) == 1 and not result.done
    assert result.swept == [leftover] and not leftover.exists() and unrelated.exists()
    unrelated.unlink()
    assert all(expected_target(out, i).stat().st_mtime_ns == mtimes[i] for i in mtimes)
    # a changed source is converted again; the others stay skipped
    source = folder / "raw" / "s02.npy"
    with open(source, "wb") as fh:
        np.save(fh, movie(SAMPLES, ROWS, COLUMNS, dtype="uint16", seed=99))
    # a file at a target that no batch wrote is never replaced
    foreign = expected_target(out, 5)
    foreign.unlink()
    manifest_path(foreign).unlink()
    foreign.write_bytes(b"someone else's file")
    result = convert_sessions(spec_path, out, client=client, progress=False)
    assert [r.session_id for r in result.done] == ["s02.day 1"]
    assert sorted(r.session_id for r in result.failed) == ["s05.day 1", f"{CORRUPT}.day 1"]
    assert "not written by an ophysio batch" in next(r.error for r in result.failed if r.session_id == "s05.day 1")
    np.testing.assert_array_equal(read_pixels(expected_target(out, 2))[0],
                                  movie(SAMPLES, ROWS, COLUMNS, dtype="uint16", seed=99).swapaxes(1, 2))
    assert foreign.read_bytes() == b"someone else's file"
    foreign.unlink()


def test_cli_convert_batch_on_a_scheduler_address(batch, client, capsys):
    folder, spec_path = batch
    code = run_cli("convert-batch", spec_path, "-o", folder / "out", "--scheduler", client.scheduler.address,
                   "--quiet")
    out, err = capsys.readouterr()
    assert code == 1  # the corrupt session fails: non-zero exit
    assert "done" in out and "skipped" in out and "s07.npy" in out
    assert f"session '{CORRUPT}.day 1' failed" in err
    assert expected_target(folder / "out", 5).is_file()  # converted now that the foreign file is gone


def test_workers_get_the_environment_and_one_thread(client):
    assert set(client.nthreads().values()) == {1}
    assert set(client.run(lambda: os.environ.get("HDF5_USE_FILE_LOCKING")).values()) == {"FALSE"}


def test_killed_worker_then_rerun_completes_all_and_leaves_no_partial(batch, client):
    folder, spec_path = batch
    out = folder / "out-killed"
    pids = client.run(os.getpid)
    killed = []
    stop = threading.Event()

    def kill_a_writing_worker():
        deadline = time.monotonic() + 40
        while not stop.is_set() and time.monotonic() < deadline:
            partials = partial_files(out) if out.exists() else []
            if partials:
                session = partials[0].name.split("_ses-")[1].split("-day-1")[0]
                for address, keys in client.processing().items():
                    if any(f"session-{session}.day 1-" in str(k) for k in keys) and address in pids:
                        os.kill(pids[address], signal.SIGKILL)
                        killed.append((session, partials[0]))
                        return
            time.sleep(0.002)

    killer = threading.Thread(target=kill_a_writing_worker, daemon=True)
    killer.start()
    first = convert_sessions(spec_path, out, client=client, progress=False)
    stop.set()
    killer.join()
    assert killed, "no worker was caught writing"
    assert partial_files(out) == []
    client.wait_for_workers(2, timeout=30)
    second = convert_sessions(spec_path, out, client=client, progress=False)
    complete = [i for i in range(20) if expected_target(out, i).is_file()]
    assert complete == [i for i in range(20) if i != 7]
    assert len(second.done) + len(second.skipped) == 19
    # the output folder was empty, so a first-run "skipped" is the killed session recomputed on another
    # worker after its file was complete (the kill can land just after the rename): it counts once
    assert len(first.done) + len(first.skipped) + len(second.done) == 19
    assert [r.session_id for r in second.failed] == [f"{CORRUPT}.day 1"]
    assert partial_files(out) == []


def test_a_multichannel_scanimage_session_gives_one_series_per_channel(tmp_path, client):
    """A session names only its first file: every file and every saved channel is converted."""
    from pynwb import NWBHDF5IO

    from ophysio.testing.synthetic import write_example

    first, _ = write_example("scanimage", tmp_path / "raw")
    metadata = copy.deepcopy(SESSION_METADATA)
    # one imaging plane per saved channel, named as `ophysio metadata-template` lists them
    metadata["Ophys"] = {"ImagingPlane": [
        {"name": f"ImagingPlaneChannel{c}", "indicator": "GCaMP6f", "location": "VISp", "excitation_lambda": 920.0,
         "device": "Microscope", "optical_channel": [{"name": f"Channel{c}", "description": f"PMT {c}",
                                                      "emission_lambda": 510.0 if c == 1 else 610.0}]}
        for c in (1, 2)]}
    spec = {"metadata": metadata, "sessions": [{"session_id": "si", "source": str(first)}]}
    result = convert_sessions(spec, tmp_path / "out", client=client, progress=False)
    assert [r.status for r in result.results] == ["done"], result.results[0].error
    with NWBHDF5IO(str(result.results[0].path), "r") as io:
        series = io.read().acquisition
        assert sorted(series) == ["TwoPhotonSeriesChannel1", "TwoPhotonSeriesChannel2"]
        assert all(series[name].data.shape == (150, 128, 128) for name in series)


def test_a_session_past_its_timeout_stops_its_worker_and_is_reported(tmp_path):
    import dask

    from ...extractors.test_damaged_inputs import write_hdf5_libhdf5_loops_on

    raw = tmp_path / "raw"
    raw.mkdir()
    np.save(raw / "good.npy", movie(40, ROWS, COLUMNS, dtype="uint16", seed=1))
    write_hdf5_libhdf5_loops_on(raw / "loops.h5")  # conversion stores the attributes: libhdf5 never returns
    common = copy.deepcopy(SESSION_METADATA)
    del common["NWBFile"]["session_id"]
    spec = {"metadata": common, "options": {"sampling_frequency": 30.0}, "base_folder": str(tmp_path),
            "sessions": [{"session_id": "loops", "source": "raw/loops.h5"},
                         {"session_id": "good", "source": "raw/good.npy"}]}
    out = tmp_path / "out"
    started = time.monotonic()
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # give up at the first stop
        result = convert_sessions(spec, out, workers=1, session_timeout=6, progress=False)
    assert time.monotonic() - started < 90
    by_id = {r.session_id: r for r in result.results}
    assert by_id["good"].status == "done" and by_id["good"].path.is_file()
    assert by_id["loops"].status == "failed"
    assert "still converting after session_timeout (6 s)" in by_id["loops"].error
    assert "h5py/_hl/attrs.py" in by_id["loops"].traceback  # the stack faulthandler wrote: inside libhdf5
    assert not by_id["loops"].path.exists()
    leftovers = [p.name for p in out.rglob("*") if p.is_file() and not p.name.endswith((".nwb", ".json"))]
    assert leftovers == []
    with pytest.raises(ValueError, match="session_timeout must be a positive"):
        convert_sessions(spec, out, workers=1, session_timeout=0, progress=False)


@pytest.mark.parametrize("value", ["0", "-3", "soon", "inf"])
def test_cli_session_timeout_must_be_positive_seconds(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("convert-batch", tmp_path / "spec.yaml", "-o", tmp_path / "out", "--session-timeout", value)
    assert exit_info.value.code == 2
    assert f"--session-timeout: a positive number of seconds, not '{value}'" in capsys.readouterr().err


def test_progress_off_a_terminal_is_a_line_per_session(tmp_path, client, capsys):
    source, spec = _one_session(tmp_path, seed=3)
    convert_sessions(spec, tmp_path / "out", client=client, progress=True)
    lines = capsys.readouterr().out.splitlines()
    assert "sessions: 1 of 1 done (a: done)" in lines
    assert not any("\r" in line for line in lines)
