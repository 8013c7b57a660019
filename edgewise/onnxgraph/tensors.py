"""What crosses a cut: intermediate tensors observed by running the model on real samples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from edgewise.tiers.sessions import make_session


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str  # numpy dtype name
    shape: tuple[int, ...]  # observed on one sample (batch 1)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    def value_info(self, dynamic_batch: bool) -> onnx.ValueInfoProto:
        dims: list[int | str] = list(self.shape)
        if dynamic_batch and dims:
            dims[0] = "batch"
        elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(self.dtype))
        return onnx.helper.make_tensor_value_info(self.name, elem, dims)


def observe_tensors(model: onnx.ModelProto, feeds: list[dict[str, np.ndarray]], names: list[str]) -> dict[str, list[np.ndarray]]:
    """The values `names` take on each feed, from one ONNX Runtime session exposing them as outputs."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    present = {o.name for o in probe.graph.output}
    # An output without a type is accepted by ONNX Runtime, which infers it.
    probe.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names if n not in present)
    session = make_session(probe.SerializeToString(), optimize=False)
    values: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for feed in feeds:
        outs = session.run(names, _only_inputs(session, feed))
        for n, v in zip(names, outs):
            values[n].append(v)
    return values


def tensor_infos(values: dict[str, list[np.ndarray]]) -> dict[str, TensorInfo]:
    return {n: TensorInfo(n, str(v[0].dtype), tuple(v[0].shape)) for n, v in values.items()}


def _only_inputs(session, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {i.name: feed[i.name] for i in session.get_inputs()}
