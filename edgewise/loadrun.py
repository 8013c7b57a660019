"""The server scenario over a study's cells: deploy each cell, find the largest rate it sustains.

For every cell: load its parts on their tiers, warm up, measure the bottleneck tier's service time
one request at a time (its physical limit is 1 / that time per compute worker), then offer Poisson
load searched up to the largest rate whose SLA percentile holds on MLPerf's early-stopping bound,
and, when the SLA names a rate, that rate itself. Peak RSS per tier is read after each rate.
Writes OUT/load.json, then OUT/load.md and OUT/load.html.
"""

from __future__ import annotations

import itertools
import json
import time
from contextlib import ExitStack
from pathlib import Path

from edgewise.analysis.load import LOAD_FORMAT
from edgewise.config import StudyConfig
from edgewise.deploy import Deployment
from edgewise.errors import EdgewiseError
from edgewise.measure.load import Search, Step, find_max_rate, offer, requests_per_step, single_stream_service_s
from edgewise.report.load import write_load_report
from edgewise.study import RunOptions, Study
from edgewise.tiers.spec import direct_links, route_for
from edgewise.vocabulary import FAILED, FAILED_MARK, OK

_WARMUP_REQUESTS = 5
_SERVICE_REQUESTS = 30


def run_load(config: StudyConfig, options: RunOptions) -> Path:
    study = Study.open(config, options)
    cfg = study.config
    cells = study.plan()
    testbed = study.preflight(cells)
    built = study.build(cells)
    options.out.mkdir(parents=True, exist_ok=True)
    sla, load = cfg.sla, cfg.measure.load
    count = load.requests_per_step or requests_per_step(sla.percentile)
    records = []
    direct = direct_links(cfg.testbed.links)
    with ExitStack() as stack:
        stack.callback(testbed.stop)
        options.log(f"starting the {cfg.testbed.kind} testbed")
        testbed.start(cfg.testbed.tier_specs(), cfg.testbed.link_specs())
        client = testbed.client(timeout_s=cfg.measure.timeout_s)
        stack.callback(client.close)
        for b in built:
            record = {"cell": b.cell.name, "subject": b.cell.subject, "chain": b.cell.chain.name,
                      "placement": str(b.cell.placement)}
            if b.artifact is None:
                records.append({**record, "status": FAILED, "error": f"build failed: {b.error}"})
                continue
            deployment = Deployment(testbed, client)
            try:
                records.append({**record, "status": OK,
                                **_load_cell(study, deployment, b, route_for(b.cell.placement, direct), count)})
            except EdgewiseError as exc:
                records.append({**record, "status": FAILED, "error": str(exc)})
                options.log(f"{FAILED_MARK} load of {b.cell.name} failed: {exc}")
    path = options.out / "load.json"
    path.write_text(json.dumps({"format": LOAD_FORMAT, "study": {"name": cfg.name, "source": cfg.source,
                                                            "sla": sla.model_dump(), "load": load.model_dump(),
                                                            "requests_per_step": count, "seed": cfg.seed},
                                "cells": records}, indent=1))

    write_load_report(path, options.out)
    return path


def _load_cell(study: Study, deployment: Deployment, built, route, count: int) -> dict:
    cfg, art, placement, log = study.config, built.artifact, built.cell.placement, study.options.log
    sla, load = cfg.sla, cfg.measure.load
    client = deployment.client
    subject = study.subject(built.cell.subject)
    deployment.deploy(art.key, placement.tiers, art.parts, art.is_split, subject.preprocessing())
    payloads = subject.latency_inputs(cfg.measure.inputs)
    turn = itertools.count()

    def send() -> dict[str, float]:
        return client.infer(route, art.key, payloads[next(turn) % len(payloads)]).breakdown

    try:
        for _ in range(_WARMUP_REQUESTS):
            send()
        service = single_stream_service_s(send, _SERVICE_REQUESTS)
        seeds = itertools.count(cfg.seed * 1000)

        def step(rate: float) -> Step:
            for tier in placement.tiers:
                client.ping(tier, reset_peak=True)
            t0 = time.perf_counter()
            outcomes = offer(send, rate, count, next(seeds), load.max_in_flight)
            peaks = {tier: client.ping(tier)["peak_rss_mb"] for tier in placement.tiers}
            result = Step(rate, outcomes, sla.percentile, sla.max_latency_ms / 1e3, peaks)
            log(f"{built.cell.name}: {rate:.1f}/s -> {'holds' if result.holds else 'fails'} "
                f"({result.count('busy')} busy, {time.perf_counter() - t0:.1f} s)")
            return result

        search: Search = find_max_rate(step, 1.0 / service, load.precision, load.max_steps)
        at_rate = step(sla.rate_per_s).to_dict() if sla.rate_per_s else None
    finally:
        deployment.unload_all()
    return {"service_s": service, **search.to_dict(), "at_sla_rate": at_rate}
