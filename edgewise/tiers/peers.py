"""Persistent connections to one tier server, pooled so concurrent requests each get their own."""

from __future__ import annotations

import socket
from collections import deque
from typing import Callable, NamedTuple

from edgewise.tiers import shaping, transport, watchdog, wire
from edgewise.tiers.shaping import LinkShape
from edgewise.tiers.watchdog import Guard
from edgewise.tiers.wire import Frame

SocketFactory = Callable[[int], socket.socket]  # family -> a new unconnected socket


class Connection(NamedTuple):
    """A pooled connection, its watchdog guard (looked up once, not per frame) and its reader."""

    sock: socket.socket
    guard: Guard
    reader: transport.FrameReader


class PeerLost(ConnectionError):
    """The peer closed or reset the connection, or could not be reached."""


def plain_socket(family: int) -> socket.socket:
    return socket.socket(family, socket.SOCK_STREAM)


class PeerPool:
    """Idle connections to `address`; a request takes one, and gives it back when it succeeded."""

    def __init__(self, address: str, shape: LinkShape = shaping.NO_SHAPE, timeout_s: float = 120.0,
                 make_socket: SocketFactory = plain_socket, max_frame: int = wire.DEFAULT_MAX_FRAME):
        self.address = address
        self.shape = shape
        self.timeout_s = timeout_s
        self.make_socket = make_socket
        self.max_frame = max_frame
        # deque's append and pop are atomic: concurrent requests share the pool without a lock
        self._idle: deque[Connection] = deque()

    def exchange(self, frame: Frame) -> Frame:
        """Send one request and return the reply; a stale pooled connection is retried once fresh."""
        return self.exchange_buffers(wire.encode(frame))

    def exchange_buffers(self, buffers: list) -> Frame:
        """`exchange` for a request already encoded (wire.encode)."""
        conn, reused = self._take()
        try:
            reply = self._roundtrip(conn, buffers)
        except (OSError, wire.WireError) as exc:
            conn.sock.close()
            if not reused:
                raise PeerLost(f"{self.address}: {exc}") from None
            conn = self._connect()  # the peer restarted since this connection was pooled
            try:
                reply = self._roundtrip(conn, buffers)
            except (OSError, wire.WireError) as exc2:
                conn.sock.close()
                raise PeerLost(f"{self.address}: {exc2}") from None
        self._give_back(conn, reply)
        return reply

    def _roundtrip(self, conn: Connection, buffers: list) -> Frame:
        transport.send_buffers(conn.sock, buffers, self.shape, timeout_s=self.timeout_s, guard=conn.guard)
        reply = conn.reader.read(self.max_frame, timeout_s=self.timeout_s, min_rate=1.0, idle_timeout_s=self.timeout_s)
        if reply is None:
            raise PeerLost("connection closed before a reply")
        return reply

    def _take(self) -> tuple[Connection, bool]:
        try:
            return self._idle.pop(), True
        except IndexError:
            return self._connect(), False

    def _connect(self) -> Connection:
        family, addr = transport.parse_address(self.address)
        sock = self.make_socket(family)
        sock.settimeout(min(self.timeout_s, 10.0))
        try:
            sock.connect(addr)
        except OSError as exc:
            sock.close()
            raise PeerLost(f"cannot reach {self.address}: {exc}") from None
        sock.settimeout(None)  # blocking from here on: the watchdog keeps the deadlines (watchdog.py)
        guard = watchdog.guard(transport.configure(sock))
        return Connection(sock, guard, transport.FrameReader(sock, guard))

    def _give_back(self, conn: Connection, reply: Frame) -> None:
        if reply.meta.get("close"):
            conn.sock.close()  # the server ends the connection after this reply
            return
        self._idle.append(conn)

    def close(self) -> None:
        while True:
            try:
                self._idle.pop().sock.close()
            except IndexError:
                return
