"""Synthetic ThorImageLS acquisitions: ``Experiment.xml`` with per-frame OME-TIFFs, a multipage TIFF or ``.raw``.

The Experiment.xml is the real one of ``thor/20231018-002`` (ThorImageLS 5.0, every element and attribute
ThorImageLS wrote) with the attributes that describe the synthetic acquisition changed. The images follow
what ThorImageLS's own acquisition code writes (``AcquireTStream``/``RunSample`` in the public
ThorImageLS sources), as the real sample shows it:

- TIFF: one file per frame and channel, ``<channel>_<index>_<subwell>_<plane>_<time>.tif`` (1-based,
  zero-padded), laid out as ThorImageLS lays it out: the 8-byte header, the pixels (one uncompressed
  strip), then the IFD (the same 15 tags) and the OME-XML description, which names every file of the
  series in every file (``TiffData``/``UUID FileName``), with ``Plane DeltaT="0"``; flyback frames are
  not saved;
- multipage: one TIFF per channel (the first file name of the series) holding every frame, plane fastest;
- raw: ``Image_0001_0001.raw``, uint16 little-endian, volume after volume, each volume its planes then its
  flyback frames, each frame its channels (the enabled ones; with ``only_enabled_channels=False`` a slot
  for each of the 4 detector channels, zeros where a channel is disabled).

Pixel values come from :func:`ophysio.examples.movie` (channel ``c`` of the acquisition is
``movie(..., channel=c)``); flyback frames hold ``65535 - movie`` so that a reader that returns them is
caught.
"""

from __future__ import annotations

import os
import struct
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

__all__ = ["write_thor", "thor_expected", "thor_experiment_xml", "write_thor_tiff_frame", "EXAMPLES"]

