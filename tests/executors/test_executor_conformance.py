"""Local lanes and a real local Ray cluster end a study alike (edgewise.testing.executors): the same
artifact keys and cell statuses for a study with a build that fails, a tier that refuses a model at
LOAD, and a remote testbed of loopback `edgewise serve` hosts measured before the build, with a
partition cut for the measured links."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgewise.config import StudyConfig
from edgewise.testing.executors import check_executor, outcomes, run_with
from tests.reliability.helpers import png_folder, user_subject
from tests.testbeds.test_conformance import ServeProcesses

SIZE, CLASSES = 16, 4


def two_branch_onnx(path):
    """pixel_values -> two branches that read it apart and meet only at the logits: every cut of this
    graph carries two tensors, so a partition allowed one tensor has none and fails to build."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(SIZE * SIZE, CLASSES)).astype(np.float32), f"w{i}")
             for i in (1, 2)] + [numpy_helper.from_array(np.array([-1, SIZE * SIZE], np.int64), "flat")]
    nodes = [helper.make_node("Reshape", ["pixel_values", "flat"], ["x1"]),
             helper.make_node("Flatten", ["pixel_values"], ["x2"], axis=1),
             helper.make_node("MatMul", ["x1", "w1"], ["a"]), helper.make_node("MatMul", ["x2", "w2"], ["b"]),
             helper.make_node("Add", ["a", "b"], ["logits"])]
    graph = helper.make_graph(nodes, "branches",
                              [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["N", 1, SIZE, SIZE])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def hosts():
    """mobile and edge as `edgewise serve` on loopback; edge serves ONNX Runtime only."""
    servers = ServeProcesses("tok", extra={"edge": ["--runtimes", "onnxruntime"]})
    try:
        for tier in ("mobile", "edge"):
            servers.start(tier)
        yield servers.addresses
    finally:
        servers.stop()


def test_local_lanes_and_ray_end_a_study_alike(ray_cluster, hosts, tmp_path):
    data = png_folder(tmp_path / "data")
    config = StudyConfig(**{
        "name": "conformance", "seed": 0,
        "subjects": ["tiny-cnn", user_subject("branches", two_branch_onnx(tmp_path / "branches.onnx"), data)],
        "cells": [{"subjects": ["tiny-cnn"], "chains": ["identity", "sptq"], "placements": ["mobile"]},
                  {"subjects": ["tiny-cnn"], "chains": ["partition"], "placements": ["mobile-edge"]},
                  {"subjects": ["tiny-cnn"], "chains": ["identity"], "placements": ["edge"],
                   "runtimes": ["openvino"]},  # the edge host refuses it at LOAD
                  {"subjects": ["branches"], "chains": ["partition[max_cut_tensors=1]"],
                   "placements": ["mobile-edge"]}],  # fails to build
        "testbed": {"kind": "remote", "endpoints": hosts, "token": "tok", "verify": True},
        "measure": {"inputs": 3, "passes": 2, "warmup_passes": 1}})
    reference = tmp_path / "local"
    run_with(config, "local", reference, tmp_path / "local-cache", lanes=2)
    ended = outcomes(reference)
    assert ended["tiny-cnn:identity@mobile"][1] == ended["tiny-cnn:sptq@mobile"][1] == "ok"
    assert ended["tiny-cnn:partition@mobile-edge"][1] == "ok"
    assert ended["tiny-cnn:identity@edge/openvino"][1] == "failed"
    assert ended["branches:partition[max_cut_tensors=1]@mobile-edge"] == (None, "failed")
    # The same study on Ray, in a cache of its own: the workers build for the network measured by the
    # reference (the partition's key holds it), and every cell ends as it did.
    check_executor(config, f"ray={ray_cluster}", reference, tmp_path / "ray", tmp_path / "ray-cache")
    built_on_ray = {p.name for p in (tmp_path / "ray-cache" / "artifacts").iterdir() if not p.name.startswith(".")}
    assert {key for key, status in ended.values() if key} <= built_on_ray
    refused = next(c for c in json.loads((tmp_path / "ray" / "results.json").read_text())["cells"]
                   if c["cell"] == "tiny-cnn:identity@edge/openvino")
    assert "does not offer runtime 'openvino'" in refused["error"], refused["error"]
