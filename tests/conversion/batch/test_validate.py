"""ophysio validate: pynwb + nwbinspector (dandi config) + dandi validate, one report per file, exit status."""

import importlib.util

import pytest

from ophysio.conversion.batch.dandi import write_dandiset_yaml
from ophysio.conversion.batch.validate import find_nwb_files, format_reports, validate_file, validate_path

from ...cli.helpers import run_cli
from .test_dandi import without_subject, write_session

HAS_DANDI = importlib.util.find_spec("dandi") is not None




@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("validate")
    good = write_session(root / "sub-m12" / "sub-m12_ses-a_ophys.nwb")
    bad = write_session(root / "sub-m13" / "sub-m13_ses-b_ophys.nwb", without_subject(), dandi=False)
    return root, good, bad


def test_complete_file_passes_pynwb_and_the_dandi_inspector_config(files):
    _, good, _ = files
    report = validate_file(good, dandi=False)
    assert report.ok, report
    assert report.checkers[:2] == ["pynwb", "nwbinspector (dandi config)"]
    assert not report.warnings


def test_missing_dandi_fields_are_errors_naming_the_check(files):
    _, _, bad = files
    report = validate_file(bad, dandi=False)
    assert not report.ok
    checks = {f.check for f in report.errors}
    assert "check_subject_exists" in checks
    text = str(report)
    assert text.startswith(f"FAIL {bad}") and "check_subject_exists" in text


def test_unreadable_file_is_one_error_not_a_crash(tmp_path):
    path = tmp_path / "broken.nwb"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    report = validate_file(path, dandi=False)
    assert not report.ok
    assert report.errors[0].checker == "pynwb" and "could not be read" in report.errors[0].message


def test_folder_gives_one_report_per_file_and_skips_hidden_files(files):
    root, good, bad = files
    (root / ".cache").mkdir(exist_ok=True)
    (root / ".cache" / "x.nwb").write_bytes(b"")
    (root / "sub-m12" / ".sub-m12_ses-a_ophys.nwb.1234abcd.partial").write_bytes(b"")
    assert find_nwb_files(root) == [good, bad]
    reports = validate_path(root, dandi=False)
    assert [r.ok for r in reports] == [True, False]
    summary = format_reports(reports)
    assert "1 of 2 files passed; 1 failed" in summary
    with pytest.raises(FileNotFoundError):
        validate_path(root / "nothing-here")


def test_cli_exit_status(files, capsys):
    root, good, bad = files
    assert run_cli("validate", good, "--dandi", "no") == 0
    assert run_cli("validate", bad, "--dandi", "no") == 1
    out = capsys.readouterr().out
    assert f"OK   {good}" in out and f"FAIL {bad}" in out


@pytest.mark.skipif(not HAS_DANDI, reason="dandi validate runs only when the optional dandi package is installed")
def test_dandi_validate_needs_a_dandiset_yaml_and_then_runs(tmp_path):
    good = write_session(tmp_path / "sub-m12" / "sub-m12_ses-a_ophys.nwb")
    report = validate_file(good, dandi=True)
    notes = [f for f in report.findings if f.checker == "dandi"]
    assert notes and "dandiset.yaml" in notes[0].message
    assert report.checkers == ["pynwb", "nwbinspector (dandi config)"]
    write_dandiset_yaml(tmp_path, "000123")
    report = validate_file(good, dandi=True)
    assert report.ok and report.checkers[0].startswith("dandi validate"), report
    # a file named outside DANDI's layout is an error of dandi validate
    misnamed = write_session(tmp_path / "sub-m12" / "session one.nwb")
    report = validate_file(misnamed, dandi=True)
    assert not report.ok
    assert any(f.checker == "dandi" and f.check == "DANDI.NON_DANDI_FILENAME" for f in report.errors)
