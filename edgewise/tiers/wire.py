"""The binary wire format between the client and the tier servers, and the words of the protocol.

A frame is a fixed 16-byte prefix, a compact JSON metadata header and a body of raw bytes:

    prefix  = magic b"EW" | version u8 | flags u8 | header length u32 | body length u64   (big endian)
    header  = {"type": ..., <message fields>, "blobs": [[name, dtype, shape, nbytes], ...]}
    body    = the blobs' bytes back to back (tensors in C order; a payload as dtype "bytes")

Tensors travel as their raw bytes with dtype and shape in the header, never as JSON or base64;
an image travels as its encoded file and a text as UTF-8 (dtype "bytes"). The requests of one
stream repeat their header, so each side serializes and parses a distinct header once.

Sending and reading frames on sockets: transport.py; the shape of a link: shaping.py.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any, Hashable

import numpy as np

from edgewise.errors import ServerError

MAGIC = b"EW"
VERSION = 3  # 2: an INFER reply's hop records travel as a blob (HOP_RECORD); 3: they say how each tier was paced
PREFIX = struct.Struct("!2sBBIQ")
MAX_HEADER = 64 * 1024
DEFAULT_MAX_FRAME = 64 * 1024 * 1024
BYTES = "bytes"  # dtype tag of an opaque payload (encoded image, UTF-8 text)
_DTYPES = {"float32", "float16", "float64", "int64", "int32", "int8", "uint8", "bool", BYTES}
# dtype -> wire name and back, looked up by hash: numpy's dtype.name is slow on the hot path.
_NAME_OF = {np.dtype(n): n for n in _DTYPES if n != BYTES}
_DTYPE_OF = {n: d for d, n in _NAME_OF.items()}


def numpy_dtype(name: str) -> np.dtype | None:
    """The numpy dtype of a wire name ('float32'); None for a name that cannot travel."""
    return _DTYPE_OF.get(name)


class WireError(ServerError):
    """A frame is malformed, truncated, oversized or too slow; the connection is closed after it."""


@dataclass(slots=True)
class Frame:
    """One message: a type, small metadata and named blobs (tensors or raw bytes).

    `reuse` names the type and metadata: frames that share it encode to the same header, which
    is then serialized once (a stream of requests along one route). `header` is the header a
    decoded frame arrived with; nested values of a decoded meta are shared with later frames of
    the same header, so treat them as read-only.
    """

    type: str
    meta: dict[str, Any] = field(default_factory=dict)
    blobs: dict[str, np.ndarray | bytes] = field(default_factory=dict)
    reuse: Hashable | None = field(default=None, compare=False)
    header: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def tensors(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in self.blobs.items() if isinstance(v, np.ndarray)}

    @property
    def payload(self) -> bytes | None:
        value = self.blobs.get("payload")
        return value if isinstance(value, (bytes, bytearray, memoryview)) else None


# Headers seen recently, both ways: a stream of requests repeats a few headers, and JSON costs
# more than the rest of a frame's handling together. Bounded; cleared whole when full.
_HEADER_CACHE_SIZE = 512
_CACHEABLE_HEADER = 2048  # bytes; longer headers (a LOAD's path) are rare
_ENCODED: dict[Hashable, bytes] = {}
_DECODED: dict[bytes, tuple[str, dict[str, Any], tuple, int]] = {}


def _remember(cache: dict, key: Any, value: Any) -> None:
    if len(cache) >= _HEADER_CACHE_SIZE:
        cache.clear()
    cache[key] = value


def encode(frame: Frame) -> list[memoryview | bytes]:
    """The frame as buffers ready for sendmsg: prefix + header, then each blob without a copy."""
    descs, buffers, body_len = [], [b""], 0
    for name, value in frame.blobs.items():
        if isinstance(value, np.ndarray):
            arr = value if value.flags.c_contiguous else np.ascontiguousarray(value)  # keeps 0-d arrays 0-d
            dtype = _NAME_OF.get(arr.dtype)
            if dtype is None:
                raise WireError(f"dtype {arr.dtype} cannot travel on the wire", f"use one of {sorted(_DTYPES)}")
            nbytes = arr.nbytes
            descs.append((name, dtype, arr.shape, nbytes))
            buffers.append(memoryview(arr).cast("B") if nbytes else b"")  # a byte view, no copy
        else:
            data = value if isinstance(value, bytes) else bytes(value)
            nbytes = len(data)
            descs.append((name, BYTES, (nbytes,), nbytes))
            buffers.append(data)
        body_len += nbytes
    key = (frame.type, frame.reuse, *descs) if frame.reuse is not None or not frame.meta else None
    header = _ENCODED.get(key) if key is not None else None
    if header is None:
        header = json.dumps({"type": frame.type, **frame.meta, "blobs": descs}, separators=(",", ":")).encode()
        if key is not None and len(header) <= _CACHEABLE_HEADER:
            _remember(_ENCODED, key, header)
    buffers[0] = PREFIX.pack(MAGIC, VERSION, 0, len(header), body_len) + header
    return buffers


def decode(header: bytes, body: memoryview) -> Frame:
    """Parse a header and body that were read whole; every field is checked before use."""
    kind, meta, layout, body_len = _DECODED.get(header) or _parse_header(header)
    if len(body) != body_len:
        if len(body) < body_len:
            raise WireError(f"the blobs run {body_len - len(body)} bytes past the end of the body",
                            "the body length must cover every blob")
        raise WireError(f"body has {len(body) - body_len} bytes no blob describes", "describe every byte of the body")
    blobs: dict[str, np.ndarray | bytes] = {}
    for name, dtype, shape, start, stop in layout:
        chunk = body[start:stop]
        blobs[name] = bytes(chunk) if dtype is None else np.frombuffer(chunk, dtype).reshape(shape)
    return Frame(kind, dict(meta), blobs, header=header)


# A header's blobs as (name, numpy dtype or None for bytes, shape, start, stop) in the body.
_Layout = tuple[tuple[str, "np.dtype | None", tuple[int, ...], int, int], ...]


def _parse_header(header: bytes) -> tuple[str, dict[str, Any], _Layout, int]:
    """Type, metadata, checked blob layout and body length of a header, parsed once per distinct header."""
    parsed = _DECODED.get(header)
    if parsed is not None:
        return parsed
    try:
        meta = json.loads(header)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WireError("frame header is not valid JSON", "send frames made by edgewise.tiers.wire.encode") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("type"), str) or not isinstance(meta.get("blobs", []), list):
        raise WireError("frame header lacks a type or a blob list", "send frames made by edgewise.tiers.wire.encode")
    layout, offset = [], 0
    for name, dtype, shape, nbytes in map(_check_desc, meta.pop("blobs", [])):
        layout.append((name, None if dtype == BYTES else _DTYPE_OF[dtype], shape, offset, offset + nbytes))
        offset += nbytes
    parsed = (meta.pop("type"), meta, tuple(layout), offset)
    if len(header) <= _CACHEABLE_HEADER:
        _remember(_DECODED, header, parsed)
    return parsed


def _check_desc(desc: Any) -> tuple[str, str, tuple[int, ...], int]:
    if not (isinstance(desc, list) and len(desc) == 4):
        raise WireError("blob description must be [name, dtype, shape, nbytes]", "send frames made by wire.encode")
    name, dtype, shape, nbytes = desc
    if not isinstance(name, str) or dtype not in _DTYPES or not isinstance(nbytes, int) or nbytes < 0:
        raise WireError(f"bad blob description {desc!r}", f"dtype must be one of {sorted(_DTYPES)}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise WireError(f"bad shape in blob {name!r}", "a shape is a list of non-negative integers")
    itemsize = 1 if dtype == BYTES else _DTYPE_OF[dtype].itemsize
    if math.prod(shape) * itemsize != nbytes:
        raise WireError(f"blob {name!r}: {nbytes} bytes do not hold shape {shape} of {dtype}",
                        "nbytes must equal the product of the shape times the item size")
    return name, dtype, tuple(shape), nbytes


# --- words of the protocol -----------------------------------------------------------------------

# The role a hop plays on an INFER's route: forward the request, or compute the whole model, its head
# (then forward the cut tensors) or its tail.
RELAY, FULL, HEAD, TAIL = "relay", "full", "head", "tail"
ROLES = (FULL, HEAD, TAIL)  # the roles an artifact part is loaded as
# The error codes of an ERROR frame that a client acts on (others are reported with their message).
TIER_DOWN = "TierDown"  # the next hop cannot be reached: the client's testbed diagnoses and recovers it
BUSY = "Busy"  # the tier's queue is full: the request was not served


# --- hop records --------------------------------------------------------------------------------

# Each hop of an INFER adds one record to the reply's "hops" blob, first hop first: HOP_FIELDS as
# big-endian doubles. The client knows each hop's tier and role from the route it sent. queue_s is
# NaN on a relay hop, which computes nothing. late_s is how long the tier's steps ran past the
# emulated device's time (0: held at the device's speed), host_factor how much slower than nominal
# the host was when they ran (NaN on a tier that follows no nominal speed; tiers/speed.py). Packed
# with struct, not numpy: a few small numpy calls cost more than the rest of a hop's bookkeeping on a
# cold cache.
HOP_FIELDS = ("service_s", "preprocess_s", "compute_s", "wait_s", "queue_s", "late_s", "host_factor")
HOP_RECORD = struct.Struct("!7d")


def hop_record(service_s: float, preprocess_s: float, compute_s: float, wait_s: float, queue_s: float,
               late_s: float = 0.0, host_factor: float = math.nan) -> bytes:
    """One hop's record; a reply's hops blob is this hop's record followed by those of the hops after it."""
    return HOP_RECORD.pack(service_s, preprocess_s, compute_s, wait_s, queue_s, late_s, host_factor)


def hop_records(blob: bytes) -> list[tuple[float, ...]]:
    """The records of a hops blob, in HOP_FIELDS order."""
    if len(blob) % HOP_RECORD.size:
        raise WireError(f"hops blob of {len(blob)} bytes is not a whole number of records",
                        "send replies made by an edgewise tier server")
    return list(HOP_RECORD.iter_unpack(blob))


def encode_result(logits: np.ndarray, hops: bytes) -> list[memoryview | bytes]:
    """encode(Frame("RESULT", {}, {"logits": logits, "hops": hops})), the reply to every INFER: its
    prefix and header depend only on the logits' dtype and shape and the number of hops, so they
    are built once per such triple."""
    if not logits.flags.c_contiguous:
        return encode(Frame("RESULT", {}, {"logits": logits, "hops": hops}))
    key = (logits.dtype, logits.shape, len(hops))
    head = _RESULT_HEADS.get(key)
    if head is None:
        head = bytes(encode(Frame("RESULT", {}, {"logits": logits, "hops": hops}))[0])
        _remember(_RESULT_HEADS, key, head)
    return [head, memoryview(logits).cast("B") if logits.nbytes else b"", hops]


_RESULT_HEADS: dict[tuple, bytes] = {}
