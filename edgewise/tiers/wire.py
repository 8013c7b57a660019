"""The binary wire format between the client and the tier servers, and message-level link shaping.

A frame is a fixed 16-byte prefix, a compact JSON metadata header and a body of raw bytes:

    prefix  = magic b"EW" | version u8 | flags u8 | header length u32 | body length u64   (big endian)
    header  = {"type": ..., <message fields>, "blobs": [[name, dtype, shape, nbytes], ...]}
    body    = the blobs' bytes back to back (tensors in C order; a payload as dtype "bytes")

Tensors travel as their raw bytes with dtype and shape in the header, never as JSON or base64;
an image travels as its encoded file and a text as UTF-8 (dtype "bytes").

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
from typing import Any

import numpy as np

from edgewise.errors import ServerError

MAGIC = b"EW"
VERSION = 1
PREFIX = struct.Struct("!2sBBIQ")
MAX_HEADER = 64 * 1024
DEFAULT_MAX_FRAME = 64 * 1024 * 1024
BYTES = "bytes"  # dtype tag of an opaque payload (encoded image, UTF-8 text)
_DTYPES = {"float32", "float16", "float64", "int64", "int32", "int8", "uint8", "bool", BYTES}
# dtype -> wire name and back, looked up by hash: numpy's dtype.name is slow on the hot path.
_NAME_OF = {np.dtype(n): n for n in _DTYPES if n != BYTES}
_DTYPE_OF = {n: d for d, n in _NAME_OF.items()}


def dtype_name(dtype: np.dtype) -> str:
    """The wire name of a dtype ('float32'), or numpy's own name for one that cannot travel."""
    return _NAME_OF.get(dtype) or dtype.name


class WireError(ServerError):
    """A frame is malformed, truncated, oversized or too slow; the connection is closed after it."""


@dataclass
class Frame:
    """One message: a type, small metadata and named blobs (tensors or raw bytes)."""

    type: str
    meta: dict[str, Any] = field(default_factory=dict)
    blobs: dict[str, np.ndarray | bytes] = field(default_factory=dict)

    @property
    def tensors(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in self.blobs.items() if isinstance(v, np.ndarray)}

    @property
    def payload(self) -> bytes | None:
        value = self.blobs.get("payload")
        return value if isinstance(value, (bytes, bytearray, memoryview)) else None


def encode(frame: Frame) -> list[memoryview | bytes]:
    """The frame as buffers ready for sendmsg: prefix + header, then each blob without a copy."""
    descs, buffers = [], []
    for name, value in frame.blobs.items():
        if isinstance(value, np.ndarray):
            arr = value if value.flags.c_contiguous else np.ascontiguousarray(value)  # keeps 0-d arrays 0-d
            dtype = _NAME_OF.get(arr.dtype)
            if dtype is None:
                raise WireError(f"dtype {arr.dtype} cannot travel on the wire", f"use one of {sorted(_DTYPES)}")
            descs.append([name, dtype, list(arr.shape), arr.nbytes])
            buffers.append(memoryview(arr.reshape(-1).view(np.uint8)))
        else:
            data = bytes(value) if not isinstance(value, bytes) else value
            descs.append([name, BYTES, [len(data)], len(data)])
            buffers.append(data)
    header = json.dumps({"type": frame.type, **frame.meta, "blobs": descs}, separators=(",", ":")).encode()
    body_len = sum(d[3] for d in descs)
    return [PREFIX.pack(MAGIC, VERSION, 0, len(header), body_len) + header, *buffers]


def frame_size(buffers: list[memoryview | bytes]) -> int:
    return sum(len(b) for b in buffers)


def decode(header: bytes, body: memoryview) -> Frame:
    """Parse a header and body that were read whole; every field is checked before use."""
    try:
        meta = json.loads(header)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WireError("frame header is not valid JSON", "send frames made by edgewise.tiers.wire.encode") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("type"), str) or not isinstance(meta.get("blobs", []), list):
        raise WireError("frame header lacks a type or a blob list", "send frames made by edgewise.tiers.wire.encode")
    blobs: dict[str, np.ndarray | bytes] = {}
    offset = 0
    for desc in meta.pop("blobs", []):
        name, dtype, shape, nbytes = _check_desc(desc)
        if offset + nbytes > len(body):
            raise WireError(f"blob {name!r} runs past the end of the body", "the body length must cover every blob")
        chunk = body[offset : offset + nbytes]
        offset += nbytes
        if dtype == BYTES:
            blobs[name] = bytes(chunk)
        else:
            blobs[name] = np.frombuffer(chunk, dtype=_DTYPE_OF[dtype]).reshape(shape)
    if offset != len(body):
        raise WireError(f"body has {len(body) - offset} bytes no blob describes", "describe every byte of the body")
    return Frame(meta.pop("type"), meta, blobs)


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


