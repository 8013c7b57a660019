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
            if arr.dtype.name not in _DTYPES:
                raise WireError(f"dtype {arr.dtype} cannot travel on the wire", f"use one of {sorted(_DTYPES)}")
            descs.append([name, arr.dtype.name, list(arr.shape), arr.nbytes])
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
            blobs[name] = np.frombuffer(chunk, dtype=np.dtype(dtype)).reshape(shape)
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
    itemsize = 1 if dtype == BYTES else np.dtype(dtype).itemsize
    if int(np.prod(shape, dtype=np.int64)) * itemsize != nbytes:
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
        if total <= _CHUNK:
            sock.sendall(b"".join(buffers))  # one segment for a small message
        else:
            for buf in buffers:
                sock.sendall(buf)
        return total
    for buf in buffers:
        view = memoryview(buf).cast("B")
        for start in range(0, len(view), _CHUNK):
            piece = view[start : start + _CHUNK]
            shape.bucket.take(len(piece))
            sock.sendall(piece)
    return total


# --- reading -----------------------------------------------------------------------------------

def read_frame(sock: socket.socket, max_frame: int = DEFAULT_MAX_FRAME, timeout_s: float | None = None,
               min_rate: float = 32 * 1024, idle_timeout_s: float | None = None) -> Frame | None:
    """Read one frame; None when the peer closed cleanly between frames.

    Waiting for a frame to start may take `idle_timeout_s` (persistent connections idle between
    requests); once it started, the whole frame must arrive within `timeout_s` plus the time its
    body takes at `min_rate` bytes/s, so a peer that trickles bytes (slowloris) is cut off.
    """
    sock.settimeout(idle_timeout_s)
    try:
        first = sock.recv(PREFIX.size)
    except TimeoutError:
        return None  # idle too long: the caller closes the connection
    if not first:
        return None
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    prefix = first + _read_exact(sock, PREFIX.size - len(first), deadline)
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
    header = _read_exact(sock, header_len, deadline)
    body = bytearray(body_len)
    _read_into(sock, memoryview(body), deadline)
    return decode(header, memoryview(body))


def _read_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    buf = bytearray(n)
    _read_into(sock, memoryview(buf), deadline)
    return bytes(buf)


def _read_into(sock: socket.socket, view: memoryview, deadline: float | None) -> None:
    got = 0
    while got < len(view):
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WireError("frame arrived too slowly", "the peer must send a whole frame without stalling")
            sock.settimeout(left)
        try:
            n = sock.recv_into(view[got:], len(view) - got)
        except TimeoutError:
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
