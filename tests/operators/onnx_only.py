"""Third-party ONNX graphs as subjects: the architecture-only models shipped in the onnx wheel,
given random weights, with random inputs and the fp32 model's own predictions as labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper, version_converter

from edgewise.data.split import Split, Splits
from edgewise.subjects.base import Subject

LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def light_model(name: str, out: Path, seed: int = 0) -> Path:
    """light_<name>.onnx with its ConstantOfShape weights replaced by random ones, at opset 13."""
    model = onnx.load(str(LIGHT_DIR / f"light_{name}.onnx"))
    rng = np.random.default_rng(seed)
    g = model.graph
    shapes = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    weights, keep = [], []
    for node in g.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in shapes:
            weights.append(numpy_helper.from_array(_random_weight(tuple(int(d) for d in shapes[node.input[0]]), rng),
                                                   node.output[0]))
        else:
            keep.append(node)
    del g.node[:]
    g.node.extend(keep)
    used = {i for n in keep for i in n.input}
    kept_inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept_inits + weights)
    init_names = {t.name for t in g.initializer}
    data_inputs = [i for i in g.input if i.name not in init_names and i.name not in {w.name for w in weights}]
    del g.input[:]
    g.input.extend(data_inputs[:1])
    model.ir_version = 7
    model = version_converter.convert_version(model, 13)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return out


def _random_weight(shape: tuple[int, ...], rng) -> np.ndarray:
    # He-scaled so activations stay in range through deep stacks; 1-D tensors are BN/bias terms.
    if len(shape) == 1:
        return rng.uniform(0.9, 1.1, shape).astype(np.float32) if rng.random() < 0.5 else np.zeros(shape, np.float32)
    fan_in = int(np.prod(shape[1:]))
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


class OnnxFileSubject(Subject):
    """A subject made of one ONNX file: random calibration and evaluation inputs, labels = fp32 argmax."""

    family = "cnn"
    has_torch = False

    def __init__(self, ctx, name: str, path: Path, samples: int = 8):
        super().__init__(ctx)
        self.name = name  # an instance attribute: test subjects stay out of the registry
        self.path = path
        self.samples = samples

    def onnx_model(self) -> Path:
        return self.path

    def fingerprint(self) -> dict[str, Any]:
        from edgewise.building.artifacts import file_sha256

        return {"name": self.name, "onnx": file_sha256(self.path), "samples": self.samples}

    def splits(self) -> Splits:
        if not hasattr(self, "_splits"):
            from edgewise.onnxgraph import make_session

            session = make_session(self.path)
            spec = session.get_inputs()[0]
            self.input_names = (spec.name,)
            rng = np.random.default_rng(self.ctx.seed)
            shape = [d if isinstance(d, int) else 1 for d in spec.shape]
            x = rng.random((2 * self.samples, *shape[1:]), dtype=np.float32)
            labels = np.array([session.run(None, {spec.name: x[i : i + 1]})[0].argmax() for i in range(len(x))])
            half = self.samples
            self._splits = Splits(Split({spec.name: x[:0]}, labels[:0]), Split({spec.name: x[:half]}, labels[:half]),
                                  Split({spec.name: x[half:]}, labels[half:]))
        return self._splits

    def latency_inputs(self, n: int) -> list[bytes]:
        return [self.splits().evaluation.inputs[self.input_names[0]][i % self.samples].tobytes() for i in range(n)]

    def preprocessing(self) -> dict[str, Any]:
        return {"kind": "raw"}
