import subprocess
import sys

import numpy as np
import pytest

import ophysio
from ophysio.errors import FileSetError, UnknownFormatError
from ophysio.extractors import FORMATS, detect_format, get_format
from ophysio.testing.synthetic import movie, write_npy


def test_every_format_is_declared_once_with_a_loader():
    ids = [spec.id for spec in FORMATS]
    assert len(ids) == len(set(ids))
    for spec in FORMATS:
        assert ":" in spec.loader and spec.loader.startswith("ophysio.extractors.")
        assert spec.suffixes and spec.description


def test_open_imaging_picks_numpy_by_content(tmp_path):
    path = write_npy(tmp_path / "movie.dat", 5, 4, 3)  # suffix says nothing; content decides
    ex = ophysio.open_imaging(path, sampling_frequency=7.0)
    assert type(ex).__name__ == "NumpyImagingExtractor"
    np.testing.assert_array_equal(ex.get_series(), movie(5, 4, 3, dtype="uint16"))


def test_unknown_content_says_what_each_format_said(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(UnknownFormatError) as info:
        detect_format(path)
    message = str(info.value)
    for spec in FORMATS:
        assert f"  {spec.id}: " in message
    assert "not a TIFF file" in message and "format=" in message


def test_missing_path_and_unknown_format_id(tmp_path):
    with pytest.raises(FileSetError, match="does not exist"):
        ophysio.open_imaging(tmp_path / "nope.tif")
    with pytest.raises(FileNotFoundError):
        ophysio.open_imaging(tmp_path / "nope.tif")
    with pytest.raises(UnknownFormatError, match="known formats: scanimage"):
        get_format("avi")


def test_content_checks_on_real_files(shared_data):
    """The cheap content checks route each real sample to its format."""
    from pathlib import Path

    from ophysio.extractors.registry import read_head

    def verdict(spec_id, relative):
        path = Path(shared_data) / relative
        return get_format(spec_id).check(path, read_head(path))

    assert verdict("scanimage", "scanimage/ScanImageBigTIFFv57.tif") is True
    assert verdict("scanimage", "scanimage/vol_no_flyback_00001_00001.tif") is True
    assert verdict("scanimage", "scanimage_legacy/sample_scanimage_version_3_8.tiff") is not True
    assert verdict("scanimage_legacy", "scanimage_legacy/sample_scanimage_version_3_8.tiff") is True
    assert verdict("scanimage_legacy", "scanimage/ScanImageBigTIFFv57.tif") is not True
    assert verdict("ome_tiff", "ome_tiff/pmmp_demo_tc.ome.tiff") is True
    assert verdict("ome_tiff", "scanimage/ScanImageBigTIFFv57.tif") is not True
    assert verdict("mat", "mat/denoise.mat") is True
    assert verdict("hdf5", "hdf5/fly.hdf5") is True
    assert verdict("hdf5", "mat/denoise.mat") is not True
    assert verdict("femtonics", "femtonics/p29.mesc") is True
    assert verdict("femtonics", "hdf5/fly.hdf5") is not True
    assert verdict("femtonics", "mat/denoise.mat") is not True
    assert detect_format(Path(shared_data) / "femtonics/p29.mesc").id == "femtonics"  # not the generic hdf5
    assert verdict("suite2p", "suite2p") is True
    assert verdict("suite2p", "suite2p/plane1") is True


def test_import_is_light():
    """Importing ophysio must not pull in the heavy libraries (they load when a feature needs them)."""
    code = (
        "import sys, ophysio; heavy = [m for m in ('pynwb', 'hdmf', 'h5py', 'tifffile', 'scipy', 'pydantic') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_open_imaging_takes_a_folder_or_a_glob_of_tiff_files(tmp_path):
    from ophysio.testing.synthetic import write_tiff_series

    folder = tmp_path / "series"
    write_tiff_series(folder, num_files=11, samples_per_file=2, rows=6, columns=5)
    (folder / "notes.txt").write_text("not imaging")
    expected = movie(22, 6, 5, dtype="uint16")
    by_folder = ophysio.open_imaging(folder, sampling_frequency=3.0)
    by_glob = ophysio.open_imaging(str(folder / "series_*.tif"), sampling_frequency=3.0)
    for ex in (by_folder, by_glob):
        assert type(ex).__name__ == "TiffImagingExtractor"
        assert [p.rsplit("_", 1)[1] for p in ex.get_file_paths()][:3] == ["1.tif", "2.tif", "3.tif"]
        np.testing.assert_array_equal(ex.get_series(), expected)
    with pytest.raises(FileSetError, match="no file matches the pattern"):
        ophysio.open_imaging(str(folder / "absent_*.tif"))


def test_a_folder_without_imaging_files_is_unknown(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(UnknownFormatError, match="could not tell the format"):
        ophysio.open_imaging(tmp_path)


def test_a_format_writer_has_the_reader_id():
    from ophysio.conversion.writers import WRITER_FORMATS, guess_writer_format

    writers = {spec.id: spec.writer for spec in FORMATS if spec.writer}
    assert writers == {"ome_tiff": "ome_tiff", "tiff": "tiff", "mat": "mat", "hdf5": "hdf5", "suite2p": "suite2p",
                       "zarr": "zarr", "video": "video"}
    assert all(writer in WRITER_FORMATS for writer in writers.values())
    assert guess_writer_format("x", "ome-tiff") == "ome_tiff" and guess_writer_format("x", "binary") == "suite2p"
