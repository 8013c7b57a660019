"""Deadlines for blocking sockets: one thread per process cuts off a read or send that overran.

A socket with a timeout costs CPython a poll() before every recv and send, and on the hosts
edgewise was measured on that made a loopback round trip about four times slower than on a
blocking socket (benchmarks/results/bench_hop.json). So edgewise's sockets block, and a peer that
stalls is handled here instead: the reading or sending thread arms its socket's guard with a
deadline (two attribute stores, no system call), and a watchdog thread that wakes a few times a
second shuts down the socket of every guard whose deadline has passed. A blocked recv then returns
0 bytes and a blocked send fails, and the caller, seeing `expired`, reports the stall.

A read is shut down for reading only, so the server can still send its "too slowly" reply; a
stalled send is shut down both ways. Deadlines are honoured to within `TICK_S`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import weakref

TICK_S = 0.1


class Guard:
    """One socket's deadline; `deadline` is time.monotonic() seconds, None when nothing is pending."""

    __slots__ = ("sock", "deadline", "how", "expired")

    def __init__(self, sock: socket.socket):
        self.sock = weakref.ref(sock)  # the guard must not keep a dropped socket alive
        self.deadline: float | None = None
        self.how = socket.SHUT_RD
        self.expired = False

    def arm(self, deadline: float | None, how: int = socket.SHUT_RD) -> None:
        self.how = how
        self.deadline = deadline

    def disarm(self) -> None:
        self.deadline = None

    def cut(self, now: float) -> None:
        """Shut the socket down if the deadline still stands (the reader may have just finished)."""
        deadline = self.deadline
        if deadline is None or deadline > now:
            return
        sock = self.sock()
        self.expired = True
        self.deadline = None
        if sock is not None:
            try:
                sock.shutdown(self.how)
            except OSError:
                pass  # already closed or never connected: nothing is blocked on it


class Watchdog:
    """The guards of every watched socket of this process, and the thread that enforces them."""

    def __init__(self, tick_s: float = TICK_S):
        self.tick_s = tick_s
        self._guards: weakref.WeakKeyDictionary[socket.socket, Guard] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def guard(self, sock: socket.socket) -> Guard:
        """The guard of `sock`, made on first use."""
        found = self._guards.get(sock)
        if found is not None:
            return found
        with self._lock:
            found = self._guards.get(sock)
            if found is None:
                found = self._guards[sock] = Guard(sock)
            if self._thread is None:
                self._start()
        return found

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._patrol, name="edgewise-watchdog", daemon=True)
        self._thread.start()

    def after_fork(self) -> None:
        """In a forked child the patrol thread is gone (and the lock may be held by a thread that is
        gone too): start afresh, so the sockets the child inherited keep their deadlines."""
        self._lock = threading.Lock()
        self._thread = None
        if len(self._guards):
            self._start()

    def _patrol(self) -> None:
        while True:
            time.sleep(self.tick_s)
            now = time.monotonic()
            with self._lock:
                due = [g for g in self._guards.values() if g.deadline is not None and g.deadline <= now]
            for guard in due:
                guard.cut(now)


WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG.after_fork)


def guard(sock: socket.socket) -> Guard:
    return WATCHDOG.guard(sock)
