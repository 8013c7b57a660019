"""Every installed runtime passes the public conformance check on models no built-in resembles: loaded in
its form, run in process and behind a real tier server, compared with the torch model."""

import pytest

from edgewise.runtimes import installed_runtimes
from edgewise.testing.runtimes import check_runtime
from tests.runtimes.models import albert, depthwise_cnn, roberta

RUNTIMES = installed_runtimes()


def test_the_three_runtimes_are_installed():
    assert RUNTIMES == ["onnxruntime", "openvino", "executorch"]


@pytest.mark.parametrize("name", RUNTIMES)
@pytest.mark.parametrize("make", [depthwise_cnn, albert], ids=["depthwise-cnn", "albert"])
def test_runtime_conforms(name, make, tmp_path):
    check_runtime(name, make(), tmp_path)


@pytest.mark.skipif("executorch" not in RUNTIMES, reason="executorch is not installed")
@pytest.mark.parametrize("make", [depthwise_cnn, pytest.param(albert, marks=pytest.mark.slow),
                                  pytest.param(roberta, marks=pytest.mark.slow)],
                         ids=["depthwise-cnn", "albert", "roberta"])
def test_executorch_int8_form_calibrates_and_runs(make, tmp_path):
    """ExecuTorch's form of sptq (PT2E, XNNPACK quantizer) on a CNN and transformers: int8 outputs near fp32."""
    import numpy as np
    import torch

    from edgewise.building.artifacts import Artifact
    from edgewise.operators.base import BuildContext
    from edgewise.runtimes.base import runtime_class
    from edgewise.testing.runtimes import _Subject
    from edgewise.vocabulary import FLOAT, ONNX, TORCH

    model = make()
    torch.save(model.module, tmp_path / "model.pt")
    source = Artifact("x", (), (tmp_path / "model.pt",), tmp_path / "model.pt", frozenset({TORCH, ONNX, FLOAT}), {})
    runtime = runtime_class("executorch")()
    ctx = BuildContext(subject=_Subject(model), workdir=tmp_path, log=lambda m: None)
    form = runtime.build_form(source, ctx, ("sptq",), {}, tmp_path)
    assert form.meta["int8"] and FLOAT not in form.capabilities
    session = runtime.open(form.parts[0], 1, form.meta["io"])
    got, want = session.run(dict(model.example))[0], model.reference()
    assert got.shape == want.shape and np.abs(got - want).max() <= 0.1 * max(1.0, np.abs(want).max())
