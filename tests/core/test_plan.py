import json
import subprocess
import sys

import pytest

from edgewise.config import load_study, parse_study
from edgewise.errors import PlanError
from edgewise.planning.plan import Cell, plan_cells
from edgewise.tiers.spec import Placement, route_for


def test_paper_plan_has_the_80_reference_cells():
    cells = plan_cells(load_study("examples/paper.yaml"))
    names = [c.name for c in cells]
    assert len(names) == len(set(names)) == 80
    assert "resnet:distill+sptq@edge" in names and "bert:sptq+partition@mobile-edge" in names
    assert sum(c.placement.is_split for c in cells) == 8


def test_plan_json_cli_lists_80_cells():
    out = subprocess.run([sys.executable, "-m", "edgewise.cli", "plan", "examples/paper.yaml", "--json"],
                         capture_output=True, text=True, check=True).stdout
    cells = json.loads(out)
    assert len(cells) == 80 and set(cells[0]) == {"cell", "subject", "chain", "placement"}


@pytest.mark.parametrize("text", ["resnet:distill+sptq@edge", "bert:sptq+partition@mobile-edge", "my.net:identity@cloud"])
def test_cell_names_round_trip(text):
    assert Cell.parse(text).name == text


@pytest.mark.parametrize(
    "chains, placements, reason",
    [
        (["partition+qat"], ["mobile-edge"], "put partition last"),
        (["sptq+qat"], ["edge"], "white-box operators"),
        (["sptq+sptq"], ["edge"], "floating-point"),
        (["partition"], ["edge"], "tier pair"),
        (["sptq"], ["mobile-edge"], "no partition"),
        (["identity"], ["cloud-edge"], "nearer the device"),
        (["identity"], ["fog"], "unknown tier"),
        (["teleport"], ["edge"], "unknown operator"),
    ],
)
def test_impossible_cells_are_refused_with_the_reason(chains, placements, reason):
    study = parse_study({"subjects": ["resnet"], "cells": [{"chains": chains, "placements": placements}]})
    with pytest.raises(PlanError, match=reason):
        plan_cells(study)


def test_white_box_refused_on_onnx_only_subject():
    study = parse_study({"subjects": [{"name": "mine", "onnx": "m.onnx"}],
                         "cells": [{"chains": ["distill"], "placements": ["edge"]}]})
    with pytest.raises(PlanError, match="trainable PyTorch model"):
        plan_cells(study, onnx_only={"mine"})


def test_routes_relay_through_the_tiers_as_the_reference_did():
    assert route_for(Placement.parse("cloud")).hops == (("mobile", "relay"), ("edge", "relay"), ("cloud", "full"))
    assert route_for(Placement.parse("mobile-cloud")).hops == (("mobile", "head"), ("edge", "relay"), ("cloud", "tail"))
    direct = route_for(Placement.parse("mobile-cloud"), {frozenset({"mobile", "cloud"})})
    assert direct.hops == (("mobile", "head"), ("cloud", "tail"))
    assert direct.links == (("client", "mobile"), ("mobile", "cloud"))


def test_unknown_subject_is_refused_at_plan_time():
    study = parse_study({"subjects": ["resnot"], "cells": [{"chains": ["identity"], "placements": ["edge"]}]})
    with pytest.raises(PlanError, match="unknown subject 'resnot'"):
        plan_cells(study)
