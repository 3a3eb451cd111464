"""DANDI-ready output: file naming and placement, the fields DANDI requires, ``dandiset.yaml``, upload.

DANDI names every NWB file after its subject and session::

    sub-<subject_id>/sub-<subject_id>_ses-<session_id>_ophys.nwb

ophysio chooses that name when it converts, so no ``dandi organize`` step is needed afterwards and the
session label is always there (``dandi organize`` leaves ``_ses-`` out when the files it sees hold a
single session, and a later session then lands under a different naming scheme). Labels are cleaned the
way the dandi tools clean them: each of ``_ * \\ / < > : | " ' ? % @ ; ,``, any whitespace and ``.``
becomes ``-`` (``_`` separates the ``key-value`` entities of the name, so it cannot appear in a label).

The upload half (:func:`upload_folder`) needs the ``dandi`` extra: ``pip install "ophysio[dandi]"``.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from ...errors import DandiUploadError, MetadataError

__all__ = [
    "sanitize_label",
    "dandi_filename",
    "dandi_relative_path",
    "DandiFieldProblem",
    "dandi_field_problems",
    "require_dandi_fields",
    "nwb_dandi_fields",
    "write_dandiset_yaml",
    "upload_folder",
    "DandiUploadError",
]

#: Characters the dandi tools replace by ``-`` in a subject or session label (``.`` included).
_LABEL_BAD = re.compile(r"[_*\\/<>:|\"'?%@;,\s.]")

#: The form DANDI's validator accepts for species: Latin binomial or an NCBI taxonomy IRI.
_SPECIES_FORM = re.compile(r"([A-Z][a-z]* [a-z]+)|(http://purl\.obolibrary\.org/obo/NCBITaxon_\d+)")
#: ISO 8601 duration (``P90D``, ``P12W``, ``P1Y2M``), the form DANDI wants for age; ranges are ``a/b``.
_DURATION = re.compile(
    r"P(?!$)(\d+(?:\.\d+)?Y)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?W)?(\d+(?:\.\d+)?D)?"
    r"(T(?=\d)(\d+(?:\.\d+)?H)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?S)?)?"
)
_SEXES = ("M", "F", "U", "O")

#: Instances: name -> (web address, API address, environment variable holding the API key).
DANDI_INSTANCES = {
    "dandi": ("https://dandiarchive.org", "https://api.dandiarchive.org/api", "DANDI_API_KEY"),
    "dandi-sandbox": (
        "https://sandbox.dandiarchive.org",
        "https://api.sandbox.dandiarchive.org/api",
        "DANDI_SANDBOX_API_KEY",
    ),
}


def sanitize_label(value: Any) -> str:
    """A subject or session label as the dandi tools write it into a file name.

    >>> sanitize_label("mouse_12.a b")
    'mouse-12-a-b'
    """
    text = str(value).strip()
    if not text:
        raise MetadataError("a DANDI label cannot be empty")
    return _LABEL_BAD.sub("-", text)


def dandi_filename(subject_id: Any, session_id: Any, modality: str = "ophys") -> str:
    """``sub-<subject>_ses-<session>_<modality>.nwb`` with both labels sanitised; the session is always in."""
    return f"sub-{sanitize_label(subject_id)}_ses-{sanitize_label(session_id)}_{modality}.nwb"


def dandi_relative_path(subject_id: Any, session_id: Any, modality: str = "ophys") -> PurePosixPath:
    """The path of a session's file inside a dandiset folder: ``sub-<subject>/<dandi_filename>``."""
    return PurePosixPath(f"sub-{sanitize_label(subject_id)}") / dandi_filename(subject_id, session_id, modality)


@dataclass(frozen=True)
class DandiFieldProblem:
    """One field DANDI requires that is missing or malformed."""

    field: str  #: dotted path in the metadata, e.g. ``Subject.species``
    message: str  #: what is wrong and what to put there

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _as_mapping(metadata: Any) -> Mapping[str, Any]:
    if metadata is None:
        return {}
    if hasattr(metadata, "model_dump"):  # a pydantic model
        return metadata.model_dump(exclude_none=True)
    if isinstance(metadata, Mapping):
        return metadata
    raise TypeError(f"metadata must be a mapping or a pydantic model, not {type(metadata).__name__}")


