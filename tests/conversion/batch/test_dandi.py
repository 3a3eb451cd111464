"""DANDI naming, required fields, dandiset.yaml and the upload's refusal paths (no network, no key)."""

import copy
import importlib.util
import socket

import pytest
from ruamel.yaml import YAML

from ophysio.conversion.batch import dandi as dandi_mod
from ophysio.conversion.batch.dandi import (
    DandiUploadError,
    dandi_field_problems,
    dandi_filename,
    dandi_relative_path,
    nwb_dandi_fields,
    require_dandi_fields,
    sanitize_label,
    upload_folder,
    write_dandiset_yaml,
)
from ophysio.conversion.nwb import write_nwb
from ophysio.errors import MetadataError
from ophysio.extractors import NumpyImagingExtractor
from ophysio.testing.synthetic import movie

HAS_DANDI = importlib.util.find_spec("dandi") is not None

#: Metadata with everything NWB, nwbinspector's dandi config and DANDI want.
SESSION_METADATA = {
    "NWBFile": {
        "session_description": "Spontaneous activity, synthetic test session.",
        "session_start_time": "2024-05-01T10:00:00+02:00",
        "experimenter": ["Doe, Jane"],
        "institution": "Test Institute",
        "lab": "Test Lab",
        "experiment_description": "Synthetic two-photon movie.",
        "keywords": ["two-photon"],
        "session_id": "2024-05-01_a",
    },
    "Subject": {"subject_id": "m12", "species": "Mus musculus", "sex": "F", "age": "P90D",
                "description": "A synthetic mouse."},
    "Ophys": {
        "Device": [{"name": "Microscope", "description": "Synthetic two-photon microscope."}],
        "ImagingPlane": [{"indicator": "GCaMP6f", "location": "VISp", "excitation_lambda": 920.0,
                          "description": "Layer 2/3.",
                          "optical_channel": [{"name": "Green", "description": "Green PMT",
                                               "emission_lambda": 510.0}]}],
    },
}


def session_metadata(**sections):
    """SESSION_METADATA with some sections' fields replaced (a field set to None is removed)."""
    md = copy.deepcopy(SESSION_METADATA)
    for section, values in sections.items():
        for key, value in values.items():
            if value is None:
                md[section].pop(key, None)
            else:
                md[section][key] = value
    return md


def write_session(path, metadata=None, samples=40, rows=16, columns=12, dandi=True):
    """A small NWB file, complete unless told otherwise (what the validate and upload tests check)."""
    extractor = NumpyImagingExtractor(movie(samples, rows, columns, dtype="uint16"), sampling_frequency=20.0)
    return write_nwb(extractor, path, metadata or SESSION_METADATA, max_workers=1, dandi=dandi)


def without_subject():
    """Complete metadata except the subject (DANDI's validator rejects such a file)."""
    md = copy.deepcopy(SESSION_METADATA)
    del md["Subject"]
    return md


@pytest.mark.parametrize(
    "label, expected",
    [("m12", "m12"), ("mouse_12", "mouse-12"), ("a.b", "a-b"), ("A B\t C", "A-B--C"), ("A;B,C", "A-B-C"),
     ("A\\/B", "A--B"), ("A\"'B", "A--B"), ("x*y<z>:w|v?u%t@s", "x-y-z--w-v-u-t-s"), ("2024-05-01", "2024-05-01")],
)
def test_labels_are_sanitised_as_dandi_does(label, expected):
    assert sanitize_label(label) == expected


@pytest.mark.skipif(not HAS_DANDI, reason="compares with the dandi package, which is an optional extra")
@pytest.mark.parametrize("label", ["mouse_12.a b", "x*y<z>:w|v?u%t@s;r,q", "A\\/B\"'C", "plain-label", "a\tb\nc"])
def test_sanitising_matches_the_dandi_package(label):
    from dandi.organize import _sanitize_value

    assert sanitize_label(label) == _sanitize_value(label, "subject_id")


def test_file_name_always_has_the_session():
    assert dandi_filename("m_12", "2024.05.01 a") == "sub-m-12_ses-2024-05-01-a_ophys.nwb"
    assert str(dandi_relative_path("m_12", "s1")) == "sub-m-12/sub-m-12_ses-s1_ophys.nwb"
    with pytest.raises(MetadataError, match="empty"):
        sanitize_label("  ")


@pytest.mark.skipif(not HAS_DANDI, reason="checks against the dandi package's layout rules (optional extra)")
def test_names_pass_dandis_organized_path_rules():
    import re

    from dandi.organize import ORGANIZED_FILENAME_REGEX, ORGANIZED_FOLDER_REGEX

    path = dandi_relative_path("mouse_1.x", "day 1;a")
    assert re.fullmatch(ORGANIZED_FILENAME_REGEX, path.name)
    assert re.fullmatch(ORGANIZED_FOLDER_REGEX, str(path.parent))


def test_complete_metadata_has_no_problem():
    assert dandi_field_problems(SESSION_METADATA) == []
    assert dandi_field_problems(session_metadata(Subject={"age": None, "date_of_birth": "2024-01-01"})) == []
    assert dandi_field_problems(session_metadata(Subject={"age": "P80D/P100D"})) == []
    assert dandi_field_problems(session_metadata(
        Subject={"species": "http://purl.obolibrary.org/obo/NCBITaxon_10090"})) == []


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"Subject": {"subject_id": None}}, "Subject.subject_id", "missing"),
        ({"Subject": {"subject_id": "a/b"}}, "Subject.subject_id", "'/'"),
        ({"Subject": {"species": None}}, "Subject.species", "Latin binomial"),
        ({"Subject": {"species": "mouse"}}, "Subject.species", "not a Latin binomial"),
        ({"Subject": {"sex": None}}, "Subject.sex", "M, F, U"),
        ({"Subject": {"sex": "female"}}, "Subject.sex", "not one of"),
        ({"Subject": {"age": None}}, "Subject.age", "ISO 8601"),
        ({"Subject": {"age": "90 days"}}, "Subject.age", "not an ISO 8601"),
        ({"NWBFile": {"session_id": None}}, "NWBFile.session_id", "missing"),
    ],
)
def test_each_missing_or_malformed_field_is_named(change, field, words):
    problems = dandi_field_problems(session_metadata(**change))
    assert [p.field for p in problems] == [field]
    assert words in problems[0].message


