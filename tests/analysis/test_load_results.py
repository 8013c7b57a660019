"""Server-scenario results: the SLA answered at a rate, the table and the rate chart."""

from __future__ import annotations

import json

import numpy as np

from edgewise.analysis.load import read_load, recommend_at_rate
from edgewise.config import parse_study
from edgewise.measure.load import Outcome, Search, Step
from edgewise.report.load import write_load_report


def _step(rate: float, service_s: float, n: int = 160, busy: int = 0) -> Step:
    """Latencies that grow as the rate nears 1 / service (mean service / (1 - load)), seeded."""
    rho = min(rate * service_s, 0.99)
    lat = service_s / (1 - rho) * np.random.default_rng(int(rate)).uniform(0.5, 1.5, n)
    outcomes = [Outcome(i / rate, i / rate, float(x), "ok", {"queue:edge": float(x) / 2, "compute:edge": service_s})
                for i, x in enumerate(lat)]
    outcomes += [Outcome(0.0, 0.0, 0.0, "busy") for _ in range(busy)]
    return Step(rate, outcomes, 95, 0.05, {"edge": 300.0})


def _cell(name: str, service_s: float, rates: list[float], at: float) -> dict:
    search = Search([_step(r, service_s) for r in rates], 1 / service_s)
    subject, rest = name.split(":")
    chain, placement = rest.split("@")
    return {"cell": name, "subject": subject, "chain": chain, "placement": placement, "status": "ok",
            "service_s": service_s, **search.to_dict(), "at_sla_rate": _step(at, service_s).to_dict()}


def test_rate_answer_table_and_chart(tmp_path):
    cells = [_cell("resnet:identity@edge", 0.010, [20, 40, 60, 80], 40),  # ~100/s: holds 40/s
             _cell("resnet:sptq@edge", 0.004, [50, 100, 150, 200], 40),  # ~250/s: holds 40/s with headroom
             _cell("bert:identity@edge", 0.030, [10, 20, 30], 40),  # ~33/s: cannot hold 40/s
             {"cell": "bert:sptq@edge", "subject": "bert", "chain": "sptq", "placement": "edge", "status": "failed",
              "error": "build failed: boom"}]
    sla = parse_study({"subjects": ["resnet"], "cells": [{"chains": ["identity"], "placements": ["edge"]}],
                       "sla": {"max_latency_ms": 50, "percentile": 95, "rate_per_s": 40}}).sla
    path = tmp_path / "load.json"
    path.write_text(json.dumps({"format": "edgewise-load/1", "study": {"name": "t", "sla": sla.model_dump(),
                                                                      "requests_per_step": 160}, "cells": cells}))
    study, loaded = read_load(tmp_path)
    answer = recommend_at_rate(loaded, 40)
    assert [v.cell.name for v in answer["resnet"] if v.holds] == ["resnet:sptq@edge", "resnet:identity@edge"]
    assert "measured at 40/s: bound" in answer["resnet"][0].evidence
    assert not any(v.holds for v in answer["bert"])
    assert "build failed" in dict((v.cell.name, v.evidence) for v in answer["bert"])["bert:sptq@edge"]
    resnet = next(c for c in loaded if c.name == "resnet:identity@edge")
    assert resnet.max_rate_per_s is not None and resnet.bound_at_max["method"] == "mlperf-early-stopping"
    write_load_report(path, tmp_path)
    md = (tmp_path / "load.md").read_text()
    assert "| resnet | resnet:sptq@edge | 2 of 2 cells hold |" in md and "| bert | none | 0 of 2 cells hold |" in md
    assert "order statistic" in md and "peak RSS 300 MiB" in md
    html = (tmp_path / "load.html").read_text()
    assert html.count("<svg") == 3 and "latency against offered rate" in html and "limit 50 ms" in html
