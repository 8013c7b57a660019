"""A study verifies its testbed once, as thoroughly as its profile asks: the quick profile sends
fewer requests per speed workload and shorter transfers."""

from __future__ import annotations

import yaml

from edgewise.config import load_study
from edgewise.output.store import Store
from edgewise.study import RunOptions, Study
from edgewise.testbeds import make_testbed
from edgewise.testbeds.nominal import HostNominal
from edgewise.testbeds.verify import SPEED_REQUESTS


def _one_tier_study(tmp_path):
    """A study of one cell on a local cloud tier, with a loose tolerance: these tests check what is verified."""
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({
        "name": "verify", "subjects": ["tiny-cnn"], "cells": [{"chains": ["identity"], "placements": ["cloud"]}],
        "testbed": {"kind": "local", "tiers": {"cloud": {"cpus": 1.0, "memory_mb": 1024, "threads": 1}},
                    "links": {}, "tolerance": 0.9},
        "seed": 0}))
    return load_study(path)


def test_a_quick_speed_figure_outside_its_bound_is_measured_again_in_full(monkeypatch):
    """A short series is easily disturbed: its retries take the full request counts."""
    from edgewise.testbeds import verify
    from edgewise.testbeds.emulation import EmulationReport, Figure
    from edgewise.tiers.spec import TierSpec

    asked = []

    def figure(client, tier, spec, route, name, quick, nominal, real_hosts):
        asked.append(quick)
        achieved = 1.5 if len(asked) == 1 else 1.0  # the first (quick) series disturbed, the retry not
        series = verify.SpeedSeries([0.003], [0.003])
        return Figure(f"speed:{tier}:{name}", 1.0, achieved, "x slower", tolerance_min=verify.SPEED_TOLERANCE), series

    monkeypatch.setattr(verify, "_speed_figure", figure)
    monkeypatch.setattr(verify, "SPEED_WORKLOADS", ["3ms"])
    report = EmulationReport("local", True)
    nominal = HostNominal("cpu", {"0.3ms": 0.0003, "3ms": 0.003, "30ms": 0.03}, 0.0)
    verify.verify_speed(None, {"cloud": TierSpec("cloud", 1.0, 1024)}, report, quick=True, nominal=nominal)
    assert asked == [True, False]
    assert report.figures[0].achieved == 1.0 and "closest of 2 series" in report.figures[0].note


def test_a_resumed_study_verifies_again_after_a_failed_verification_with_its_profile_s_counts(tmp_path):
    """A study stopped by its verification resumes only on a testbed that passes it; a passed one is kept.
    The verification a resume runs is as thorough as the profile asks: the quick profile sends fewer
    requests per speed workload."""
    from edgewise.testbeds.emulation import EmulationReport, Figure

    config = _one_tier_study(tmp_path)
    assert not Study(config, RunOptions(out=tmp_path / "run", profile="paper")).quick_verification
    study = Study(config, RunOptions(out=tmp_path / "run", profile="quick"))
    testbed, store = make_testbed(config.testbed), Store(tmp_path / "study.sqlite")

    def stored_report(achieved: float) -> dict:
        report = EmulationReport("local", True)
        report.add(Figure("speed:cloud:30ms", 1.0, achieved, "x slower", note="from the first start"))
        return report.to_dict()

    try:
        testbed.start(config.testbed.tier_specs(), config.testbed.link_specs())
        store.set_emulation(stored_report(1.05))  # passed: a resume keeps it
        study._verify(store, testbed)
        assert [f["note"] for f in store.emulation()["figures"]] == ["from the first start"]
        store.set_emulation(stored_report(3.0))  # failed: measured again
        study._verify(store, testbed)
        figures = {f["name"]: f for f in store.emulation()["figures"]}
    finally:
        testbed.stop()
        store.close()
    assert "speed:cloud:0.3ms" in figures and figures["speed:cloud:30ms"]["note"] != "from the first start"
    again = EmulationReport.from_dict({"kind": "local", "modelled": True, "figures": list(figures.values())})
    assert not again.failures(0.9)
    for name, (full, quick) in SPEED_REQUESTS.items():
        note = figures[f"speed:cloud:{name}"]["note"]
        # A series disturbed by the host is measured again in full, and the closest one is kept.
        assert quick < full and (f"over {quick} requests" in note
                                 or ("closest of" in note and f"over {full} requests" in note)), note


def test_a_tier_the_host_is_too_slow_for_is_named_with_the_fix():
    """A headroom below 1 (the host slower now than the tier's speed allows) is said, with what to do."""
    from edgewise.testbeds.emulation import EmulationReport, Figure

    report = EmulationReport("linux", False)
    report.add(Figure("headroom:cloud", None, 0.96, "x", gates=False))
    report.add(Figure("headroom:edge", None, 1.9, "x", gates=False))
    lines = report.short_of_headroom()
    assert len(lines) == 1 and lines[0].startswith("headroom:cloud 0.96x") and "nominal --measure" in lines[0]
    assert not report.failures(0.1)  # said, not judged: the samples wait for the host instead
