"""The conformance suite every registered operator passes, on both tiny subjects.

Registering an operator (subclassing Operator with a name) is enough for it to be tested here:
valid ONNX parts, runnable by ONNX Runtime, complete metadata, accuracy within the operator's
declared tolerance of the unmodified model, and cached by content hash.
"""

from __future__ import annotations

import onnx
import pytest

from edgewise.artifacts import ArtifactCache
from edgewise.errors import PlanError
from edgewise.operators import OPERATORS, load_builtin_operators
from edgewise.operators.chain import TORCH_START, Chain, build_step, root_artifact
from tests.operators.helpers import evaluate, make_ctx_factory

load_builtin_operators()
OPERATOR_NAMES = sorted(OPERATORS)
SUBJECT_FIXTURES = ("tiny_cnn", "tiny_bert")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> ArtifactCache:
    return ArtifactCache(tmp_path_factory.mktemp("conformance-artifacts"))


@pytest.fixture(scope="module")
def built(cache):
    """Artifacts built once per (operator, subject), with the number of apply calls it took."""
    results: dict[tuple[str, str], tuple] = {}

    def build(op_name: str, subject):
        if (op_name, subject.name) not in results:
            root = root_artifact(subject, cache, log=lambda m: None)
            op = OPERATORS[op_name]()
            calls = _count_applies(op)
            art = build_step(op, root, cache, make_ctx_factory(subject))
            results[(op_name, subject.name)] = (op, root, art, calls)
        return results[(op_name, subject.name)]

    return build


def _count_applies(op) -> list[int]:
    """Wrap the instance's apply so the test sees whether the cache answered instead."""
    calls = [0]
    real = op.apply

    def counted(artifact, ctx):
        calls[0] += 1
        return real(artifact, ctx)

    op.apply = counted
    return calls


cases = pytest.mark.parametrize("subject_fixture", SUBJECT_FIXTURES)
operators = pytest.mark.parametrize("op_name", OPERATOR_NAMES)


@operators
@cases
def test_parts_are_valid_onnx(op_name, subject_fixture, built, request):
    _, _, art, _ = built(op_name, request.getfixturevalue(subject_fixture))
    assert art.parts and all(p.is_file() for p in art.parts)
    for part in art.parts:
        onnx.checker.check_model(str(part))


@operators
@cases
def test_metadata_is_complete(op_name, subject_fixture, built, request):
    op, root, art, _ = built(op_name, request.getfixturevalue(subject_fixture))
    expected_chain = root.chain if op_name == "identity" else (*root.chain, op_name)
    assert art.chain == expected_chain
    assert art.capabilities == op.output_capabilities(root.capabilities)
    assert art.is_split == ("split" in art.capabilities)
    assert op.meta_keys <= set(art.meta), f"missing meta keys {sorted(op.meta_keys - set(art.meta))}"


@operators
@cases
def test_accuracy_within_declared_tolerance(op_name, subject_fixture, built, request):
    subject = request.getfixturevalue(subject_fixture)
    op, root, art, _ = built(op_name, subject)
    metric = subject.metrics[0]
    before = evaluate(root.parts, subject)[metric]
    after = evaluate(art.parts, subject)[metric]
    assert after >= before - op.tolerance - 1e-9, f"{op_name} on {subject.name}: {metric} {before:.3f} -> {after:.3f}"


@operators
@cases
def test_second_build_comes_from_the_cache(op_name, subject_fixture, built, cache, request):
    subject = request.getfixturevalue(subject_fixture)
    _, root, art, calls = built(op_name, subject)
    again = OPERATORS[op_name]()
    second_calls = _count_applies(again)
    art2 = build_step(again, root, cache, make_ctx_factory(subject))
    assert art2.key == art.key
    assert second_calls[0] == 0
    assert calls[0] == (0 if op_name == "identity" else 1)


@pytest.mark.parametrize("chain", ["partition+qat", "sptq+qat", "sptq+sptq", "partition+sptq", "partition+partition"])
def test_impossible_chains_are_refused_with_a_reason(chain):
    names = Chain.parse(chain).names
    missing = [n for n in names if n not in OPERATORS]
    if missing:
        pytest.skip(f"operator {missing} is not registered")
    with pytest.raises(PlanError, match="impossible") as info:
        Chain.parse(chain).check(TORCH_START)
    assert info.value.hint
