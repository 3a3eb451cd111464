"""Decoding one Zarr chunk: v2 compressor and filters, v3 codec chains, data types and fill values.

The codecs come from the store's metadata, which is untrusted: only decoders that turn bytes into
bytes or numbers are used (numcodecs' blosc, zstd, gzip, zlib, bz2, lzma, lz4, shuffle, delta, the
checksums, and the variable-length text and bytes of hdmf-zarr's string datasets). ``pickle`` and the
other object codecs are refused (reading must never run code the file brings). Anything else is a
:class:`~ophysio.errors.FormatError` naming the codec.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...errors import CorruptFileError, FormatError, MissingDependencyError

__all__ = ["V2_CODECS", "v2_codec", "v3_dtype", "fill_value", "V3Chain", "decode_v2", "numcodecs_module"]

#: numcodecs ids a Zarr v2 array may name (as compressor or filter).
V2_CODECS = frozenset({"blosc", "zstd", "gzip", "zlib", "bz2", "lzma", "lz4", "shuffle", "delta", "crc32", "crc32c",
                       "adler32", "fletcher32", "vlen-utf8", "vlen-bytes"})
_V3_BYTES_CODECS = {"gzip", "zstd", "blosc", "crc32c"}
_V3_TYPES = {"bool": "?", "int8": "i1", "int16": "i2", "int32": "i4", "int64": "i8", "uint8": "u1", "uint16": "u2",
             "uint32": "u4", "uint64": "u8", "float16": "f2", "float32": "f4", "float64": "f8", "complex64": "c8",
             "complex128": "c16"}
#: Largest decoded chunk ophysio accepts (a damaged chunk shape must not allocate without bound).
MAX_CHUNK_BYTES = 2 * 1024**3


def numcodecs_module():
    try:
        import numcodecs
    except ImportError:
        raise MissingDependencyError("reading Zarr needs numcodecs: pip install 'ophysio[zarr]'") from None
    return numcodecs


def v2_codec(config: Any, where: str):
    """The numcodecs codec a v2 array's metadata names (only the allowed ones)."""
    if not isinstance(config, dict) or not isinstance(config.get("id"), str):
        raise FormatError(f"{where}: codec {config!r} is not a codec description")
    if config["id"] not in V2_CODECS:
        raise FormatError(f"{where}: codec {config['id']!r} is not one ophysio decodes (known: "
                          f"{', '.join(sorted(V2_CODECS))})")
    numcodecs = numcodecs_module()
    try:
        return numcodecs.get_codec(dict(config))
    except (TypeError, ValueError, KeyError) as exc:
        raise FormatError(f"{where}: codec {config!r} cannot be set up ({exc})") from exc


def chunk_bytes_checked(shape: tuple[int, ...], itemsize: int, where: str) -> int:
    nbytes = math.prod(shape) * itemsize
    if nbytes > MAX_CHUNK_BYTES:
        raise FormatError(f"{where}: a chunk of {'x'.join(map(str, shape))} elements of {itemsize} bytes is larger "
                          f"than {MAX_CHUNK_BYTES >> 30} GiB; the metadata is damaged")
    return nbytes


def bounded_decode(codec, data, limit: int):
    """``codec.decode(data)`` giving at most ``limit`` bytes: a chunk that would decompress to more (a damaged or
    hostile one, a "zip bomb") is refused before it fills the memory. gzip, zlib, bz2 and lzma are inflated
    here with a bound; zstd and blosc into a buffer of ``limit`` bytes; lz4's size header is checked first."""
    import bz2
    import lzma
    import zlib

    name = getattr(codec, "codec_id", "")
    raw = bytes(memoryview(data).cast("B")) if not isinstance(data, bytes) else data
    if name in ("gzip", "zlib"):
        inflater = zlib.decompressobj(47 if name == "gzip" else 15)  # 47: gzip or zlib header, auto-detected
        out = inflater.decompress(raw, limit + 1)
        if len(out) <= limit and not inflater.eof:
            raise ValueError("the compressed stream ends early")
    elif name in ("bz2", "lzma"):
        inflater = bz2.BZ2Decompressor() if name == "bz2" else lzma.LZMADecompressor()
        out = inflater.decompress(raw, limit + 1)
        if len(out) > limit:
            raise ValueError(f"it decompresses to more than the {limit} bytes of a chunk")
        if not inflater.eof:
            raise ValueError("the compressed stream ends early")
        return out
    elif name in ("zstd", "blosc"):
        size = _zstd_content_size(raw) if name == "zstd" else (
            int.from_bytes(raw[4:8], "little") if len(raw) >= 16 else None)
        if size is None:  # a zstd frame that does not say its size (zarr's never): decoded, then checked
            out = codec.decode(raw)
            out = bytes(memoryview(out).cast("B")) if not isinstance(out, bytes) else out
        else:
            if size > limit:
                raise ValueError(f"its header announces {size} bytes, more than the {limit} of a chunk")
            buffer = np.empty(size, dtype=np.uint8)
            codec.decode(raw, out=buffer)
            return buffer
    else:
        if name == "lz4" and len(raw) >= 4 and int.from_bytes(raw[:4], "little") > limit:
            raise ValueError(f"its header announces {int.from_bytes(raw[:4], 'little')} bytes")
        out = codec.decode(raw)
        out = bytes(memoryview(out).cast("B")) if not isinstance(out, bytes) else out
    if len(out) > limit or (name in ("gzip", "zlib") and inflater.unconsumed_tail):
        raise ValueError(f"it decompresses to more than the {limit} bytes of a chunk")
    return out


