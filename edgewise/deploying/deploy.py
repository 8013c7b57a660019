"""An artifact's parts on a testbed's tiers: load them, get them back after a tier restarts, unload them.

A `Deployment` keeps the ledger of what each tier holds (artifact id, part file, role, preprocessing).
A tier server that dies comes back empty from `Testbed.restart`; the ledger is what lets the
deployment load exactly its parts again, so the measurement resumes where it stopped. A real
host (remote testbed) cannot be restarted from here: its restart raises `TierLost`, which the
caller turns into cells that wait for a later run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from edgewise.errors import EdgewiseError, TestbedError
from edgewise.testbeds.base import Testbed
from edgewise.tiers.client import TierClient, TierDown
from edgewise.tiers.wire import FULL, HEAD, TAIL


def part_roles(split: bool) -> tuple[str, ...]:
    """The role each part of an artifact plays on its tier: one whole model, or a head and a tail."""
    return (HEAD, TAIL) if split else (FULL,)


@dataclass(frozen=True)
class Part:
    """One part loaded on a tier. Only the head (or a full model) preprocesses the raw payload."""

    artifact_id: str
    path: Path
    role: str
    preprocessing: dict[str, Any] | None = field(default=None, compare=False)
    runtime: dict[str, Any] | None = field(default=None, compare=False)  # {name, settings}; None: ONNX Runtime
    io: dict[str, Any] | None = field(default=None, compare=False)  # names a runtime's form does not carry


class Deployment:
    """The parts loaded through `client` on `testbed`'s tiers, and what to do when a tier dies."""

    def __init__(self, testbed: Testbed, client: TierClient, cold_start: bool = False):
        self.testbed, self.client, self.cold_start = testbed, client, cold_start
        self._held: dict[str, list[Part]] = {}  # tier -> its parts, in load order

    def held(self, tier: str) -> list[Part]:
        return list(self._held.get(tier, []))

    def deploy(self, artifact_id: str, tiers: Sequence[str], parts: Sequence[Path], split: bool,
               preprocessing: dict[str, Any] | None, runtime: dict[str, Any] | None = None,
               io: dict[str, Any] | None = None) -> None:
        """Load each part on its tier (the head or full model with `preprocessing`), served by `runtime`;
        parts a tier holds already are not sent again. Raises DoesNotFit when a tier's memory cannot hold
        its part, TierLost when a real host is down and stays down, TierDown when another testbed's tier is,
        and the tier's error when its runtime cannot load the part."""
        for tier, role, path in zip(tiers, part_roles(split), parts):
            part = Part(artifact_id, Path(path), role, preprocessing if role in (FULL, HEAD) else None, runtime, io)
            if part in self._held.get(tier, []):
                continue
            self._load_or_lost(tier, part)
            self._held.setdefault(tier, []).append(part)

    def reload(self, tier: str) -> int:
        """Load again every part `tier` held (its server came back empty); returns how many."""
        held = self._held.get(tier, [])
        for part in held:
            self._load(tier, part)
        return len(held)

    def restart(self, tier: str) -> int:
        """Restart `tier`'s server and reload its parts; returns how many were reloaded."""
        self.testbed.restart(tier)
        return self.reload(tier)

    def recover(self, tier: str, attempts: int = 1,
                on_failed_attempt: Callable[[int, Exception], None] | None = None) -> int:
        """Restart a dead tier and reload its parts, up to `attempts` times: a fresh server can die too
        (killed while starting or reloading). Returns how many parts were reloaded; raises the last
        failure (TierLost for a real host that stays down)."""
        for attempt in range(1, attempts + 1):
            try:
                return self.restart(tier)
            except (TestbedError, TierDown) as exc:
                if on_failed_attempt is not None:
                    on_failed_attempt(attempt, exc)
                if attempt == attempts:
                    raise
        raise ValueError(f"attempts must be at least 1, not {attempts}")

    def unload_all(self) -> None:
        """Unload every artifact from every tier that holds a part of it, best effort: a tier that went
        away has nothing left to unload."""
        for tier, parts in self._held.items():
            for artifact_id in dict.fromkeys(p.artifact_id for p in parts):
                try:
                    self.client.unload(tier, artifact_id)
                except EdgewiseError:
                    pass
        self._held.clear()

    def _load(self, tier: str, part: Part) -> None:
        self.client.load(tier, part.artifact_id, part.path, part.role, part.preprocessing, self.cold_start,
                         runtime=part.runtime, io=part.io)

    def _load_or_lost(self, tier: str, part: Part) -> None:
        """A real host found down at LOAD: its restart raises TierLost unless its owner brought it back."""
        try:
            self._load(tier, part)
        except TierDown:
            if self.testbed.can_restart:
                raise  # a tier this testbed can start again is restarted by the caller's recovery
            self.testbed.restart(tier)
            self._load(tier, part)