def test_required_fields_error_names_session_and_fields():
    md = session_metadata(Subject={"sex": None, "species": "mouse"})
    with pytest.raises(MetadataError) as info:
        require_dandi_fields(md, session="day3")
    text = str(info.value)
    assert "session 'day3'" in text and "Subject.sex" in text and "Subject.species" in text
    assert "Subject.age" not in text
    require_dandi_fields(SESSION_METADATA, session="fine")  # no error


def test_fields_are_read_back_from_an_nwb_file(tmp_path):
    path = write_session(tmp_path / "s.nwb")
    fields = nwb_dandi_fields(path)
    assert fields["Subject"] == {"subject_id": "m12", "species": "Mus musculus", "sex": "F", "age": "P90D"}
    assert fields["NWBFile"]["session_id"] == "2024-05-01_a"
    assert dandi_field_problems(fields) == []


def test_minimal_dandiset_yaml(tmp_path):
    path = write_dandiset_yaml(tmp_path / "ds", "000123", name="A test")
    data = YAML(typ="safe", pure=True).load(path.read_text())
    assert data["identifier"] == "000123" and data["name"] == "A test" and data["license"] == ["spdx:CC-BY-4.0"]


# ---------------------------------------------------------------------- upload refusals
@pytest.fixture
def folder(tmp_path):
    out = tmp_path / "out"
    write_session(out / "sub-m12" / "sub-m12_ses-2024-05-01-a_ophys.nwb")
    return out


@pytest.fixture
def no_upload(monkeypatch):
    """Fail the test if anything would reach dandi's download/organize/upload."""
    def refuse(*args, **kwargs):
        raise AssertionError("the upload must not start")

    monkeypatch.setattr(dandi_mod, "_stage_and_upload", refuse)
    monkeypatch.delenv("DANDI_API_KEY", raising=False)
    monkeypatch.delenv("DANDI_SANDBOX_API_KEY", raising=False)


def test_upload_without_key_says_which_variable(folder, no_upload):
    with pytest.raises(DandiUploadError, match="DANDI_API_KEY.*nothing was uploaded"):
        upload_folder(folder, "000123")
    with pytest.raises(DandiUploadError, match="DANDI_SANDBOX_API_KEY"):
        upload_folder(folder, "000123", sandbox=True)


def test_upload_checks_the_id_and_the_folder(tmp_path, folder, no_upload):
    with pytest.raises(DandiUploadError, match="six digits"):
        upload_folder(folder, "123")
    with pytest.raises(DandiUploadError, match="no .nwb files"):
        upload_folder(tmp_path / "empty", "000123")


@pytest.mark.skipif(not HAS_DANDI, reason="past the key check the upload needs the dandi package (extra dandi)")
def test_upload_without_network_fails_clearly(folder, no_upload, monkeypatch):
    monkeypatch.setenv("DANDI_SANDBOX_API_KEY", "not-a-real-key")

    def unreachable(address, timeout=None):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    with pytest.raises(DandiUploadError, match="cannot reach api.sandbox.dandiarchive.org.*nothing was uploaded"):
        upload_folder(folder, "000123", sandbox=True)


@pytest.mark.skipif(not HAS_DANDI, reason="past the key check the upload needs the dandi package (extra dandi)")
def test_upload_refuses_files_that_fail_validation(folder, no_upload, monkeypatch):
    monkeypatch.setenv("DANDI_API_KEY", "not-a-real-key")
    bad = folder / "sub-m13" / "sub-m13_ses-x_ophys.nwb"
    write_session(bad, without_subject(), dandi=False)
    with pytest.raises(DandiUploadError, match="1 of 2 files fail validation; nothing was uploaded") as info:
        upload_folder(folder, "000123", check_network=False)
    assert "sub-m13_ses-x_ophys.nwb" in str(info.value) and "subject" in str(info.value).lower()


def test_upload_without_the_dandi_package_names_the_extra(folder, no_upload, monkeypatch):
    import sys

    monkeypatch.setenv("DANDI_API_KEY", "not-a-real-key")
    monkeypatch.setitem(sys.modules, "dandi", None)  # import dandi now raises ImportError
    with pytest.raises(DandiUploadError, match=r"ophysio\[dandi\]"):
        upload_folder(folder, "000123")


def test_cli_upload_refuses_without_key(folder, no_upload):
    import argparse

    from ophysio.cli.batch import register

    parser = argparse.ArgumentParser(prog="ophysio")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["upload", str(folder), "--dandiset", "000123", "--sandbox"])
    with pytest.raises(DandiUploadError, match="DANDI_SANDBOX_API_KEY"):
        args.func(args)


def test_upload_ignores_hidden_staging_folders(folder, no_upload, tmp_path):
    from ophysio.conversion.batch.validate import find_nwb_files

    staged = folder / ".dandi-staging-000123" / "000123" / "sub-m12" / "sub-m12_ses-2024-05-01-a_ophys.nwb"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"")
    assert find_nwb_files(folder) == [folder / "sub-m12" / "sub-m12_ses-2024-05-01-a_ophys.nwb"]