#: The Experiment.xml of the real sample thor/20231018-002 (ThorImageLS 5.0.2023.10041), verbatim.
REAL_EXPERIMENT_XML = r"""<ThorImageExperiment>
  <Name name="20231018-002" path="D:\DATA\ARC\dpn60_noiseexp\20231018-002" />
  <Date date="10/18/2023 13:39:19" uTime="1697650759" />
  <User name="User" />
  <Computer name="USER-PC" />
  <Software version="5.0.2023.10041" />
  <Camera name="" width="0" height="0" pixelSizeUM="0.25" binning="2" gain="0" lightmode="0"
    left="0" right="0" top="0" bottom="0" binningX="0" binningY="0" tdiWidth="0" tdiHeight="0"
    readoutSpeedIndex="-1" exposureTimeMS="0" blackLevel="0" bitsPerPixel="14" readoutTapIndex="0"
    tapBalance="0" averageMode="0" averageNum="0" verticalFlip="0" horizontalFlip="0" imageAngle="0"
    isCSType="False" binIndex="-1" hotPixelLevelIndex="-1" frameRateControlEnabled="0"
    frameRateControlValue="0" OrcaFrameRateEnabled="0" OrcaFrameRateValue="0" CoolingModeIndex="-1"
    colorImageTypeIndex="0" polarImageTypeIndex="0" channel="0" isNirBoostEnabled="False"
    isEepEnabled="False" eepPulseWidth="0" isContinuousWhiteBalanceEnabled="False"
    continuousWhiteBalanceNumFrames="0" widthUM="0" heightUM="0" />
  <Magnification mag="16" indexOfRefraction="0" name="16X" />
  <Wavelengths nyquistExWavelengthNM="0" nyquistEmWavelengthNM="0">
    <Wavelength name="ChanA" exposureTimeMS="0" />
    <ChannelEnable Set="1" />
  </Wavelengths>
  <ZStage name="ThorDAQRemoteFocus" steps="16" stepSizeUM="1" startPos="0.001" zStreamFrames="1"
    zStreamMode="0" setupPositionMM="0.094" enable="1" zFileEnable="0" zFilePosScale="1"
    z2StageLock="0" z2StageMirror="0" />
  <Timelapse timepoints="3" intervalSec="0" triggerMode="0" />
  <Autofocus type="3" repeat="1" exposureTimeMS="1.0" stepSizeUM="0" startPosMM="1" stopPosMM="1" />
  <Comments text="" />
  <LSM name="ThorDAQ RGG" scanMode="0" areaMode="0" channel="1" fieldSize="160" pixelX="512"
    pixelY="512" offsetX="0" offsetY="0" averageMode="0" averageNum="5" clockSource="2"
    inputRange1="3" inputRange2="3" twoWayAlignment="0" extClockRate="79980060" inputRange3="3"
    inputRange4="3" flybackCycles="12" minimizeFlybackCycles="1" pixelSizeUM="0.884"
    horizontalFlip="0" verticalFlip="0" areaAngle="0" widthUM="452.7" heightUM="452.7"
    fineOffsetX="0" fineOffsetY="0" fineScaleX="0" fineScaleY="0" timeBasedLineScan="0"
    tbLineScanTimeMS="0" selectedImagingGG="0" selectedStimGG="0" ThreePhotonEnable="0"
    ThreePhotonFreq="0" ThreePhotonPhaseCoarse="0" ThreePhotonPhaseFine="0" NumberOfPlanes="1"
    FIR1ManualControlEnable="0" ThreePhotonDownsamplingRate="0" EnableDownsamplingRateChange="0"
    DDSEnable="0" DDSPhase0="0" DDSPhase1="0" DDSAmplitude0="0" DDSAmplitude1="0" polarity1="1"
    polarity2="0" polarity3="0" polarity4="0" interleave="0" dwellTime="0.05" frameRate="13.967"
    chan1DigOffset="6000" chan2DigOffset="0" chan3DigOffset="0" chan4DigOffset="0"
    pulseMultiplexing="0" externalClockPhaseOffset="80" fastOnewayGGEnable="0"
    lineAveragingEnable="0" lineAveragingNumber="0" ThreePhotonPhaseCoarse0="0"
    ThreePhotonPhaseCoarse1="0" ThreePhotonPhaseCoarse2="0" ThreePhotonPhaseCoarse3="0" />
  <PMT enableA="0" gainA="0" bandwidthAHz="0" enableB="0" gainB="0" bandwidthBHz="0" enableC="0"
    gainC="0" bandwidthCHz="0" enableD="0" gainD="0" bandwidthDHz="0" offsetAVolts="0"
    offsetBVolts="0" offsetCVolts="0" offsetDVolts="0" />
  <MCLS enable1="0" power1="0" enable2="0" power2="0" enable3="0" power3="0" enable4="0" power4="0"
    MainLaserSelection="0" allenable="0" allttl="0" allanalog="0" wavelength1="0" wavelength2="0"
    wavelength3="0" wavelength4="0" power1percent="0" power2percent="0" power3percent="0"
    power4percent="0" />
  <PinholeWheel position="-1" micrometers="0" adu="1.96" />
  <Pockels type="0" pockelsBlankPercentage="0" maskEnable="0" maskInvert="0" maskPath=""
    pockelsMinV="0" pockelsMaxV="5" start="37.83" stop="37.83" path="" />
  <Pockels type="0" pockelsBlankPercentage="0" pockelsMinV="0" pockelsMaxV="0" start="0" stop="0"
    path="" />
  <Pockels type="0" pockelsBlankPercentage="0" pockelsMinV="0" pockelsMaxV="0" start="0" stop="0"
    path="" />
  <Pockels type="0" pockelsBlankPercentage="0" pockelsMinV="0" pockelsMaxV="0" start="0" stop="0"
    path="" />
  <Streaming enable="1" frames="3" dmaFrames="64" rawData="0" triggerMode="1" storageMode="0"
    displayImage="1" zFastEnable="0" zFastMode="1" flybackFrames="1" flybackLines="130"
    flybackTimeAdjustMS="0" volumeTimeAdjustMS="0" stepTimeAdjustMS="0" previewIndex="1"
    stimulusTriggering="0" stimulusMaxFrames="0" displayRollingAveragePreview="0"
    useReferenceVoltageForFastZPockels="0" />
  <PowerRegulator enable="1" type="0" start="0" stop="0"
    path="C:\Users\User\Documents\ThorImageLS 5.0\Application Settings\powerramps\Exponential.txt"
    offset="0" sliderStepSize="1" />
  <PowerRegulator2 enable="1" type="0" start="0" stop="0"
    path="C:\Users\User\Documents\ThorImageLS 5.0\Application Settings\powerramps\Exponential.txt"
    offset="0" sliderStepSize="1" />
  <ImageCorrection enablePincushion="0" pinCoeff1="0" pinCoeff2="0" pinCoeff3="0"
    enableBackgroundSubtraction="0" pathBackgroundSubtraction="" enableFlatField="0"
    pathFlatField="" />
  <MultiPhotonLaser enable="1" pos="0" seqEnable="0" seqPos1="0" seqPos2="0" />
  <Photobleaching enable="0" laserPos="710" durationMS="5000" powerPos="30" bleachFrames="1"
    bleachTrigger="0" bleachPostTrigger="0" preBleachFrames="0" preBleachInterval="0"
    preBleachStream="0" postBleachFrames1="0" postBleachInterval1="0" postBleachStream1="0"
    postBleachFrames2="0" postBleachInterval2="0" postBleachStream2="0" rawOption="0"
    EnableSimultaneous="0" pmt1EnableDuringBleach="0" pmt2EnableDuringBleach="0"
    pmt3EnableDuringBleach="0" pmt4EnableDuringBleach="0" />
  <CaptureMode mode="1" />
  <DFLIM displayLifetimeImage="1" tauHigh0="3" tauLow0="1" lutHigh0="25" lutLow0="5" tZero0="0.8"
    tauHigh1="3" tauLow1="1" lutHigh1="25" lutLow1="5" tZero1="0.8" tauHigh2="3" tauLow2="1"
    lutHigh2="25" lutLow2="5" tZero2="0.8" tauHigh3="3" tauLow3="1" lutHigh3="25" lutLow3="5"
    tZero3="0.8" />
  <DigitalIO enable="0" digOut1="0" digOut2="0" digOut3="0" digOut4="0" digOut5="0" digOut6="0"
    digOut7="0" digOut8="0" trigType="0" trigMode="0" trigStartEdge="1" trigSteps="0" trigRepeat="0"
    trigStartIdleMS="0" trigDurationMS="0" trigIdleMS="0" trigIterations="0" powerPercents="0" />
  <EPITurret pos="0" name="0" />
  <SpectralFilter wavelengthStart="420" wavelengthStop="730" wavelengthStepSize="10" steps="32"
    controlMode="0" bandwidthMode="0"
    path="C:\Users\User\Documents\ThorImageLS 5.0\Application Settings\kurios\.txt" />
  <LAMP IsExternalTriggerTerm1="False" IsExternalTriggerTerm2="False" LampPosition1="0"
    LampPosition2="0" LampTerminal="0" led1enable="0" led1power="-0.1" led2enable="0"
    led2power="-0.1" led3enable="0" led3power="-0.1" led4enable="0" led4power="-0.1" led5enable="0"
    led5power="-0.1" led6enable="0" led6power="-0.1" displayTemperatures="False" mainPower="-0.1" />
  <LightPath GalvoGalvo="0" GalvoResonance="1" Camera="0" InvertedLightPathPos="-1" NDD="0" />
  <MiniCircuitsSwitch manualSwitchEnable="0" A1pos="0" B1pos="0" C1pos="0" D1pos="0" A2pos="0"
    B2pos="0" C2pos="0" D2pos="0" />
  <CaptureSequence enable="0" sequentialType="0">
  </CaptureSequence>
  <Histograms>
    <Histogram identifier="C0-P0" bp="13" wp="64" gamma="1.12" AutoSta="False" LogSta="True"
      AutoTopPercentile="0" AutoBottomPercentile="0" UnitSymbol="" NumGridLines="0" />
  </Histograms>
  <RStage pos="0" />
  <ZStage2 pos="0" />
  <Modality primaryDetectorType="1" detectorLSMType="2" name="Multiphoton" />
  <ExperimentStatus value="Complete" />
  <ExperimentNotes text="" />
  <RawData onlyEnabledChannels="1" />
  <RemoteFocus steps="1" startPlane="1" stepSize="1" IsRemoteFocus="1" captureMode="0"
    customSequenceEnabled="0" customSequence="" />
  <Sample homeOffsetX="0" homeOffsetY="0" homeOffsetZ="0" overlapX="0" overlapY="0" name=""
    type="Slide" width="0" height="0" row="0" column="0" diameter="0" centerToCenterX="0"
    centerToCenterY="0" topLeftCenterOffsetX="0" topLeftCenterOffsetY="0" WellShape="CircleWell"
    WellWidth="0" WellHeight="0" tiltAdjustment="0" fPt1XMM="0" fPt1YMM="0" fPt1ZMM="0" fPt2XMM="0"
    fPt2YMM="0" fPt2ZMM="0" fPt3XMM="0" fPt3YMM="0" fPt3ZMM="0" DisplayTileGrid="1"
    initialStageLocationX="0" initialStageLocationY="0" />
</ThorImageExperiment>"""

