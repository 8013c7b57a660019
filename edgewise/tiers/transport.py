"""Frames over a socket: sending them on a link's shape (its one-way delay waited by the sender, its rate
paced where the link is modelled), reading them with deadlines a watchdog keeps, and where to connect.

The format of a frame is wire.py's; the shape of a link, shaping.py's.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from edgewise.errors import ServerError
from edgewise.tiers import watchdog
from edgewise.tiers.shaping import NO_SHAPE, LinkShape, TokenBucket
from edgewise.tiers.wire import (
    DEFAULT_MAX_FRAME,
    MAGIC,
    MAX_HEADER,
    PREFIX,
    VERSION,
    Frame,
    WireError,
    decode,
    encode,
)

_CHUNK = 64 * 1024


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
