"""Export a torch module to ONNX: legacy TorchScript exporter, opset 17, dynamic batch.

The legacy exporter is the path whose int8 QAT graphs ONNX Runtime fuses to integer kernels;
keep every export in this one place so the backend can change together.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

OPSET = 17


def export_onnx(module, example: dict[str, np.ndarray], path: Path, output_name: str = "logits",
                dynamic_axes: dict[str, dict[int, str]] | None = None) -> Path:
    import torch

    names = list(example)
    tensors = tuple(torch.from_numpy(np.ascontiguousarray(example[n])) for n in names)
    axes = dynamic_axes or {n: {0: "batch"} for n in names}
    axes = {**axes, output_name: {0: "batch"}}
    module = module.eval()

    class _Keywords(torch.nn.Module):
        # The exporter passes positionals; subjects' modules take their inputs by name.
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args)))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            # The wrapper in eval mode: the exporter restores the wrapper's mode, and with it the module's.
            torch.onnx.export(_Keywords(module).eval(), tensors, str(path), input_names=names, output_names=[output_name],
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False, do_constant_folding=True)
    return Path(path)
