"""The server scenario: for each cell, the largest request rate it sustains within the SLA.

For every cell: warm up, measure the bottleneck tier's service time one request at a time (its physical
limit is 1 / that time per compute worker), then offer Poisson load searched up to the largest rate whose
SLA percentile holds on MLPerf's early-stopping bound, and, when the SLA names a rate, that rate itself.
Peak RSS per tier is read after each rate. Each cell's record goes to the sink (the study's store), from
which load.json, load.md and load.html are written.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Callable

from edgewise.errors import EdgewiseError
from edgewise.measure.latency import CellJob
from edgewise.measure.load import Search, Step, find_max_rate, offer, requests_per_step, single_stream_service_s
from edgewise.sla import Sla
from edgewise.tiers.client import TierClient
from edgewise.vocabulary import FAILED, FAILED_MARK

WARMUP_REQUESTS = 5
SERVICE_REQUESTS = 30


@dataclass
class Server:
    """The scenario's settings: the study's SLA and `measure.load` section, its seed."""

    sla: Sla
    load: object  # config.LoadConfig
    seed: int = 0

    @property
    def requests_per_step(self) -> int:
        return self.load.requests_per_step or requests_per_step(self.sla.percentile)

    def measure(self, client: TierClient, jobs: list[CellJob], tiers_of: dict[str, tuple[str, ...]],
                payloads: list[bytes], sink, log: Callable[[str], None]) -> None:
        """Each job's search into `sink.add_load`; a cell that fails fails alone, with its reason."""
        for job in jobs:
            try:
                sink.add_load(job.name, self._cell(client, job, tiers_of[job.name], payloads, log))
            except EdgewiseError as exc:
                sink.set_cell(job.name, FAILED, str(exc))
                log(f"{FAILED_MARK} load of {job.name} failed: {exc}")

    def _cell(self, client: TierClient, job: CellJob, tiers: tuple[str, ...], payloads: list[bytes],
              log: Callable[[str], None]) -> dict:
        sla, load, count = self.sla, self.load, self.requests_per_step
        turn = itertools.count()

        def send() -> dict[str, float]:
            return client.infer(job.route, job.artifact_id, payloads[next(turn) % len(payloads)]).breakdown

        for _ in range(WARMUP_REQUESTS):
            send()
        service = single_stream_service_s(send, SERVICE_REQUESTS)
        seeds = itertools.count(self.seed * 1000)

        def step(rate: float) -> Step:
            for tier in tiers:
                client.ping(tier, reset_peak=True)
            t0 = time.perf_counter()
            outcomes = offer(send, rate, count, next(seeds), load.max_in_flight)
            peaks = {tier: client.ping(tier)["peak_rss_mb"] for tier in tiers}
            result = Step(rate, outcomes, sla.percentile, sla.max_latency_ms / 1e3, peaks)
            log(f"{job.name}: {rate:.1f}/s -> {'holds' if result.holds else 'fails'} "
                f"({result.count('busy')} busy, {time.perf_counter() - t0:.1f} s)")
            return result

        search: Search = find_max_rate(step, 1.0 / service, load.precision, load.max_steps)
        at_rate = step(sla.rate_per_s).to_dict() if sla.rate_per_s else None
        return {"service_s": service, **search.to_dict(), "at_sla_rate": at_rate}
