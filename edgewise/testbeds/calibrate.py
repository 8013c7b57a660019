"""Calibrate an emulated tier from a real device: the fixed workloads there and here, and the tier
settings (speed, threads) under which the emulated tier takes as long per request as the device.

The device runs `edgewise serve`; its compute time per request is the one its server records (the
network is left out). A tier's speed is relative to this host's nominal speed (testbeds/nominal.py):
on one thread it is the workload's nominal time over the device's. When the device is faster than one
of this host's cores, the workloads run here on as many threads as the device uses, in turns with the
device, and the host's drift from nominal meanwhile is taken out of the figure.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from edgewise.config import PRESETS
from edgewise.environment import usable_cores
from edgewise.testbeds.nominal import HostNominal, host_factor_now, machine_nominal
from edgewise.testbeds.verify import SPEED_REQUESTS, speed_samples
from edgewise.tiers import wire
from edgewise.tiers.client import TierClient
from edgewise.tiers.reference import SPEED_WORKLOADS
from edgewise.tiers.spec import CLIENT, Route


@dataclass
class Calibration:
    tier: str
    address: str
    device_threads: int
    threads: int  # the emulated tier's thread count
    device_ms: dict[str, float] = field(default_factory=dict)  # workload -> median compute on the device
    host_ms: dict[str, float] = field(default_factory=dict)  # workload -> median here with `threads`, now
    nominal_ms: dict[str, float] = field(default_factory=dict)  # workload -> its nominal time here, one thread
    drift: float = 1.0  # this host now against its nominal speed (one thread), while the device was measured
    capped: bool = False  # the device is faster than the nominal host: speed held at 1.0

    def speeds(self) -> dict[str, float]:
        """Per workload, the device's speed relative to the nominal host."""
        if self.threads <= 1:
            return {name: self.nominal_ms[name] / self.device_ms[name] for name in self.device_ms}
        return {name: self.host_ms[name] / self.drift / self.device_ms[name] for name in self.device_ms}

    @property
    def speed(self) -> float:
        """The geometric mean over the workload sizes, at most 1 (this host)."""
        values = list(self.speeds().values())
        return min(1.0, math.exp(sum(math.log(v) for v in values) / len(values)))

    def tier_settings(self) -> dict[str, Any]:
        preset = PRESETS["paper-scaled"]["tiers"].get(self.tier, {})
        return {"speed": round(self.speed, 3), "threads": self.threads,
                "cpus": float(max(self.threads, 1)), "memory_mb": preset.get("memory_mb", 1024)}

    def yaml(self) -> str:
        s = self.tier_settings()
        return "\n".join([
            "testbed:", "  tiers:", f"    {self.tier}:",
            f"      speed: {s['speed']}",
            f"      threads: {s['threads']}",
            f"      cpus: {s['cpus']}  # at least the thread count: one request stream is never throttled",
            f"      memory_mb: {s['memory_mb']}  # not measured: set the device's memory",
        ])

    def to_dict(self) -> dict[str, Any]:
        return {"tier": self.tier, "address": self.address, "device_threads": self.device_threads,
                "capped": self.capped, "settings": self.tier_settings(), "host_drift": self.drift,
                "workloads": {n: {"device_ms": self.device_ms[n], "host_ms": self.host_ms[n],
                                  "nominal_ms": self.nominal_ms[n], "speed": v}
                              for n, v in self.speeds().items()}}


def calibrate(address: str, token: str | None = None, quick: bool = False, timeout_s: float = 60.0,
              nominal: HostNominal | None = None) -> Calibration:
    """Measure the device at `address` against this host's nominal speed with the speed check's workloads."""
    nominal = nominal or machine_nominal()
    with TierClient({"device": address}, token, timeout_s) as probe:
        info = probe.ping("device")
    tier, device_threads = str(info.get("tier")), int(info.get("threads") or 1)
    route = Route(((tier, wire.FULL),), ((CLIENT, tier),))
    result = Calibration(tier, address, device_threads, threads=1,
                         nominal_ms={name: s * 1e3 for name, s in nominal.workloads_s.items()})
    with TierClient({tier: address}, token, timeout_s, ship_models=True) as client:
        _measure(client, route, result, quick)
        cores = usable_cores()
        if result.speed >= 1.0 and min(device_threads, cores) > 1:
            # Faster than one core here: compare against as many threads as the device uses.
            result.threads = min(device_threads, cores)
            _measure(client, route, result, quick)
        result.capped = any(v > 1.0 for v in result.speeds().values())
    return result


def _measure(client: TierClient, route: Route, result: Calibration, quick: bool) -> None:
    drift = []
    for name in SPEED_WORKLOADS:
        series = speed_samples(client, result.tier, route, result.threads, name, SPEED_REQUESTS[name][1 if quick else 0])
        result.device_ms[name] = statistics.median(series.on_tier) * 1e3
        result.host_ms[name] = statistics.median(series.on_host) * 1e3
        if result.threads <= 1:
            drift.append(result.host_ms[name] / result.nominal_ms[name])
    result.drift = statistics.median(drift) if drift else host_factor_now(result.nominal_ms)
