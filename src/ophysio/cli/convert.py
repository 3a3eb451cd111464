"""``ophysio convert`` and ``ophysio metadata-template``.

``ophysio convert PATH [PATH...] -o OUT.nwb`` converts a recording to NWB (or, with ``--to FORMAT``, to
another file format); ``--segmentation FOLDER`` adds its segmentation (suite2p...) to the same NWB file, or
writes it alone without PATH; ``ophysio convert --example scanimage -o example.nwb`` writes a small built-in
synthetic session and converts it. ``ophysio metadata-template PATH`` prints a YAML file with what the
source gives filled in and what the user must add marked ``REQUIRED``.
"""

from __future__ import annotations

import argparse
import errno
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .options import UsageError, parse_key_values

__all__ = ["register", "cmd_convert", "cmd_metadata_template", "metadata_template", "EXAMPLE_METADATA"]

#: Metadata of the built-in examples (a made-up demo session; never used for user data).
EXAMPLE_METADATA: dict[str, Any] = {
    "NWBFile": {
        "session_description": "ophysio built-in example: a small synthetic recording (not real data)",
        "experimenter": ["Example, Experimenter"],
        "lab": "Example lab",
        "institution": "Example institution",
        "experiment_description": "Synthetic data written by ophysio.examples to demonstrate conversion.",
        "keywords": ["example", "synthetic"],
    },
    "Subject": {"subject_id": "example-mouse", "species": "Mus musculus", "sex": "U", "age": "P90D",
                "description": "fictitious subject of the built-in example"},
}
_EXAMPLE_PLANE = {"excitation_lambda": 920.0, "indicator": "GCaMP6f", "location": "VISp"}
_EXAMPLE_EMISSION = 510.0




def _example_metadata(interface) -> dict:
    """Complete demo metadata for a built-in example: its defaults plus the demo values above."""
    from ..conversion.metadata import merge_metadata

    defaults = interface.get_metadata()
    planes = defaults["Ophys"]["ImagingPlane"]
    for plane in planes:
        plane.update(_EXAMPLE_PLANE)
        for channel in plane["optical_channel"]:
            channel["emission_lambda"] = _EXAMPLE_EMISSION
    meta = merge_metadata(EXAMPLE_METADATA, {"Ophys": {"ImagingPlane": planes}})
    if "session_start_time" not in defaults.get("NWBFile", {}):
        meta["NWBFile"]["session_start_time"] = "2024-01-01T12:00:00+00:00"
    return meta


def _open_segmentation(args: argparse.Namespace, example: Any = None):
    """The segmentation interface of ``--segmentation PATH`` (None without it); a bare ``--segmentation``
    with ``--example`` is the example's own segmentation."""
    path = getattr(args, "segmentation", None)
    if not path:
        return None
    if path is True:
        if example is None:
            raise UsageError("--segmentation needs a PATH (without one, it names the segmentation of --example)")
        path = example[0]
    from ..conversion.segmentation_interface import segmentation_interface_from_path

    options = parse_key_values(getattr(args, "segmentation_option", []), "--segmentation-option")
    if getattr(args, "split_planes", False):
        options["split_planes"] = True
    return segmentation_interface_from_path(path, getattr(args, "segmentation_format", None), **options)


def _open_source(args: argparse.Namespace, folder: str):
    """What ``convert`` writes: the movie's interface, the segmentation's, or a converter holding both. A lone
    PATH that is a segmentation with no movie (a CaImAn file, a cell set, a suite2p folder without data.bin)
    converts as ``--segmentation PATH`` would, as ``ophysio info`` describes it."""
    from .info import is_segmentation_source

    if not getattr(args, "segmentation", None) and not args.example and args.format is None \
            and len(args.paths) == 1 and is_segmentation_source(args.paths[0]):
        args.segmentation, args.paths = args.paths[0], []
    if not getattr(args, "segmentation", None):
        return _open_interface(args, folder)
    example = None
    if args.example:
        from ..examples import write_example

        example = write_example(args.example, folder)
    segmentation = _open_segmentation(args, example)
    if not args.paths and not args.example:
        return segmentation
    from ..conversion.converter import NWBConverter

    try:
        movie = _open_interface(args, folder, example)
    except BaseException:
        segmentation.close()
        raise
    return NWBConverter({"Imaging": movie, "Segmentation": segmentation})


