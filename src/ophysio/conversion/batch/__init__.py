"""Many sessions at once: a YAML spec, Dask distributed, DANDI layout, manifests and re-runs.

``ophysio.convert_sessions(spec, output_folder)`` converts every session of a spec into its own NWB file,
one session per task on a Dask cluster: a :class:`~distributed.LocalCluster` of processes with one thread
each (HDF5 serialises threads within a process) when no client is given, or any existing cluster through
its :class:`~distributed.Client` or scheduler address (a ``dask_jobqueue.SLURMCluster`` works unchanged).
Tasks carry paths and metadata only; each worker opens its own files.

The spec (YAML, read with a safe loader)::

    metadata:                  # for every session (NWBFile, Subject, Ophys), as for write_nwb
      NWBFile: {session_description: Visual stimulation, lab: Smith}
      Subject: {species: Mus musculus, sex: F, age: P90D}
      Ophys: {ImagingPlane: [{indicator: GCaMP6f, location: VISp, excitation_lambda: 920,
                              optical_channel: [{name: Green, emission_lambda: 510}]}]}
    format: scanimage          # optional; detected from content otherwise
    options: {}                # extractor keywords for every session
    conversion: {compression: gzip, timezone: Europe/Berlin}
    dandi: true                # DANDI names and required subject fields (default)
    sessions:
      - session_id: "2024-05-01-a"
        source: raw/m12/2024-05-01/file_00001_00001.tif     # relative to the spec file
        metadata: {Subject: {subject_id: m12}, NWBFile: {session_start_time: "2024-05-01T10:00:00"}}

Each session's metadata are merged over the global ones (lists replace lists), and its ``session_id`` is
the NWB ``session_id``. With ``dandi: true`` files go to
``sub-<subject_id>/sub-<subject_id>_ses-<session_id>_ophys.nwb`` and every session must give the subject
fields DANDI requires before anything starts; otherwise to ``<session_id>.nwb``.

A run is safe to repeat: beside each file a small hidden manifest (``.<file stem>.ophysio.json``) records
the inputs (source paths with sizes and modification times, options, metadata), every file the extractor
read (a series found from its first file), the ophysio version and whether the write finished, and a
re-run skips only sessions whose manifest matches and says ``done`` (a killed or failed re-conversion is
redone, never taken for the old file). Partial files of killed workers
(``.<name>.<random>.partial``, see :func:`~ophysio.conversion._atomic.atomic_output`) are swept before
and after a run. A failing session is retried (``retries``), then reported with its error; it never
stops the others.

Modules: :mod:`~ophysio.conversion.batch.spec` (the spec), :mod:`~ophysio.conversion.batch.plan` (metadata
and output paths of every session, checked before anything starts), :mod:`~ophysio.conversion.batch.task`
and :mod:`~ophysio.conversion.batch.worker` (one session on a worker), :mod:`~ophysio.conversion.batch.manifest`
(re-runs), :mod:`~ophysio.conversion.batch.run` and :mod:`~ophysio.conversion.batch.results` (the driver and
its report), :mod:`~ophysio.conversion.batch.dandi` (DANDI names, required fields, ``dandiset.yaml``, upload)
and :mod:`~ophysio.conversion.batch.validate` (pynwb, nwbinspector and dandi checks of NWB files).
"""

from __future__ import annotations

from .manifest import manifest_path
from .plan import plan_sessions, session_metadata
from .results import BatchResult, SessionResult
from .run import convert_sessions
from .spec import BatchSpec, ConversionOptions, SessionEntry, load_batch_spec

__all__ = [
    "BatchSpec",
    "SessionEntry",
    "ConversionOptions",
    "load_batch_spec",
    "session_metadata",
    "plan_sessions",
    "convert_sessions",
    "BatchResult",
    "SessionResult",
    "manifest_path",
]
