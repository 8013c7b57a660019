"""Conformance of a Runtime: it loads a model in its form, runs it to the reference's outputs within its
tolerance, names its inputs and outputs, reports the memory a session took, unloads, refuses what it cannot
serve with a reason, names operator settings it needs that exist, and serves the same model behind a real
tier server.

`check_runtime(name, model, workdir)` runs all of them on a `ReferenceModel`: a small torch module with an
example input, exported to ONNX here (and lowered by the runtime itself when its form is its own). Pass a
model of a family the runtime was not written for (a transformers config, a depthwise CNN): that is what
the check is for. Each check raises AssertionError naming what does not hold.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.building.artifacts import Artifact
from edgewise.building.export import export_onnx
from edgewise.operators.base import BuildContext
from edgewise.runtimes.base import ONNX_FORM, Runtime, RuntimeSession, runtime_class
from edgewise.tiers import workdirs
from edgewise.vocabulary import FLOAT, ONNX, SPLIT, TORCH


@dataclass
class ReferenceModel:
    """A torch module taking named inputs, an example batch of one, and how close a runtime must come."""

    module: Any
    example: dict[str, np.ndarray]
    tolerance: float = 1e-3  # max abs difference of the outputs, relative to their scale
    output_name: str = "logits"
    io: dict[str, Any] = field(default_factory=dict)

    def reference(self) -> np.ndarray:
        import torch

        with torch.no_grad():
            out = self.module.eval()(**{k: torch.from_numpy(v) for k, v in self.example.items()})
        out = out if isinstance(out, torch.Tensor) else (out.logits if hasattr(out, "logits") else out[0])
        return out.numpy()


class _Subject:
    """What a runtime's form builder reads of a subject: the example as its calibration split."""

    def __init__(self, model: ReferenceModel):
        self.output_name = model.output_name
        self._split = _OneSample(model.example)

    def splits(self):
        return type("Splits", (), {"calibration": self._split})()


class _OneSample:
    def __init__(self, example: dict[str, np.ndarray]):
        self.inputs = example

    def __len__(self) -> int:
        return 1

    def batch(self, index: slice) -> dict[str, np.ndarray]:
        return {k: v[index] for k, v in self.inputs.items()}

    def take(self, n: int) -> "_OneSample":
        return self


def model_file(name: str, model: ReferenceModel, workdir: Path) -> tuple[Path, dict[str, Any] | None]:
    """The model in the runtime's form (its ONNX export, or the runtime's own build) and its io names."""
    import torch

    workdir.mkdir(parents=True, exist_ok=True)
    onnx_path = export_onnx(model.module, model.example, workdir / "model.onnx", model.output_name)
    runtime = runtime_class(name)()
    if runtime.form == ONNX_FORM:
        return onnx_path, None
    torch.save(model.module, workdir / "model.pt")
    source = Artifact("reference", (), (onnx_path,), workdir / "model.pt", frozenset({TORCH, ONNX, FLOAT}), {})
    out = workdir / runtime.form
    out.mkdir(exist_ok=True)
    ctx = BuildContext(subject=_Subject(model), workdir=out, log=lambda m: None)
    built = runtime.build_form(source, ctx, (), {}, out)
    return built.parts[0], built.meta.get("io")