_LETTERS = "ABCD"


def _movie(*args, **kwargs) -> np.ndarray:
    from .movie import movie

    return movie(*args, **kwargs)


def thor_expected(num_samples: int, rows: int, columns: int, planes: int = 1, channel: int = 0) -> np.ndarray:
    """Channel ``channel`` (position in ``channels``) of what :func:`write_thor` writes: (T, Y, X[, Z]) uint16."""
    return _movie(num_samples, rows, columns, planes=planes if planes > 1 else None, dtype="uint16", channel=channel)


def _flyback(num_samples: int, rows: int, columns: int, flyback: int, channel: int) -> np.ndarray:
    """Flyback frames: (T, F, Y, X), never images of the acquisition."""
    base = _movie(num_samples, rows, columns, planes=flyback, dtype="uint16", channel=channel)
    return (65535 - base).transpose(0, 3, 1, 2)


def thor_experiment_xml(
    rows: int, columns: int, channels: Sequence[str] = ("ChanA",), frames: int = 10, frame_rate: float = 30.0,
    planes: int = 1, flyback: int = 0, average: int = 1, raw: bool = False, only_enabled_channels: bool = True,
    capture_mode: int = 1, timepoints: int | None = None, interval_s: float = 0.0, z_start_mm: float = 0.1,
    z_step_um: float = 5.0, pixel_size_um: float = 1.25, status: str = "Complete", stimulus: bool = False,
    remote_focus: bool = False, date: datetime = datetime(2024, 2, 29, 14, 5, 6), utc_offset_hours: int = -5,
    version: str = "5.0.2023.10041", laser_nm: int = 920,
) -> str:
    """The Experiment.xml text of a synthetic acquisition (the real sample's, with these values)."""
    root = ET.fromstring(REAL_EXPERIMENT_XML)

    def put(tag: str, **values) -> None:
        element = root.find(tag)
        for key, value in values.items():
            element.set(key, str(value))

    utime = int((date - datetime(1970, 1, 1)).total_seconds()) - utc_offset_hours * 3600
    put("Name", name="synthetic", path=r"D:\DATA\synthetic")
    put("Date", date=date.strftime("%m/%d/%Y %H:%M:%S"), uTime=utime)
    put("Software", version=version)
    wavelengths = root.find("Wavelengths")
    for element in list(wavelengths):
        wavelengths.remove(element)
    mask = 0
    for name in channels:
        ET.SubElement(wavelengths, "Wavelength", name=name, exposureTimeMS="0")
        mask |= 1 << _LETTERS.index(name[-1]) if name.startswith("Chan") and name[-1] in _LETTERS else 0
    ET.SubElement(wavelengths, "ChannelEnable", Set=str(mask))
    fast_z = capture_mode == 1 and planes > 1
    put("ZStage", steps=planes, stepSizeUM=z_step_um, startPos=z_start_mm, setupPositionMM=z_start_mm,
        enable=int(planes > 1))
    put("RemoteFocus", IsRemoteFocus=int(remote_focus), steps=planes)
    put("Timelapse", timepoints=timepoints if timepoints is not None else frames, intervalSec=interval_s)
    put("LSM", pixelX=columns, pixelY=rows, channel=mask, frameRate=frame_rate, averageMode=int(average > 1),
        averageNum=average, pixelSizeUM=pixel_size_um, widthUM=round(columns * pixel_size_um, 3),
        heightUM=round(rows * pixel_size_um, 3))
    put("Streaming", enable=int(capture_mode == 1), frames=frames, rawData=int(raw), zFastEnable=int(fast_z),
        flybackFrames=flyback, storageMode=int(stimulus))
    put("CaptureMode", mode=capture_mode)
    put("ExperimentStatus", value=status)
    put("RawData", onlyEnabledChannels=int(only_enabled_channels))
    put("MultiPhotonLaser", pos=laser_nm)
    ET.indent(root, "  ")
    return '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode")


