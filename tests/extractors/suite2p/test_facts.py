"""suite2p acquisition facts against ops.npy as numpy loads it."""

import numpy as np

from ophysio import open_imaging
from ophysio.testing.synthetic import write_suite2p


def test_facts_are_what_ops_records(tmp_path):
    folder = write_suite2p(tmp_path, num_planes=2, num_channels=1, sampling_frequency=12.5)
    ops = np.load(folder / "plane0" / "ops.npy", allow_pickle=True).item()
    with open_imaging(folder, format="suite2p") as ex:
        facts = ex.get_acquisition_facts()
        assert facts.volume_rate_hz == ops["fs"] == ex.get_sampling_frequency()
    assert facts.software == "suite2p"
    assert facts.software_version == (str(ops["suite2p_version"]) if "suite2p_version" in ops else None)
    assert set(facts.source_header["ops"]) == {"plane0", "plane1"}
    assert facts.pixel_size_um is None and facts.session_start_time is None  # ops records neither
