"""Network namespaces, veth links and tbf shaping (iproute2), and sockets opened inside a namespace.

Addresses are private /30s (10.77.<link>.1-2) and exist only inside the namespaces; both ends of
every veth live in a namespace, so the host's own network is never touched.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading
from pathlib import Path

from edgewise.errors import TestbedError

NETNS_DIR = Path("/var/run/netns")
PREFIX = "ew-"
CLONE_NEWNET = 0x40000000
MTU_BURST = 1600  # smallest tbf bucket: one MTU-size packet
# The bucket also holds this much time at the rate: with a one-packet bucket every packet waits for
# tbf's watchdog timer, whose wake-up latency (tens of us, more under load) is lost rate; at
# 200 Mbit/s (60 us a packet) that cost 25-30% of it. 1 ms restores the full rate; a message that
# finds the bucket full goes out at most this much early.
BURST_MS = 1.0
TBF_LATENCY_MS = 100  # buffer depth of tbf's queue


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run(["ip", *args], check)


def in_ns(ns: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run(["ip", "netns", "exec", ns, *cmd], check)


def _run(cmd: list[str], check: bool) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise TestbedError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip()}",
                           "run as root with iproute2 installed (ip, tc)")
    return proc


def create_namespace(ns: str) -> None:
    ip("netns", "add", ns)
    in_ns(ns, "ip", "link", "set", "lo", "up")
    # An idle persistent connection must not fall back to slow start between requests.
    in_ns(ns, "sysctl", "-q", "-w", "net.ipv4.tcp_slow_start_after_idle=0")


def connect(ns_a: str, ns_b: str, dev_a: str, dev_b: str, subnet: int) -> tuple[str, str]:
    """A veth pair between two namespaces with 10.77.<subnet>.1 and .2; returns both addresses."""
    ip("link", "add", dev_a, "netns", ns_a, "type", "veth", "peer", "name", dev_b, "netns", ns_b)
    addr_a, addr_b = f"10.77.{subnet}.1", f"10.77.{subnet}.2"
    for ns, dev, addr in ((ns_a, dev_a, addr_a), (ns_b, dev_b, addr_b)):
        in_ns(ns, "ip", "addr", "add", f"{addr}/30", "dev", dev)
        in_ns(ns, "ip", "link", "set", dev, "up")
    return addr_a, addr_b


def shape(ns: str, dev: str, rate_mbit: float) -> None:
    """tbf on the device's egress: the rate of that direction of the link."""
    in_ns(ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{rate_mbit}mbit",
          "burst", str(tbf_burst(rate_mbit)), "latency", f"{TBF_LATENCY_MS}ms")


def change_rate(ns: str, dev: str, rate_mbit: float) -> None:
    """A new rate for an existing tbf, in place: the device and its connections stay up."""
    in_ns(ns, "tc", "qdisc", "change", "dev", dev, "root", "tbf", "rate", f"{rate_mbit}mbit",
          "burst", str(tbf_burst(rate_mbit)), "latency", f"{TBF_LATENCY_MS}ms")


def tbf_burst(rate_mbit: float) -> int:
    """Bucket size in bytes: one MTU-size packet, or BURST_MS worth of the rate when that is more."""
    return max(MTU_BURST, int(rate_mbit * 1e6 / 8 * BURST_MS / 1e3))


def delete_namespace(ns: str) -> None:
    """Kill what still runs inside, then delete it (its veths go with it)."""
    pids = ip("netns", "pids", ns, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), 9)
        except (ProcessLookupError, ValueError):
            pass
    ip("netns", "delete", ns, check=False)


def namespaces(prefix: str = PREFIX) -> list[str]:
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


_libc = ctypes.CDLL(None, use_errno=True)


def socket_factory(ns: str):
    """A factory of sockets that live in namespace `ns` (created by a short-lived thread that joins it).

    setns() moves only the calling thread, so the caller's own namespace never changes; a socket
    keeps the namespace it was created in for its whole life.
    """
    path = NETNS_DIR / ns

    def make(family: int) -> socket.socket:
        if family == socket.AF_UNIX:
            return socket.socket(family, socket.SOCK_STREAM)
        box: dict[str, object] = {}

        def create() -> None:
            try:
                fd = os.open(path, os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns into {ns} failed")
                finally:
                    os.close(fd)
                box["sock"] = socket.socket(family, socket.SOCK_STREAM)
            except OSError as exc:
                box["error"] = exc

        t = threading.Thread(target=create)
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["sock"]  # type: ignore[return-value]

    return make
