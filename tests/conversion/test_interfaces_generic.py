"""One generic interface: conversion maps acquisition facts to NWB with no per-format code."""

import ast
from pathlib import Path

import numpy as np
import pytest

import ophysio.conversion
from ophysio.conversion import interfaces
from ophysio.conversion.interfaces import ImagingInterface, interface_for_extractor, interface_for_format
from ophysio.extractors import FORMATS, NumpyImagingExtractor
from ophysio.extractors.facts import AcquisitionFacts, StreamRoi

CONVERSION = Path(ophysio.conversion.__file__).parent
FORMAT_IDS = {spec.id for spec in FORMATS}


def _modules():
    return sorted(p for p in CONVERSION.rglob("*.py") if "writers" not in p.parts)


def test_interfaces_module_defines_no_subclass_per_format():
    tree = ast.parse((CONVERSION / "interfaces.py").read_text())
    classes = [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    assert classes == ["ImagingInterface"]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(CONVERSION)))
def test_conversion_names_no_format_id_nor_format_module(path):
    """No string constant is a format id, no import reaches into a format package (writers excepted: a
    writer is a format's by nature). "hdf5" and "zarr" are also the names of the NWB backends, so they may
    appear."""
    tree = ast.parse(path.read_text())
    ids = FORMAT_IDS - {"hdf5", "zarr"}
    named = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value in ids}
    assert not named, f"{path.name} names formats {sorted(named)}"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and "extractors" in node.module.split("."):
            parts = node.module.split(".")
            assert not FORMAT_IDS & set(parts), f"{path.name} imports {node.module}"
        if isinstance(node, ast.Compare):  # e.g. ex.format_id == "hdf5"
            sides = [node.left, *node.comparators]
            assert not any(isinstance(side, ast.Attribute) and side.attr == "format_id" for side in sides) or not any(
                isinstance(side, ast.Constant) and isinstance(side.value, str) for side in sides), \
                f"{path.name} compares a format id"


def test_bound_classes_come_from_the_registry():
    names = {"ScanImageImagingInterface": "scanimage", "ScanImageLegacyImagingInterface": "scanimage_legacy",
             "OMETiffImagingInterface": "ome_tiff", "TiffImagingInterface": "tiff", "Hdf5ImagingInterface": "hdf5",
             "MatImagingInterface": "mat", "Suite2pImagingInterface": "suite2p", "BinaryImagingInterface": "binary",
             "NumpyImagingInterface": "numpy"}
    for name, format_id in names.items():
        cls = getattr(interfaces, name)
        assert cls is interface_for_format(format_id) and cls.__name__ == name and cls.format_id == format_id
        assert issubclass(cls, ImagingInterface) and name in interfaces.__all__
    with pytest.raises(TypeError):
        ImagingInterface()


class _Recorded(NumpyImagingExtractor):
    """An in-memory stream whose facts say everything a format could."""

    def get_acquisition_facts(self):
        return super().get_acquisition_facts().replace(
            device_name="Rig 2", device_description="two-photon rig", manufacturer="Acme",
            excitation_wavelength_nm=920.0, emission_wavelengths_nm=(510.0,), pixel_size_um=(2.0, 1.0),
            plane_spacing_um=None, origin_um=(10.0, 20.0, 30.0), field_of_view_um=(8.0, 5.0), line_rate_hz=4000.0,
            reference_frame="stage", plane_depths_um=(30.0,), roi=StreamRoi(index=1, name="left", count=2,
                                                                             time_offset_s=0.002))


def test_every_fact_maps_to_its_nwb_field():
    ex = _Recorded(np.zeros((3, 4, 5), "uint16"), sampling_frequency=5.0)
    meta = interface_for_extractor(ex).get_metadata()
    (device,) = meta["Ophys"]["Device"]
    assert device == {"name": "Rig 2", "description": "two-photon rig", "manufacturer": "Acme"}
    (plane,) = meta["Ophys"]["ImagingPlane"]
    assert plane["device"] == "Rig 2" and plane["excitation_lambda"] == 920.0
    assert plane["optical_channel"][0]["emission_lambda"] == 510.0
    assert plane["grid_spacing"] == [1e-6, 2e-6]  # NWB's x, y order: columns, then rows
    assert plane["origin_coords"] == [20e-6, 10e-6, 30e-6] and plane["reference_frame"] == "stage"
    assert "ROI 'left' (index 1)" in plane["description"]
    (series,) = meta["Ophys"]["PhotonSeries"]
    assert series["field_of_view"] == [5e-6, 8e-6] and series["scan_line_rate"] == 4000.0
    assert "scanned 2.000 ms later" in series["description"]
    assert AcquisitionFacts().replace() == AcquisitionFacts()
