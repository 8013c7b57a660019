"""Every registered operator passes the public conformance checks (edgewise.testing.operators) on both tiny
subjects; registering an operator is enough for it to be tested here."""

from __future__ import annotations

import pytest

from edgewise.building.artifacts import ArtifactCache
from edgewise.errors import PlanError
from edgewise.operators import OPERATORS
from edgewise.operators.chain import TORCH_START, Chain
from edgewise.testing import operators as conformance

SUBJECT_FIXTURES = ("tiny_cnn", "tiny_bert")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Builds once per (operator, subject), shared by the checks."""
    cache = ArtifactCache(tmp_path_factory.mktemp("conformance-artifacts"))
    results: dict[tuple[str, str], conformance.OperatorBuild] = {}

    def build(op_name: str, subject) -> conformance.OperatorBuild:
        if (op_name, subject.name) not in results:
            results[(op_name, subject.name)] = conformance.build_operator(op_name, subject, cache)
        return results[(op_name, subject.name)]

    return build


@pytest.mark.parametrize("check", conformance.CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("subject_fixture", SUBJECT_FIXTURES)
@pytest.mark.parametrize("op_name", conformance.operator_names())
def test_operator_conforms(op_name, subject_fixture, check, built, request):
    check(built(op_name, request.getfixturevalue(subject_fixture)))


@pytest.mark.parametrize("chain", ["partition+qat", "sptq+qat", "sptq+sptq", "partition+sptq", "partition+partition"])
def test_impossible_chains_are_refused_with_a_reason(chain):
    names = Chain.parse(chain).names
    missing = [n for n in names if n not in OPERATORS]
    if missing:
        pytest.skip(f"operator {missing} is not registered")
    with pytest.raises(PlanError, match="impossible") as info:
        Chain.parse(chain).check(TORCH_START)
    assert info.value.hint
