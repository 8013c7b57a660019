"""One SLA type: the study file, the report and `recommend` share its defaults and its checks."""

from __future__ import annotations

import inspect

import pytest

from edgewise.analysis import recommend
from edgewise.commands.recommend import recommend_command
from edgewise.config import parse_study
from edgewise.errors import ConfigError
from edgewise.sla import DEFAULT_SLA, Sla, within

MINIMAL = {"subjects": ["tiny-cnn"], "cells": [{"chains": ["identity"], "placements": ["edge"]}]}


def test_one_set_of_defaults():
    from_config = parse_study(MINIMAL).sla
    assert from_config == DEFAULT_SLA == Sla.of({})  # a study file and a results file that state none
    assert from_config.model_dump() == {"max_latency_ms": 50.0, "percentile": 95, "max_accuracy_drop": 1.0,
                                        "rate_per_s": None}  # what results.json keeps
    defaults = inspect.signature(recommend).parameters
    assert defaults["percentile"].default == from_config.percentile
    assert defaults["max_accuracy_drop"].default == from_config.max_accuracy_drop
    cli = inspect.signature(recommend_command).parameters
    assert cli["percentile"].default.default == from_config.percentile
    assert cli["max_accuracy_drop"].default.default == from_config.max_accuracy_drop


def test_results_state_the_sla_and_the_command_line_overrides_it():
    study = parse_study({**MINIMAL, "sla": {"max_latency_ms": 20, "percentile": 99, "rate_per_s": 40}})
    stored = {"sla": study.sla.model_dump()}
    assert Sla.of(stored) == study.sla
    overridden = Sla.of(stored, max_latency_ms=80, percentile=90.0)
    assert (overridden.max_latency_ms, overridden.percentile, overridden.max_accuracy_drop) == (80, 90, 1.0)
    assert overridden.rate_per_s == 40
    assert overridden.describe() == "p90 latency ≤ 80 ms and accuracy drop ≤ 1 points against identity"


@pytest.mark.parametrize("bounds, field", [({"percentile": 97}, "percentile"),
                                           ({"max_latency_ms": 0}, "max_latency_ms"),
                                           ({"max_accuracy_drop": -1}, "max_accuracy_drop")])
def test_bad_bounds_from_outside_the_study_file_are_config_errors(bounds, field):
    with pytest.raises(ConfigError) as err:
        Sla.of({}, **bounds)
    assert field in err.value.message and "percentile among 50, 90, 95, 99" in err.value.hint


def test_bad_percentile_in_the_study_file_names_the_field():
    with pytest.raises(ConfigError) as err:
        parse_study({**MINIMAL, "sla": {"percentile": 97}})
    assert "sla.percentile" in err.value.message


def test_a_figure_exactly_at_its_bound_is_within_it_despite_rounding():
    drop = 100 * (0.888 - 0.868)  # 40 of 2,000 samples: 2.0000000000000018 in floating point
    assert drop > 2.0 and within(drop, 2.0)
    assert within(50.0, 50.0) and not within(50.001, 50.0) and not within(2.0001, 2.0)