def _open_interface(args: argparse.Namespace, folder: str, example: Any = None):
    from ..conversion.interfaces import interface_from_paths

    options = parse_key_values(args.option)
    if getattr(args, "channel", None):
        options["channel_name"] = args.channel
    kind = _series_type(args)
    split = getattr(args, "split_planes", False)
    if args.example:
        from ..examples import write_example

        path, keywords = example if example is not None else write_example(args.example, folder)
        keywords = {**keywords, **options}
        return interface_from_paths([str(path)], args.format, split_planes=split, photon_series_type=kind,
                                    **keywords)
    if not args.paths:
        raise UsageError("give a PATH or --example NAME")
    return interface_from_paths(args.paths, args.format, split_planes=split, photon_series_type=kind, **options)


def _series_type(args: argparse.Namespace) -> str | None:
    """The NWB type ``--one-photon`` / ``--two-photon`` ask for; None leaves the format's default."""
    one, two = getattr(args, "one_photon", False), getattr(args, "two_photon", False)
    if one and two:
        raise UsageError("--one-photon and --two-photon contradict each other; give one of them")
    return "OnePhotonSeries" if one else "TwoPhotonSeries" if two else None


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert to NWB (default) or, with ``--to``, to another format."""
    from ..conversion.metadata import load_metadata, merge_metadata

    output = Path(args.output)
    args.to = args.to or _format_from_suffix(args, output)
    with tempfile.TemporaryDirectory(prefix="ophysio-example-") as folder:
        if args.to:
            if getattr(args, "segmentation", None):
                raise UsageError(f"--segmentation is for NWB output, but {output.name} names a {args.to} file")
            return _convert_to(args, folder, output)
        user: dict = {}
        for path in args.metadata:
            loaded = load_metadata(path)
            _check_series_type(args, loaded, path)
            user = merge_metadata(user, loaded)
        interface = _open_source(args, folder)
        with interface:
            metadata: dict = _example_metadata(interface) if args.example else {}
            timezone = args.timezone or ("UTC" if args.example else None)
            metadata = merge_metadata(metadata, user)
            started = time.perf_counter()
            movie = _movie_interface(interface)
            progress = None if args.no_progress or movie is None else _progress_for(movie, output, args.split_planes)
            try:
                interface.run_conversion(
                    output, metadata=metadata, overwrite=args.overwrite, append=args.append, stub_test=args.stub,
                    stub_samples=args.stub_samples, compression=args.compression, max_workers=args.threads,
                    progress=False, progress_callback=progress, timezone=timezone, dandi=not args.no_dandi,
                    backend=args.backend,
                )
            finally:
                if progress is not None:
                    progress.close()
            seconds = time.perf_counter() - started
            what = _written(interface)
    size = _output_size(output)
    print(f"wrote {output} ({what}, {size / 1e6:.1f} MB) in {seconds:.1f} s")
    return 0


def _movie_interface(interface):
    """The imaging interface of what ``convert`` writes (None for a segmentation alone)."""
    from ..conversion.interfaces import ImagingInterface

    if isinstance(interface, ImagingInterface):
        return interface
    return next((i for i in getattr(interface, "interfaces", {}).values() if isinstance(i, ImagingInterface)), None)


def _written(interface) -> str:
    """``N photon series`` (and ``M PlaneSegmentations``) that a conversion writes."""
    from ..conversion.segmentation_interface import SegmentationInterface

    parts = getattr(interface, "interfaces", {"": interface}).values()
    series = sum(len(i.streams()) for i in parts if not isinstance(i, SegmentationInterface))
    tables = sum(i.counts()["PlaneSegmentation"] for i in parts if isinstance(i, SegmentationInterface))
    text = f"{series} photon series" if series or not tables else ""
    if tables:
        text += (", " if text else "") + f"{tables} PlaneSegmentation{'s' if tables > 1 else ''}"
    return text


def _progress_for(interface, output: Path, split_planes: bool):
    """One bar (or log lines) for every photon series the conversion writes, counted in bytes."""
    from .progress import ConversionProgress

    per_sample = [ex.nbytes / max(ex.get_num_samples() * (ex.get_num_planes() if split_planes else 1), 1)
                  for ex in interface.extractors]
    return ConversionProgress(f"writing {output.name}", sum(per_sample) / max(len(per_sample), 1))


def _format_from_suffix(args: argparse.Namespace, output: Path) -> str | None:
    """The writer an output's name asks for (None: NWB), so that ``-o x.tif`` never writes NWB into x.tif."""
    from ..conversion.writers import guess_writer_format
    from ..errors import UnknownFormatError

    name = output.name.lower()
    if name.endswith((".nwb", ".nwb.zarr")) or args.append or (args.backend == "zarr" and name.endswith(".zarr")):
        return None
    try:
        to = guess_writer_format(output)
    except UnknownFormatError:
        raise UsageError(
            f"cannot tell the output format of {output}: name it .nwb (NWB; .nwb.zarr with --backend zarr), "
            ".tif/.tiff, .ome.tif, .h5, .mat, .zarr or .mkv/.avi/.mp4 (video), or pass --to FORMAT"
        ) from None
    if args.metadata:
        raise UsageError(f"--metadata is for NWB output, but {output.name} names a {to} file; name the output "
                         ".nwb, or drop --metadata")
    return to


