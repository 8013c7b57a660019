"""results.json has one reader (analysis.results.read_results) that every loader goes through."""

from __future__ import annotations

import json

import pytest

from edgewise.analysis import ResultSet, load_results
from edgewise.analysis.results import RESULTS_FORMAT, read_results
from edgewise.errors import DataError
from edgewise.output.shipping import export_cell


def test_a_study_folder_and_its_file_read_the_same(study_dir):
    raw = read_results(study_dir)
    assert raw == read_results(study_dir / "results.json") and raw["format"] == RESULTS_FORMAT
    loaded = load_results(study_dir)
    assert loaded.to_dict()["cells"] == ResultSet.from_dict(raw).to_dict()["cells"]
    assert load_results(loaded) is loaded  # an already loaded set passes through (the report takes either)


def test_wrong_format_missing_file_and_bad_json_are_data_errors(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"format": "edgewise-results/0", "cells": []}))
    with pytest.raises(DataError, match="results format is 'edgewise-results/0'"):
        load_results(tmp_path)
    with pytest.raises(DataError, match="no results at"):
        read_results(tmp_path / "elsewhere")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(DataError, match="not valid JSON"):
        read_results(tmp_path / "broken.json")
    for not_a_study_folder in (tmp_path / "no-study", tmp_path / "results.json"):  # export reads through the same door
        with pytest.raises(DataError, match="no results at"):
            export_cell(not_a_study_folder, "tiny-cnn:identity@edge", tmp_path / "out", tmp_path / "cache")
