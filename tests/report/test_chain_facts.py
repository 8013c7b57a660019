"""A chain's kind, order, int8 and split: declared by its operators, kept in results.json, read by the report;
results without them (older runs, reference CSVs) fall back to the known operator names, which must agree."""

from __future__ import annotations

import pytest

from edgewise.analysis import ResultSet
from edgewise.operators.chain import Chain
from edgewise.report.plots import _KNOWN_ORDER, chain_order_key
from edgewise.report.source import chain_facts, is_blackbox_chain

BUILT_IN_CHAINS = [c for c in _KNOWN_ORDER if "early-exit" not in c] + ["prune+qat", "distill+partition"]


@pytest.mark.parametrize("chain", BUILT_IN_CHAINS)
def test_known_names_agree_with_what_the_operators_declare(chain):
    assert chain_facts(chain) == Chain.parse(chain).facts()


def test_known_chains_keep_their_order():
    assert sorted(reversed(_KNOWN_ORDER), key=chain_order_key) == list(_KNOWN_ORDER)


def test_declared_facts_win_over_the_names():
    results = ResultSet([], study={"chains": {"sptq": {"kind": "white", "order": [99], "int8": False, "split": True}}})
    assert not is_blackbox_chain("sptq", results) and is_blackbox_chain("sptq")
    assert chain_order_key("sptq", results) > chain_order_key("partition", results)
    assert chain_facts("unknown-op").get("order") == [1000]  # unknown and undeclared: listed last
