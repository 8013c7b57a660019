"""ExecuTorch (XNNPACK): PyTorch's on-device runtime, serving a program lowered from the chain's torch model.

Its form is built from the torch model the chain carries (the teacher, or what distill and prune
trained): torch.export, then lowering to the XNNPACK delegate, written as a .pte program. Its int8
path is the ExecuTorch form of sptq: PT2E quantization with the XNNPACK quantizer (per-channel int8
weights, int8 activations), calibrated on the subject's calibration split, then lowered the same way.
What carries no torch model (an `onnx:` subject, qat's int8 graph) or is split in two cannot be served.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.building.artifacts import Artifact
from edgewise.runtimes.base import PTE_FORM, IOMeta, Runtime, RuntimeSession
from edgewise.vocabulary import FLOAT, SPLIT, TORCH

_SCALAR_TYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32",
                 7: "float64", 11: "bool"}
MAX_BATCH = 64  # the largest batch a program takes (its inputs' first dimension is dynamic up to it)


class ExecuTorchSession(RuntimeSession):
    def __init__(self, method, io: dict[str, Any] | None):
        meta = method.metadata
        declared = (io or {}).get("inputs") or []
        self.method = method
        self.inputs = []
        for i in range(meta.num_inputs()):
            info = meta.input_tensor_meta(i)
            if i < len(declared):
                name, dtype, shape = declared[i]
                self.inputs.append(IOMeta(name, dtype, tuple(shape)))
            else:
                self.inputs.append(IOMeta(f"input_{i}", _SCALAR_TYPES.get(int(info.dtype()), "float32"),
                                          tuple(info.sizes())))
        self.outputs = list((io or {}).get("outputs") or [f"output_{i}" for i in range(meta.num_outputs())])
        self._names = [m.name for m in self.inputs]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        import torch

        outs = self.method.execute([torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self._names])
        return [o.numpy() for o in outs]

    def close(self) -> None:
        self.method = None


class ExecuTorch(Runtime):
    name = "executorch"
    form = PTE_FORM
    suffix = ".pte"
    package = "executorch"
    display_order = 20
    description = "ExecuTorch with the XNNPACK delegate, lowered from the torch model (int8: PT2E, XNNPACK quantizer)"
    replaces = frozenset({"sptq"})

    def refusal(self, capabilities: frozenset[str], chain_names: tuple[str, ...] = ()) -> str | None:
        if SPLIT in capabilities:
            return "executorch serves a whole model, not the head and tail of a partition"
        if TORCH not in capabilities:
            return ("executorch lowers a PyTorch model, and this chain's artifact carries none (an onnx: subject, "
                    "or an operator such as qat whose output is an ONNX graph only)")
        return None

    def form_params(self) -> dict[str, Any]:
        return {"max_batch": MAX_BATCH}

    # --- the form --------------------------------------------------------------------------------
    def build_form(self, artifact: Artifact, ctx, replaced: tuple[str, ...], params: dict[str, Any],
                   out: Path) -> Artifact:
        import torch

        module = ctx.load_torch(artifact).eval()
        calibration = ctx.subject.splits().calibration
        example = calibration.batch(slice(0, 1))
        names = list(example)
        wrapper = _positional(module, names).eval()
        args = tuple(torch.from_numpy(np.ascontiguousarray(example[n])) for n in names)
        int8 = "sptq" in replaced
        meta: dict[str, Any] = {"runtime": self.name, "form": PTE_FORM, "source_artifact": artifact.key,
                                "int8": int8, "delegate": "xnnpack"}
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            # The int8 form is exported at batch 1, the batch a tier serves (the fp32 one takes up to MAX_BATCH).
            exported, dynamic = _export(wrapper, args, dynamic=not int8)
            if int8:
                size = int((params.get("sptq") or {}).get("calibration_size", 100))
                exported = _quantize(exported, calibration.take(size), names, dynamic)
                meta["quantization"] = {"scheme": "PT2E, XNNPACK quantizer: int8 per-channel weights, "
                                                  "int8 per-tensor activations (static)",
                                        "calibration": {"split": "calibration", "size": min(size, len(calibration))}}
            program = _lower(exported)
        path = out / "model.pte"
        path.write_bytes(program.buffer)
        batch = None if dynamic else 1
        meta["io"] = {"inputs": [[n, np.dtype(example[n].dtype).name, [batch, *example[n].shape[1:]]] for n in names],
                      "outputs": [ctx.subject.output_name]}
        meta["dynamic_batch"] = dynamic
        caps = frozenset() if int8 else frozenset({FLOAT})
        return Artifact(artifact.subject, artifact.chain, (path,), None, caps, meta)

    # --- the session -----------------------------------------------------------------------------
    def load(self, path: Path, threads: int, io: dict[str, Any] | None = None) -> RuntimeSession:
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime as EtRuntime

        if portable_lib._threadpool_get_thread_count() != threads:  # XNNPACK's pool is the process's
            portable_lib._unsafe_reset_threadpool(threads)
        program = EtRuntime.get().load_program(Path(path))
        session = ExecuTorchSession(program.load_method("forward"), io)
        session.program = program  # the method borrows from its program
        return session


def _positional(inner, names: list[str]):
    """`inner` (which takes the subject's inputs by name) called with positionals, as torch.export calls it;
    it returns the logits whether the model gives a tensor or a Hugging Face output."""
    import torch

    class Positional(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            out = self.inner(**dict(zip(names, args)))
            if isinstance(out, torch.Tensor):
                return out
            return out.logits if hasattr(out, "logits") else out[0]

    return Positional()


def _export(module, args, dynamic: bool = True):
    """torch.export with a dynamic batch (up to MAX_BATCH) where asked and the model allows it, else batch 1."""
    import torch
    from torch.export import Dim, export

    batch = Dim("batch", min=1, max=MAX_BATCH)
    try:
        if not dynamic:
            return export(module, args), False
        return export(module, args, dynamic_shapes=tuple({0: batch} for _ in args)), True
    except Exception:  # noqa: BLE001 - a model that fixes its batch inside exports as it is
        return export(module, args), False
    finally:
        torch._dynamo.reset()


def _quantize(exported, calibration, names: list[str], dynamic: bool):
    """PT2E int8 with the XNNPACK quantizer, calibrated one sample at a time on `calibration`."""
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torch.export import Dim, export
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = _integer_positions(prepare_pt2e(exported.module(), quantizer))
    for i in range(len(calibration)):
        sample = calibration.batch(slice(i, i + 1))
        prepared(*(torch.from_numpy(np.ascontiguousarray(sample[n])) for n in names))
    converted = convert_pt2e(prepared)
    example = calibration.batch(slice(0, 1))
    args = tuple(torch.from_numpy(np.ascontiguousarray(example[n])) for n in names)
    shapes = tuple({0: Dim("batch", min=1, max=MAX_BATCH)} for _ in args) if dynamic else None
    return export(converted, args, dynamic_shapes=shapes)


def _integer_positions(prepared):
    """Scalars that prepare_pt2e lifted into float tensors where they are added to integer tensors (the
    positions transformers' attention masks index with) are cast back to int64: as floats the positions
    cannot index the mask, and calibration fails on every transformer."""
    import functools

    import torch

    for node in prepared.graph.nodes:
        if node.op != "get_attr":
            continue
        *path, leaf = node.target.split(".")
        owner = functools.reduce(getattr, path, prepared)
        value = getattr(owner, leaf)
        if not (isinstance(value, torch.Tensor) and value.ndim == 0 and value.is_floating_point()):
            continue
        for user in node.users:
            others = [a for a in user.args if isinstance(a, torch.fx.Node) and a is not node]
            if any(isinstance(a.meta.get("val"), torch.Tensor) and not a.meta["val"].is_floating_point()
                   for a in others):
                setattr(owner, leaf, value.to(torch.int64))
                break
    return prepared


def _lower(exported):
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    return to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch()
