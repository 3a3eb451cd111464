"""The pydantic models of a conversion's metadata (see :mod:`ophysio.conversion.metadata`)."""


from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ...errors import MetadataError
from .._neuroconv_layout import to_ophysio_layout

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
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)


_ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


class NWBFileMetadata(_Model):
    """The session: what was recorded, when, by whom."""

    session_start_time: datetime | None = Field(
        None,
        description="Start of the recording session with its time zone, ISO 8601 "
        "(e.g. 2024-05-01T10:00:00+02:00). Read from the source when it records it (ScanImage's epoch is "
        "local time without a zone: give the zone with timezone=/--timezone).",
    )
    session_description: str | None = Field(
        None, description="What happened in this session, in a sentence or two (required by NWB)."
    )
    identifier: str | None = Field(
        None, description="Unique identifier of this NWB file; a random UUID is generated when left out."
    )
    session_id: str | None = Field(None, description="Lab's identifier of the session.")
    experimenter: list[str] | None = Field(
        None, description="People who performed the experiment, as 'Last, First' (e.g. ['Doe, Jane'])."
    )
    lab: str | None = Field(None, description="Lab where the experiment was performed.")
    institution: str | None = Field(None, description="Institution where the experiment was performed.")
    experiment_description: str | None = Field(None, description="General description of the experiment.")
    keywords: list[str] | None = Field(None, description="Terms to search the file by.")
    related_publications: list[str] | None = Field(
        None, description="Publications about this data, as DOIs ('doi:10.xxx/yyy') or URLs."
    )
    protocol: str | None = Field(None, description="Experimental protocol, e.g. an IACUC protocol number.")
    surgery: str | None = Field(None, description="Narrative description of surgeries performed on the subject.")
    virus: str | None = Field(None, description="Viruses used: name, source, titer, injection location.")
    pharmacology: str | None = Field(None, description="Drugs given, how and when.")
    stimulus_notes: str | None = Field(None, description="Notes about the stimuli.")
    notes: str | None = Field(None, description="Free-form notes about the session.")


class SubjectMetadata(_Model):
    """The animal (or person) the data were recorded from; DANDI requires id, species, sex and age."""

    subject_id: str | None = Field(None, description="Identifier of the subject in the lab (required by DANDI).")
    species: str | None = Field(
        None,
        description="Latin binomial (e.g. 'Mus musculus') or an NCBI taxonomy URL (required by DANDI).",
    )
    sex: Literal["M", "F", "U", "O"] | None = Field(
        None, description="'M' (male), 'F' (female), 'U' (unknown) or 'O' (other) (required by DANDI)."
    )
    age: str | None = Field(
        None,
        description="Age at the session as an ISO 8601 duration, e.g. 'P90D' (90 days) or 'P12W'; a range is "
        "'P90D/P100D'. DANDI requires age or date_of_birth.",
    )
    age__reference: Literal["birth", "gestational"] | None = Field(
        None, description="What the age counts from: 'birth' (default) or 'gestational'."
    )
    date_of_birth: datetime | None = Field(
        None, description="Date of birth with its time zone, ISO 8601 (alternative to age)."
    )
    description: str | None = Field(None, description="Description of the subject.")
    genotype: str | None = Field(None, description="Genetic strain or modifications, e.g. 'Ai93/wt; Emx1-Cre/wt'.")
    strain: str | None = Field(None, description="Strain of the subject, e.g. 'C57BL/6J'.")
    weight: str | None = Field(None, description="Weight with its unit, e.g. '25 g'.")

    @field_validator("age")
    @classmethod
    def _check_age(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = value.split("/")
        if len(parts) > 2 or not all(_ISO_DURATION.match(p) for p in parts if p):
            raise ValueError(f"{value!r} is not an ISO 8601 duration such as 'P90D', 'P12W' or 'P2Y'")
        return value

    @field_validator("date_of_birth", mode="before")
    @classmethod
    def _date_to_datetime(cls, value: Any) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day)
        return value


class DeviceMetadata(_Model):
    """The microscope (or camera) that recorded the data."""

    name: str = Field("Microscope", description="Name of the device, referenced by imaging planes.")
    description: str | None = Field(None, description="Description of the device (model, software version).")
    manufacturer: str | None = Field(None, description="Manufacturer of the device.")


class OpticalChannelMetadata(_Model):
    """One optical channel (emission filter / detector path) of an imaging plane."""

    name: str = Field("OpticalChannel", description="Name of the channel (e.g. the acquisition software's).")
    description: str = Field("", description="Description of the channel (filter, detector).")
    emission_lambda: float | None = Field(
        None, description="Emission wavelength in nm recorded by this channel, e.g. 510.0 for GFP (required).", gt=0
    )


