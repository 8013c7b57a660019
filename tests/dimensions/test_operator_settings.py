"""Operator settings as chains: `prune[ratio=0.3]` plans, builds, measures and reports as its own chain."""

from __future__ import annotations

import json
import re

import pytest

from edgewise.config import parse_study
from edgewise.errors import PlanError
from edgewise.operators.chain import Chain
from edgewise.planning.plan import Cell, plan_cells
from edgewise.study import RunOptions, Study


def test_settings_override_the_operators_section_for_their_link_only():
    chain = Chain.parse("prune[ratio=0.3]+sptq")
    prune, sptq = chain.operators({"prune": {"ratio": 0.5, "epochs": 0}, "sptq": {"calibration": "entropy"}})
    assert (prune.params.ratio, prune.params.epochs, sptq.params.calibration) == (0.3, 0, "entropy")
    assert chain.name == "prune[ratio=0.3]+sptq" and chain.names == ("prune", "sptq")
    assert Chain.parse("identity+sptq[calibration=entropy]").name == "sptq[calibration=entropy]"
    assert Chain.parse("sptq").settings == ()  # a chain without settings is what it always was


@pytest.mark.parametrize("chain, words", [("prune[ratio=1.5]", "less than 1"), ("prune[rate=0.3]", "valid parameters"),
                                          ("sptq[calibration=median]", "'minmax'"), ("prune[ratio]", "key=value"),
                                          ("prune[]", "empty brackets")])
def test_invalid_settings_are_refused_at_plan_time_with_a_hint(chain, words):
    study = parse_study({"subjects": ["tiny-cnn"], "cells": [{"chains": [chain], "placements": ["edge"]}]})
    with pytest.raises(PlanError) as err:
        plan_cells(study)
    assert words in str(err.value) and chain in str(err.value)


def test_cell_names_with_settings_round_trip():
    for text in ("tiny-cnn:prune[ratio=0.3]@edge", "bert:sptq[calibration=entropy]+partition[cut=stem]@mobile-edge"):
        assert Cell.parse(text).name == text


def test_a_prune_sweep_yields_three_smaller_artifacts_and_one_curve(tmp_path, cache_dir):
    ratios = (0.3, 0.5, 0.7)
    study = parse_study({
        "name": "sweep", "subjects": ["tiny-cnn"],
        "cells": [{"chains": [f"prune[ratio={r}]" for r in ratios], "placements": ["edge"]}],
        "testbed": {"kind": "local", "verify": False},
        "measure": {"inputs": 3, "passes": 2, "warmup_passes": 1, "evaluation_samples": 100},
        "operators": {"prune": {"epochs": 0}},  # no fine-tuning: the sizes are what is tested
    })
    path = Study.open(study, RunOptions(out=tmp_path / "run", profile=None, cache_dir=cache_dir, log=lambda m: None)).run()
    results = json.loads(path.read_text())
    cells = {c["chain"]: c for c in results["cells"]}
    assert list(cells) == [f"prune[ratio={r}]" for r in ratios]
    keys = {c["artifact"]["key"] for c in cells.values()}
    assert len(keys) == 3, "the settings are part of the artifact key"
    params = [cells[f"prune[ratio={r}]"]["artifact"]["meta"]["parameters_after"] for r in ratios]
    assert params[0] > params[1] > params[2], params
    assert all(c["status"] == "ok" and len(c["latency_s"]) == 3 for c in cells.values())
    html = (tmp_path / "run" / "report.html").read_text()
    part = html[html.index('<section id="settings">'):]
    part = part[: part.index("</section>")]
    assert len(re.findall(r"<polyline [^>]*stroke-width=\"1.8\"", part)) == 1, "one curve for the one swept operator"
    for r in ratios:
        assert f"ratio={r}" in part
