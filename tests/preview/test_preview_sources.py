"""``preview`` reads what ``info`` and ``convert`` read (one source resolution: a folder of TIFF files), and
judges a naive start time with the zone the conversion would give it (``--timezone``, a batch spec's
``conversion.timezone``)."""

import numpy as np
import tifffile
from ruamel.yaml import YAML

from ophysio.cli import main
from ophysio.preview import preview
from ophysio.testing.synthetic import movie

from ..conversion.batch.test_dandi import SESSION_METADATA


def _tiff_folder(tmp_path):
    folder = tmp_path / "tiffs"
    folder.mkdir()
    for i in range(2):
        tifffile.imwrite(folder / f"part_{i}.tif", movie(5, 8, 6, dtype="uint16", seed=i))
    return folder


def test_preview_reads_the_folder_info_and_convert_read(tmp_path, capsys):
    folder = _tiff_folder(tmp_path)
    assert main(["info", str(folder), "-O", "sampling_frequency=10"]) == 0
    assert "samples:     10" in capsys.readouterr().out
    assert main(["preview", str(folder), "-o", str(tmp_path / "pv"), "-O", "sampling_frequency=10"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "index.html" in captured.out
    assert (tmp_path / "pv" / "index.html").is_file()
    session = preview(folder, tmp_path / "pv2", options={"sampling_frequency": 10})
    assert [s.num_samples for s in session.streams] == [10]  # both files, as info reads them


def _naive_start_metadata():
    return {**SESSION_METADATA, "NWBFile": {**SESSION_METADATA["NWBFile"],
                                            "session_start_time": "2024-05-01T10:00:00"}}


def test_batch_preview_uses_the_spec_timezone(tmp_path, capsys):
    np.save(tmp_path / "s0.npy", movie(20, 12, 10, dtype="uint16"))
    spec = {"metadata": _naive_start_metadata(), "options": {"sampling_frequency": 15.0},
            "conversion": {"timezone": "Europe/Berlin"}, "sessions": [{"session_id": "day0", "source": "s0.npy"}]}
    with open(tmp_path / "spec.yaml", "w") as fh:
        YAML(typ="safe", pure=True).dump(spec, fh)
    assert main(["preview", str(tmp_path / "spec.yaml"), "-o", str(tmp_path / "pv")]) == 0
    html = (tmp_path / "pv" / "index.html").read_text()
    assert "no time zone" not in html and "ready" in html
    session = (tmp_path / "pv" / "day0" / "index.html").read_text()
    assert "no time zone" not in session


def test_single_preview_takes_timezone(tmp_path, capsys):
    np.save(tmp_path / "m.npy", movie(20, 12, 10, dtype="uint16"))
    meta = tmp_path / "meta.yaml"
    with open(meta, "w") as fh:
        YAML(typ="safe", pure=True).dump({**_naive_start_metadata(), "NWBFile": {
            **_naive_start_metadata()["NWBFile"], "session_id": "s1"}}, fh)
    base = ["preview", str(tmp_path / "m.npy"), "-O", "sampling_frequency=15", "--metadata", str(meta)]
    assert main([*base, "-o", str(tmp_path / "a")]) == 0
    assert "has no time zone" in capsys.readouterr().out
    assert main([*base, "-o", str(tmp_path / "b"), "--timezone", "+02:00"]) == 0
    assert "has no time zone" not in capsys.readouterr().out