def send_frame(sock: socket.socket, frame: Frame, shape: LinkShape = NO_SHAPE) -> int:
    """Send one frame (after the link's one-way delay); returns the bytes sent."""
    return send_buffers(sock, encode(frame), shape)


def send_buffers(sock: socket.socket, buffers: list[memoryview | bytes], shape: LinkShape = NO_SHAPE) -> int:
    if shape.delay_s > 0:
        time.sleep(shape.delay_s)
    total = frame_size(buffers)
    if shape.bucket is None:
        _send_all(sock, buffers, total)
        return total
    for buf in buffers:
        view = memoryview(buf).cast("B")
        for start in range(0, len(view), _CHUNK):
            piece = view[start : start + _CHUNK]
            shape.bucket.take(len(piece))
            sock.sendall(piece)
    return total


def _send_all(sock: socket.socket, buffers: list[memoryview | bytes], total: int) -> None:
    """Every buffer in as few system calls as the kernel allows: one sendmsg gathers them all
    (no joined copy); only what it did not take is sent again."""
    sent = sock.sendmsg(buffers)
    if sent == total:
        return
    views = [memoryview(b).cast("B") for b in buffers]
    for view in views:
        if sent >= len(view):
            sent -= len(view)
            continue
        sock.sendall(view[sent:])
        sent = 0


# --- reading -----------------------------------------------------------------------------------

def read_frame(sock: socket.socket, max_frame: int = DEFAULT_MAX_FRAME, timeout_s: float | None = None,
               min_rate: float = 32 * 1024, idle_timeout_s: float | None = None) -> Frame | None:
    """Read one frame; None when the peer closed cleanly between frames.

    Waiting for a frame to start may take `idle_timeout_s` (persistent connections idle between
    requests); once it started, the whole frame must arrive within `timeout_s` plus the time its
    body takes at `min_rate` bytes/s, so a peer that trickles bytes (slowloris) is cut off.
    A frame that has arrived whole costs two reads: the prefix, then header and body together.
    """
    # One socket timeout serves the idle wait and the frame (the shorter of the two; the longer
    # is counted here), so that a stream of frames changes it, a system call each time, never.
    waits = [t for t in (idle_timeout_s, timeout_s) if t is not None]
    _set_timeout(sock, min(waits) if waits else None)
    idle_until = None if idle_timeout_s is None else time.monotonic() + idle_timeout_s
    prefix = bytearray(PREFIX.size)
    while True:
        try:
            first = sock.recv_into(prefix)
            break
        except TimeoutError:
            if idle_until is not None and time.monotonic() >= idle_until:
                return None  # idle too long: the caller closes the connection
    if not first:
        return None
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    if first < PREFIX.size:
        _read_into(sock, memoryview(prefix)[first:], deadline)
    magic, version, _flags, header_len, body_len = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise WireError("not an edgewise frame (bad magic)", "connect with edgewise's TierClient")
    if version != VERSION:
        raise WireError(f"wire version {version} is not supported (this side speaks {VERSION})",
                        "run the same edgewise version on every tier")
    if header_len > MAX_HEADER:
        raise WireError(f"frame header of {header_len} bytes exceeds {MAX_HEADER}", "keep metadata small")
    if header_len + body_len > max_frame:
        raise WireError(f"frame of {header_len + body_len} bytes exceeds the limit of {max_frame}",
                        "send a smaller payload or raise the server's --max-frame-mb")
    if deadline is not None:
        deadline += body_len / min_rate
    rest = memoryview(bytearray(header_len + body_len))
    _read_into(sock, rest, deadline)
    return decode(bytes(rest[:header_len]), rest[header_len:])


def _set_timeout(sock: socket.socket, timeout: float | None) -> None:
    # Each settimeout is a system call; most frames find the timeout they need already set.
    if sock.gettimeout() != timeout:
        sock.settimeout(timeout)


def _read_into(sock: socket.socket, view: memoryview, deadline: float | None) -> None:
    got = 0
    while got < len(view):
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WireError("frame arrived too slowly", "the peer must send a whole frame without stalling")
            # A timeout already set and at most a second past the deadline is kept (each change is
            # a system call); the deadline itself is checked after every read.
            current = sock.gettimeout()
            if current is None or current > left + 1.0:
                sock.settimeout(float(math.ceil(left)) if left >= 1.0 else left)
        try:
            n = sock.recv_into(view[got:], len(view) - got)
        except TimeoutError:
            if deadline is not None and time.monotonic() < deadline:
                continue  # the socket's timeout was shorter than what is left of the frame's time
            raise WireError("frame arrived too slowly", "the peer must send a whole frame without stalling") from None
        if n == 0:
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
