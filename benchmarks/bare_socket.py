"""The floor of a hop: a bare TCP round trip of the same payload between two CPython processes.

The server reads an 8-byte length and that many bytes into a preallocated buffer and answers
with as many bytes as edgewise's logits reply carries; no framing, no threads, no timeouts.
Run as a script it prints `ready HOST:PORT` and serves one connection.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys

REPLY_BYTES = 32  # 8 float32 logits
LENGTH = struct.Struct("!Q")


def serve() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print("ready 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    view = memoryview(bytearray(64 * 2**20))
    reply = bytes(REPLY_BYTES)
    while True:
        if not _fill(conn, view[: LENGTH.size]):
            return
        (length,) = LENGTH.unpack(view[: LENGTH.size])
        if not _fill(conn, view[:length]):
            return
        conn.sendall(reply)


def _fill(conn: socket.socket, view: memoryview) -> bool:
    got = 0
    while got < len(view):
        n = conn.recv_into(view[got:])
        if n == 0:
            return False
        got += n
    return True


class BareClient:
    """Sends a payload and waits for the reply, as plainly as CPython allows."""

    def __init__(self) -> None:
        from edgewise.testbeds.processes import die_with_parent

        self.proc = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, preexec_fn=die_with_parent)
        host, port = self.proc.stdout.readline().decode().split()[1].split(":")  # type: ignore[union-attr]
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reply = memoryview(bytearray(REPLY_BYTES))

    def roundtrip(self, payload: bytes) -> None:
        head = LENGTH.pack(len(payload))
        sent = self.sock.sendmsg([head, payload])
        if sent < len(head) + len(payload):
            self.sock.sendall(memoryview(head + payload)[sent:])
        _fill(self.sock, self.reply)

    def close(self) -> None:
        self.sock.close()
        self.proc.kill()
        self.proc.wait()


if __name__ == "__main__":
    serve()