class ImagingPlaneMetadata(_Model):
    """One imaging plane: where and how the photons came from."""

    name: str = Field("ImagingPlane", description="Name of the imaging plane, referenced by photon series.")
    description: str | None = Field(None, description="Description of the plane (depth, field of view).")
    excitation_lambda: float | None = Field(
        None, description="Excitation wavelength in nm, e.g. 920.0 for two-photon GCaMP imaging (required).", gt=0
    )
    indicator: str | None = Field(None, description="Calcium (or other) indicator, e.g. 'GCaMP6f' (required).")
    location: str | None = Field(
        None, description="Brain area imaged, preferably an Allen atlas name, e.g. 'VISp' (required)."
    )
    device: str = Field("Microscope", description="Name of the device (an entry of Ophys.Device) that imaged it.")
    optical_channel: list[OpticalChannelMetadata] = Field(
        default_factory=lambda: [OpticalChannelMetadata()], description="Optical channels of this plane."
    )
    imaging_rate: float | None = Field(None, description="Rate of images in Hz (from the source).", gt=0)
    grid_spacing: list[float] | None = Field(
        None, description="Size of one pixel (x, y[, z]) in grid_spacing_unit (from the source when it records it)."
    )
    grid_spacing_unit: str = Field("meters", description="Unit of grid_spacing.")
    origin_coords: list[float] | None = Field(
        None, description="Coordinates (x, y[, z]) of the top-left pixel in origin_coords_unit."
    )
    origin_coords_unit: str = Field("meters", description="Unit of origin_coords.")
    reference_frame: str | None = Field(
        None, description="What origin_coords are relative to, e.g. 'scan field center, objective z'."
    )


class PhotonSeriesMetadata(_Model):
    """One photon series: the movie of one channel (and one plane, when planes are split)."""

    name: str = Field("TwoPhotonSeries", description="Name of the series in the NWB file (unique).")
    type: Literal["TwoPhotonSeries", "OnePhotonSeries"] = Field(
        "TwoPhotonSeries", description="NWB type: TwoPhotonSeries (scanning) or OnePhotonSeries (widefield, miniscope)."
    )
    description: str | None = Field(None, description="Description of the series.")
    imaging_plane: str = Field(
        "ImagingPlane", description="Name of its imaging plane (an entry of Ophys.ImagingPlane)."
    )
    unit: str = Field("n.a.", description="Unit of the pixel values ('n.a.' for raw detector counts).")
    conversion: float = Field(1.0, description="Factor from stored values to unit.")
    offset: float = Field(0.0, description="Offset from stored values to unit, applied after conversion.")
    field_of_view: list[float] | None = Field(
        None, description="Width, height[, depth] of the field of view in meters (from the source; TwoPhotonSeries "
        "only: NWB's OnePhotonSeries has no field of view)."
    )
    dimension: list[int] | None = Field(None, description="Pixels in each spatial dimension (x, y[, z]).")
    scan_line_rate: float | None = Field(None, description="Lines imaged per second (TwoPhotonSeries only).")
    pmt_gain: float | None = Field(None, description="Photomultiplier gain.")
    comments: str | None = Field(None, description="Human-readable comments about the series.")


class PlaneSegmentationMetadata(_Model):
    """One table of ROIs (a PlaneSegmentation of the ``ophys`` processing module's ImageSegmentation)."""

    name: str = Field("PlaneSegmentation", description="Name of the table in the NWB file (unique).")
    description: str | None = Field(None, description="How the ROIs were found (pipeline, plane, channel).")
    imaging_plane: str = Field(
        "ImagingPlane", description="Name of the imaging plane (an entry of Ophys.ImagingPlane) the ROIs lie in: "
        "the raw movie's when both are in the file."
    )
    mask_type: Literal["auto", "image", "pixel", "voxel"] = Field(
        "auto", description="How the masks are stored: image (dense, one image per ROI), pixel (or voxel for a "
        "volume: the ROI's pixels and weights), or auto (image masks when they take at most 64 MiB, else pixel "
        "or voxel masks)."
    )


class RoiResponseSeriesMetadata(_Model):
    """One trace of the ROIs of a PlaneSegmentation (a RoiResponseSeries in Fluorescence or DfOverF)."""

    name: str = Field("RoiResponseSeries", description="Name of the series in the NWB file (unique).")
    plane_segmentation: str = Field(
        "PlaneSegmentation", description="Name of the PlaneSegmentation (an entry of Ophys.PlaneSegmentation) "
        "whose ROIs the series' columns are."
    )
    trace: str = Field("raw", description="Which trace of the segmentation: raw, neuropil, deconvolved, denoised, "
                       "baseline, dff (written in DfOverF) or background (the background components' traces).")
    channel: str | None = Field(None, description="The channel whose trace it is (when the segmentation has "
                                "traces of several channels).")
    description: str | None = Field(None, description="Description of the series.")
    unit: str = Field("n.a.", description="Unit of the values ('n.a.' for fluorescence in detector counts).")


