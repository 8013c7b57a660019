"""Tier server processes: spawned (optionally in a namespace and cgroup), awaited, diagnosed, stopped."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from edgewise.errors import TestbedError
from edgewise.tiers.admission import DEFAULT_QUEUE_DEPTH
from edgewise.tiers.shaping import LinkShape

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent() -> None:
    """In a child: be killed when the testbed's process dies, so no tier server outlives a crash."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class ChildProcess:
    """A `python -m MODULE` child that prints a line starting with `ready` once it serves; `prefix` runs it
    elsewhere (e.g. `ip netns exec NS`), `setup` runs in the child before it starts (a cgroup to join)."""

    what = "process"

    def __init__(self, name: str, cmd: list[str], log_path: Path, env: dict[str, str] | None = None,
                 setup: Callable[[], None] | None = None):
        self.name, self.cmd, self.log_path = name, cmd, log_path
        self.env = {**os.environ, **(env or {})}
        self.setup = setup
        self.proc: subprocess.Popen | None = None

    def spawn(self, timeout_s: float = 60.0) -> str:
        """Spawn and wait for the child's `ready` line, which is returned."""
        def preexec() -> None:
            die_with_parent()
            if self.setup is not None:
                self.setup()

        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=log, env=self.env, preexec_fn=preexec)
        log.close()
        deadline = time.monotonic() + timeout_s
        line = b""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()  # type: ignore[union-attr]
            if line.startswith(b"ready") or not line:
                break
        if not line.startswith(b"ready"):
            self.kill()
            tail = self.log_path.read_text(errors="replace")[-800:] if self.log_path.exists() else ""
            raise TestbedError(f"{self.what} {self.name} did not start: {tail.strip() or 'no output'}",
                               f"see {self.log_path}")
        return line.decode().strip()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def exit_code(self, wait_s: float = 0.0) -> int | None:
        """The exit status once dead (-9: SIGKILL, as the OOM killer sends), None while alive."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=wait_s) if wait_s > 0 else self.proc.poll()
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


class TierProcess(ChildProcess):
    """One `python -m edgewise.tiers.server` child."""

    what = "tier server"

    def __init__(self, tier: str, listen: str, log_path: Path, *, token: str | None = None, threads: int = 1,
                 speed: float = 1.0, host_board: str | None = None, queue_depth: int = DEFAULT_QUEUE_DEPTH,
                 peers: dict[str, str] | None = None, shapes: dict[str, LinkShape] | None = None,
                 control: str | None = None, prefix: tuple[str, ...] = (),
                 setup: Callable[[], None] | None = None):
        cmd = [*prefix, sys.executable, "-m", "edgewise.tiers.server", "--tier", tier, "--listen", listen,
               "--threads", str(threads), "--speed", repr(float(speed)), "--cpu-only",
               "--queue-depth", str(queue_depth),
               "--shapes", json.dumps({k: v.to_dict() for k, v in (shapes or {}).items()}),
               # Received models go beside the log, in the testbed's directory, which the testbed
               # removes: a server killed with SIGKILL cannot clean up after itself.
               "--workdir", str(log_path.parent / f"{tier}-models")]
        if host_board:
            cmd += ["--host-board", host_board]
        if peers:
            cmd += ["--peers", ",".join(f"{k}={v}" for k, v in peers.items())]
        if control:
            cmd += ["--control", control]
        super().__init__(tier, cmd, log_path, {"EDGEWISE_TOKEN": token or "", "OMP_NUM_THREADS": str(threads)},
                         setup)
        self.tier = tier
        self.address: str | None = None

    def start(self, timeout_s: float = 60.0) -> str:
        """Spawn and wait for the server's `ready TIER ADDRESS` line; returns the address it listens on."""
        self.address = self.spawn(timeout_s).split()[2]
        return self.address


class ProbeProcess(ChildProcess):
    """The testbed's probe of the host's speed (`python -m edgewise.tiers.hostspeed`): it posts on `board`."""

    what = "host speed probe"

    def __init__(self, board: Path, nominal_probe_s: float, log_path: Path, setup: Callable[[], None] | None = None):
        cmd = [sys.executable, "-m", "edgewise.tiers.hostspeed", "--board", str(board),
               "--nominal-probe-s", repr(float(nominal_probe_s))]
        super().__init__("probe", cmd, log_path, {"OMP_NUM_THREADS": "1"}, setup)
