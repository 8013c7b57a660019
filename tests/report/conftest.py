"""Fixtures of the report tests: synthetic results in the results.json shape, and the reference files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.report.synthetic import synthetic_results

REFERENCE = Path("/work/shared/reference")
WHITEBOX = REFERENCE / "whitebox-2411.00907-latency.csv"
BLACKBOX = REFERENCE / "blackbox-2403.17154-latency.csv"
CHAINS = ["identity", "sptq", "qat", "prune", "distill", "distill+sptq", "partition", "sptq+partition"]


@pytest.fixture(scope="session")
def results_json(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("study") / "results.json"
    path.write_text(json.dumps(synthetic_results(["resnet", "bert"], CHAINS, ["mobile", "edge", "cloud", "mobile-edge"])))
    return path


@pytest.fixture
def whitebox_csv() -> Path:
    if not WHITEBOX.exists():
        pytest.skip(f"the reference data is not on this machine ({WHITEBOX})")
    return WHITEBOX
