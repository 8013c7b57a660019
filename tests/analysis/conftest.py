"""Reference data loaded once per session, and a small synthetic study results.json following the schema."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgewise.analysis import load_results
from edgewise.reference_data import BLACKBOX_LATENCY, WHITEBOX_LATENCY, reference_files

WHITEBOX = reference_files()[WHITEBOX_LATENCY]
BLACKBOX = reference_files()[BLACKBOX_LATENCY]


@pytest.fixture(scope="session")
def whitebox():
    return load_results(WHITEBOX)


@pytest.fixture(scope="session")
def blackbox():
    return load_results(BLACKBOX)


def _cell(subject, chain, placement, latency_ms, n, correct, rng, status="ok", error=None):
    latencies = (rng.lognormal(np.log(latency_ms), 0.1, n) / 1e3).tolist() if status == "ok" else []
    return {"cell": f"{subject}:{chain}@{placement}", "subject": subject, "chain": chain, "placement": placement,
            "status": status, "error": error, "task": "image-classification", "metric": "top1",
            "accuracy": {"top1": float(np.mean(correct))} if status == "ok" else {},
            "correct": [int(c) for c in correct] if status == "ok" else None,
            "latency_s": latencies, "warmup_latency_s": latencies[:2],
            "breakdown_s": {"compute:edge": [x * 0.8 for x in latencies]},
            "artifact": {"key": "ab12", "size_bytes": 1000, "parts": 1, "meta": {}}}


def synthetic_results() -> dict:
    """cnn: identity 40 ms, sptq 20 ms (-0.5 points), distill 10 ms (-6 points), prune as fast as identity;
    on mobile only 20 samples per cell (too few for p95); one cell that did not fit."""
    rng = np.random.default_rng(7)
    base = rng.random(2000) < 0.9
    def degrade(flips):
        out = base.copy()
        out[np.flatnonzero(base)[:flips]] = False
        return out
    cells = []
    for placement, n, scale in (("edge", 200, 1.0), ("mobile", 20, 3.0)):
        cells += [_cell("cnn", "identity", placement, 40 * scale, n, base, rng),
                  _cell("cnn", "sptq", placement, 20 * scale, n, degrade(10), rng),
                  _cell("cnn", "distill", placement, 10 * scale, n, degrade(120), rng),
                  _cell("cnn", "prune", placement, 40 * scale, n, degrade(2), rng)]
    cells.append(_cell("cnn", "identity", "cloud", 0, 0, base, rng, status="does-not-fit", error="needs 4 GB"))
    return {"format": "edgewise-results/1",
            "study": {"name": "synthetic", "profile": "quick", "seed": 0,
                      "sla": {"max_latency_ms": 50, "percentile": 95, "max_accuracy_drop": 1.0}},
            "environment": {"edgewise": "0.1.0"}, "emulation": {"ok": True}, "cells": cells}


@pytest.fixture(scope="session")
def study_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("study")
    (d / "results.json").write_text(json.dumps(synthetic_results()))
    return d
