import json
import subprocess
import sys

import numpy as np

from ophysio.cli import main
from ophysio.testing.synthetic import write_npy


def test_formats_lists_the_registry(capsys):
    assert main(["formats"]) == 0
    out = capsys.readouterr().out
    assert "scanimage" in out and "hdf5" in out and "[name it with --format]" in out


def test_info_on_the_builtin_example_json(capsys):
    assert main(["info", "--example", "numpy", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["num_samples"] == 100 and info["sample_shape"] == [64, 64]
    assert info["dtype"] == "uint16" and info["sampling_frequency_hz"] == 30.0
    assert info["last_time_s"] == 99 / 30


def test_info_on_a_file_human_readable(tmp_path, capsys):
    path = write_npy(tmp_path / "m.npy", 10, 4, 5, planes=3, dtype="int16")
    assert main(["info", str(path), "-O", "sampling_frequency=2.5"]) == 0
    out = capsys.readouterr().out
    assert "samples:     10 of 4 x 5 x 3 (volumes)" in out
    assert "rate:        2.5 Hz" in out and "0 s to 3.6 s" in out


def test_info_errors_are_one_clear_line(tmp_path, capsys):
    path = tmp_path / "x.txt"
    path.write_text("not imaging")
    assert main(["info", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"ophysio info: {path}: `.txt` is not a format ophysio reads; "
                                "`ophysio formats` lists them"], err


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "ophysio.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("ophysio ")
    assert np  # numpy import kept for parity with other tests


def test_python_dash_m_ophysio_runs_the_command():
    result = subprocess.run([sys.executable, "-m", "ophysio", "formats"], capture_output=True, text=True)
    assert result.returncode == 0 and "scanimage" in result.stdout


def test_the_console_script_entry_point_is_main():
    import ophysio.cli
    from ophysio.cli.entry_point import main as entry

    assert ophysio.cli.main is entry is main


# ---------------------------------------------------------------------- convert / metadata-template
def _read_nwb_data(path, name="TwoPhotonSeries"):
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        series = io.read().acquisition[name]
        return series.data[:], series.rate


def test_convert_the_builtin_example(tmp_path, capsys):
    out = tmp_path / "example.nwb"
    assert main(["convert", "--example", "numpy", "-o", str(out), "--no-progress"]) == 0
    assert "wrote" in capsys.readouterr().out
    data, rate = _read_nwb_data(out)
    expected = np.load(_example_npy(tmp_path))
    np.testing.assert_array_equal(data, expected.swapaxes(1, 2))
    assert rate == 30.0
    assert main(["convert", "--example", "numpy", "-o", str(out), "--no-progress"]) == 1
    assert "overwrite" in capsys.readouterr().err


def _example_npy(tmp_path):
    from ophysio.testing.synthetic import write_example

    path, _ = write_example("numpy", tmp_path / "again")
    return path


def test_template_then_convert_with_it(tmp_path, capsys):
    from ruamel.yaml import YAML

    movie_path = write_npy(tmp_path / "m.npy", 12, 6, 5, dtype="int16")
    out = tmp_path / "m.nwb"
    # without metadata: one clear error listing what is missing, nothing written
    assert main(["convert", str(movie_path), "-O", "sampling_frequency=10", "-o", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "excitation_lambda" in err and "Subject.species" in err and "Traceback" not in err
    assert not out.exists()

    assert main(["metadata-template", str(movie_path), "-O", "sampling_frequency=10"]) == 0
    text = capsys.readouterr().out
    assert "REQUIRED" in text and "imaging_rate: 10.0" in text
    yaml = YAML(typ="safe", pure=True)
    meta = yaml.load(text)
    meta["NWBFile"].update(session_start_time="2024-05-01T10:00:00", session_description="cli test")
    meta["Subject"] = {"subject_id": "m1", "species": "Mus musculus", "sex": "M", "age": "P60D"}
    plane = meta["Ophys"]["ImagingPlane"][0]
    plane.update(excitation_lambda=920.0, indicator="GCaMP6s", location="VISp")
    plane["optical_channel"][0]["emission_lambda"] = 510.0
    meta_path = tmp_path / "meta.yaml"
    with open(meta_path, "w") as fh:
        yaml.dump(meta, fh)
    args = ["convert", str(movie_path), "-O", "sampling_frequency=10", "-o", str(out), "--metadata", str(meta_path),
            "--no-progress"]
    assert main(args) == 1
    assert "has no time zone" in capsys.readouterr().err
    assert main([*args, "--timezone", "Europe/Paris"]) == 0
    data, rate = _read_nwb_data(out)
    np.testing.assert_array_equal(data, np.load(movie_path).swapaxes(1, 2))
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(out), "r") as io:
        assert io.read().session_start_time.isoformat() == "2024-05-01T10:00:00+02:00"


def test_convert_to_another_format(tmp_path, capsys):
    import h5py

    movie_path = write_npy(tmp_path / "m.npy", 9, 4, 3, dtype="uint16")
    out = tmp_path / "m.h5"
    assert main(["convert", str(movie_path), "-O", "sampling_frequency=5", "-o", str(out), "--to", "hdf5",
                 "--no-progress"]) == 0
    with h5py.File(out, "r") as f:
        arrays = []
        f.visititems(lambda name, obj: arrays.append(obj[()]) if isinstance(obj, h5py.Dataset) and obj.ndim >= 3
                     else None)
    assert any(a.shape == (9, 4, 3) and np.array_equal(a, np.load(movie_path)) for a in arrays)


def test_convert_the_scanimage_example_every_channel(tmp_path, capsys):
    from ophysio.extractors.registry import get_format
    from ophysio.testing.synthetic import write_example

    out = tmp_path / "example.nwb"
    assert main(["convert", "--example", "scanimage", "-o", str(out), "--no-progress"]) == 0
    assert "2 photon series" in capsys.readouterr().out
    first, _ = write_example("scanimage", tmp_path / "src")
    cls = get_format("scanimage").load_class()
    for channel, name in (("Channel 1", "TwoPhotonSeriesChannel1"), ("Channel 2", "TwoPhotonSeriesChannel2")):
        data, rate = _read_nwb_data(out, name)
        with cls(file_path=first, channel_name=channel) as extractor:
            np.testing.assert_array_equal(data, extractor.get_series().swapaxes(1, 2))
            assert rate == extractor.get_sampling_frequency()


def test_info_lists_every_channel_of_a_multichannel_source(capsys):
    assert main(["info", "--example", "scanimage", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [s["channel_name"] for s in info["streams"]] == ["Channel 1", "Channel 2"]
    assert all(s["num_samples"] == 150 and s["sample_shape"] == [128, 128] for s in info["streams"])
    assert info["channel_name"] == "Channel 1" and info["sampling_frequency_hz"] == 15.0
    assert main(["info", "--example", "scanimage", "-O", "channel_name=Channel 2"]) == 0
    out = capsys.readouterr().out
    assert out.count("format:") == 1 and "channel:     Channel 2" in out


def test_convert_to_tiff_writes_every_channel_with_writer_options(tmp_path, capsys):
    import tifffile

    from ophysio.extractors.registry import get_format
    from ophysio.testing.synthetic import write_example

    out = tmp_path / "example.tif"
    assert main(["convert", "--example", "scanimage", "--to", "tiff", "-o", str(out), "--no-progress",
                 "-W", "compression=zstd", "-W", "compression_level=5"]) == 0
    assert "2 channels" in capsys.readouterr().out
    first, _ = write_example("scanimage", tmp_path / "src")
    cls = get_format("scanimage").load_class()
    with tifffile.TiffFile(out) as tif:
        assert tif.pages[0].compression == tifffile.COMPRESSION.ZSTD
        pages = tif.asarray()
    with cls(file_path=first, channel_name="Channel 1") as one, cls(file_path=first, channel_name="Channel 2") as two:
        expected = np.stack([one.get_series(), two.get_series()], axis=1)  # (T, C, Y, X): channels interleaved
    np.testing.assert_array_equal(pages.reshape(expected.shape), expected)
    assert main(["convert", "--example", "scanimage", "--to", "tiff", "-o", str(tmp_path / "x.tif"),
                 "-W", "compresion=zstd"]) == 1
    assert "compresion" in capsys.readouterr().err


def test_info_names_the_roi_of_each_stream_of_a_multi_roi_acquisition(tmp_path, capsys):
    from ophysio.testing.synthetic import write_scanimage

    rois = [dict(rows=6, columns=8, name="V1 left"), dict(rows=4, columns=8, name="V1 right")]
    path = write_scanimage(tmp_path, "m", num_samples=12, rois=rois, flyto_lines=3)[0]
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "samples:     12 of 6 x 8 (frames)" in out and "samples:     12 of 4 x 8 (frames)" in out
    assert "roi:         V1 right (index 1) (source ROIs: V1 left, V1 right)" in out
    assert main(["info", str(path), "-O", "split_rois=false", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["image_shape"], info["roi_index"], info["roi_names"]) == ([13, 8], None, ["V1 left", "V1 right"])


def test_formats_shows_the_writer_of_each_format(capsys):
    assert main(["formats", "--json"]) == 0
    listed = {entry["id"]: entry["writer"] for entry in json.loads(capsys.readouterr().out)}
    assert listed["ome_tiff"] == "ome_tiff" and listed["suite2p"] == "suite2p" and listed["scanimage"] is None
    assert main(["formats"]) == 0
    assert "[write it with --to ome_tiff]" in capsys.readouterr().out
