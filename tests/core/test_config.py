import pytest

from edgewise.analysis.tails import min_samples
from edgewise.config import apply_profile, load_study, parse_study
from edgewise.errors import ConfigError
from edgewise.measure.latency import Protocol

MINIMAL = {"subjects": ["tiny-cnn"], "cells": [{"chains": ["identity"], "placements": ["edge"]}]}


def test_paper_example_loads_with_presets():
    study = load_study("examples/paper.yaml")
    tiers = study.testbed.tier_specs()
    # The reference's 1:2:4, at 0.8 of the nominal host for the cloud (headroom for a host slower than nominal).
    assert [tiers[t].speed for t in ("mobile", "edge", "cloud")] == [0.2, 0.4, 0.8]
    assert [tiers[t].cpus for t in ("mobile", "edge", "cloud")] == [1.0, 1.0, 2.0]  # >= threads: never throttled
    links = {f"{l.a}-{l.b}": l.bandwidth_mbit for l in study.testbed.link_specs()}
    assert links == {"client-mobile": 200.0, "mobile-edge": 200.0, "edge-cloud": 1.0}


@pytest.mark.parametrize(
    "patch, field, fix",
    [
        ({"measure": {"inputs": 0}}, "measure.inputs", "bound"),
        ({"testbed": {"preset": "huge"}}, "testbed.preset", "examples/paper.yaml"),
        ({"sla": {"percentile": 97}}, "sla.percentile", "examples/paper.yaml"),
        ({"colour": "red"}, "colour", "remove the field"),
        ({"measure": {"passes": 2, "warmup_passes": 2}}, "measure", "examples/paper.yaml"),
        ({"measure": {"inputs": 3, "warmup_inputs": 4}}, "measure", "examples/paper.yaml"),
    ],
)
def test_errors_name_field_value_and_fix(patch, field, fix):
    with pytest.raises(ConfigError) as err:
        parse_study({**MINIMAL, **patch})
    text = str(err.value)
    assert f"'{field}'" in text and fix in text


def test_override_a_tier_and_a_link():
    study = parse_study({**MINIMAL, "testbed": {"tiers": {"edge": {"cpus": 1.5, "memory_mb": 512}},
                                                 "links": {"mobile-edge": {"bandwidth_mbit": 50, "delay_ms": 5}}}})
    assert study.testbed.tier_specs()["edge"].cpus == 1.5
    link = next(l for l in study.testbed.link_specs() if l.a == "mobile")
    assert (link.bandwidth_mbit, link.delay_ms) == (50, 5)


def test_malformed_yaml_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("subjects: [resnet\ncells: :")
    with pytest.raises(ConfigError, match="malformed YAML at line"):
        load_study(bad)


def test_quick_profile_trims_measurement():
    study = apply_profile(load_study("examples/paper.yaml"), "quick")
    m = study.measure
    assert (m.inputs, m.passes, m.warmup_passes, m.warmup_inputs) == (9, 16, 1, 1)
    measured = m.inputs * (m.passes - m.warmup_passes)
    assert measured >= min_samples(study.sla.percentile) + 5  # the SLA's percentile is judged, with margin
    assert Protocol.of(m).samples == measured + 1  # one warm-up request per cell
    paper = apply_profile(load_study("examples/paper.yaml"), "paper").measure
    assert (paper.inputs, paper.passes, paper.warmup_passes, paper.warmup_inputs) == (100, 6, 1, None)
    assert Protocol.of(paper).samples == 600  # the reference's warm-up pass is a whole pass


def test_what_the_study_file_states_wins_over_the_profile():
    study = parse_study({**MINIMAL, "measure": {"inputs": 7, "passes": 2}})
    quick = apply_profile(study, "quick").measure
    assert (quick.inputs, quick.passes, quick.warmup_passes) == (7, 2, 1)



def test_server_scenario_and_an_sla_rate_are_part_of_the_study_file():
    study = load_study("examples/load.yaml")
    assert study.measure.scenario == "server" and study.sla.rate_per_s == 40 and study.sla.percentile == 95
    assert study.measure.load.precision == 0.05 and study.measure.load.requests_per_step == 1000
    with pytest.raises(ConfigError, match="rate_per_s"):
        parse_study({**MINIMAL, "sla": {"rate_per_s": 0}})
    with pytest.raises(ConfigError, match="scenario"):
        parse_study({**MINIMAL, "measure": {"scenario": "offline"}})
