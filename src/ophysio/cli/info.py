"""``ophysio formats`` and ``ophysio info``: the formats ophysio reads, and the facts of one recording."""

from __future__ import annotations

import argparse
import json
import tempfile
from typing import Any

import numpy as np

from .options import UsageError, parse_key_values

__all__ = ["describe", "register"]


def describe(extractor) -> dict[str, Any]:
    """The facts ``ophysio info`` prints, as a JSON-ready dict."""
    n = extractor.get_num_samples()
    # without a rate and without recorded times there are no times to show (only conversion needs them)
    known = extractor.get_sampling_frequency() is not None or extractor.has_recorded_times()
    times = extractor.get_timestamps() if known else None
    return {
        "format": extractor.format_id,
        "extractor": type(extractor).__name__,
        "files": extractor.get_file_paths(),
        "num_samples": n,
        "sample_shape": list(extractor.get_sample_shape()),
        "image_shape": list(extractor.get_image_shape()),
        "num_planes": extractor.get_num_planes(),
        "volumetric": extractor.is_volumetric,
        "dtype": str(extractor.dtype),
        "sampling_frequency_hz": extractor.get_sampling_frequency(),
        "channel_name": extractor.channel_name,
        "channel_names": extractor.get_channel_names(),
        "native_timestamps": extractor.get_native_timestamps() is not None,
        "first_time_s": float(times[0]) if n and times is not None else None,
        "last_time_s": float(times[-1]) if n and times is not None else None,
        "size_bytes": extractor.nbytes,
        **_roi_facts(extractor),
    }


def _roi_facts(extractor) -> dict[str, Any]:
    """The ROI read and the ROIs of the source, for ScanImage multi-ROI acquisitions only."""
    layout = extractor.get_roi_layout() if hasattr(extractor, "get_roi_layout") else []
    if len(layout) < 2:
        return {}
    canvas = extractor.get_canvas() if hasattr(extractor, "get_canvas") else None
    return {"roi_index": extractor.roi_index, "roi_name": extractor.roi_name,
            "roi_names": [roi["name"] for roi in layout], "roi_mode": None if canvas is None else canvas["roi_mode"]}


def _format_info(info: dict[str, Any]) -> str:
    shape = " x ".join(str(s) for s in info["sample_shape"])
    files = info["files"]
    lines = [
        f"format:      {info['format']} ({info['extractor']})",
        f"files:       {len(files)}" + (f" ({files[0]}{' ...' if len(files) > 1 else ''})" if files else ""),
        f"samples:     {info['num_samples']} of {shape} ({'volumes' if info['volumetric'] else 'frames'})",
        f"dtype:       {info['dtype']}",
        "rate:        " + (f"{info['sampling_frequency_hz']:.6g} Hz" if info["sampling_frequency_hz"] is not None
                             else "unknown (the source states none; conversion needs -O sampling_frequency=HZ)"),
        f"channel:     {info['channel_name']} (source channels: {', '.join(info['channel_names'])})",
        f"planes:      {info['num_planes']}",
    ]
    if "roi_names" in info:
        chosen = "pages as stored" if info["roi_index"] is None else f"{info['roi_name']} (index {info['roi_index']})"
        if info.get("roi_mode") == "stitch":
            chosen = "all, stitched by their scanfields"
        elif info.get("roi_mode") == "concat":
            chosen = "all, side by side in scan order"
        lines.append(f"roi:         {chosen} (source ROIs: {', '.join(info['roi_names'])})")
    if info["num_samples"] and info["first_time_s"] is not None:
        source = "recorded" if info["native_timestamps"] else "from the rate"
        lines.append(
            f"time span:   {info['first_time_s']:.6g} s to {info['last_time_s']:.6g} s ({source})"
        )
    lines.append(f"size:        {info['size_bytes'] / 1e6:.3f} MB")
    return "\n".join(lines)


def _cmd_formats(args: argparse.Namespace) -> int:
    from ..extractors.registry import FORMATS, SEGMENTATION_FORMATS

    segmentations = {s.id: s for s in SEGMENTATION_FORMATS}
    if args.json:
        entries = []
        for s in FORMATS:
            entry = {"id": s.id, "suffixes": list(s.suffixes), "description": s.description,
                     "detected_from_content": s.sniff is not None, "writer": s.writer, "kinds": ["imaging"]}
            if s.id in segmentations:
                entry["kinds"].append("segmentation")
                entry["segmentation_description"] = segmentations[s.id].description
            entries.append(entry)
        listed = {s.id for s in FORMATS}
        entries += [{"id": s.id, "suffixes": list(s.suffixes), "description": s.description,
                     "detected_from_content": s.sniff is not None, "writer": None, "kinds": ["segmentation"],
                     "segmentation_description": s.description} for s in SEGMENTATION_FORMATS if s.id not in listed]
        print(json.dumps(entries, indent=2))
        return 0
    width = max(len(spec.id) for spec in (*FORMATS, *SEGMENTATION_FORMATS))
    for spec in FORMATS:
        note = "" if spec.sniff is not None else "  [name it with --format]"
        note += f"  [write it with --to {spec.writer}]" if spec.writer else ""
        print(f"{spec.id:<{width}}  {', '.join(spec.suffixes):<28} {spec.description}{note}")
    if SEGMENTATION_FORMATS:
        print("\nsegmentations (ophysio info PATH, ophysio convert [MOVIE] --segmentation PATH):")
        for spec in SEGMENTATION_FORMATS:
            note = "" if spec.sniff is not None else "  [name it with --segmentation-format]"
            print(f"{spec.id:<{width}}  {', '.join(spec.suffixes):<28} {spec.description}{note}")
    return 0


