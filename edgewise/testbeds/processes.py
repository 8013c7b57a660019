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
from edgewise.tiers.wire import LinkShape

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent() -> None:
    """In a child: be killed when the testbed's process dies, so no tier server outlives a crash."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class TierProcess:
    """One `python -m edgewise.tiers.server` child; `prefix` runs it elsewhere (e.g. `ip netns exec NS`)."""

    def __init__(self, tier: str, listen: str, log_path: Path, *, token: str | None = None, threads: int = 1,
                 speed: float = 1.0, queue_depth: int = DEFAULT_QUEUE_DEPTH,
                 peers: dict[str, str] | None = None, shapes: dict[str, LinkShape] | None = None,
                 control: str | None = None, prefix: tuple[str, ...] = (),
                 setup: Callable[[], None] | None = None):
        self.tier = tier
        self.log_path = log_path
        self.address: str | None = None
        self.cmd = [*prefix, sys.executable, "-m", "edgewise.tiers.server", "--tier", tier, "--listen", listen,
                    "--threads", str(threads), "--speed", repr(float(speed)), "--cpu-only",
                    "--queue-depth", str(queue_depth),
                    "--shapes", json.dumps({k: v.to_dict() for k, v in (shapes or {}).items()}),
                    # Received models go beside the log, in the testbed's directory, which the testbed
                    # removes: a server killed with SIGKILL cannot clean up after itself.
                    "--workdir", str(log_path.parent / f"{tier}-models")]
        if peers:
            self.cmd += ["--peers", ",".join(f"{k}={v}" for k, v in peers.items())]
        if control:
            self.cmd += ["--control", control]
        self.env = {**os.environ, "EDGEWISE_TOKEN": token or "", "OMP_NUM_THREADS": str(threads)}
        self.setup = setup
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> str:
        """Spawn and wait for the server's `ready` line; returns the address it listens on."""
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
            if line.startswith(b"ready ") or not line:
                break
        if not line.startswith(b"ready "):
            self.kill()
            tail = self.log_path.read_text(errors="replace")[-800:] if self.log_path.exists() else ""
            raise TestbedError(f"tier server {self.tier} did not start: {tail.strip() or 'no output'}",
                               f"see {self.log_path}")
        self.address = line.split()[2].decode()
        return self.address

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
