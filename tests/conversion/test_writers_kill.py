"""A write killed mid-way (SIGKILL) leaves nothing at the output path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ophysio.conversion._atomic import partial_name_prefix

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from ophysio.conversion.writers import write_imaging
    from ophysio.testing.synthetic import movie

    fmt, out = sys.argv[1], sys.argv[2]
    def slow(done, total):
        print(done, flush=True)
        time.sleep(0.05)
    write_imaging(movie(400, 32, 32, dtype="int16"), out, format=fmt, sampling_frequency=10.0,
                  target_chunk_mb=4 * 32 * 32 * 2 / 2**20, callback=slow)
    print("finished", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize(
    "fmt, name",
    [("tiff", "m.tif"), ("ome-tiff", "m.ome.tif"), ("hdf5", "m.h5"), ("mat", "m.mat"), ("suite2p", "suite2p"),
     ("zarr", "m.zarr")],
)
def test_killed_write_leaves_no_output(tmp_path, fmt, name):
    out = tmp_path / name
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, fmt, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]  # three chunks are written: the write is under way
        assert all(line.strip().isdigit() for line in lines), lines
        partials = [p for p in tmp_path.iterdir() if p.name.startswith(partial_name_prefix(out))]
        assert partials, "the write goes to a temporary name beside the output"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    if fmt == "ome-tiff":
        assert not (tmp_path / "m.ome.tif_frame_metadata.json").exists()
        sidecar = next(p for p in tmp_path.iterdir() if p.name.endswith("_frame_metadata.json"))
        records = json.loads(sidecar.read_text())["p0"]  # the partial sidecar is valid JSON: recoverable
        assert len(records) >= 12 and records[0]["index"]["t"] == 0