def check_session(runtime: Runtime, session: RuntimeSession, model: ReferenceModel) -> None:
    names = [i.name for i in session.inputs]
    assert sorted(names) == sorted(model.example), \
        f"{runtime.name}: inputs {names}, the model has {list(model.example)}"
    for meta in session.inputs:
        given = model.example[meta.name]
        assert np.dtype(meta.dtype) == given.dtype, \
            f"{runtime.name}: input {meta.name} is {meta.dtype}, not {given.dtype}"
        assert len(meta.shape) == given.ndim, f"{runtime.name}: input {meta.name} has rank {len(meta.shape)}"
    assert session.outputs, f"{runtime.name}: the session names no output"
    outputs = session.run(dict(model.example))
    reference = model.reference()
    got = np.asarray(outputs[0])
    assert got.shape == reference.shape, f"{runtime.name}: output shape {got.shape}, the model's {reference.shape}"
    scale = max(1.0, float(np.abs(reference).max()))
    diff = float(np.abs(got - reference).max()) / scale
    assert diff <= model.tolerance, \
        f"{runtime.name}: outputs differ from the model's by {diff:.2e} (> {model.tolerance})"
    again = session.run(dict(model.example))[0]
    assert np.array_equal(np.asarray(again), got), f"{runtime.name}: two runs of one input differ"
    assert session.memory_mb >= 0 or np.isnan(session.memory_mb), f"{runtime.name}: negative memory"


def check_refusals(runtime: Runtime) -> None:
    """Whatever it refuses, it says why; it serves an ONNX model when its form is ONNX, a torch one otherwise."""
    served = frozenset({ONNX, FLOAT}) if runtime.form == ONNX_FORM else frozenset({TORCH, ONNX, FLOAT})
    assert runtime.refusal(served) is None, f"{runtime.name} refuses a model of its own form"
    for caps in (frozenset({SPLIT, FLOAT}), frozenset({ONNX}), frozenset()):
        why = runtime.refusal(caps)
        assert why is None or (isinstance(why, str) and why), f"{runtime.name}: a refusal without a reason"


def check_operator_settings(runtime: Runtime) -> None:
    """The operator settings it needs name registered operators and settings they accept, with a reason."""
    from edgewise.operators.base import get_operator

    for operator, settings in runtime.operator_settings.items():
        get_operator(operator, dict(settings))  # an unknown operator or setting raises, naming it
    assert not runtime.operator_settings or runtime.operator_settings_reason, \
        f"{runtime.name}: operator settings without a reason"


def check_served(name: str, path: Path, io: dict[str, Any] | None, model: ReferenceModel) -> None:
    """The model behind a real tier server (a thread of this process), over a real socket."""
    from edgewise.runtimes.choice import RuntimeChoice
    from edgewise.tiers.client import TierClient
    from edgewise.tiers.server import ServerConfig, TierServer
    from edgewise.tiers.spec import Placement, route_for

    server = TierServer(ServerConfig(tier="mobile", providers=["CPUExecutionProvider"])).start()
    client = TierClient({"mobile": server.address}, timeout_s=60)
    try:
        reply = client.load("mobile", "conformance", path, "full", None, runtime=RuntimeChoice(name).wire(), io=io)
        assert reply.get("runtime") == name, f"{name}: the tier loaded it with {reply.get('runtime')}"
        result = client.infer(route_for(Placement.parse("mobile")), "conformance", dict(model.example))
        reference = model.reference()
        scale = max(1.0, float(np.abs(reference).max()))
        diff = float(np.abs(result.logits - reference).max()) / scale
        assert diff <= model.tolerance, f"{name}: served outputs differ from the model's by {diff:.2e}"
        assert result.breakdown.get("compute:mobile", 0) > 0, f"{name}: the served request has no compute time"
        client.unload("mobile", "conformance")
        assert not server.artifacts, f"{name}: UNLOAD left {list(server.artifacts)} on the tier"
    finally:
        client.close()
        server.stop()


def check_runtime(name: str, model: ReferenceModel, workdir: Path | None = None) -> None:
    """Every check on one runtime and one reference model."""
    own = workdir is None
    workdir = workdirs.make(f"check-{name}") if own else Path(workdir)
    try:
        runtime = runtime_class(name)()
        assert runtime.description, f"{name}: no description"
        check_refusals(runtime)
        check_operator_settings(runtime)
        path, io = model_file(name, model, workdir)
        session = runtime.open(path, 1, io)
        try:
            check_session(runtime, session, model)
        finally:
            session.close()
        check_served(name, path, io, model)
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
