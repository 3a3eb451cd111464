"""Metadata of an NWB conversion as pydantic models.

One :class:`Metadata` object describes a whole NWB file: the session (:class:`NWBFileMetadata`), the
subject (:class:`SubjectMetadata`) and the optical-physiology objects (:class:`OphysMetadata`: devices,
imaging planes with their optical channels, photon series). The layout follows neuroconv's metadata
dictionaries so that existing YAML files read with few changes::

    NWBFile: {session_start_time: 2024-05-01T10:00:00+02:00, session_description: ...}
    Subject: {subject_id: m1, species: Mus musculus, sex: F, age: P90D}
    Ophys:
      Device: [{name: Microscope, manufacturer: Vidrio Technologies}]
      ImagingPlane: [{name: ImagingPlane, excitation_lambda: 920.0, indicator: GCaMP6f, location: V1,
                      device: Microscope, optical_channel: [{name: Channel1, emission_lambda: 510.0}]}]
      PhotonSeries: [{name: TwoPhotonSeries, imaging_plane: ImagingPlane, type: TwoPhotonSeries}]
      PlaneSegmentation: [{name: PlaneSegmentation, imaging_plane: ImagingPlane}]      # with a segmentation
      RoiResponseSeries: [{name: RoiResponseSeries, plane_segmentation: PlaneSegmentation, trace: raw}]

Rules:

- Every field has a description (shown by ``ophysio metadata-template`` and :meth:`Metadata.json_schema`).
- Unknown keys are rejected with the path of the offending field (``Ophys.ImagingPlane[0].excitation``).
- Values the source cannot provide (excitation wavelength, indicator, location, subject...) may be left
  out while metadata are assembled; :meth:`Metadata.check_complete` then names each missing value and
  what to put there. Nothing is ever filled with placeholders.
- A naive ``session_start_time`` (ScanImage records local time without a zone) is never given the
  converting machine's zone: pass ``timezone=`` (``--timezone`` on the command line) or write an offset.
- :func:`merge_metadata` merges field by field: dictionaries recursively, lists of named entries (devices,
  planes, series, optical channels) by name, then in order; what the user leaves out, the source keeps.
- neuroconv's layouts are read too: its keyed one (``Devices``, ``Ophys.ImagingPlanes``,
  ``Ophys.MicroscopySeries``, keyed by metadata_key) and its earlier lists (``Ophys.TwoPhotonSeries``,
  ``Ophys.OnePhotonSeries``); see :mod:`ophysio.conversion._neuroconv_layout`.
"""

from __future__ import annotations

from .files import dump_metadata, load_metadata
from .merge import apply_timezone, merge_metadata
from .models import (
    DeviceMetadata,
    ImagingPlaneMetadata,
    Metadata,
    NWBFileMetadata,
    OphysMetadata,
    OpticalChannelMetadata,
    PhotonSeriesMetadata,
    PlaneSegmentationMetadata,
    RoiResponseSeriesMetadata,
    SubjectMetadata,
)

__all__ = [
    "Metadata",
    "NWBFileMetadata",
    "SubjectMetadata",
    "DeviceMetadata",
    "OpticalChannelMetadata",
    "ImagingPlaneMetadata",
    "PhotonSeriesMetadata",
    "PlaneSegmentationMetadata",
    "RoiResponseSeriesMetadata",
    "OphysMetadata",
    "merge_metadata",
    "load_metadata",
    "dump_metadata",
    "apply_timezone",
]