def _check_series_type(args: argparse.Namespace, metadata: dict, path: str) -> None:
    """``--one-photon`` against a metadata file that states the series are two-photon: an error naming both."""
    if not getattr(args, "one_photon", False):
        return
    for i, series in enumerate((metadata.get("Ophys") or {}).get("PhotonSeries") or []):
        if isinstance(series, dict) and series.get("type") == "TwoPhotonSeries":
            raise UsageError(
                f"--one-photon contradicts {path}: its Ophys.PhotonSeries[{i}] ({series.get('name', 'unnamed')}) "
                "has type: TwoPhotonSeries (a template made without --one-photon says so); set type: "
                "OnePhotonSeries there (or remake it with `ophysio metadata-template --one-photon`), or drop "
                "--one-photon"
            )


def _convert_to(args: argparse.Namespace, folder: str, output: Path) -> int:
    from ..conversion.interfaces import interface_from_paths
    from ..conversion.writers import write_imaging

    options = parse_key_values(args.option)
    if args.channel:
        options["channel_name"] = args.channel
    if args.example:
        from ..examples import write_example

        path, keywords = write_example(args.example, folder)
        paths: Any = [str(path)]
        options = {**keywords, **options}
    elif args.paths:
        paths = args.paths
    else:
        raise UsageError("give a PATH or --example NAME")
    writer_options = parse_key_values(args.writer_option, "--writer-option")
    # through the format's interface, so that a multi-channel source writes every channel
    interface = interface_from_paths(paths, args.format, **options)
    extractors = interface.extractors
    source = extractors[0] if len(extractors) == 1 else {ex.channel_name: ex for ex in extractors}
    started = time.perf_counter()
    progress = None
    try:
        first = extractors[0]
        stub = args.stub_samples or max(100, *first.get_sample_shape())
        samples = (0, min(stub, first.get_num_samples())) if args.stub else None
        if not args.no_progress:  # the same one bar (or log lines) as an NWB conversion, over every channel
            from .progress import ConversionProgress

            progress = ConversionProgress(f"writing {output.name}", sum(
                ex.nbytes / max(ex.get_num_samples(), 1) for ex in extractors))
        write_imaging(source, output, format=args.to, overwrite=args.overwrite, samples=samples,
                      callback=progress, **writer_options)
    finally:
        if progress is not None:
            progress.close()
        interface.close()
    channels = f", {len(extractors)} channels" if len(extractors) > 1 else ""
    print(f"wrote {output} ({args.to}{channels}) in {time.perf_counter() - started:.1f} s")
    return 0


