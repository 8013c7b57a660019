"""Measuring a tier's per-request slowdown in tests, on a host that other work shares.

A timing check gets up to three attempts and passes when one lands within the bound: load on the
host can only make a slow tier slower, never make it look right by chance.
"""

from __future__ import annotations

import statistics

from edgewise.testbeds.verify import SPEED_TOLERANCE, speed_samples

ATTEMPTS = 3


def within(measure, requested: float, tolerance: float = SPEED_TOLERANCE, also=lambda extra: True):
    """The first of up to ATTEMPTS `measure()` results (achieved, extra) within `tolerance` of `requested`
    (and for which `also(extra)` holds)."""
    for _ in range(ATTEMPTS):
        achieved, extra = measure()
        if abs(achieved - requested) / requested <= tolerance and also(extra):
            break
    return achieved, extra


def tight(on_tier: list[float], cold_s: float = 0.0) -> bool:
    """No request stalls behind a quota: the bimodal quota gave p90/p50 ~3. Above 1.5 x p50, a request may
    also pay `cold_s`, the cold start its workload pays on this host now (stretched to the tier's time):
    it is most of a sub-millisecond step's spread on a busy host, and no quota's doing."""
    return p90_over_p50(on_tier) <= 1.5 + cold_s / statistics.median(on_tier)


def slowdown(client, tier: str, route, workload: str, requests: int = 15, threads: int = 1, nominal=None):
    """Median compute on the tier / the workload's nominal time (a tier that follows the nominal host speed),
    or / its median on this host now (a tier relative to the host as it is); the tier's compute times; and
    the series (its `cold_extra_s()`: what the workload's cold start costs on this host now)."""
    series = speed_samples(client, tier, route, threads, workload, requests)
    host = nominal.workloads_s[workload] if nominal is not None else statistics.median(series.on_host)
    return statistics.median(series.on_tier) / host, series.on_tier, series


def p90_over_p50(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] / statistics.median(values)
