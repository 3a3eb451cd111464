"""What an acquisition recorded about itself, in NWB-neutral terms: :class:`AcquisitionFacts`.

Every extractor answers :meth:`~ophysio.extractors.ImagingExtractor.get_acquisition_facts`. The base
class gives what it knows for any format (channel names, the rate of its samples, the whole source
header); a format folder answers what its files record in its own ``facts.py`` (``extractors/<format>/
facts.py``), and the lazy views adjust their parent's facts (a crop moves the origin and shrinks the field
of view, a plane has one depth, binning divides the rate). ``ophysio.conversion`` maps these facts to NWB
once, for every format.

Conventions: lengths are micrometers, rates hertz, wavelengths nanometers, each unit in the field's name.
Spatial tuples follow the image axes, ``(rows, columns)`` then planes: ``pixel_size_um = (row height,
column width)`` and ``origin_um = (y, x, z)``. A fact the source does not record is None.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["AcquisitionFacts", "StreamRoi", "ProcessingStep", "crop_facts", "plane_facts", "binned_facts",
           "processed_facts"]


@dataclass(frozen=True)
class StreamRoi:
    """The ROI a stream reads when the acquisition scanned several (multi-ROI, mesoscope).

    Attributes
    ----------
    index : int
        Position of the ROI among the acquisition's imaging ROIs.
    name : str or None
        Its name in the acquisition software.
    count : int
        Number of imaging ROIs the acquisition scanned.
    time_offset_s : float or None
        How long after the frame's timestamp the ROI's first line was scanned.
    """

    index: int
    name: str | None = None
    count: int = 1
    time_offset_s: float | None = None


@dataclass(frozen=True)
class ProcessingStep:
    """Something ophysio did to a stream's pixels on the way from the files (a correction, a stitch).

    Lazy views that change pixels or assemble them add one to their facts, so that conversion can say so
    in the NWB series (its description, and its comments when the values are no longer the recorded ones).

    Attributes
    ----------
    name : str
        Short name of the step: ``"scan_phase"``, ``"plane_registration"``, ``"roi_stitch"``...
    description : str
        One sentence saying what was done, with the numbers needed to do it again.
    parameters : dict
        The same numbers as plain Python values (lists, floats, strings), for machines.
    changes_values : bool
        True when pixel values differ from the recorded ones (interpolated, shifted, filled); False when
        the recorded pixels are only placed (a stitched canvas keeps every ROI's pixels as recorded).
    """

    name: str
    description: str
    parameters: dict = field(default_factory=dict, compare=False)
    changes_values: bool = True


@dataclass(frozen=True)
class AcquisitionFacts:
    """Facts of one stream (one channel, one ROI) of an acquisition, as its files record them.

    Every field is optional (None: not recorded, or not known to ophysio).

    Attributes
    ----------
    device_name : str or None
        Name of the microscope, when the source names it.
    device_description : str or None
        The microscope in words (e.g. "Microscope controlled by ScanImage 2023.1").
    manufacturer : str or None
        Maker of the microscope or of its control system.
    software, software_version : str or None
        The acquisition (or processing) software that wrote the files, and its version.
    session_start_time : datetime or None
        When the acquisition started, naive or aware exactly as recorded.
    channel_name : str or None
        The channel this stream reads.
    channel_names : tuple of str or None
        Every channel the source holds.
    excitation_wavelength_nm : float or None
        Excitation wavelength of this stream's channel.
    emission_wavelengths_nm : tuple or None
        Emission wavelength of each channel of ``channel_names`` (None where not recorded).
    frame_rate_hz : float or None
        Frames (images of one plane) per second.
    volume_rate_hz : float or None
        Volumes per second, for a volumetric acquisition.
    line_rate_hz : float or None
        Lines scanned per second (laser-scanning microscopes).
    pixel_size_um : tuple of float or None
        ``(row height, column width)`` of a pixel.
    plane_spacing_um : float or None
        Distance between consecutive planes of a volumetric stream (None for a planar stream).
    plane_depths_um : tuple of float or None
        Depth (objective z) of each plane of the stream; one value for a single plane.
    origin_um : tuple of float or None
        Position of the first pixel's corner, ``(y, x)`` or ``(y, x, z)``, in ``reference_frame``.
    field_of_view_um : tuple of float or None
        ``(height, width)`` of the imaged field, with the volume's depth as a third value for a
        volumetric stream.
    reference_frame : str or None
        What ``origin_um`` is measured from.
    objective : str or None
        The objective lens, when the source names it.
    indicator : str or None
        The calcium (or voltage) indicator, when the source records it (an NWB file's ImagingPlane does).
    brain_region : str or None
        Where in the brain the imaging was, when the source records it (an NWB ImagingPlane's location).
    roi : StreamRoi or None
        The ROI this stream reads, when it is one of several scanned ROIs.
    processing : tuple of ProcessingStep
        What ophysio did to the pixels on the way from the files, in order (empty for data as recorded).
    source_header : dict
        The whole source metadata, as :meth:`~ophysio.extractors.ImagingExtractor.get_metadata` gives it.
    """

    device_name: str | None = None
    device_description: str | None = None
    manufacturer: str | None = None
    software: str | None = None
    software_version: str | None = None
    session_start_time: datetime | None = None
    channel_name: str | None = None
    channel_names: tuple[str, ...] | None = None
    excitation_wavelength_nm: float | None = None
    emission_wavelengths_nm: tuple[float | None, ...] | None = None
    frame_rate_hz: float | None = None
    volume_rate_hz: float | None = None
    line_rate_hz: float | None = None
    pixel_size_um: tuple[float, float] | None = None
    plane_spacing_um: float | None = None
    plane_depths_um: tuple[float, ...] | None = None
    origin_um: tuple[float, ...] | None = None
    field_of_view_um: tuple[float, ...] | None = None
    reference_frame: str | None = None
    objective: str | None = None
    indicator: str | None = None
    brain_region: str | None = None
    roi: StreamRoi | None = None
    processing: tuple[ProcessingStep, ...] = ()
    source_header: dict = field(default_factory=dict, repr=False, compare=False)

    def replace(self, **changes: Any) -> AcquisitionFacts:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    @property
    def is_raw(self) -> bool:
        """Whether the pixel values are the recorded ones (no step of :attr:`processing` changed them)."""
        return not any(step.changes_values for step in self.processing)

    @property
    def emission_wavelength_nm(self) -> float | None:
        """Emission wavelength of this stream's channel, when recorded."""
        if not self.emission_wavelengths_nm or not self.channel_names or self.channel_name not in self.channel_names:
            return None
        index = self.channel_names.index(self.channel_name)
        return self.emission_wavelengths_nm[index] if index < len(self.emission_wavelengths_nm) else None


def crop_facts(facts: AcquisitionFacts, row_start: int, column_start: int, rows: int, columns: int) -> AcquisitionFacts:
    """Facts of rows ``row_start:row_start+rows`` and columns ``column_start:column_start+columns``.

    The origin moves by the crop's first row and column times the pixel size, and the field of view
    becomes the crop's (its depth, if any, is kept). Without a pixel size neither can be known for a crop
    that moves or shrinks the field, so they are left out.
    """
    size = facts.pixel_size_um
    if size is None:
        moved = row_start or column_start
        return facts.replace(origin_um=None if moved else facts.origin_um, field_of_view_um=None)
    dy, dx = size
    origin = facts.origin_um
    if origin is not None:
        origin = (origin[0] + row_start * dy, origin[1] + column_start * dx, *origin[2:])
    fov = facts.field_of_view_um
    if fov is not None:
        fov = (rows * dy, columns * dx, *fov[2:])
    return facts.replace(origin_um=origin, field_of_view_um=fov)


def plane_facts(facts: AcquisitionFacts, plane_index: int) -> AcquisitionFacts:
    """Facts of plane ``plane_index`` of a volumetric stream: one depth, no plane spacing, a flat field.

    The origin's z becomes the plane's depth when the depths are recorded.
    """
    depths = facts.plane_depths_um
    origin = facts.origin_um
    depth = None
    if depths and plane_index < len(depths):
        depth = depths[plane_index]
        if origin is not None and len(origin) > 2:
            origin = (*origin[:2], depth)
    fov = facts.field_of_view_um[:2] if facts.field_of_view_um is not None else None
    return facts.replace(plane_depths_um=None if depth is None else (depth,), origin_um=origin,
                         field_of_view_um=fov, plane_spacing_um=None)


def binned_facts(facts: AcquisitionFacts, bin_size: int, volumetric: bool) -> AcquisitionFacts:
    """Facts of a stream whose samples are means of ``bin_size`` samples: the samples' rate is divided."""
    if volumetric:
        rate = facts.volume_rate_hz
        return facts.replace(volume_rate_hz=None if rate is None else rate / bin_size)
    rate = facts.frame_rate_hz
    return facts.replace(frame_rate_hz=None if rate is None else rate / bin_size)


def processed_facts(facts: AcquisitionFacts, step: ProcessingStep) -> AcquisitionFacts:
    """Facts of a stream whose pixels went through ``step`` after the steps already recorded."""
    return facts.replace(processing=(*facts.processing, step))
