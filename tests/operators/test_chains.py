"""Chains of white-box and black-box operators on the tiny subjects: built, cached, or refused."""

from __future__ import annotations

import pytest

from edgewise.building.artifacts import ArtifactCache
from edgewise.errors import PlanError
from edgewise.operators import OPERATORS, load_builtin_operators
from edgewise.operators.chain import TORCH_START, Chain, build_chain
from tests.operators.helpers import evaluate, make_ctx_factory

load_builtin_operators()


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> ArtifactCache:
    return ArtifactCache(tmp_path_factory.mktemp("chain-artifacts"))


@pytest.fixture
def apply_calls(monkeypatch) -> dict[str, int]:
    """How many times each operator's apply ran (a cache hit does not run it)."""
    calls: dict[str, int] = {}
    for name, cls in OPERATORS.items():
        real = cls.apply

        def counted(self, artifact, ctx, _real=real, _name=name):
            calls[_name] = calls.get(_name, 0) + 1
            return _real(self, artifact, ctx)

        monkeypatch.setattr(cls, "apply", counted)
    return calls


def _needs(chain: str) -> None:
    missing = [n for n in Chain.parse(chain).names if n not in OPERATORS]
    if missing:
        pytest.skip(f"operator {missing} is not registered")


@pytest.mark.parametrize("chain, parts", [("distill+sptq", 1), ("prune+sptq", 1), ("prune+distill", 1),
                                          ("distill+prune", 1), ("distill+partition", 2), ("qat+partition", 2)])
def test_chain_builds_and_keeps_accuracy(chain, parts, tiny_cnn, cache):
    _needs(chain)
    art = build_chain(Chain.parse(chain), tiny_cnn, cache, make_ctx_factory(tiny_cnn), log=lambda m: None)
    assert art.chain == Chain.parse(chain).names
    assert len(art.parts) == parts
    assert evaluate(art.parts, tiny_cnn)["top1"] >= 0.9


def test_text_chain_distill_then_sptq(tiny_bert, cache):
    _needs("distill+sptq")
    art = build_chain(Chain.parse("distill+sptq"), tiny_bert, cache, make_ctx_factory(tiny_bert), log=lambda m: None)
    assert art.chain == ("distill", "sptq")
    assert evaluate(art.parts, tiny_bert)["accuracy"] >= 0.4  # see test_distill: the tiny student is seed-sensitive


def test_rebuild_comes_from_the_cache_without_training(tiny_cnn, cache, apply_calls):
    chain = Chain.parse("prune+distill")
    first = build_chain(chain, tiny_cnn, cache, make_ctx_factory(tiny_cnn), log=lambda m: None)
    trained = dict(apply_calls)
    again = build_chain(chain, tiny_cnn, cache, make_ctx_factory(tiny_cnn), log=lambda m: None)
    assert again.key == first.key
    assert apply_calls == trained, "the second build trained again"
    other = build_chain(chain, tiny_cnn, cache, make_ctx_factory(tiny_cnn), {"distill": {"temperature": 3.0}},
                        log=lambda m: None)
    assert other.key != first.key and apply_calls.get("distill", 0) == trained.get("distill", 0) + 1
    assert apply_calls.get("prune", 0) == trained.get("prune", 0), "the shared prefix is reused"


@pytest.mark.parametrize("chain, reason", [("sptq+qat", "needs a trainable PyTorch model"),
                                           ("partition+distill", "needs a trainable PyTorch model"),
                                           ("qat+prune", "needs a trainable PyTorch model"),
                                           ("qat+sptq", "floating-point model")])
def test_impossible_chains_are_refused_with_the_reason(chain, reason):
    _needs(chain)
    with pytest.raises(PlanError, match=reason) as info:
        Chain.parse(chain).check(TORCH_START)
    assert info.value.hint