def metadata_template(interface) -> str:
    """YAML text of the metadata: the source's defaults filled in, values to add marked ``REQUIRED``."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    from ..conversion.metadata import Metadata, NWBFileMetadata

    meta = Metadata.from_dict(interface.get_metadata())
    data = meta.to_dict()
    data.setdefault("Subject", {})
    missing = meta.missing(dandi=True)

    def commented(value: Any) -> Any:
        if isinstance(value, dict):
            out = CommentedMap()
            for key, item in value.items():
                out[key] = commented(item)
            return out
        if isinstance(value, list):
            return [commented(v) for v in value]
        return value

    root = commented(data)
    asked = set()
    for problem in missing:
        path, _, description = problem.partition(": ")
        path = path.split(" (")[0]
        asked.add(path)
        _mark_required(root, path, description)
    # what DANDI needs beyond a valid NWB file (what `ophysio preview` flags): an empty entry to fill in
    from ..conversion.batch.dandi import dandi_field_problems

    for problem in dandi_field_problems(data):
        if problem.field in asked or not problem.message.startswith("missing; "):
            continue
        section, _, field = problem.field.partition(".")
        model = getattr(meta, section)
        description = type(model).model_fields[field].description if model is not None else None
        advice = problem.message.removeprefix("missing; ")
        if description:
            advice = f"{description.rstrip('.')}; required by DANDI: {advice}"
        _mark_required(root, problem.field, advice)
    start = meta.NWBFile.session_start_time
    if start is not None and start.tzinfo is not None:
        root["NWBFile"].yaml_add_eol_comment(NWBFileMetadata.model_fields["session_start_time"].description,
                                             "session_start_time")
    yaml = YAML(typ="rt")
    yaml.width = 4096
    stream = io.StringIO()
    stream.write("# ophysio metadata: fill in the REQUIRED values, then\n"
                 "#   ophysio convert PATH -o OUT.nwb --metadata THIS_FILE.yaml [--timezone ZONE]\n"
                 "# Entries of Ophys lists merge into the source's entry of the same name; what you delete\n"
                 "# here, the source still gives.\n")
    yaml.dump(root, stream)
    return stream.getvalue()


def _mark_required(root: Any, path: str, description: str) -> None:
    """An entry ``path`` (``NWBFile.session_id``, ``Ophys.ImagingPlane[0].indicator``) of the template, empty
    when the source gives no value, with ``# REQUIRED: description`` after it."""
    from ruamel.yaml.comments import CommentedMap

    node: Any = root
    parts = path.replace("[", ".[").split(".")
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node.setdefault(part, CommentedMap())
    key = parts[-1]
    if key not in node:
        node[key] = None
    node.yaml_add_eol_comment(f"REQUIRED: {description}", key)


def cmd_metadata_template(args: argparse.Namespace) -> int:
    """Print (or write with ``-o``) the metadata template of a source."""
    with tempfile.TemporaryDirectory(prefix="ophysio-example-") as folder:
        interface = _open_source(args, folder)
        with interface:
            text = metadata_template(interface)
    if args.output:
        from ..conversion._atomic import atomic_output

        output = Path(args.output)
        if output.is_dir():  # never replace a folder (not even one ophysio wrote) with a template
            raise IsADirectoryError(errno.EISDIR, "is a folder; give a file name for the template", str(output))
        with atomic_output(output, overwrite=True) as temp:  # a failed write leaves the old file, no half one
            temp.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _add_source_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="a file or folder, or the files of one series")
    p.add_argument("--format", help="format id of the source (see `ophysio formats`); detected when omitted")
    p.add_argument("--example", metavar="NAME", help="use a built-in synthetic example (e.g. scanimage, numpy)")
    p.add_argument("--channel", metavar="NAME", help="convert only this channel (default: every channel)")
    p.add_argument("--split-planes", action="store_true", help="one photon series per plane of a volume")
    p.add_argument("--one-photon", action="store_true",
                   help="write OnePhotonSeries (widefield, miniscope; the default of miniscope and video formats)")
    p.add_argument("--two-photon", action="store_true",
                   help="write TwoPhotonSeries (the default of laser-scanning formats)")
    p.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE",
                   help="extractor keyword, e.g. -O sampling_frequency=30 (VALUE parsed as JSON if it can be)")
    p.add_argument("--segmentation", metavar="PATH", nargs="?", const=True,
                   help="a segmentation (e.g. a suite2p folder) to write too: its ROIs, traces and images go into the "
                   "ophys processing module, linked to the movie's imaging planes (PATH alone: the segmentation only; "
                   "no PATH with --example: the example's own, e.g. --example suite2p_session --segmentation)")
    p.add_argument("--segmentation-format", metavar="ID",
                   help="format id of the segmentation (see `ophysio formats`); detected when omitted")
    p.add_argument("--segmentation-option", action="append", default=[], metavar="KEY=VALUE",
                   help="segmentation extractor keyword, e.g. --segmentation-option plane_name=plane0")


