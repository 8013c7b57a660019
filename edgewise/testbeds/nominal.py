"""The host's nominal speed: the reference workloads' times on this host when it is quiet.

Every emulated tier's speed is relative to it (tiers/speed.py), so a tier is a device with an absolute
speed: a study measured today and one measured next week on this machine emulate the same devices,
whatever the host did meanwhile. It is measured once per machine and kept in the user's cache, and each
study keeps the one it was measured against (a resumed study emulates the devices it started with).

"When it is quiet" is estimated, not known: the workloads run in interleaved rounds spread over a few
seconds, and each one's nominal time is the lower quartile of its round medians (a neighbour only ever
slows the host down). Measured on a host that stayed busy throughout, the nominal is slow and every
device with it; `edgewise testbed nominal --measure` measures it again.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgewise.environment import cpu_model, usable_cores
from edgewise.testbeds.awake import AwakeCores
from edgewise.tiers.reference import PROBE_WORKLOAD, SPEED_WORKLOADS, ReferenceRunner

NOMINAL_FORMAT = 3
ROUNDS = 40
ROUND_PAUSE_S = 0.05  # between rounds, so that they sample a few seconds of the host, not one burst
RUNS_PER_ROUND = {"0.3ms": 8, "3ms": 3, "30ms": 1}
BUSY_LOAD, BUSY_SPREAD = 0.3, 1.15


@dataclass(frozen=True)
class HostNominal:
    """The reference workloads' times on this host when quiet (one thread, seconds)."""

    cpu: str
    workloads_s: dict[str, float]
    measured: float  # when (unix time)
    spread: dict[str, float] = field(default_factory=dict)  # per workload: p90/p10 of its round medians
    load: float | None = None  # the host's load average per usable core when measured: above ~0.3 it was busy

    @property
    def busy(self) -> bool:
        """Whether the host was busy while this was measured (other work on a third of its cores or more,
        or a spread of its rounds no quiet host shows)."""
        return (self.load or 0.0) > BUSY_LOAD or any(s > BUSY_SPREAD for s in self.spread.values())

    @property
    def probe_s(self) -> float:
        """The probe's nominal time, which a tier server follows the host's speed against."""
        return self.workloads_s[PROBE_WORKLOAD]

    def to_dict(self) -> dict[str, Any]:
        return {"format": NOMINAL_FORMAT, "cpu": self.cpu, "workloads_s": dict(self.workloads_s),
                "measured": self.measured, "spread": dict(self.spread), "load": self.load}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HostNominal":
        return cls(str(data["cpu"]), {k: float(v) for k, v in data["workloads_s"].items()}, float(data["measured"]),
                   {k: float(v) for k, v in (data.get("spread") or {}).items()}, data.get("load"))

    def describe(self) -> str:
        times = ", ".join(f"{name} workload {s * 1e3:.3g} ms" for name, s in self.workloads_s.items())
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.measured))
        return f"nominal host ({self.cpu}, measured {when}): {times}"


def measure_nominal(rounds: int = ROUNDS, pause_s: float = ROUND_PAUSE_S) -> HostNominal:
    """Each reference workload in interleaved rounds; per workload the lower quartile of its round medians.
    The cores are held awake meanwhile, as while a testbed emulates (a run after a round's pause would
    otherwise pay the idle spell)."""
    with AwakeCores():
        return _measure_nominal(rounds, pause_s)


def _measure_nominal(rounds: int, pause_s: float) -> HostNominal:
    load = os.getloadavg()[0] / usable_cores()
    runners = {name: ReferenceRunner(name) for name in SPEED_WORKLOADS}
    for runner in runners.values():
        runner.once()  # a session's first run allocates
    medians: dict[str, list[float]] = {name: [] for name in runners}
    for r in range(rounds):
        for name in _rotated(list(runners), r):
            runner = runners[name]
            medians[name].append(statistics.median(runner.once() for _ in range(RUNS_PER_ROUND.get(name, 1))))
        time.sleep(pause_s)
    workloads = {name: float(np.percentile(values, 25)) for name, values in medians.items()}
    spread = {name: float(np.percentile(values, 90) / np.percentile(values, 10)) for name, values in medians.items()}
    return HostNominal(cpu_model(), workloads, time.time(), spread, round(load, 2))


def host_factor_now(nominal_ms: dict[str, float], runs: int = 15) -> float:
    """How much slower than nominal this host runs the probe now (one thread; median of `runs`)."""
    runner = ReferenceRunner(PROBE_WORKLOAD)
    runner.once()
    return statistics.median(runner.once() for _ in range(runs)) * 1e3 / nominal_ms[PROBE_WORKLOAD]


def _rotated(names: list[str], r: int) -> list[str]:
    k = r % len(names)
    return names[k:] + names[:k]


def nominal_file() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgewise" / "host-nominal.json"


def machine_nominal(remeasure: bool = False, log: Callable[[str], None] | None = None) -> HostNominal:
    """This machine's nominal speed: from the user's cache, or measured now (and kept) for this CPU."""
    path, cpu = nominal_file(), cpu_model()
    kept = _read(path)
    if not remeasure and cpu in kept:
        try:
            record = HostNominal.from_dict(kept[cpu])
        except (KeyError, TypeError, ValueError):
            record = None  # a damaged record is measured again
        # One measured on a busy host is a poor anchor: it is replaced once the host is found quiet.
        if record is not None and not (record.busy and os.getloadavg()[0] / usable_cores() <= BUSY_LOAD):
            return record
    if log:
        log("measuring this host's nominal speed (the reference workloads, a few seconds)")
    nominal = measure_nominal()
    kept[cpu] = nominal.to_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"format": NOMINAL_FORMAT, "hosts": kept}, indent=1))
    tmp.replace(path)  # atomic: concurrent studies never read half a file
    return nominal


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    hosts = data.get("hosts") if isinstance(data, dict) and data.get("format") == NOMINAL_FORMAT else None
    return dict(hosts) if isinstance(hosts, dict) else {}
