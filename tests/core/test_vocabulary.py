"""The words the code branches on: one spelling each, and one reading of a profile."""

from __future__ import annotations

from itertools import product
from typing import get_args

import pytest

from edgewise import vocabulary
from edgewise.config import PROFILES as PROFILE_SETTINGS
from edgewise.config import parse_study
from edgewise.operators import distill, prune, qat
from edgewise.study import RunOptions, Study
from edgewise.vocabulary import FAMILIES, PAPER, PROFILES, QUICK, normalise_profile

MINIMAL = {"subjects": ["tiny-cnn"], "cells": [{"chains": ["identity"], "placements": ["edge"]}]}


@pytest.mark.parametrize("given, training", [(None, PAPER), (PAPER, PAPER), (QUICK, QUICK), ("", QUICK),
                                             ("Paper", QUICK)])
def test_normalise_profile(given, training):
    # No profile: the study file runs as written, the reference protocol, so it trains as paper.
    assert normalise_profile(given) == training


@pytest.mark.parametrize("profile, training", [(None, PAPER), (QUICK, QUICK), (PAPER, PAPER)])
def test_study_hands_subjects_and_builds_the_normalised_profile(tmp_path, profile, training):
    study = Study.open(parse_study(MINIMAL), RunOptions(out=tmp_path, profile=profile, cache_dir=tmp_path))
    subject = study.subject("tiny-cnn")
    assert subject.ctx.profile == training
    assert study.workshop.context(study.plan()[0], tmp_path).profile == training


def test_every_profile_has_settings_and_schedules():
    assert tuple(PROFILE_SETTINGS) == PROFILES
    for table in (prune._SCHEDULES, qat._SCHEDULES, distill._SCHEDULES):
        assert set(table) == set(product(PROFILES, FAMILIES))


def test_literal_types_spell_the_same_words():
    assert get_args(vocabulary.Task) == vocabulary.TASKS
    assert get_args(vocabulary.CellStatus) == vocabulary.CELL_STATUSES
    assert vocabulary.UNMEASURABLE <= set(vocabulary.CELL_STATUSES)
