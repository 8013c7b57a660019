"""Every installed runtime passes the public conformance check on models no built-in resembles: loaded in
its form, run in process and behind a real tier server, compared with the torch model."""

import pytest

from edgewise.runtimes import installed_runtimes
from edgewise.testing.runtimes import check_runtime
from tests.runtimes.models import albert, depthwise_cnn

RUNTIMES = installed_runtimes()


def test_the_three_runtimes_are_installed():
    assert RUNTIMES == ["onnxruntime", "openvino", "executorch"]


@pytest.mark.parametrize("name", RUNTIMES)
@pytest.mark.parametrize("make", [depthwise_cnn, albert], ids=["depthwise-cnn", "albert"])
def test_runtime_conforms(name, make, tmp_path):
    check_runtime(name, make(), tmp_path)