def describe_segmentation(extractor) -> dict[str, Any]:
    """The facts ``ophysio info`` prints of a segmentation, as a JSON-ready dict."""
    rate = extractor.get_sampling_frequency()
    planes = extractor.get_roi_planes() if extractor.get_num_rois() else []
    return {
        "format": extractor.format_id,
        "extractor": type(extractor).__name__,
        "kind": "segmentation",
        "files": extractor.get_file_paths(),
        "num_rois": extractor.get_num_rois(),
        "rois_per_plane": [int(np.count_nonzero(np.asarray(planes) == p)) for p in range(extractor.get_num_planes())],
        "num_accepted": len(extractor.get_accepted_list()),
        "num_rejected": len(extractor.get_rejected_list()),
        "num_background_components": extractor.get_num_background_components(),
        "image_shape": list(extractor.get_image_shape()),
        "num_planes": extractor.get_num_planes(),
        "volumetric": extractor.is_volumetric,
        "num_samples": extractor.get_num_samples(),
        "sampling_frequency_hz": rate,
        "channel_name": extractor.channel_name,
        "channel_names": extractor.get_channel_names(),
        "traces": extractor.get_trace_names(),
        "images": sorted(extractor.get_images_dict()),
        "properties": extractor.get_property_keys(),
    }


def _format_segmentation(info: dict[str, Any]) -> str:
    files = info["files"]
    per_plane = info["rois_per_plane"]
    lines = [
        f"format:      {info['format']} ({info['extractor']}, segmentation)",
        f"files:       {len(files)}" + (f" ({files[0]}{' ...' if len(files) > 1 else ''})" if files else ""),
        f"ROIs:        {info['num_rois']}" + (f" ({', '.join(map(str, per_plane))} per plane)" if len(per_plane) > 1
                                               else "")
        + f"; {info['num_accepted']} accepted, {info['num_rejected']} rejected"
        + (f"; {info['num_background_components']} background components" if info["num_background_components"]
           else ""),
        f"field:       {' x '.join(str(s) for s in info['image_shape'])} pixels"
        + (f" x {info['num_planes']} planes" if info["volumetric"] else ""),
        f"samples:     {info['num_samples']}",
        "rate:        " + (f"{info['sampling_frequency_hz']:.6g} Hz" if info["sampling_frequency_hz"] is not None
                             else "unknown (the source states none; pass --segmentation-option sampling_frequency=HZ)"),
        f"channel:     {info['channel_name']} (source channels: {', '.join(info['channel_names'])})",
        f"traces:      {', '.join(info['traces']) or 'none'}",
        f"images:      {', '.join(info['images']) or 'none'}",
        f"properties:  {', '.join(info['properties']) or 'none'}",
    ]
    return "\n".join(lines)


def _info_segmentation(args: argparse.Namespace, path: str) -> int:
    from ..conversion.segmentation_interface import segmentation_interface_from_path

    options = parse_key_values(args.option)
    interface = segmentation_interface_from_path(path, args.format if args.segmentation else None, **options)
    try:
        streams = [describe_segmentation(extractor) for extractor in interface.extractors]
    finally:
        interface.close()
    if args.json:
        print(json.dumps({**streams[0], "streams": streams}, indent=2))
    else:
        print("\n\n".join(_format_segmentation(stream) for stream in streams))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from ..conversion.interfaces import interface_from_paths

    with tempfile.TemporaryDirectory(prefix="ophysio-example-") as tmp:
        kwargs: dict[str, Any] = {}
        if args.example:
            from ..examples import write_example

            path, kwargs = write_example(args.example, tmp)
            paths = [str(path)]
        elif args.paths:
            paths = args.paths
        else:
            raise UsageError("give a PATH or --example NAME")
        if len(paths) == 1 and (args.segmentation or (args.format is None and is_segmentation_source(paths[0]))):
            return _info_segmentation(args, paths[0])
        kwargs.update(parse_key_values(args.option))
        # through the format's interface: a multi-channel source gives one stream per channel
        interface = interface_from_paths(paths, format=args.format, **kwargs)
        try:
            streams = [describe(extractor) for extractor in interface.extractors]
        finally:
            interface.close()
    info = {**streams[0], "streams": streams}
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print("\n\n".join(_format_info(stream) for stream in streams))
    return 0


def is_segmentation_source(path: str) -> bool:
    """Whether a path is a segmentation with no movie beside it (a suite2p folder without data.bin...)."""
    from ..errors import OphysioError
    from ..extractors.registry import detect_format, resolve_source

    try:
        detect_format(path, "segmentation")
    except (OphysioError, OSError):
        return False
    try:
        spec, kwargs = resolve_source(path)
        spec.load_class()(**kwargs).close()
    except (OphysioError, OSError):
        return True
    return False


def register(sub) -> None:
    """Add ``formats`` and ``info`` to the ``ophysio`` parser."""
    p = sub.add_parser("formats", help="list the formats ophysio reads")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_formats)

    p = sub.add_parser("info", help="describe a recording: format, samples, shape, dtype, rate, channels")
    p.add_argument("paths", nargs="*", metavar="PATH", help="a file or folder, or the files of one series")
    p.add_argument("--format", help="format id (see `ophysio formats`); detected when omitted")
    p.add_argument("--example", help="describe a built-in synthetic example instead (e.g. numpy)")
    p.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE",
                   help="extractor keyword, e.g. -O channel_name=Channel 2 (VALUE parsed as JSON if it can be)")
    p.add_argument("--segmentation", action="store_true",
                   help="describe PATH as a segmentation (ROIs, traces, images); a segmentation without a movie "
                   "beside it (a suite2p folder without data.bin) is described as one without asking")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_info)
