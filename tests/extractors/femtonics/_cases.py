"""The cases of the Femtonics tests: the real sample's units and channels, and synthetic MESc files, with
what each should read as, worked out with h5py alone from the layout MESc documents in its attributes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import h5py
import numpy as np

from ophysio._synth.femtonics import MescUnit, write_femtonics
from ophysio.testing.data import sample_file

P29 = "femtonics/p29.mesc"
FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-femtonics-"))

#: seconds per unit of the Z (time) axis, for the test's own reading of the files
SECONDS = {"ms": 1e-3, "s": 1.0}

# synthetic units: frames of rows x columns that differ (a transposed read cannot pass), per-unit seeds
SINGLE = MescUnit(frames=9, rows=20, columns=28, channels=("UG",), first_frame_time=12.5,
                  pixel_size_um=(2.0, 1.5), seed=3)
SESSIONS = [
    [MescUnit(frames=4, rows=6, columns=10, seed=1)],
    [MescUnit(frames=5, rows=12, columns=16, seed=2), MescUnit(frames=3, rows=8, columns=6, seed=4),
     MescUnit(frames=11, rows=14, columns=18, frame_period=0.05, time_unit="s", pixel_size_um=(0.75, 0.5),
              seed=5)],
]
RAW = MescUnit(frames=7, rows=10, columns=13, channels=("UG", "UR", "IR"), compression=None, seed=6)


def _made(name: str, sessions) -> Path:
    path = FOLDER / name
    if not path.exists():
        write_femtonics(path, sessions)
    return path


def _unnamed() -> Path:
    """Two channels whose Channel_<k>_Name attributes are missing (named Channel_<k>, as roiextractors names them)."""
    path = FOLDER / "unnamed.mesc"
    if not path.exists():
        write_femtonics(path, [[MescUnit(frames=6, rows=9, columns=5, seed=7)]])
        with h5py.File(path, "r+") as f:
            for k in range(2):
                del f["MSession_0/MUnit_0"].attrs[f"Channel_{k}_Name"]
    return path


#: case id -> (file maker, extractor keywords)
CASES = {
    "p29-unit0-UG": (lambda: sample_file(P29), {"munit_name": "MUnit_0", "channel_name": "UG"}),
    "p29-unit1-UR": (lambda: sample_file(P29), {"munit_name": "MUnit_1", "channel_name": "UR"}),
    "p29-unit0-Channel_1": (lambda: sample_file(P29), {"session_name": "MSession_0", "munit_name": "MUnit_0",
                                                        "channel_name": "Channel_1"}),
    "single-defaults": (lambda: _made("single.mesc", [[SINGLE]]), {}),
    "sessions-s1-u2-UR": (lambda: _made("sessions.mesc", SESSIONS), {"session_name": "MSession_1",
                                                                     "munit_name": "MUnit_2", "channel_name": "UR"}),
    "unfiltered-IR": (lambda: _made("raw.mesc", [[RAW]]), {"channel_name": "IR"}),
    "unnamed-Channel_1": (_unnamed, {"channel_name": "Channel_1"}),
}


def _text(value) -> str:
    """A MESc text attribute (NUL-terminated code units), decoded the plain way roiextractors does."""
    return "".join(chr(int(c)) for c in np.asarray(value).ravel() if c != 0)


def unit_path(f: h5py.File, kwargs: dict) -> str:
    session = kwargs.get("session_name") or next(k for k in f if k.startswith("MSession_"))
    unit = kwargs.get("munit_name") or next(k for k in f[session] if k.startswith("MUnit_"))
    return f"{session}/{unit}"


def channel_dataset(f: h5py.File, kwargs: dict) -> str:
    """The dataset of the channel asked for: Channel_<k> whose recorded name (or own name) it is."""
    unit = f[unit_path(f, kwargs)]
    wanted = kwargs.get("channel_name")
    for key in unit:
        if not key.startswith("Channel_"):
            continue
        name = _text(unit.attrs[f"{key}_Name"]) if f"{key}_Name" in unit.attrs else key
        if wanted in (None, name, key):
            return f"{unit.name}/{key}"
    raise AssertionError(f"no channel {wanted}")


def expected_series(case: str) -> np.ndarray:
    """MESc stores a channel (frames, rows, columns) = (ZDim, YDim, XDim): read as stored, no transpose."""
    maker, kwargs = CASES[case]
    with h5py.File(maker(), "r") as f:
        dset = f[channel_dataset(f, kwargs)]
        attrs = dset.parent.attrs
        assert dset.shape == (int(attrs["ZDim"]), int(attrs["YDim"]), int(attrs["XDim"]))
        return dset[()]


def expected_times(case: str) -> tuple[float, np.ndarray]:
    """(rate, timestamps) from the unit's Z axis: period, first frame time and their unit."""
    maker, kwargs = CASES[case]
    with h5py.File(maker(), "r") as f:
        attrs = f[unit_path(f, kwargs)].attrs
        seconds = SECONDS[_text(attrs["ZAxisConversionUnitName"])]
        period = float(attrs["ZAxisConversionConversionLinearScale"]) * seconds
        first = float(attrs["ZAxisConversionConversionLinearOffset"]) * seconds
        frames = int(attrs["ZDim"])
    return 1.0 / period, first + np.arange(frames) * period
