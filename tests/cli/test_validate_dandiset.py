"""``ophysio validate PATH --dandiset ID`` writes the minimal dandiset.yaml dandi validate needs (when the folder
and its parents have none), so that a person need not call a Python function first."""

from ruamel.yaml import YAML

from ophysio.cli import main

from ..conversion.batch.test_dandi import write_session


def test_validate_writes_the_stub_dandiset_yaml(tmp_path, capsys):
    root = tmp_path / "out"
    write_session(root / "sub-m12" / "sub-m12_ses-a_ophys.nwb")
    assert main(["validate", str(root), "--dandi", "no", "--dandiset", "000123"]) == 0
    out = capsys.readouterr().out
    stub = root / "dandiset.yaml"
    assert f"wrote {stub}" in out and "1 of 1 files passed" in out
    assert YAML(typ="safe").load(stub.read_text())["identifier"] == "000123"

    # one already there (here or in a parent) is kept
    stub.write_text("identifier: '000999'\nname: mine\n")
    assert main(["validate", str(root / "sub-m12"), "--dandi", "no", "--dandiset", "000123"]) == 0
    assert "already there" in capsys.readouterr().out
    assert stub.read_text() == "identifier: '000999'\nname: mine\n"
    assert not (root / "sub-m12" / "dandiset.yaml").exists()


def test_a_file_gets_the_stub_in_its_folder_and_a_bad_id_is_a_usage_error(tmp_path, capsys):
    nwb = write_session(tmp_path / "s" / "sub-m12_ses-a_ophys.nwb")
    assert main(["validate", str(nwb), "--dandi", "no", "--dandiset", "123"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["ophysio validate: --dandiset takes a six-digit dandiset id such as 000123, "
                                "not '123'"]
    assert not (nwb.parent / "dandiset.yaml").exists()
    assert main(["validate", str(nwb), "--dandi", "no", "--dandiset", "000123"]) == 0
    assert (nwb.parent / "dandiset.yaml").is_file()