class OphysMetadata(_Model):
    """Optical-physiology objects: devices, imaging planes, photon series and segmentations."""

    Device: list[DeviceMetadata] = Field(default_factory=lambda: [DeviceMetadata()], description="Devices.")
    ImagingPlane: list[ImagingPlaneMetadata] = Field(
        default_factory=lambda: [ImagingPlaneMetadata()], description="Imaging planes."
    )
    PhotonSeries: list[PhotonSeriesMetadata] = Field(
        default_factory=lambda: [PhotonSeriesMetadata()],
        description="Photon series, in the order of the interfaces' streams (one per channel, or per "
        "channel and plane when planes are split).",
    )
    PlaneSegmentation: list[PlaneSegmentationMetadata] = Field(
        default_factory=list, description="Tables of ROIs, in the order of the segmentation interfaces' planes "
        "(one per plane, or one for a volume)."
    )
    RoiResponseSeries: list[RoiResponseSeriesMetadata] = Field(
        default_factory=list, description="Traces of the ROIs, in the order of the segmentation interfaces' "
        "traces."
    )


class Metadata(_Model):
    """All metadata of one NWB file."""

    NWBFile: NWBFileMetadata = Field(default_factory=NWBFileMetadata, description="The session.")
    Subject: SubjectMetadata | None = Field(None, description="The subject (required by DANDI).")
    Ophys: OphysMetadata = Field(default_factory=OphysMetadata, description="Optical-physiology objects.")

    @model_validator(mode="before")
    @classmethod
    def _neuroconv_layout(cls, data: Any) -> Any:
        return to_ophysio_layout(data)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: dict | Metadata | None, source: str = "metadata") -> Metadata:
        """Validate a dictionary; errors name each offending field by its path and say what to put there."""
        if isinstance(data, Metadata):
            return data.model_copy(deep=True)
        try:
            data = to_ophysio_layout(data or {})
        except MetadataError as exc:
            raise MetadataError(f"invalid {source}:\n  - {exc}") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise MetadataError(_explain(exc, source)) from None

    def to_dict(self, exclude_none: bool = True) -> dict:
        """A JSON-ready dictionary (datetimes as ISO 8601 strings); the segmentation lists only when they hold
        entries (a movie-only file says nothing of segmentation)."""
        data = self.model_dump(mode="json", exclude_none=exclude_none)
        for key in ("PlaneSegmentation", "RoiResponseSeries"):
            if not data.get("Ophys", {}).get(key, True):
                del data["Ophys"][key]
        return data

    @classmethod
    def json_schema(cls) -> dict:
        """The JSON schema of the metadata, field descriptions included."""
        return cls.model_json_schema()

    # ------------------------------------------------------------------ completeness
    def missing(self, dandi: bool = True, session: bool = True) -> list[str]:
        """Values a valid (DANDI-ready when ``dandi``) NWB file needs and that are not given, with what to put.

        ``session=False`` skips the session (NWBFile) values, as when appending to an existing file.
        """

        def need(path: str, model: BaseModel, field: str) -> str:
            info = type(model).model_fields[field]
            return f"{path}.{field}: {info.description}"

        problems = []
        nwb = self.NWBFile
        if not session:
            pass
        elif nwb.session_start_time is None:
            problems.append(need("NWBFile", nwb, "session_start_time"))
        elif nwb.session_start_time.tzinfo is None:
            problems.append(
                f"NWBFile.session_start_time: {nwb.session_start_time.isoformat()} has no time zone (the source "
                "records local time); give the zone with timezone='Europe/Berlin' (--timezone on the command "
                "line) or write the time with an offset"
            )
        if session and not nwb.session_description:
            problems.append(need("NWBFile", nwb, "session_description"))
        for i, plane in enumerate(self.Ophys.ImagingPlane):
            for field in ("excitation_lambda", "indicator", "location"):
                if getattr(plane, field) in (None, ""):
                    problems.append(need(f"Ophys.ImagingPlane[{i}]", plane, field))
            for j, channel in enumerate(plane.optical_channel):
                if channel.emission_lambda is None:
                    problems.append(need(f"Ophys.ImagingPlane[{i}].optical_channel[{j}]", channel, "emission_lambda"))
        if dandi:
            subject = self.Subject or SubjectMetadata()
            for field in ("subject_id", "species", "sex"):
                if not getattr(subject, field):
                    problems.append(need("Subject", subject, field))
            if not subject.age and subject.date_of_birth is None:
                problems.append(need("Subject", subject, "age") + " (or Subject.date_of_birth)")
            elif subject.date_of_birth is not None and subject.date_of_birth.tzinfo is None:
                problems.append("Subject.date_of_birth: has no time zone; write it with an offset")
        return problems

    def check_complete(self, dandi: bool = True, session: bool = True) -> None:
        """Raise :class:`~ophysio.errors.MetadataError` naming every missing value (see :meth:`missing`)."""
        problems = self.missing(dandi=dandi, session=session)
        if problems:
            raise MetadataError(
                "metadata are incomplete; add these values (in a metadata YAML file, --metadata, or the "
                "metadata= argument; `ophysio metadata-template PATH` writes a file to fill in):\n  - "
                + "\n  - ".join(problems)
            )


def _explain(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        path = ""
        for part in err["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        if err["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key (check its spelling and where it is nested)")
        elif err["type"] == "missing":
            lines.append(f"{path}: required")
        else:
            lines.append(f"{path}: {err['msg']} (got {err.get('input')!r})")
    return f"invalid {source}:\n  - " + "\n  - ".join(lines)
