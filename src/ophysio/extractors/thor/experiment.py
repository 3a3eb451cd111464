"""``Experiment.xml``, the settings file ThorImageLS writes beside every acquisition, read into :class:`ThorExperiment`.

ThorImageLS saves the whole experiment setup as one XML document (root element ``ThorImageExperiment``)
in the acquisition folder. It is authoritative for the structure of the data: the TIFF files' own
OME-XML repeats only a part of it (and, in the files we have seen, lists every file of the series in
every file), so ophysio never reads that. What is used, and from where (attribute names as written):

- image size: ``LSM pixelX`` (columns), ``pixelY`` (rows); pixels are 16-bit unsigned;
- channels: the ``name`` of each ``Wavelengths/Wavelength`` (``ChanA`` ... ``ChanD``, which are also
  the prefixes of the TIFF file names); ``LSM channel`` is the bit mask of the enabled detector channels
  (A = 1, B = 2, C = 4, D = 8) and ``RawData onlyEnabledChannels`` says whether a ``.raw`` file holds only
  those or a slot for every channel of the detector;
- capture mode: ``CaptureMode mode`` (0: Z and T series, 1: streaming; others are not read);
- streaming: ``Streaming frames`` (frames written, flyback frames included), ``zFastEnable``,
  ``flybackFrames``, ``storageMode`` (0 finite, 1 stimulus-triggered), ``rawData`` (0 TIFF, 1 ``.raw``);
- planes: with fast Z, ``ZStage steps`` (``RemoteFocus steps`` when ``RemoteFocus IsRemoteFocus`` is 1,
  as ThorImageLS does for a remote-focus unit); in a Z and T series with ``ZStage enable`` 1, ``ZStage
  steps``; else one plane. Depths: ``ZStage startPos`` (mm) + k x ``stepSizeUM`` for a z-stage stack,
  ``ZStage setupPositionMM`` for a single plane; remote-focus planes are numbered, not in micrometers;
- time: ``LSM frameRate`` is the scanner's frame rate. A saved frame averages ``LSM averageNum`` frames
  when ``averageMode`` is 1 (cumulative; ThorImageLS does not average in fast-Z streaming), and a volume
  takes ``planes + flybackFrames`` saved frames, so the sampling rate is ``frameRate / averaging /
  (planes + flyback frames)``. A Z and T series with ``Timelapse intervalSec`` > 0 is sampled at
  ``1 / intervalSec`` (``Timelapse timepoints`` samples);
- geometry: ``LSM pixelSizeUM``, ``widthUM``, ``heightUM``; facts read more (see :mod:`.facts`).

These rules follow ThorImageLS's own acquisition code (``AcquireTStream``/``RunSample`` in the public
ThorImageLS sources): streamed frames are written volume by volume, planes then flyback frames, and
TIFF files are named ``<channel>_<index>_<subwell>_<plane>_<time>.tif`` (1-based, zero-padded) with the
flyback frames left out.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from ...errors import FileSetError, FormatError, MetadataError

__all__ = ["ThorExperiment", "read_experiment", "EXPERIMENT_XML", "ROOT_TAG", "xml_to_dict", "channel_slot"]

EXPERIMENT_XML = "Experiment.xml"
ROOT_TAG = "ThorImageExperiment"
#: Largest Experiment.xml read (real ones are about 10 KB).
MAX_XML_BYTES = 32 << 20
_CHANNEL_LETTERS = "ABCD"


def channel_slot(name: str) -> int | None:
    """Detector channel of a ThorImageLS channel name (``ChanA`` -> 0 ... ``ChanD`` -> 3), else None."""
    if len(name) == 5 and name.startswith("Chan") and name[4] in _CHANNEL_LETTERS:
        return _CHANNEL_LETTERS.index(name[4])
    return None


def xml_to_dict(element: ET.Element) -> dict[str, Any]:
    """The element as nested dictionaries: ``{tag: {"@attribute": value, child tag: ...}}``; repeated
    children become lists. (The shape roiextractors' ``_experiment_xml_dict`` has, which neuroconv reads.)"""
    def convert(node: ET.Element) -> Any:
        value: dict[str, Any] = {f"@{k}": v for k, v in node.attrib.items()}
        for child in node:
            converted = convert(child)
            if child.tag in value:
                if not isinstance(value[child.tag], list):
                    value[child.tag] = [value[child.tag]]
                value[child.tag].append(converted)
            else:
                value[child.tag] = converted
        text = (node.text or "").strip()
        if text:
            if value:
                value["#text"] = text
            else:
                return text
        return value or None

    return {element.tag: convert(element)}


@dataclass(frozen=True)
class ThorExperiment:
    """The parts of one ``Experiment.xml`` that say how the images are stored and sampled.

    Attributes
    ----------
    path : str
        The Experiment.xml file.
    text : str
        Its whole text (the source header of the acquisition).
    capture_mode : int
        0 (Z and T series) or 1 (streaming).
    rows, columns : int
        Image size (``LSM pixelY``, ``pixelX``).
    channel_names : tuple of str
        Channels, as ``Wavelengths/Wavelength name`` lists them.
    channel_mask : int or None
        Enabled detector channels (``LSM channel``), A = 1 ... D = 8.
    only_enabled_channels : bool
        Whether a .raw file holds only the enabled channels (``RawData onlyEnabledChannels``).
    planes, flyback_frames : int
        Planes of a sample, and frames after each volume that are not images (fast Z).
    fast_z, remote_focus : bool
        Fast-Z volumes; planes set by a remote-focus unit (numbered planes, no micrometers).
    frames : int or None
        Frames written as ThorImageLS planned them (flyback frames included); None when the XML cannot
        say (stimulus-triggered storage, an experiment that was stopped): the files then tell.
    frame_rate_hz : float
        ``LSM frameRate``.
    averaging : int
        Scanned frames averaged into each saved frame.
    interval_s : float or None
        ``Timelapse intervalSec`` of a Z and T series (None for streaming or 0).
    plane_depths_um : tuple of float or None
        Depth of each plane, when the XML gives it in micrometers.
    raw_data : int
        ``Streaming rawData``: 0 TIFF files, 1 one .raw file, 2 ThorImageLS's big TIFF.
    status : str or None
        ``ExperimentStatus value`` (``Complete``, ``Stopped``...).
    attributes : dict
        Attributes of every top-level element (lists for repeated ones such as ``Pockels``).
    """

    path: str
    text: str
    capture_mode: int
    rows: int
    columns: int
    channel_names: tuple[str, ...]
    channel_mask: int | None
    only_enabled_channels: bool
    planes: int
    flyback_frames: int
    fast_z: bool
    remote_focus: bool
    frames: int | None
    frame_rate_hz: float
    averaging: int
    interval_s: float | None
    plane_depths_um: tuple[float, ...] | None
    raw_data: int
    status: str | None
    attributes: dict = field(repr=False, compare=False)

    @property
    def frames_per_sample(self) -> int:
        """Frames written per sample: the planes plus the flyback frames (one for planar data)."""
        return self.planes + self.flyback_frames

    @property
    def num_samples(self) -> int | None:
        """Samples (frames or volumes) the XML plans, or None when the files must tell."""
        return None if self.frames is None else self.frames // self.frames_per_sample

    @property
    def sampling_frequency(self) -> float:
        """Samples per second (see the module notes)."""
        if self.interval_s:
            return 1.0 / self.interval_s
        return self.frame_rate_hz / self.averaging / self.frames_per_sample

    @property
    def rate_rule(self) -> str:
        """How :attr:`sampling_frequency` was worked out, in words."""
        if self.interval_s:
            return f"1 / Timelapse intervalSec ({self.interval_s:g} s)"
        parts = [f"LSM frameRate ({self.frame_rate_hz:g} Hz)"]
        if self.averaging > 1:
            parts.append(f"/ averageNum ({self.averaging})")
        if self.frames_per_sample > 1:
            parts.append(f"/ (planes {self.planes} + flyback frames {self.flyback_frames})")
        return " ".join(parts)

    def get(self, element: str, attribute: str, default: Any = None) -> Any:
        """The text of ``attribute`` of the first top-level ``element``, or ``default``."""
        attrs = self.attributes.get(element)
        if isinstance(attrs, list):
            attrs = attrs[0] if attrs else None
        return default if attrs is None else attrs.get(attribute, default)

    def as_dict(self) -> dict[str, Any]:
        """The whole document as nested dictionaries (see :func:`xml_to_dict`)."""
        return xml_to_dict(ET.fromstring(self.text))


def read_experiment(path: str | os.PathLike) -> ThorExperiment:
    """Read and check ``Experiment.xml``.

    Raises
    ------
    FileSetError
        The file is missing.
    MetadataError
        It is not well-formed XML, or lacks what the images need (named in the message).
    FormatError
        It is not a ThorImageLS experiment, or describes an acquisition ophysio does not read.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        folder = os.path.dirname(path) or "."
        raise FileSetError(f"{EXPERIMENT_XML} is missing from {folder}: ThorImageLS writes it beside the images, "
                           "and ophysio needs it for the image size, channels, planes and rate")
    size = os.path.getsize(path)
    if size > MAX_XML_BYTES:
        raise MetadataError(f"{path} is {size} bytes, more than the {MAX_XML_BYTES >> 20} MB an {EXPERIMENT_XML} "
                            "can be; refused")
    with open(path, "rb") as fh:
        data = fh.read()
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise MetadataError(f"{path}: declares a document type or entities, which ThorImageLS never writes; refused")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise MetadataError(f"{path} is not well-formed XML ({exc}); the file is damaged or was not written "
                            "completely") from None
    if root.tag != ROOT_TAG:
        raise FormatError(f"{path}: the root element is <{root.tag}>, not <{ROOT_TAG}>: not a ThorImageLS experiment")
    text = data.decode("utf-8", "replace")
    return _interpret(path, text, root)


def _attributes(root: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in root:
        attrs = dict(child.attrib)
        if child.tag in out:
            if not isinstance(out[child.tag], list):
                out[child.tag] = [out[child.tag]]
            out[child.tag].append(attrs)
        else:
            out[child.tag] = attrs
    return out


class _Reader:
    """Typed attribute access with errors that name the file, the element and the attribute."""

    def __init__(self, path: str, root: ET.Element):
        self.path, self.root = path, root

    def element(self, tag: str, required: bool = False) -> ET.Element | None:
        node = self.root.find(tag)
        if node is None and required:
            raise MetadataError(f"{self.path} has no <{tag}> element; ThorImageLS writes one in every experiment")
        return node

    def number(self, tag: str, name: str, kind: type = float, default: Any = None, required: bool = False) -> Any:
        node = self.element(tag, required)
        text = None if node is None else node.get(name)
        if text is None or text.strip() == "":
            if required:
                raise MetadataError(f"{self.path}: <{tag}> has no {name} attribute; it is needed to read the images")
            return default
        try:
            value = float(text)
            if kind is int:
                if not value.is_integer():
                    raise ValueError
                value = int(value)
        except (ValueError, OverflowError):
            what = "an integer" if kind is int else "a number"
            raise MetadataError(f"{self.path}: <{tag} {name}={text!r}> is not {what}") from None
        if not math.isfinite(value):
            raise MetadataError(f"{self.path}: <{tag} {name}={text!r}> is not a finite number")
        return value


def _positive(path: str, what: str, value: int, limit: int = 1 << 20) -> int:
    if not 0 < value <= limit:
        raise MetadataError(f"{path}: {what} is {value}; it must be between 1 and {limit}")
    return value


def _interpret(path: str, text: str, root: ET.Element) -> ThorExperiment:
    r = _Reader(path, root)
    modality = r.element("Modality")
    if r.element("LSM") is None:
        kind = modality.get("name") if modality is not None else "unknown"
        raise FormatError(f"{path}: the experiment has no <LSM> element (modality {kind!r}); ophysio reads "
                          "ThorImageLS laser-scanning acquisitions, not camera ones, so far")
    columns = _positive(path, "LSM pixelX", r.number("LSM", "pixelX", int, required=True), 1 << 16)
    rows = _positive(path, "LSM pixelY", r.number("LSM", "pixelY", int, required=True), 1 << 16)
    if r.number("LSM", "NumberOfPlanes", int, 1) > 1:
        raise FormatError(f"{path}: LSM NumberOfPlanes is {r.number('LSM', 'NumberOfPlanes', int)} (several planes "
                          "stacked in each frame); ophysio does not read that layout yet")
    frame_rate = r.number("LSM", "frameRate", required=True)
    if frame_rate <= 0:
        raise MetadataError(f"{path}: LSM frameRate is {frame_rate}; it must be a positive number of frames per second")
    names = tuple(w.get("name", "") for w in root.findall("Wavelengths/Wavelength"))
    if not names or any(not n for n in names):
        raise MetadataError(f"{path}: <Wavelengths> names no channel (a <Wavelength name=...> per channel); the "
                            "channels cannot be known")
    if len(set(names)) != len(names):
        raise MetadataError(f"{path}: <Wavelengths> names a channel twice: {list(names)}")
    mask = r.number("LSM", "channel", int)
    only_enabled = r.number("RawData", "onlyEnabledChannels", int, 1) != 0

    streaming = r.number("Streaming", "enable", int, 0) == 1
    capture_mode = r.number("CaptureMode", "mode", int, 1 if streaming else 0)
    if capture_mode not in (0, 1):
        what = {3: "bleaching", 4: "hyperspectral"}.get(capture_mode, "unknown")
        raise FormatError(f"{path}: CaptureMode {capture_mode} ({what}) is not read by ophysio; it reads streaming "
                          "(1) and Z and T (0) acquisitions")
    status = root.find("ExperimentStatus")
    status_text = None if status is None else status.get("value")
    complete = status_text in (None, "Complete")
    averaging = r.number("LSM", "averageNum", int, 1) if r.number("LSM", "averageMode", int, 0) == 1 else 1
    averaging = _positive(path, "LSM averageNum", averaging, 1 << 16)
    remote_focus = r.number("RemoteFocus", "IsRemoteFocus", int, 0) == 1
    z_steps_tag = "RemoteFocus" if remote_focus else "ZStage"
    interval = None
    fast_z = False
    flyback = 0
    if capture_mode == 1:
        fast_z = r.number("Streaming", "zFastEnable", int, 0) == 1
        planes = _positive(path, f"{z_steps_tag} steps", r.number(z_steps_tag, "steps", int, 1)) if fast_z else 1
        if fast_z:
            flyback = r.number("Streaming", "flybackFrames", int, 0)
            if not 0 <= flyback <= 1 << 16:
                raise MetadataError(f"{path}: Streaming flybackFrames is {flyback}")
            averaging = 1  # ThorImageLS averages only without fast Z
        frames = r.number("Streaming", "frames", int, required=True)
        if frames < 0:
            raise MetadataError(f"{path}: Streaming frames is {frames}")
        stimulus = r.number("Streaming", "storageMode", int, 0) == 1
        frames_known = frames if complete and not stimulus else None
    else:
        z_enabled = r.number("ZStage", "enable", int, 0) == 1
        planes = _positive(path, "ZStage steps", r.number("ZStage", "steps", int, 1)) if z_enabled else 1
        timepoints = r.number("Timelapse", "timepoints", int, required=True)
        if timepoints < 0:
            raise MetadataError(f"{path}: Timelapse timepoints is {timepoints}")
        frames_known = timepoints * planes if complete else None
        seconds = r.number("Timelapse", "intervalSec", float, 0.0)
        interval = seconds if seconds > 0 and timepoints > 1 else None
    depths: tuple[float, ...] | None = None
    if planes > 1 and not remote_focus:
        start = r.number("ZStage", "startPos")
        step = r.number("ZStage", "stepSizeUM")
        if start is not None and step is not None:
            depths = tuple(start * 1000.0 + k * step for k in range(planes))
    elif planes == 1:
        setup = r.number("ZStage", "setupPositionMM")
        depths = None if setup is None else (setup * 1000.0,)
    return ThorExperiment(
        path=path, text=text, capture_mode=capture_mode, rows=rows, columns=columns, channel_names=names,
        channel_mask=mask, only_enabled_channels=only_enabled, planes=planes, flyback_frames=flyback,
        fast_z=fast_z, remote_focus=remote_focus, frames=frames_known, frame_rate_hz=frame_rate,
        averaging=averaging, interval_s=interval, plane_depths_um=depths,
        raw_data=r.number("Streaming", "rawData", int, 0), status=status_text, attributes=_attributes(root),
    )
