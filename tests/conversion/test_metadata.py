from datetime import datetime, timedelta

import pytest

from ophysio.conversion.metadata import (
    Metadata,
    apply_timezone,
    dump_metadata,
    load_metadata,
    merge_metadata,
)
from ophysio.errors import MetadataError

COMPLETE = {
    "NWBFile": {"session_start_time": "2024-05-01T10:00:00+02:00", "session_description": "a session"},
    "Subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"},
    "Ophys": {
        "ImagingPlane": [{"excitation_lambda": 920.0, "indicator": "GCaMP6f", "location": "VISp",
                          "optical_channel": [{"name": "Green", "emission_lambda": 510.0}]}],
    },
}


def test_every_field_has_a_description():
    from ophysio.conversion import metadata as module

    for name in module.__all__:
        model = getattr(module, name)
        if isinstance(model, type) and hasattr(model, "model_fields"):
            for field, info in model.model_fields.items():
                assert info.description, f"{name}.{field} has no description"


def test_unknown_key_is_rejected_with_its_path():
    bad = merge_metadata(COMPLETE, {"Ophys": {"ImagingPlane": [{"excitation_lamda": 920}]}})
    with pytest.raises(MetadataError) as info:
        Metadata.from_dict(bad)
    assert "Ophys.ImagingPlane[0].excitation_lamda: unknown key" in str(info.value)


def test_wrong_value_names_field_and_value():
    with pytest.raises(MetadataError) as info:
        Metadata.from_dict({"Subject": {"sex": "female", "age": "90 days"}})
    text = str(info.value)
    assert "Subject.sex" in text and "'female'" in text and "Subject.age" in text and "ISO 8601" in text


def test_missing_values_are_asked_for_never_filled():
    meta = Metadata.from_dict({"NWBFile": {"session_start_time": "2024-05-01T10:00:00+00:00"}})
    problems = meta.missing()
    joined = "\n".join(problems)
    for path in ("NWBFile.session_description", "Ophys.ImagingPlane[0].excitation_lambda",
                 "Ophys.ImagingPlane[0].indicator", "Ophys.ImagingPlane[0].location",
                 "Ophys.ImagingPlane[0].optical_channel[0].emission_lambda", "Subject.subject_id",
                 "Subject.species", "Subject.sex", "Subject.age"):
        assert path in joined
    assert meta.Ophys.ImagingPlane[0].excitation_lambda is None  # no NaN placeholder
    assert "Subject" not in "\n".join(meta.missing(dandi=False))
    with pytest.raises(MetadataError, match="metadata-template"):
        meta.check_complete()
    Metadata.from_dict(COMPLETE).check_complete()


def test_naive_start_time_needs_a_zone():
    meta = Metadata.from_dict(merge_metadata(COMPLETE, {"NWBFile": {"session_start_time": "2024-05-01T10:00:00"}}))
    assert any("has no time zone" in p for p in meta.missing())
    apply_timezone(meta, "Europe/Berlin")
    assert meta.NWBFile.session_start_time.utcoffset() == timedelta(hours=2)  # summer time
    assert meta.missing() == []
    fixed = apply_timezone(Metadata.from_dict({"NWBFile": {"session_start_time": datetime(2024, 1, 1)}}), "-05:00")
    assert fixed.NWBFile.session_start_time.utcoffset() == timedelta(hours=-5)
    with pytest.raises(MetadataError, match="unknown time zone"):
        apply_timezone(meta.model_copy(), "Mars/Olympus")


def test_merge_replaces_plain_lists_merges_dicts_and_entries():
    base = {"NWBFile": {"keywords": ["a", "b"], "lab": "L"},
            "Ophys": {"Device": [{"name": "A", "manufacturer": "M"}, {"name": "B"}]}}
    over = {"NWBFile": {"keywords": ["c"], "lab": None}, "Ophys": {"Device": [{"name": "C"}, {"name": "B", "x": 1}]}}
    merged = merge_metadata(base, over)
    assert merged["NWBFile"] == {"keywords": ["c"], "lab": "L"}
    assert merged["Ophys"]["Device"] == [{"name": "C", "manufacturer": "M"}, {"name": "B", "x": 1}]
    assert base["NWBFile"]["keywords"] == ["a", "b"]  # inputs untouched


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_dump_and_load_round_trip(tmp_path, suffix):
    meta = Metadata.from_dict(COMPLETE)
    path = tmp_path / f"meta{suffix}"
    dump_metadata(meta, path)
    loaded = Metadata.from_dict(load_metadata(path))
    assert loaded == meta
    assert loaded.NWBFile.session_start_time.utcoffset() == timedelta(hours=2)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("NWBFile: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(MetadataError, match="could not be parsed"):
        load_metadata(path)
    path.write_text("Ophys:\n  Devise: []\n")
    with pytest.raises(MetadataError, match=r"Ophys.Devise: unknown key") as info:
        load_metadata(path)
    assert str(path) in str(info.value)
