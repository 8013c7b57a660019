"""Fixtures of the report tests: synthetic results in the results.json shape, and the reference files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgewise.reference_data import BLACKBOX_LATENCY, WHITEBOX_LATENCY, reference_files
from tests.report.synthetic import synthetic_results

WHITEBOX = reference_files()[WHITEBOX_LATENCY]
BLACKBOX = reference_files()[BLACKBOX_LATENCY]
CHAINS = ["identity", "sptq", "qat", "prune", "distill", "distill+sptq", "partition", "sptq+partition"]


@pytest.fixture(scope="session")
def results_json(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("study") / "results.json"
    path.write_text(json.dumps(synthetic_results(["resnet", "bert"], CHAINS, ["mobile", "edge", "cloud", "mobile-edge"])))
    return path


@pytest.fixture
def whitebox_csv() -> Path:
    return WHITEBOX