def _tiff_data(names: list[list[str]], planes: int) -> list[str]:
    """Thor's TiffData blocks: every file of the series (``names[c][t * planes + z]``) by name."""
    blocks = []
    for c, files in enumerate(names):
        for k, name in enumerate(files):
            t, z = divmod(k, planes)
            blocks.append(f'<TiffData FirstT="{t}" FirstZ="{z}" FirstC="{c}"><UUID FileName="{name}">'
                          f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}</UUID></TiffData>")
    return blocks


def _ome_xml(blocks: list[str], channels: int, planes: int, samples: int, rows: int, columns: int,
             pixel_size_um: float, z_step_um: float, acquired: str) -> str:
    """Thor's OME-XML (2010-06 schema, XYCZT, ``Plane DeltaT="0"``) with the given TiffData blocks."""
    channel_xml = "".join(f'<Channel ID="Channel:0:{c}" SamplesPerPixel="1"><LightPath/></Channel>'
                          for c in range(channels))
    return (
        '<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2010-06" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.openmicroscopy.org/'
        'Schemas/OME/2010-06 http://www.openmicroscopy.org/Schemas/OME/2010-06/ome.xsd">'
        f'<Image ID="Image:0" AcquiredDate="{acquired}"><Pixels DimensionOrder="XYCZT" ID="Pixels:0" '
        f'PhysicalSizeX="{pixel_size_um}" PhysicalSizeY="{pixel_size_um}" PhysicalSizeZ="{z_step_um}" '
        f'SizeC="{channels}" SizeT="{samples}" SizeX="{columns}" SizeY="{rows}" SizeZ="{planes}" TimeIncrement="0" '
        f'Type="uint16">{channel_xml}<BinData BigEndian="false" Length = "0" '
        'xmlns="http://www.openmicroscopy.org/Schemas/BinaryFile/2010-06"/><Plane DeltaT="0" TheC="0" TheZ="0" '
        'TheT="0"/>' + "\n            ".join(blocks) + '</Pixels></Image><StructuredAnnotations '
        'xmlns="http://www.openmicroscopy.org/Schemas/SA/2010-06"/></OME>'
    )