def _zstd_content_size(frame: bytes) -> int | None:
    """The decompressed size a zstd frame header states (RFC 8878, 3.1.1.1), or None when it states none."""
    if len(frame) < 6 or frame[:4] != b"\x28\xb5\x2f\xfd":
        return None
    descriptor = frame[4]
    fcs_flag, single_segment, did_flag = descriptor >> 6, descriptor >> 5 & 1, descriptor & 3
    position = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[did_flag]
    width = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    if width == 0 or len(frame) < position + width:
        return None
    value = int.from_bytes(frame[position : position + width], "little")
    return value + 256 if width == 2 else value


def decode_v2(data: bytes, compressor, filters: list, dtype: np.dtype, shape: tuple[int, ...], order: str,
              where: str) -> np.ndarray:
    """One stored v2 chunk as an array of ``shape`` (the full chunk, edges included)."""
    try:
        if compressor is not None:
            limit = chunk_bytes_checked(shape, dtype.itemsize, where) if dtype.kind != "O" else MAX_CHUNK_BYTES
            checksums = sum(getattr(f, "codec_id", "") in ("crc32", "crc32c", "adler32", "fletcher32") for f in filters)
            data = bounded_decode(compressor, data, limit + 4 * checksums)
        for codec in reversed(filters):
            data = codec.decode(data)
    except Exception as exc:  # noqa: BLE001 - each codec raises its own errors on damaged input
        raise CorruptFileError(f"{where} cannot be decoded; the chunk is damaged ({type(exc).__name__}: {exc})") \
            from exc
    if dtype.kind == "O":
        array = np.asarray(data, dtype=object)
        if array.size != math.prod(shape):
            raise CorruptFileError(f"{where} holds {array.size} values, not the {math.prod(shape)} of its chunk")
        return array.reshape(shape, order=order)
    expected = chunk_bytes_checked(shape, dtype.itemsize, where)
    buffer = np.frombuffer(memoryview(data).cast("B") if not isinstance(data, np.ndarray) else data.view("u1"),
                           dtype=np.uint8)
    if buffer.size != expected:
        raise CorruptFileError(f"{where} decodes to {buffer.size} bytes, not the {expected} of a "
                               f"{'x'.join(map(str, shape))} {dtype} chunk: the chunk is damaged")
    return buffer.view(dtype).reshape(shape, order=order)


def v3_dtype(data_type: Any, where: str) -> np.dtype:
    """The numpy type (native byte order; the ``bytes`` codec gives the stored one) of a v3 ``data_type``."""
    if not isinstance(data_type, str) or data_type not in _V3_TYPES:
        raise FormatError(f"{where}: data type {data_type!r} is not a numeric type ophysio reads")
    return np.dtype(_V3_TYPES[data_type])


def fill_value(value: Any, dtype: np.dtype, where: str) -> Any:
    """A fill value of the metadata as a value of ``dtype`` (NaN, Infinity and hex bit patterns included)."""
    if value is None:
        return 0 if dtype.kind != "O" else None
    if dtype.kind == "O":
        return value
    if isinstance(value, str):
        special = {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}
        if value in special:
            return special[value]
        if value.startswith("0x") and dtype.kind == "f":
            try:
                raw = int(value, 16).to_bytes(dtype.itemsize, "big")
            except (ValueError, OverflowError) as exc:
                raise FormatError(f"{where}: fill value {value!r} does not fit {dtype}") from exc
            return np.frombuffer(raw, dtype=dtype.newbyteorder(">"))[0]
        raise FormatError(f"{where}: fill value {value!r} is not a value of {dtype}")
    if isinstance(value, list) and dtype.kind == "c" and len(value) == 2:
        return complex(fill_value(value[0], np.dtype("f8"), where), fill_value(value[1], np.dtype("f8"), where))
    try:
        return np.array(value).astype(dtype).item()
    except (TypeError, ValueError, OverflowError) as exc:
        raise FormatError(f"{where}: fill value {value!r} is not a value of {dtype}") from exc


