"""ONNX Runtime, the default runtime: the chain's ONNX graph(s) on the CPU execution provider, as the
tiers have always run them (edgewise.tiers.sessions: intra-op threads as the tier's, spinning off)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgewise.runtimes.base import IOMeta, Runtime, RuntimeSession
from edgewise.tiers.sessions import make_session, unchecked_run

ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
              "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8",
              "tensor(uint8)": "uint8", "tensor(bool)": "bool"}


class OrtSession(RuntimeSession):
    def __init__(self, session):
        self.session = session
        self.inputs = [IOMeta(i.name, ORT_DTYPES.get(i.type, i.type),
                              tuple(d if isinstance(d, int) else None for d in i.shape))
                       for i in session.get_inputs()]
        self.outputs = [o.name for o in session.get_outputs()]
        self._run = unchecked_run(session)  # the server checks every request's feeds itself

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._run(self.outputs, feeds, None)


class OnnxRuntime(Runtime):
    name = "onnxruntime"
    package = "onnxruntime"
    display_order = 0
    description = "ONNX Runtime, CPU execution provider: the chain's ONNX graph as built"

    def __init__(self, providers: Sequence[str] | None = None, **settings: Any):
        super().__init__(**settings)
        self.providers = list(providers) if providers else None  # the tier server's --cpu-only choice

    def load(self, path: Path, threads: int, io: dict[str, Any] | None = None) -> RuntimeSession:
        return OrtSession(make_session(path, threads, self.providers))