def write_thor_tiff_frame(path: str | os.PathLike, image: np.ndarray, description: str,
                          pixel_size_um: float = 1.0) -> Path:
    """One uint16 frame as ThorImageLS writes it: header, pixels at byte 8, then the IFD and its values."""
    image = np.ascontiguousarray(image, dtype="<u2")
    rows, columns = image.shape
    data = image.tobytes()
    text = description.encode("utf-8") + b"\x00"
    ifd = 8 + len(data)
    entries = 15
    values = ifd + 2 + entries * 12 + 4
    text_at, resolution_at = values, values + len(text)
    per_cm = int(round(1e4 / pixel_size_um * 1000))
    tags = [(256, 3, 1, columns), (257, 3, 1, rows), (258, 3, 1, 16), (259, 3, 1, 1), (262, 3, 1, 1),
            (270, 2, len(text), text_at), (273, 4, 1, 8), (274, 3, 1, 1), (277, 3, 1, 1), (278, 3, 1, rows),
            (279, 4, 1, len(data)), (282, 5, 1, resolution_at), (283, 5, 1, resolution_at + 8), (284, 3, 1, 1),
            (296, 3, 1, 3)]
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd) + data + struct.pack("<H", entries))
    for tag, kind, count, value in tags:
        packed = struct.pack("<HI", value, 0) if kind == 3 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + packed[:4]
    out += struct.pack("<I", 0) + text + struct.pack("<IIII", per_cm, 1000, per_cm, 1000)
    path = Path(path)
    path.write_bytes(bytes(out))
    return path


