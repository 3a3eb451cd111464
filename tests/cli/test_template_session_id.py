"""``metadata-template`` asks for every value ``preview`` flags as missing for DANDI, ``NWBFile.session_id``
included: an empty entry with its description, which a person fills in and converts with."""

from ruamel.yaml import YAML

from ophysio.cli import main
from ophysio.conversion.batch.dandi import dandi_field_problems
from ophysio.conversion.metadata import load_metadata
from ophysio.testing.synthetic import write_npy


def test_the_template_has_an_empty_session_id_to_fill_in(tmp_path, capsys):
    movie = write_npy(tmp_path / "m.npy", 6, 4, 5, dtype="int16")
    template = tmp_path / "meta.yaml"
    assert main(["metadata-template", str(movie), "-O", "sampling_frequency=10", "-o", str(template)]) == 0
    text = template.read_text()
    line = next(line for line in text.splitlines() if line.strip().startswith("session_id:"))
    assert "REQUIRED: Lab's identifier of the session" in line and "DANDI" in line
    data = YAML(typ="safe").load(text)
    assert "session_id" in data["NWBFile"] and data["NWBFile"]["session_id"] is None
    load_metadata(template)  # the unfilled template still loads

    # filled in, every field the preview checklist asks for is given
    data["NWBFile"]["session_id"] = "2024-05-01-a"
    data["Subject"].update(subject_id="M1", species="Mus musculus", sex="F", age="P90D")
    assert dandi_field_problems(data) == []
    assert "session_id" not in {p.field.split(".")[-1] for p in dandi_field_problems(data)}
