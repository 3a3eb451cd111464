"""What a person reads from the command line: the output's suffix says its format, a flag that contradicts
the metadata file is named with it, library advice comes in CLI flags, and exit statuses follow one table
(2 for the command line itself, 1 for everything else)."""

import json

import h5py
import numpy as np
import tifffile
from pynwb import NWBHDF5IO
from ruamel.yaml import YAML

from ophysio.cli import main
from ophysio.testing.synthetic import write_npy

from ..conversion.test_neuroconv_layout import PLANE, SESSION


def _movie(tmp_path):
    return write_npy(tmp_path / "m.npy", 6, 4, 5, dtype="int16")


def _one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _complete_metadata(tmp_path, series=None):
    data = {**SESSION, "Ophys": {"ImagingPlane": [{**PLANE, "optical_channel": [{"emission_lambda": 510.0}]}]}}
    if series is not None:
        data["Ophys"]["PhotonSeries"] = series
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(data))
    return path


# ---------------------------------------------------------------------- item: -o x.tif without --to
def test_the_output_suffix_chooses_the_writer(tmp_path, capsys):
    movie = _movie(tmp_path)
    for name in ("x.tif", "x.h5"):
        out = tmp_path / "out" / name
        out.parent.mkdir(exist_ok=True)
        assert main(["convert", str(movie), "-O", "sampling_frequency=10", "-o", str(out), "--no-progress"]) == 0
        if name == "x.tif":
            np.testing.assert_array_equal(tifffile.imread(out), np.load(movie))  # a TIFF, not NWB named .tif
        else:
            with h5py.File(out, "r") as f:
                assert "acquisition" not in f  # the HDF5 writer's layout, not an NWB file


def test_an_output_name_that_says_no_format_is_refused(tmp_path, capsys):
    movie = _movie(tmp_path)
    out = tmp_path / "x.abc"
    assert main(["convert", str(movie), "-O", "sampling_frequency=10", "-o", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "x.abc" in line and ".nwb" in line and "--to" in line and not out.exists()
    meta = _complete_metadata(tmp_path)
    assert main(["convert", str(movie), "-O", "sampling_frequency=10", "-o", str(tmp_path / "y.tif"),
                 "--metadata", str(meta)]) == 2
    assert "--metadata" in _one_line(capsys.readouterr().err)


# ---------------------------------------------------------------------- item: --one-photon against the YAML
def test_one_photon_contradicting_the_template_is_an_error_naming_both(tmp_path, capsys):
    movie = _movie(tmp_path)
    template = tmp_path / "template.yaml"
    assert main(["metadata-template", str(movie), "-O", "sampling_frequency=10", "-o", str(template)]) == 0
    yaml = YAML(typ="safe", pure=True)
    data = yaml.load(template.read_text())
    assert data["Ophys"]["PhotonSeries"][0]["type"] == "TwoPhotonSeries"
    out = tmp_path / "m.nwb"
    assert main(["convert", str(movie), "-O", "sampling_frequency=10", "--metadata", str(template), "--one-photon",
                 "-o", str(out), "--no-progress"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "--one-photon" in line and str(template) in line and "TwoPhotonSeries" in line and not out.exists()


def test_one_photon_applies_when_the_yaml_does_not_say(tmp_path, capsys):
    movie = _movie(tmp_path)
    out = tmp_path / "m.nwb"
    assert main(["convert", str(movie), "-O", "sampling_frequency=10", "--metadata", str(_complete_metadata(tmp_path)),
                 "--one-photon", "-o", str(out), "--no-progress"]) == 0, capsys.readouterr().err
    with NWBHDF5IO(str(out), "r") as io:
        assert [type(s).__name__ for s in io.read().acquisition.values()] == ["OnePhotonSeries"]


# ---------------------------------------------------------------------- item: CLI words, exit statuses
def test_an_existing_output_exits_1_and_names_the_flag(tmp_path, capsys):
    movie = _movie(tmp_path)
    out = tmp_path / "m.tif"
    args = ["convert", str(movie), "-O", "sampling_frequency=10", "-o", str(out), "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 1
    line = _one_line(capsys.readouterr().err)
    assert str(out) in line and "--overwrite" in line and "overwrite=True" not in line
    assert main([*args, "--overwrite"]) == 0


def test_library_advice_is_told_in_flags():
    from ophysio.cli.options import in_cli_words

    assert in_cli_words("x: rate missing; pass sampling_frequency= (frames per second)") == \
        "x: rate missing; pass -O sampling_frequency=HZ (frames per second)"
    assert in_cli_words("Pass format=... to open it.") == "Pass --format FORMAT to open it."
    assert in_cli_words("pass format='tiff' to read its pages") == "pass --format tiff to read its pages"
    assert in_cli_words("o.nwb exists; pass overwrite=True to replace it") == "o.nwb exists; pass --overwrite to " \
        "replace it"
    assert in_cli_words("pass channel_name= with one of them") == "pass --channel CHANNEL with one of them"


def test_a_missing_or_broken_metadata_file_is_named(tmp_path, capsys):
    movie = _movie(tmp_path)
    base = ["convert", str(movie), "-O", "sampling_frequency=10", "-o", str(tmp_path / "m.nwb"), "--no-progress"]
    missing = tmp_path / "nothere.yaml"
    assert main([*base, "--metadata", str(missing)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert str(missing) in line and "No such file" in line
    broken = tmp_path / "broken.yaml"
    broken.write_text("NWBFile: {session_description: [unclosed\n")
    assert main([*base, "--metadata", str(broken)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert str(broken) in line and "line 2" in line