def _named(codec: Any, where: str) -> tuple[str, dict]:
    if isinstance(codec, str):
        return codec, {}
    if not isinstance(codec, dict) or not isinstance(codec.get("name"), str):
        raise FormatError(f"{where}: codec {codec!r} is not a codec description")
    config = codec.get("configuration") or {}
    if not isinstance(config, dict):
        raise FormatError(f"{where}: codec {codec['name']!r} has a configuration that is not an object")
    return codec["name"], config


class V3Chain:
    """A v3 codec chain (array -> array, one array -> bytes, bytes -> bytes) decoding chunks of ``shape``.

    The array -> bytes codec must be ``bytes``; a ``sharding_indexed`` chain is split by the array reader
    (:attr:`sharding` holds its configuration) before this class decodes inner chunks or the index.
    """

    def __init__(self, codecs: Any, dtype: np.dtype, shape: tuple[int, ...], where: str):
        if not isinstance(codecs, list) or not codecs:
            raise FormatError(f"{where}: the codecs {codecs!r} are not a list of codecs")
        self.where = where
        self.shape = tuple(shape)
        self.transposes: list[tuple[int, ...]] = []
        self.endian = "<"
        self.byte_codecs: list[tuple[str, Any]] = []
        self.sharding: dict | None = None
        stage = "array"
        for item in codecs:
            name, config = _named(item, where)
            if name == "transpose":
                if stage != "array":
                    raise FormatError(f"{where}: codec transpose after the array -> bytes codec")
                order = config.get("order")
                if not (isinstance(order, list) and sorted(order) == list(range(len(shape)))):
                    raise FormatError(f"{where}: transpose order {order!r} does not fit {len(shape)} axes")
                self.transposes.append(tuple(int(i) for i in order))
            elif name == "bytes":
                if stage != "array":
                    raise FormatError(f"{where}: two array -> bytes codecs")
                endian = config.get("endian", "little")
                if endian not in ("little", "big"):
                    raise FormatError(f"{where}: bytes codec endian {endian!r}")
                self.endian = "<" if endian == "little" else ">"
                stage = "bytes"
            elif name == "sharding_indexed":
                if stage != "array" or self.transposes:
                    raise FormatError(f"{where}: sharding after other codecs is not read by ophysio")
                self.sharding = config
                stage = "bytes"
            elif name in _V3_BYTES_CODECS or name.startswith("numcodecs."):
                if stage != "bytes":
                    raise FormatError(f"{where}: codec {name} comes before the array -> bytes codec")
                if self.sharding is not None:
                    raise FormatError(f"{where}: codec {name} applied to whole shards is not read by ophysio")
                self.byte_codecs.append((name, self._byte_decoder(name, config)))
            else:
                raise FormatError(f"{where}: codec {name!r} is not one ophysio decodes")
        if stage != "bytes":
            raise FormatError(f"{where}: the codecs name no array -> bytes codec (bytes or sharding_indexed)")
        self.dtype = np.dtype(dtype).newbyteorder(self.endian) if np.dtype(dtype).itemsize > 1 else np.dtype(dtype)

    def _byte_decoder(self, name: str, config: dict):
        numcodecs = numcodecs_module()
        if name == "gzip":
            return numcodecs.GZip()
        if name == "zstd":
            return numcodecs.Zstd()
        if name == "blosc":
            return numcodecs.Blosc()
        if name == "crc32c":
            return numcodecs.CRC32C()
        return v2_codec({"id": name.split(".", 1)[1], **config}, self.where)

    def decode(self, data: bytes, where: str) -> np.ndarray:
        """One stored chunk (bytes) as an array of :attr:`shape`."""
        limit = MAX_CHUNK_BYTES
        if self.byte_codecs:
            encoded = self.shape
            for order in self.transposes:
                encoded = tuple(encoded[i] for i in order)
            limit = chunk_bytes_checked(encoded, self.dtype.itemsize, where)
        try:
            for position, (name, codec) in reversed(list(enumerate(self.byte_codecs))):
                later = sum(n == "crc32c" for n, _ in self.byte_codecs[:position])  # checksums decoded after
                data = codec.decode(data) if name == "crc32c" else bounded_decode(codec, data, limit + 4 * later)
        except Exception as exc:  # noqa: BLE001
            raise CorruptFileError(f"{where} cannot be decoded; the chunk is damaged ({type(exc).__name__}: {exc})") \
                from exc
        encoded = self.shape
        for order in self.transposes:
            encoded = tuple(encoded[i] for i in order)
        expected = chunk_bytes_checked(encoded, self.dtype.itemsize, where)
        buffer = np.frombuffer(memoryview(data).cast("B") if not isinstance(data, np.ndarray) else data.view("u1"),
                               dtype=np.uint8)
        if buffer.size != expected:
            raise CorruptFileError(f"{where} decodes to {buffer.size} bytes, not the {expected} of its chunk: the "
                                   "chunk is damaged")
        array = buffer.view(self.dtype).reshape(encoded)
        for order in reversed(self.transposes):
            array = array.transpose(np.argsort(order))
        return array