def _output_size(path: Path) -> int:
    """Bytes of an output file, or of every file in an output folder (an NWB-Zarr store)."""
    if not path.is_dir():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _compression_argument(text: str) -> str:
    """``--compression`` checked when parsed (a bad value is a usage error, not a traceback)."""
    from ..conversion.nwb import Compression

    try:
        Compression.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def register(subparsers) -> None:
    """Add ``convert`` and ``metadata-template`` to the ``ophysio`` sub-command parsers."""
    p = subparsers.add_parser("convert", help="convert a recording to NWB (or, with --to, another format)")
    _add_source_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file: .nwb (NWB), or .tif/.tiff, .ome.tif, .h5, .mat, .zarr, .mkv/.avi/.mp4 (that "
                        "format, as --to)")
    p.add_argument("--metadata", action="append", default=[], metavar="META.yaml",
                   help="metadata file(s) (YAML or JSON), merged in order over the source's defaults")
    p.add_argument("--timezone", metavar="ZONE",
                   help="time zone of a start time recorded without one, e.g. Europe/Berlin or +02:00")
    p.add_argument("--stub", action="store_true", help="write only the first samples (a quick test)")
    p.add_argument("--stub-samples", type=int, metavar="N",
                   help="samples written by --stub (default: 100, or the longest image side if larger)")
    p.add_argument("--compression", default="gzip", metavar="C", type=_compression_argument,
                   help="gzip (default: shuffle + fast deflate on all cores), gzip:LEVEL (0-9), lzf, zstd[:LEVEL], "
                   "blosc[:CNAME[:LEVEL]] (zstd/blosc: pip install 'ophysio[hdf5plugin]'; one core) or none")
    p.add_argument("--threads", type=int, metavar="N", help="compression threads (default: all cores)")
    p.add_argument("--backend", choices=("hdf5", "zarr"), default="hdf5",
                   help="hdf5 (default: an NWB HDF5 file) or zarr (an NWB-Zarr folder, e.g. OUT.nwb.zarr; "
                   "pip install 'ophysio[nwb-zarr]')")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--append", action="store_true", help="add the photon series to an existing NWB file")
    p.add_argument("--no-dandi", action="store_true", help="do not require the subject fields DANDI needs")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress (a bar on a terminal, else a line per tenth written on stdout)")
    p.add_argument("--to", metavar="FORMAT",
                   choices=("tiff", "ome_tiff", "ome-tiff", "hdf5", "mat", "suite2p", "zarr", "video"),
                   help="write this format instead of NWB: tiff, ome_tiff (or ome-tiff), hdf5, mat, suite2p, zarr or "
                        "video (.mkv/.avi: lossless FFV1; .mp4/.mov: H.264 quick look)")
    p.add_argument("--writer-option", "-W", action="append", default=[], metavar="KEY=VALUE",
                   help="with --to: a keyword of ophysio.write_imaging or its format writer, e.g. "
                        "-W compression=zstd -W compression_level=10 (VALUE parsed as JSON if it can be)")
    p.set_defaults(func=cmd_convert)

    p = subparsers.add_parser("metadata-template",
                              help="print a metadata YAML file: what the source gives, and what to add")
    _add_source_arguments(p)
    p.add_argument("-o", "--output", metavar="META.yaml", help="write the template here instead of printing it")
    p.set_defaults(func=cmd_metadata_template)
