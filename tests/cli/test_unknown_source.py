"""A source no format reads ends in one line (an empty folder, a folder of unrelated files, ``notes.txt``);
what each format said comes only with ``--verbose``, and stays on the library's error."""

import pytest

from ophysio import open_imaging
from ophysio.cli import main
from ophysio.errors import UnknownFormatError


def _sources(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    (unrelated / "a.csv").write_text("1,2\n")
    (unrelated / "README").write_text("hello\n")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    return empty, unrelated, notes


@pytest.mark.parametrize("command", [["info"], ["metadata-template"], ["convert", "-o", "OUT"]])
def test_a_source_no_format_reads_is_one_line(tmp_path, capsys, command):
    empty, unrelated, notes = _sources(tmp_path)
    expected = {empty: f"no imaging files in {empty}", unrelated: f"no imaging files in {unrelated}",
                notes: f"{notes}: `.txt` is not a format ophysio reads; `ophysio formats` lists them"}
    for source, line in expected.items():
        argv = [str(tmp_path / "out.nwb") if a == "OUT" else a for a in command]
        assert main([*argv, str(source)]) == 1
        err = capsys.readouterr().err
        assert err.splitlines() == [f"ophysio {command[0]}: {line}"], err
    assert not (tmp_path / "out.nwb").exists()


def test_verbose_adds_what_each_format_said(tmp_path, capsys):
    _, _, notes = _sources(tmp_path)
    for argv in (["--verbose", "info", str(notes)], ["info", str(notes), "-v"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "could not tell the format" in err and "  hdf5: no HDF5 signature" in err
        assert "Pass --format FORMAT" in err and "Traceback" not in err


def test_the_library_error_keeps_the_reasons(tmp_path):
    _, unrelated, _ = _sources(tmp_path)
    with pytest.raises(UnknownFormatError) as info:
        open_imaging(unrelated)
    assert info.value.summary == f"no imaging files in {unrelated}"
    assert ("hdf5", "no HDF5 signature") in info.value.reasons
    assert "each format said" in str(info.value)
