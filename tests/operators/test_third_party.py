"""Third-party graphs (the onnx wheel's architecture-only models) through sptq, partition and both."""

from __future__ import annotations

import onnx
import pytest

from edgewise.building.artifacts import ArtifactCache
from edgewise.operators.chain import Chain, build_chain
from edgewise.subjects import SubjectContext
from tests.operators.helpers import make_ctx_factory, run_parts
from tests.operators.onnx_only import OnnxFileSubject, light_model

FAST_PARAMS = {"sptq": {"calibration_size": 4, "latency_runs": 2},
               "partition": {"max_candidates": 3, "profile_runs": 1, "verify_samples": 2}}
MODELS = ["squeezenet", pytest.param("resnet50", marks=pytest.mark.slow),
          pytest.param("densenet121", marks=pytest.mark.slow), pytest.param("inception_v1", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("third-party")


@pytest.mark.parametrize("model", MODELS)
def test_light_model_goes_through_black_box_chains(model, workspace):
    path = light_model(model, workspace / f"{model}.onnx")
    subject = OnnxFileSubject(SubjectContext(cache_dir=workspace, log=lambda m: None), model, path, samples=4)
    cache = ArtifactCache(workspace / "artifacts")
    reference = run_parts([path], subject.splits().evaluation.batch(slice(0, 1)))
    for chain in ("sptq", "partition", "sptq+partition"):
        art = build_chain(Chain.parse(chain), subject, cache, make_ctx_factory(subject, "edge-cloud"),
                          params=FAST_PARAMS, log=lambda m: None)
        for part in art.parts:
            onnx.checker.check_model(str(part))
        out = run_parts(art.parts, subject.splits().evaluation.batch(slice(0, 1)))
        assert out.shape == reference.shape, chain
        if chain == "partition":
            assert abs(out - reference).max() <= 1e-5 * max(1.0, abs(reference).max())