def _section(metadata: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = metadata.get(name)
    if value is None:
        return {}
    if hasattr(value, "model_dump"):
        return value.model_dump(exclude_none=True)
    return value if isinstance(value, Mapping) else {}


def dandi_field_problems(metadata: Any) -> list[DandiFieldProblem]:
    """What a session's metadata lacks for DANDI (empty list when it has everything).

    Checks, with the rules of DANDI's validator: ``Subject.subject_id`` (no slashes), ``Subject.species``
    (Latin binomial such as ``Mus musculus``, or an NCBI taxonomy IRI), ``Subject.sex`` (one of M, F, U,
    O), ``Subject.age`` (ISO 8601 duration such as ``P90D``, or a range ``P80D/P100D``) or
    ``Subject.date_of_birth``, and ``NWBFile.session_id`` (no slashes; ophysio names files after it).

    Parameters
    ----------
    metadata : mapping or pydantic model
        Nested metadata with ``NWBFile`` and ``Subject`` sections.
    """
    md = _as_mapping(metadata)
    subject = _section(md, "Subject")
    nwbfile = _section(md, "NWBFile")
    problems: list[DandiFieldProblem] = []

    def problem(field: str, message: str) -> None:
        problems.append(DandiFieldProblem(field, message))

    subject_id = subject.get("subject_id")
    if subject_id in (None, ""):
        problem("Subject.subject_id", "missing; give the animal's identifier (e.g. subject_id: M123)")
    elif "/" in str(subject_id):
        problem("Subject.subject_id", f"{subject_id!r} contains '/', which DANDI rejects")
    species = subject.get("species")
    if not species:
        problem("Subject.species", "missing; give the Latin binomial, e.g. species: Mus musculus")
    elif not _SPECIES_FORM.fullmatch(str(species)):
        problem(
            "Subject.species",
            f"{species!r} is not a Latin binomial ('Mus musculus') or an NCBI taxonomy IRI "
            "('http://purl.obolibrary.org/obo/NCBITaxon_10090')",
        )
    sex = subject.get("sex")
    if not sex:
        problem("Subject.sex", "missing; give one of M, F, U (unknown), O (other)")
    elif str(sex) not in _SEXES:
        problem("Subject.sex", f"{sex!r} is not one of M, F, U (unknown), O (other)")
    age = subject.get("age")
    if age in (None, "") and not subject.get("date_of_birth"):
        problem("Subject.age", "missing; give an ISO 8601 duration such as P90D (or Subject.date_of_birth)")
    elif age not in (None, ""):
        parts = str(age).split("/") if "/" in str(age) else [str(age)]
        valid = len(parts) <= 2 and any(parts) and all(not p or _DURATION.fullmatch(p) for p in parts)
        if not valid:
            problem("Subject.age", f"{age!r} is not an ISO 8601 duration such as P90D, P12W or a range P80D/P100D")
    session_id = nwbfile.get("session_id")
    if session_id in (None, ""):
        problem("NWBFile.session_id", "missing; ophysio names DANDI files after it (e.g. session_id: 2024-05-01-a)")
    elif "/" in str(session_id):
        problem("NWBFile.session_id", f"{session_id!r} contains '/', which DANDI rejects")
    return problems


def require_dandi_fields(metadata: Any, session: str | None = None) -> None:
    """Raise :class:`~ophysio.errors.MetadataError` naming the session and every field DANDI lacks."""
    problems = dandi_field_problems(metadata)
    if problems:
        where = f"session {session!r}" if session else "the metadata"
        lines = "\n".join(f"  {p}" for p in problems)
        raise MetadataError(f"{where} cannot go to DANDI yet:\n{lines}")


def _read_text(group: Any, name: str) -> str | None:
    if group is None or name not in group:
        return None
    value = group[name][()]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def nwb_dandi_fields(nwbfile_path: str | os.PathLike) -> dict[str, Any]:
    """The DANDI-relevant fields of an NWB (HDF5) file, read with h5py without building the pynwb tree.

    Returns a nested dict (``{"NWBFile": {...}, "Subject": {...}}``) that :func:`dandi_field_problems`
    accepts.
    """
    import h5py

    with h5py.File(nwbfile_path, "r") as f:
        general = f.get("general")
        subject = general.get("subject") if general is not None else None
        sub = {
            key: _read_text(subject, key) for key in ("subject_id", "species", "sex", "age", "date_of_birth")
        }
        return {
            "NWBFile": {"session_id": _read_text(general, "session_id")},
            "Subject": {k: v for k, v in sub.items() if v is not None},
        }


def write_dandiset_yaml(
    folder: str | os.PathLike,
    identifier: str,
    name: str = "ophysio conversion",
    description: str = "Optical physiology sessions converted with ophysio.",
    license: str = "spdx:CC-BY-4.0",
) -> Path:
    """Write a minimal ``dandiset.yaml`` so that ``dandi validate`` treats ``folder`` as a dandiset.

    ``dandi validate`` and ``dandi upload`` look for this file in the folder or a parent. The real one
    comes with ``dandi download https://dandiarchive.org/dandiset/<ID>/draft``; this minimal one is for
    validating before the dandiset exists.
    """
    from ruamel.yaml import YAML

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dandiset.yaml"
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    with open(path, "w", encoding="utf-8") as stream:
        yaml.dump(
            {"identifier": str(identifier), "name": name, "description": description, "license": [license]},
            stream,
        )
    return path


def _check_reachable(api_url: str, timeout: float = 5.0) -> None:
    host = urlparse(api_url).hostname or api_url
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            pass
    except OSError as exc:
        raise DandiUploadError(
            f"cannot reach {host} ({exc.__class__.__name__}: {exc}); nothing was uploaded. "
            "Check the network (or a proxy) and run the upload again: files already on the archive are skipped."
        ) from None


def upload_folder(
    folder: str | os.PathLike,
    dandiset_id: str,
    sandbox: bool = False,
    validate: bool = True,
    check_network: bool = True,
    jobs: int | None = None,
) -> Path:
    """Validate a folder of ophysio's DANDI-named NWB files and upload it to a dandiset.

    Steps, each of which stops the upload with a clear message before anything leaves the machine:
    the API key must be in ``DANDI_API_KEY`` (or ``DANDI_SANDBOX_API_KEY`` with ``sandbox=True``); every
    file must pass :func:`ophysio.conversion.batch.validate.validate_path`; the archive must be reachable.
    Then the dandiset's ``dandiset.yaml`` is downloaded into a staging folder, the files are placed there
    with dandi's ``organize`` (hard links or copies, session label kept), and dandi's ``upload`` sends
    them. dandi uploads file by file and skips files already on the archive, so running the same command
    again after an interruption completes the upload.

    Parameters
    ----------
    folder : path
        The output folder of :func:`ophysio.convert_sessions` (``sub-*/sub-*_ses-*_ophys.nwb``).
    dandiset_id : str
        Six-digit dandiset identifier, e.g. ``"000123"``.
    sandbox : bool
        Upload to the sandbox instance (for trying things out).
    validate : bool
        Validate first (default); refuse to upload on any error.
    check_network : bool
        Check that the archive answers before starting.
    jobs : int, optional
        Parallel uploads (dandi's ``jobs``).

    Returns
    -------
    pathlib.Path
        The staging dandiset folder that was uploaded.

    Raises
    ------
    DandiUploadError
        Missing key, failed validation, no network, or dandi reported a failure.
    """
    folder = Path(folder)
    instance = "dandi-sandbox" if sandbox else "dandi"
    _web, api_url, key_var = DANDI_INSTANCES[instance]
    if not re.fullmatch(r"\d{6}", str(dandiset_id)):
        raise DandiUploadError(f"dandiset id must be six digits such as 000123, got {dandiset_id!r}")
    from .validate import find_nwb_files

    nwb_files = find_nwb_files(folder) if folder.is_dir() else []  # hidden files and folders (staging) skipped
    if not nwb_files:
        raise DandiUploadError(f"no .nwb files under {folder}; nothing to upload")
    if not os.environ.get(key_var):
        raise DandiUploadError(
            f"set {key_var} to your API key for {instance} (from your account page on {_web}); nothing was uploaded"
        )
    try:
        import dandi  # noqa: F401
    except ImportError:
        raise DandiUploadError('uploading needs the dandi package: pip install "ophysio[dandi]"') from None
    if validate:
        from .validate import validate_path

        reports = validate_path(folder, dandi=False)
        failed = [r for r in reports if not r.ok]
        if failed:
            names = "\n".join(f"  {r.path}: {len(r.errors)} error(s), first: {r.errors[0]}" for r in failed)
            raise DandiUploadError(
                f"{len(failed)} of {len(reports)} files fail validation; nothing was uploaded "
                f"(run `ophysio validate {folder}` for the full report):\n{names}"
            )
    if check_network:
        _check_reachable(api_url)
    return _stage_and_upload(folder, nwb_files, dandiset_id, instance, jobs)


def _stage_and_upload(folder: Path, nwb_files: list[Path], dandiset_id: str, instance: str,
                      jobs: int | None) -> Path:  # pragma: no cover - needs the network and an account
    from dandi.download import DownloadExisting, download
    from dandi.organize import FileOperationMode, organize
    from dandi.upload import upload

    staging = folder / f".dandi-staging-{dandiset_id}"
    staging.mkdir(exist_ok=True)
    web = DANDI_INSTANCES[instance][0]
    try:
        download(f"{web}/dandiset/{dandiset_id}/draft", staging, get_metadata=True, get_assets=False,
                 existing=DownloadExisting.OVERWRITE)
        dandiset_path = staging / dandiset_id
        organize([str(p) for p in nwb_files], dandiset_path=str(dandiset_path), files_mode=FileOperationMode.HARDLINK,
                 required_fields=["session_id"])
        upload([dandiset_path], dandi_instance=instance, jobs=jobs)
    except Exception as exc:
        raise DandiUploadError(
            f"the upload to {instance} dandiset {dandiset_id} stopped: {exc.__class__.__name__}: {exc}. "
            "Files that finished are on the archive; run the same command again to upload the rest."
        ) from exc
    return dandiset_path
