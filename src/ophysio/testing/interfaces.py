"""The shared suite every format's conversion interface passes: metadata from the source, NWB read back.

Subclass :class:`InterfaceTests` in a pytest module, list the cases in ``cases`` and fill the hooks:

``make_interface(self, case, folder)``
    Return the interface of a case (required); ``folder`` is a fresh temporary folder to write a
    synthetic source into (:func:`ophysio.examples.write_example` writes every format's example).
``expected_metadata(self, case)``
    The fields the source knows, as ``{"NWBFile.session_start_time": datetime(...), ...}`` (dotted paths
    into :meth:`~ophysio.conversion.interfaces.ImagingInterface.get_metadata`, ``[i]`` for list items).

Every test then runs for every case: the metadata hold what the source knows and one photon series per
stream; the NWB file written with those metadata (completed with :data:`USER_METADATA`, what only the
user knows) and read back with pynwb holds each stream's pixels and timestamps exactly; nwbinspector's
DANDI configuration finds no violation in it::

    class TestScanImageInterface(InterfaceTests):
        cases = ["scanimage"]

        def make_interface(self, case, folder):
            path, options = write_example(case, folder)
            return interface_from_paths([path], **options)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

__all__ = ["InterfaceTests", "USER_METADATA", "complete_metadata", "metadata_field"]

#: What a source never records and DANDI requires: the session, the subject, the imaging plane's biology.
USER_METADATA = {
    "NWBFile": {"session_start_time": "2024-05-01T10:00:00+02:00", "session_description": "a session"},
    "Subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"},
}


def complete_metadata(interface) -> dict:
    """The interface's defaults completed with :data:`USER_METADATA` where the source says nothing."""
    from ..conversion.metadata import merge_metadata

    meta = interface.get_metadata()
    for plane in meta["Ophys"]["ImagingPlane"]:
        plane.setdefault("excitation_lambda", 920.0)
        plane.setdefault("indicator", "GCaMP6f")
        plane.setdefault("location", "VISp")
        for channel in plane.get("optical_channel") or []:
            channel.setdefault("emission_lambda", 510.0)
    user = {key: dict(value) for key, value in USER_METADATA.items()}
    if meta.get("NWBFile", {}).get("session_start_time") is not None:
        user["NWBFile"].pop("session_start_time")  # the source's own start time wins
    return merge_metadata(user, meta)


def metadata_field(metadata: dict, dotted: str) -> Any:
    """``metadata["Ophys"]["PhotonSeries"][0]["name"]`` for ``"Ophys.PhotonSeries[0].name"``."""
    value: Any = metadata
    for part in dotted.split("."):
        match = re.fullmatch(r"(\w+)((?:\[\d+\])*)", part)
        if match is None:
            raise ValueError(f"not a field path: {dotted!r}")
        value = value[match.group(1)]
        for index in re.findall(r"\[(\d+)\]", match.group(2)):
            value = value[int(index)]
    return value


class InterfaceTests:
    """Checks every format's interface must pass; subclasses set ``cases`` and :meth:`make_interface`."""

    cases: list[Any] = [None]
    #: ids shown by pytest for the cases (default: str of each case, shortened)
    case_ids: list[str] | None = None
    #: time zone of a source that records local time (``write_nwb(timezone=...)``)
    timezone: str = "UTC"
    #: nwbinspector checks that do not apply to the cases, each with its reason in the subclass
    inspector_skip: tuple[str, ...] = ()

    # ---- hooks -------------------------------------------------------------------------------
    def make_interface(self, case: Any, folder: Path):  # pragma: no cover - must be overridden
        raise NotImplementedError

    def expected_metadata(self, case: Any) -> dict[str, Any]:
        return {}

    # ---- parametrisation ---------------------------------------------------------------------
    def pytest_generate_tests(self, metafunc):
        if "case" in metafunc.fixturenames:
            ids = self.case_ids or [os.path.basename(str(case))[:60] for case in self.cases]
            metafunc.parametrize("case", self.cases, ids=ids)

    @pytest.fixture
    def interface(self, case, tmp_path):
        interface = self.make_interface(case, tmp_path / "source")
        yield interface
        interface.close()

    @pytest.fixture
    def written(self, interface, tmp_path):
        import ophysio

        return ophysio.write_nwb(interface, tmp_path / "session.nwb", complete_metadata(interface),
                                 timezone=self.timezone)

    # ---- metadata ------------------------------------------------------------------------------
    def test_metadata_hold_what_the_source_knows(self, interface, case):
        from ..conversion.metadata import Metadata

        meta = interface.get_metadata()
        assert len(meta["Ophys"]["PhotonSeries"]) == len(interface.streams())
        names = [series["name"] for series in meta["Ophys"]["PhotonSeries"]]
        assert len(set(names)) == len(names)
        for dotted, expected in self.expected_metadata(case).items():
            assert metadata_field(meta, dotted) == expected, dotted
        Metadata.from_dict(complete_metadata(interface))  # the defaults are valid metadata once completed

    # ---- NWB ---------------------------------------------------------------------------------
    def test_nwb_read_back_with_pynwb_equals_the_source(self, interface, written):
        from pynwb import NWBHDF5IO

        meta = interface.get_metadata()
        with NWBHDF5IO(str(written), "r") as io:
            nwbfile = io.read()
            for (extractor, _), series_meta in zip(interface.streams(), meta["Ophys"]["PhotonSeries"]):
                series = nwbfile.acquisition[series_meta["name"]]
                # NWB orders a frame (x, y): columns before rows
                np.testing.assert_array_equal(series.data[:], np.swapaxes(extractor.get_series(), 1, 2))
                times = np.asarray(series.get_timestamps())
                assert np.max(np.abs(times - extractor.get_timestamps())) <= 1e-6
            start = meta.get("NWBFile", {}).get("session_start_time")
            if start is not None:  # the source's start time is the file's
                assert nwbfile.session_start_time.replace(tzinfo=None) == start.replace(tzinfo=None)

    def test_nwbinspector_finds_no_violation(self, written):
        from nwbinspector import Importance, inspect_nwbfile, load_config

        messages = list(inspect_nwbfile(nwbfile_path=str(written), config=load_config("dandi"),
                                        ignore=list(self.inspector_skip) or None))
        # ERROR too: it is what nwbinspector reports when it cannot read or validate a file at all
        bad = [m for m in messages
               if m.importance in (Importance.ERROR, Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]
        assert bad == [], [(m.check_function_name, m.message) for m in bad]
