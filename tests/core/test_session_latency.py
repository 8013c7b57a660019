"""session_latency times real ONNX Runtime sessions in turns of back-to-back runs."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from edgewise.tiers.session_latency import interleaved_latency, median_latency
from edgewise.tiers.sessions import make_session


def _model(path, scale: float) -> str:
    graph = helper.make_graph([helper.make_node("Mul", ["x", "k"], ["y"])], "scale",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor("k", TensorProto.FLOAT, [1], [scale])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


class Recorded:
    """A real session whose runs are logged under a name, in the order they happen."""

    def __init__(self, name: str, session, log: list[str]):
        self.name, self.session, self.log = name, session, log

    def get_inputs(self):
        return self.session.get_inputs()

    def run(self, outputs, feeds):
        self.log.append(self.name)
        return self.session.run(outputs, feeds)


def test_sessions_take_turns_in_blocks_that_rotate(tmp_path):
    log: list[str] = []
    sessions = [Recorded(n, make_session(_model(tmp_path / f"{n}.onnx", k)), log) for n, k in (("a", 2.0), ("b", 3.0))]
    feeds = [{"x": np.full((1, 4), i, np.float32)} for i in range(3)]
    timings = interleaved_latency(sessions, feeds, runs=25, warmup=1, block=10)
    assert len(timings) == 2 and all(t > 0 for t in timings)
    assert log[:2] == ["a", "b"]  # warm-up
    turns = log[2:]
    # blocks of 10 timed runs (5 in the last), each after one untimed run; the first session rotates
    expected = ["a"] * 11 + ["b"] * 11 + ["b"] * 11 + ["a"] * 11 + ["a"] * 6 + ["b"] * 6
    assert turns == expected


def test_median_latency_of_a_real_session(tmp_path):
    session = make_session(_model(tmp_path / "m.onnx", 2.0))
    seconds = median_latency(session, [{"x": np.ones((1, 4), np.float32)}], runs=5)
    assert 0 < seconds < 1.0
