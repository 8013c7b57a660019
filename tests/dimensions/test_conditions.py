"""Network conditions as a study dimension: named cells, links reshaped in place, resume per condition."""

from __future__ import annotations

import json
import sqlite3

import pytest

from edgewise.config import TestbedConfig, parse_study
from edgewise.errors import ConfigError
from edgewise.planning.conditions import Condition, links_for_partition, study_conditions
from edgewise.planning.plan import Cell, plan_cells
from edgewise.study import RunOptions, Study
from edgewise.tiers.spec import Placement

SPLIT_CELLS = [{"chains": ["identity"], "placements": ["cloud"]}, {"chains": ["partition"], "placements": ["edge-cloud"]}]


def _study(conditions, cells=None, **extra):
    return parse_study({"name": "net", "subjects": ["tiny-cnn"],
                        "cells": cells or [{"chains": ["identity"], "placements": ["edge", "cloud"]}],
                        # verification under load is tested on the testbeds themselves (test_reshape.py)
                        "testbed": {"kind": "local", "verify": False, "links": {"edge-cloud": {"bandwidth_mbit": 100}}},
                        "conditions": conditions,
                        "measure": {"inputs": 3, "passes": 2, "warmup_passes": 1, "evaluation_samples": 50},
                        **extra})


def test_a_grid_names_every_condition_and_every_cell_under_it():
    study = _study({"edge-cloud": {"bandwidth_mbit": [1, 5, 20, 100], "delay_ms": [0, 25]}})
    names = [c.name for c in study_conditions(study)]
    assert len(names) == 8 and names[0] == "edge-cloud=1mbit,0ms" and "edge-cloud=5mbit,25ms" in names
    cells = plan_cells(study)
    assert len(cells) == 16 and "tiny-cnn:identity@cloud~edge-cloud=5mbit,25ms" in [c.name for c in cells]
    for c in cells:
        assert Cell.parse(c.name) == c
    assert Condition.parse("edge-cloud=5mbit,25ms~mobile-edge=100mbit").name == "edge-cloud=5mbit,25ms~mobile-edge=100mbit"


def test_without_conditions_the_plan_is_unchanged():
    study = _study(None)
    assert [c.name for c in plan_cells(study)] == ["tiny-cnn:identity@edge", "tiny-cnn:identity@cloud"]
    assert set(plan_cells(study)[0].as_dict()) == {"cell", "subject", "chain", "placement"}


@pytest.mark.parametrize("conditions, words", [({"edge-moon": {"bandwidth_mbit": 5}}, "edge-moon"),
                                               ({"edge-cloud": {}}, "bandwidth_mbit and/or delay_ms"),
                                               ({"edge-cloud": {"bandwidth_mbit": [0, 5]}}, "> 0")])
def test_bad_conditions_are_refused_with_a_hint(conditions, words):
    with pytest.raises(ConfigError) as err:
        plan_cells(_study(conditions))
    assert words in str(err.value)


def test_a_partition_is_cut_for_the_links_between_its_tiers_only():
    links = TestbedConfig(preset="paper-scaled").link_specs()
    slow = Condition.parse("edge-cloud=2mbit,10ms")
    assert links_for_partition(links, slow, Placement.parse("mobile-edge")) == links  # same cut, same key
    changed = {link.name: link for link in links_for_partition(links, slow, Placement.parse("edge-cloud"))}
    assert (changed["edge-cloud"].bandwidth_mbit, changed["edge-cloud"].delay_ms) == (2, 10)


def test_every_cell_is_measured_under_every_condition_and_a_new_condition_alone_is_measured_later(tmp_path, cache_dir):
    out = tmp_path / "run"
    options = RunOptions(out=out, profile=None, cache_dir=cache_dir, log=lambda m: None)
    first = _study({"edge-cloud": {"delay_ms": [0, 20]}}, SPLIT_CELLS)
    cells = {c["cell"]: c for c in json.loads(Study.open(first, options).run().read_text())["cells"]}
    assert set(cells) == {f"tiny-cnn:{ch}@{p}~edge-cloud={ms}ms" for ch, p in (("identity", "cloud"), ("partition", "edge-cloud"))
                          for ms in (0, 20)}
    assert all(c["status"] == "ok" and len(c["latency_s"]) == 3 for c in cells.values())
    # each sample says which turn of the run it was taken in (the analysis across conditions weighs turns)
    assert all(len(c["turns"]) == 3 and c["turns"] == sorted(c["turns"]) for c in cells.values())
    # the link is really reshaped: a request to the cloud and its reply wait 20 ms each way on edge-cloud
    slow = min(cells["tiny-cnn:identity@cloud~edge-cloud=20ms"]["breakdown_s"]["link:edge-cloud"])
    fast = max(cells["tiny-cnn:identity@cloud~edge-cloud=0ms"]["breakdown_s"]["link:edge-cloud"])
    assert slow > 0.039 > 0.02 > fast
    # the partition is cut once per condition (its link changes); identity is built once
    keys = {n: c["artifact"]["key"] for n, c in cells.items()}
    assert keys["tiny-cnn:identity@cloud~edge-cloud=0ms"] == keys["tiny-cnn:identity@cloud~edge-cloud=20ms"]
    assert keys["tiny-cnn:partition@edge-cloud~edge-cloud=0ms"] != keys["tiny-cnn:partition@edge-cloud~edge-cloud=20ms"]
    db = sqlite3.connect(out / "study.sqlite")
    before = dict(db.execute("SELECT cell, MAX(ts) FROM latency GROUP BY cell").fetchall())

    second = _study({"edge-cloud": {"delay_ms": [0, 20, 10]}}, SPLIT_CELLS)
    results = json.loads(Study.open(second, options).run().read_text())
    after = dict(db.execute("SELECT cell, MAX(ts) FROM latency GROUP BY cell").fetchall())
    assert {n: after[n] for n in before} == before, "the conditions measured before are not measured again"
    new = set(after) - set(before)
    assert new == {"tiny-cnn:identity@cloud~edge-cloud=10ms", "tiny-cnn:partition@edge-cloud~edge-cloud=10ms"}
    assert [c["name"] for c in results["study"]["conditions"]] == ["edge-cloud=0ms", "edge-cloud=20ms", "edge-cloud=10ms"]
    assert not [e for e in results["events"] if e["kind"] == "tier-restarted"]


def test_a_store_written_before_conditions_existed_opens_and_keeps_its_cells(tmp_path):
    from edgewise.output.store import SCHEMA, Store

    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(SCHEMA)  # the cells table as it was: no condition column
    old.execute("INSERT INTO cells (name, subject, chain, placement, position) VALUES ('a:identity@edge', 'a', "
                "'identity', 'edge', 0)")
    old.commit()
    old.close()
    store = Store(path)
    assert store.cells()[0]["cell"] == "a:identity@edge" and store.cells()[0]["condition"] == ""
    store.add_cells([{"cell": "a:identity@cloud~edge-cloud=5mbit", "subject": "a", "chain": "identity",
                      "placement": "cloud", "condition": "edge-cloud=5mbit"}])
    assert [c["condition"] for c in store.cells()] == ["", "edge-cloud=5mbit"]
    store.close()
