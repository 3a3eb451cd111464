"""NWB from Python: one OME-TIFF channel, metadata as a dictionary, read back with pynwb."""

from pynwb import NWBHDF5IO

import ophysio
from ophysio.testing.data import sample_file

movie = ophysio.open_imaging(sample_file("ome_tiff/pmmp_demo_tc.ome.tiff"), channel_name="DAPI")
metadata = {
    "NWBFile": {"session_description": "pymmcore-plus demo camera, DAPI channel",
                "session_start_time": "2025-01-15T10:30:00+00:00"},  # the OME file does not record it
    "Subject": {"subject_id": "demo", "species": "Mus musculus", "sex": "U", "age": "P60D"},
    "Ophys": {
        "ImagingPlane": [{"name": "ImagingPlane", "indicator": "DAPI", "location": "cortex", "excitation_lambda": 358.0,
                          "optical_channel": [{"name": "DAPI", "description": "DAPI", "emission_lambda": 461.0}]}],
        "PhotonSeries": [{"name": "OnePhotonSeries", "type": "OnePhotonSeries", "imaging_plane": "ImagingPlane"}],
    },
}
path = ophysio.write_nwb(movie, "dapi.nwb", metadata)

with NWBHDF5IO(path, "r") as io:
    nwbfile = io.read()
    series = nwbfile.acquisition["OnePhotonSeries"]
    print(type(series).__name__, series.data.shape, series.data.dtype)
    print("timestamps (s):", series.timestamps[:].round(3))
    # NWB stores frames as (time, x, y): columns before rows, the transpose of get_series' (time, rows, columns)
    print("same pixels:", (series.data[:] == movie.get_series().transpose(0, 2, 1)).all())
