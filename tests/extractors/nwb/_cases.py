"""The cases of the NWB tests, and what each should read as, worked out with h5py alone.

Two families:

- round trips: every format's built-in example (``ophysio.examples``) converted to NWB by ophysio, one
  photon series per stream; the case reads the last series of the file;
- files written by pynwb directly (``ophysio._synth.nwb``, pynwb's own (time, x, y) layout): two- and
  one-photon, planar and volumetric, rate or timestamps, acquisition or processing, chunked, compressed or
  contiguous.

The expected pixels of every case are the file's data read with h5py and turned from NWB's documented
(time, x, y[, z]) into (samples, rows, columns[, planes]) with ``swapaxes(1, 2)``; the expected times are the
file's ``timestamps``, or ``starting_time + index / rate``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np

from ophysio._synth.nwb import NwbSeriesSpec, write_nwb_series
from ophysio.testing.synthetic import movie

FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-nwb-"))
atexit.register(shutil.rmtree, FOLDER, True)

#: examples whose conversion the round-trip cases read (every built-in example of every format)
EXAMPLE_CASES = ["binary", "caiman_hdf5", "femtonics", "imagej_hyperstack", "mat_v73", "numpy", "ome_tiff", "scanbox",
                 "scanimage", "scanimage_legacy", "suite2p", "tiff"]

_made: dict[str, tuple[Path, list[str], object]] = {}


def converted(example: str) -> tuple[Path, list[str], object]:
    """``(NWB file, series names, interface)`` of a built-in example converted by ophysio (made once)."""
    if example not in _made:
        import ophysio
        from ophysio.conversion.interfaces import interface_from_paths
        from ophysio.examples import write_example
        from ophysio.testing.interfaces import complete_metadata

        path, options = write_example(example, FOLDER / example)
        interface = interface_from_paths([path], format="binary" if example == "binary" else None, **options)
        out = ophysio.write_nwb(interface, FOLDER / f"{example}.nwb", complete_metadata(interface), timezone="UTC")
        names = [series["name"] for series in interface.get_metadata()["Ophys"]["PhotonSeries"]]
        interface.close()  # its files reopen when a test reads the sources again (and close them after)
        _made[example] = (out, names, interface)
    return _made[example]


def _times(n: int, rate: float, jitter: float = 0.002, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 3.0 + np.arange(n) / rate + np.cumsum(rng.uniform(0, jitter, n))


#: pynwb-written cases: name -> series specs (the case reads the first)
PYNWB_SPECS = {
    "2p-planar-rate-chunked-gzip": [NwbSeriesSpec("TwoPhotonSeries", movie(23, 14, 19, dtype="uint16", seed=1),
                                                  rate=12.5, chunks=(5, 19, 14), field_of_view_um=(17.5, 14.25))],
    "2p-planar-timestamps-contiguous": [NwbSeriesSpec("TwoPhotonSeries", movie(17, 9, 13, dtype="int16", seed=2),
                                                      rate=None, timestamps=_times(17, 20.0), imaging_rate=19.6,
                                                      chunks=None)],
    "2p-volume-rate-start": [NwbSeriesSpec("TwoPhotonSeries", movie(11, 10, 12, planes=3, dtype="uint16", seed=3),
                                           rate=4.0, starting_time=2.5, plane_spacing_um=5.0, chunks=(4, 12, 10, 3))],
    "1p-planar-processing": [NwbSeriesSpec("Corrected", movie(15, 12, 8, dtype="float32", seed=4),
                                           kind="OnePhotonSeries", rate=10.0, module="ophys", chunks=(3, 8, 12),
                                           compression=None)],
    "1p-volume-timestamps": [NwbSeriesSpec("OnePhotonSeries", movie(9, 7, 11, planes=2, dtype="uint8", seed=5),
                                           kind="OnePhotonSeries", rate=None, timestamps=_times(9, 5.0, seed=1),
                                           plane_spacing_um=2.0, chunks=(2, 11, 7, 2))],
}


def pynwb_file(case: str) -> Path:
    path = FOLDER / f"pynwb-{case}.nwb"
    if not path.exists():
        write_nwb_series(path, PYNWB_SPECS[case])
    return path


#: case id -> (file maker, optical_series_name)
def case_file(case: str) -> tuple[Path, str]:
    kind, _, name = case.partition(":")
    if kind == "example":
        path, names, _ = converted(name)
        return path, names[-1]
    spec = PYNWB_SPECS[name][0]
    prefix = "" if spec.module is None else f"processing/{spec.module}/"
    return pynwb_file(name), prefix + spec.name


CASES = [f"example:{name}" for name in EXAMPLE_CASES] + [f"pynwb:{name}" for name in PYNWB_SPECS]


def _series_group(f: h5py.File, name: str) -> h5py.Group:
    if "/" in name:
        return f[name]
    return f["acquisition"][name]


def expected_series(path: Path, name: str) -> np.ndarray:
    """The series' pixels by h5py, from NWB's (time, x, y[, z]) to (samples, rows, columns[, planes])."""
    with h5py.File(path, "r") as f:
        return np.ascontiguousarray(_series_group(f, name)["data"][()].swapaxes(1, 2))


def expected_times(path: Path, name: str) -> tuple[float, np.ndarray]:
    """(rate, timestamps) by h5py: the rate attribute or the plane's imaging_rate; the timestamps or the rate's."""
    with h5py.File(path, "r") as f:
        group = _series_group(f, name)
        n = group["data"].shape[0]
        if "timestamps" in group:
            # the documented rule: the plane's imaging_rate when the times' median step agrees within 1%
            times = group["timestamps"][()].astype(np.float64)
            stated = float(group["imaging_plane"]["imaging_rate"][()])
            measured = 1.0 / float(np.median(np.diff(times[:4096])))
            return (stated if abs(measured - stated) <= 0.01 * stated else measured), times
        start = group["starting_time"]
        rate = float(start.attrs["rate"])
        return rate, float(start[()]) + np.arange(n) / rate
