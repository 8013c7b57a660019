"""A cell's chain as its runtime builds it: the operator settings a runtime needs join the chain's links (and so
the artifacts' keys); what the study wrote is kept, and a contradiction is refused with the reason."""

import pytest

from edgewise.errors import PlanError
from edgewise.operators.chain import Chain
from edgewise.runtimes.base import runtime_class
from edgewise.runtimes.forms import served_chain


def _served(chain: str, runtime: str, params=None) -> Chain:
    return served_chain(Chain.parse(chain), runtime_class(runtime)(), params)


def test_openvino_builds_sptq_in_qdq_format_and_keeps_the_other_settings():
    assert _served("distill+sptq", "openvino").name == "distill+sptq[quant_format=qdq,speed_control=false]"
    assert _served("sptq[calibration=entropy]+partition", "openvino").name == \
        "sptq[calibration=entropy,quant_format=qdq,speed_control=false]+partition"
    assert _served("sptq[quant_format=qdq]", "openvino").name == "sptq[quant_format=qdq,speed_control=false]"
    assert _served("prune+distill", "openvino").name == "prune+distill"


def test_other_runtimes_build_the_chain_as_written():
    for runtime in ("onnxruntime", "executorch"):
        assert _served("distill+sptq", runtime) == Chain.parse("distill+sptq")


def test_the_settings_become_the_operators_own():
    params = {"sptq": {"calibration_size": 20}}
    built = _served("sptq", "openvino", params).operators(params)
    assert built[0].params.quant_format == "qdq" and built[0].params.calibration_size == 20


def test_a_contradiction_is_refused_with_the_reason():
    with pytest.raises(PlanError, match="QDQ format") as raised:
        _served("sptq[quant_format=qoperator]", "openvino")
    assert "leave quant_format unset" in raised.value.hint
    with pytest.raises(PlanError, match="quant_format=qoperator"):
        _served("sptq", "openvino", {"sptq": {"quant_format": "qoperator"}})
