"""The binary wire format between the client and the tier servers, and message-level link shaping.

A frame is a fixed 16-byte prefix, a compact JSON metadata header and a body of raw bytes:

    prefix  = magic b"EW" | version u8 | flags u8 | header length u32 | body length u64   (big endian)
    header  = {"type": ..., <message fields>, "blobs": [[name, dtype, shape, nbytes], ...]}
    body    = the blobs' bytes back to back (tensors in C order; a payload as dtype "bytes")

Tensors travel as their raw bytes with dtype and shape in the header, never as JSON or base64;
an image travels as its encoded file and a text as UTF-8 (dtype "bytes"). The requests of one
stream repeat their header, so each side serializes and parses a distinct header once.

Links are shaped here at the message level where the kernel cannot do it: the sender of a frame
on a link with a one-way delay waits that delay before sending (this kernel has no netem), and
on a modelled link (the local testbed) it also paces the bytes through a token bucket.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Hashable

import numpy as np

from edgewise.errors import ServerError
from edgewise.tiers import watchdog

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


# --- shaping -----------------------------------------------------------------------------------

class TokenBucket:
    """Paces bytes at `rate_bps`, shared by every connection on one direction of a link."""

    def __init__(self, rate_bps: float, burst_bytes: int = 16 * 1024):
        self.rate = rate_bps / 8.0  # bytes per second
        self.burst = burst_bytes
        self.tokens = float(burst_bytes)
        self.stamp = time.perf_counter()
        self.lock = threading.Lock()

    def take(self, n: int) -> None:
        with self.lock:
            now = time.perf_counter()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            self.tokens -= n
            wait = -self.tokens / self.rate if self.tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)


@dataclass
class LinkShape:
    """What the sender does on one direction of a link: wait `delay_s`, pace at `rate_mbit` if modelled."""

    delay_s: float = 0.0
    rate_mbit: float | None = None  # None: the kernel shapes the rate (tbf), or the link is real
    bucket: TokenBucket | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.rate_mbit and self.bucket is None:
            self.bucket = TokenBucket(self.rate_mbit * 1e6)

    def to_dict(self) -> dict[str, float | None]:
        return {"delay_s": self.delay_s, "rate_mbit": self.rate_mbit}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LinkShape":
        return cls(float(data.get("delay_s", 0.0)), data.get("rate_mbit"))


NO_SHAPE = LinkShape()
_CHUNK = 64 * 1024


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


def send_frame(sock: socket.socket, frame: Frame, shape: LinkShape = NO_SHAPE, timeout_s: float | None = None,
               min_rate: float = 32 * 1024, guard: watchdog.Guard | None = None) -> int:
    """Send one frame (after the link's one-way delay); returns the bytes sent."""
    return send_buffers(sock, encode(frame), shape, timeout_s, min_rate, guard)


def send_buffers(sock: socket.socket, buffers: list[memoryview | bytes], shape: LinkShape = NO_SHAPE,
                 timeout_s: float | None = None, min_rate: float = 32 * 1024,
                 guard: watchdog.Guard | None = None) -> int:
    """Send prepared buffers; with `timeout_s`, a peer that does not take them within that time plus
    their size at `min_rate` bytes/s has its connection shut down (watchdog.py) and this raises OSError."""
    if shape.delay_s > 0:
        time.sleep(shape.delay_s)
    if timeout_s is not None and guard is None:
        guard = watchdog.guard(sock)
    if shape.bucket is not None:
        return _send_paced(sock, buffers, shape.bucket, timeout_s, min_rate, guard if timeout_s is not None else None)
    total = sum(map(len, buffers))
    if timeout_s is not None:
        guard.arm(time.monotonic() + timeout_s + total / min_rate, socket.SHUT_RDWR)
    try:
        # One sendmsg gathers every buffer (no joined copy); only what it did not take is sent again.
        sent = sock.sendmsg(buffers)
        if sent != total:
            _send_rest(sock, buffers, sent)
    finally:
        if timeout_s is not None:
            guard.disarm()
    return total


def _send_paced(sock: socket.socket, buffers: list[memoryview | bytes], bucket: TokenBucket, timeout_s: float | None,
                min_rate: float, guard: watchdog.Guard | None) -> int:  # guard: None without a timeout
    """Send through a modelled link's token bucket, a chunk at a time."""
    total = 0
    try:
        for buf in buffers:
            view = memoryview(buf).cast("B")
            for start in range(0, len(view), _CHUNK):
                piece = view[start : start + _CHUNK]
                bucket.take(len(piece))
                if guard is not None:
                    guard.arm(time.monotonic() + timeout_s + len(piece) / min_rate, socket.SHUT_RDWR)
                sock.sendall(piece)
            total += len(view)
        return total
    finally:
        if guard is not None:
            guard.disarm()


def _send_rest(sock: socket.socket, buffers: list[memoryview | bytes], sent: int) -> None:
    """What a partial sendmsg left of `buffers`, buffer by buffer."""
    for view in (memoryview(b).cast("B") for b in buffers):
        if sent >= len(view):
            sent -= len(view)
            continue
        sock.sendall(view[sent:])
        sent = 0


# --- reading -----------------------------------------------------------------------------------

def read_frame(sock: socket.socket, max_frame: int = DEFAULT_MAX_FRAME, timeout_s: float | None = None,
               min_rate: float = 32 * 1024, idle_timeout_s: float | None = None,
               guard: watchdog.Guard | None = None) -> Frame | None:
    """Read one frame from a socket that has no FrameReader (see FrameReader.read): the prefix,
    then the rest, never a byte past the frame."""
    return FrameReader(sock, guard).read(max_frame, timeout_s, min_rate, idle_timeout_s)


class FrameReader:
    """Reads the frames of one connection, a frame of the size it expects in one system call.

    A read asks for as many bytes as the connection's last frame had (a stream's requests, and
    their replies, keep their size), so such a frame costs one recv where reading the prefix and
    then the rest costs two (frames up to _ONE_READ_MAX bytes). Bytes read past a frame (the next
    frame of a peer that sends without waiting for replies) are kept for the next read. A new
    reader expects a bare prefix, so its first read takes nothing past the frame.
    """

    __slots__ = ("sock", "guard", "_expect", "_spare")

    def __init__(self, sock: socket.socket, guard: watchdog.Guard | None = None):
        self.sock = sock
        self.guard = guard if guard is not None else watchdog.guard(sock)
        self._expect = PREFIX.size  # bytes the next read asks for
        self._spare = b""  # read past the last frame

    def read(self, max_frame: int = DEFAULT_MAX_FRAME, timeout_s: float | None = None, min_rate: float = 32 * 1024,
             idle_timeout_s: float | None = None) -> Frame | None:
        """Read one frame; None when the peer closed cleanly between frames, or stayed silent too long.

        Waiting for a frame to start may take `idle_timeout_s` (persistent connections idle between
        requests); once it started, the whole frame must arrive within `timeout_s` plus the time its
        body takes at `min_rate` bytes/s, so a peer that trickles bytes (slowloris) is cut off.
        The deadlines are kept by the watchdog (watchdog.py), not by a socket timeout, so the socket
        may block and a frame that has arrived costs its reads and no poll.
        """
        sock, guard = self.sock, self.guard
        if idle_timeout_s is not None:
            guard.arm(time.monotonic() + idle_timeout_s)
        try:
            spare = self._spare
            buf = memoryview(bytearray(max(self._expect, len(spare))))
            got = len(spare)
            if got:
                buf[:got] = spare
                self._spare = b""
            else:
                try:
                    got = sock.recv_into(buf)
                except TimeoutError:
                    got = _recv_into(sock, buf, guard)
                if not got:
                    return None  # closed, or cut off after idling too long: either way the connection ends
            if timeout_s is not None:
                guard.arm(time.monotonic() + timeout_s)
            if got < PREFIX.size:
                _read_into(sock, buf[got : PREFIX.size], guard)
                got = PREFIX.size
            magic, version, _flags, header_len, body_len = PREFIX.unpack(buf[: PREFIX.size])
            if magic != MAGIC or version != VERSION:
                _refuse_prefix(magic, version)
            if header_len > MAX_HEADER:
                raise WireError(f"frame header of {header_len} bytes exceeds {MAX_HEADER}", "keep metadata small")
            if header_len + body_len > max_frame:
                raise WireError(f"frame of {header_len + body_len} bytes exceeds the limit of {max_frame}",
                                "send a smaller payload or raise the server's --max-frame-mb")
            size = PREFIX.size + header_len + body_len
            if got > size:
                self._spare = bytes(buf[size:got])
            elif got < size:
                if size > len(buf):
                    whole = memoryview(bytearray(size))
                    whole[:got] = buf[:got]
                    buf = whole
                if guard.deadline is not None and body_len > min_rate:
                    guard.arm(guard.deadline + body_len / min_rate)
                _read_into(sock, buf[got:size], guard)
            self._expect = size if size <= _ONE_READ_MAX else PREFIX.size
        finally:
            guard.disarm()
        body_start = PREFIX.size + header_len
        return decode(bytes(buf[PREFIX.size : body_start]), buf[body_start:size])


# Frames up to this size are read whole when expected. After a larger one a read asks for the prefix
# alone, so a large frame is read straight into a buffer of its size: one more read, and no copy.
_ONE_READ_MAX = 64 * 1024


def _refuse_prefix(magic: bytes, version: int) -> None:
    if magic != MAGIC:
        raise WireError("not an edgewise frame (bad magic)", "connect with edgewise's TierClient")
    raise WireError(f"wire version {version} is not supported (this side speaks {VERSION})",
                    "run the same edgewise version on every tier")


def _recv_into(sock: socket.socket, view: memoryview, guard: watchdog.Guard) -> int:
    """One read; a socket the caller gave a timeout of its own is read again until the guard cuts it."""
    while True:
        try:
            return sock.recv_into(view)
        except TimeoutError:
            if guard.expired:
                return 0


def _read_into(sock: socket.socket, view: memoryview, guard: watchdog.Guard) -> None:
    got = 0
    while got < len(view):
        n = _recv_into(sock, view[got:], guard)
        if n == 0:
            if guard.expired:
                raise WireError("frame arrived too slowly", "the peer must send a whole frame without stalling")
            raise WireError(f"connection closed mid-frame ({got} of {len(view)} bytes)", "the frame was truncated")
        got += n


def configure(sock: socket.socket) -> socket.socket:
    """TCP_NODELAY on TCP sockets: frames are small messages that must not wait for Nagle."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def parse_address(text: str) -> tuple[int, Any]:
    """'host:port' -> (AF_INET, (host, port)); 'unix:/path' -> (AF_UNIX, path)."""
    if text.startswith("unix:"):
        return socket.AF_UNIX, text[5:]
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ServerError(f"bad endpoint {text!r}", "write host:port, e.g. 127.0.0.1:7400, or unix:/path")
    return socket.AF_INET, (host.strip("[]") or "127.0.0.1", int(port))