def write_thor(
    folder: str | os.PathLike,
    num_samples: int = 6,
    rows: int = 24,
    columns: int = 20,
    channels: Sequence[str] = ("ChanA",),
    planes: int = 1,
    flyback: int = 0,
    storage: str = "tiff",
    frame_rate: float = 30.0,
    average: int = 1,
    only_enabled_channels: bool = True,
    digits: int = 3,
    ome: str = "all",
    timing: str | None = None,
    **xml_options,
) -> Path:
    """Write a ThorImageLS acquisition folder and return it.

    Parameters
    ----------
    folder : path
        Created if needed; the acquisition's files go straight into it.
    num_samples, rows, columns : int
        Samples (frames, or volumes when ``planes > 1``) and image size.
    channels : sequence of str
        The channels (``ChanA`` ... ``ChanD``); channel ``k`` holds ``thor_expected(..., channel=k)``.
    planes, flyback : int
        Planes of a fast-Z volume and the flyback frames after each (written only to a raw file).
    storage : {"tiff", "multipage", "raw"}
    only_enabled_channels : bool
        Raw only: False writes a slot for each of the 4 detector channels.
    digits : int
        Width of the numbers in the TIFF names (ThorImageLS's ``indexDigitCounts``; 3 or 4).
    ome : {"all", "first", "none"}
        Which TIFF files carry the OME-XML that lists every file (ThorImageLS: all). "first" keeps long
        synthetic series small on disk (the others get an OME-XML naming only themselves).
    timing : {"frames", "samples"} or None
        Also write ``timing.txt`` with one time per saved frame or per sample (1 / frame_rate apart, with a
        2 ms jitter pattern).
    **xml_options
        More :func:`thor_experiment_xml` settings (status, stimulus, capture_mode, remote_focus...).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    per_volume = planes + flyback
    frames = xml_options.pop("frames", num_samples * per_volume)
    pixel_size = xml_options.get("pixel_size_um", 1.25)
    z_step = xml_options.get("z_step_um", 5.0)
    text = thor_experiment_xml(rows, columns, channels, frames=frames, frame_rate=frame_rate, planes=planes,
                               flyback=flyback, average=average, raw=storage == "raw",
                               only_enabled_channels=only_enabled_channels, **xml_options)
    (folder / "Experiment.xml").write_text(text, encoding="utf-8")
    movies = [thor_expected(num_samples, rows, columns, planes, c) for c in range(len(channels))]
    if storage == "raw":
        _write_raw(folder, movies, channels, planes, flyback, only_enabled_channels)
    else:
        _write_tiffs(folder, movies, channels, planes, storage, digits, ome, pixel_size, z_step)
    if timing is not None:
        count = num_samples * (planes if storage != "raw" else per_volume) if timing == "frames" else num_samples
        step = 1.0 / frame_rate if timing == "frames" else per_volume / frame_rate
        times = np.arange(count) * step + 0.002 * (np.arange(count) % 3)
        (folder / "timing.txt").write_text("".join(f"{t:.6f}\n" for t in times))
    return folder


def _write_raw(folder: Path, movies: list[np.ndarray], channels: Sequence[str], planes: int, flyback: int,
               only_enabled: bool) -> None:
    samples, rows, columns = movies[0].shape[:3]
    slots = [_LETTERS.index(name[-1]) for name in channels] if not only_enabled else list(range(len(channels)))
    stored = 4 if not only_enabled else len(channels)
    with open(folder / "Image_0001_0001.raw", "wb") as fh:
        for t in range(samples):
            volume = np.zeros((planes + flyback, stored, rows, columns), dtype="<u2")
            for c, data in enumerate(movies):
                images = data[t] if planes == 1 else np.moveaxis(data[t], -1, 0)
                volume[:planes, slots[c]] = images.reshape(planes, rows, columns)
                if flyback:
                    volume[planes:, slots[c]] = _flyback(samples, rows, columns, flyback, c)[t]
            fh.write(volume.tobytes())


def _write_tiffs(folder: Path, movies: list[np.ndarray], channels: Sequence[str], planes: int, storage: str,
                 digits: int, ome: str, pixel_size: float, z_step: float) -> None:
    samples, rows, columns = movies[0].shape[:3]
    one = "1".zfill(digits)
    names = [[f"{name}_{one}_{one}_{z + 1:0{digits}d}_{t + 1:0{digits}d}.tif" for t in range(samples)
              for z in range(planes)] for name in channels]
    acquired = datetime(2024, 2, 29, 19, 5, 7, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000-00:00")
    if storage == "multipage":
        import tifffile

        for c, data in enumerate(movies):
            stack = data if planes == 1 else np.moveaxis(data, -1, 1).reshape(-1, rows, columns)
            block = f'<TiffData IFD="0" PlaneCount="{len(stack)}"/>'
            description = _ome_xml([block], 1, planes, samples, rows, columns, pixel_size, z_step, acquired)
            tifffile.imwrite(folder / names[c][0], stack, description=description, metadata=None, contiguous=True)
        return
    full = _ome_xml(_tiff_data(names, planes), len(channels), planes, samples, rows, columns, pixel_size, z_step,
                    acquired)
    for c, data in enumerate(movies):
        for t in range(samples):
            for z in range(planes):
                name = names[c][t * planes + z]
                if ome == "all" or (ome == "first" and t == z == 0):
                    description = full
                else:  # an OME-XML naming only this file
                    description = _ome_xml(_tiff_data([[name]], 1), 1, 1, 1, rows, columns, pixel_size, z_step,
                                           acquired)
                image = data[t] if planes == 1 else data[t, :, :, z]
                write_thor_tiff_frame(folder / name, image, description, pixel_size)


def _example(folder: Path) -> tuple[Path, dict]:
    return write_thor(folder / "thor_example", num_samples=50, rows=48, columns=64, channels=("ChanA", "ChanB")), {}


#: Built-in examples (see :data:`ophysio.examples.EXAMPLES`).
EXAMPLES = {"thor": _example}
