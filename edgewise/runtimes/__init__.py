"""Runtimes: what executes an artifact on a tier (ONNX Runtime, OpenVINO, ExecuTorch), one file each.

`base` holds the seam and the registry; `choice` a runtime as a study names it; `forms` builds a
cell's artifact in its runtime's form. A runtime's own module is imported only when a study names it.
"""

from edgewise.runtimes.base import (
                                    DEFAULT_RUNTIME,
                                    ONNX_FORM,
                                    PTE_FORM,
                                    RUNTIMES,
                                    IOMeta,
                                    Runtime,
                                    RuntimeParams,
                                    RuntimeSession,
                                    installed_runtimes,
                                    runtime_class,
                                    runtime_names,
)
from edgewise.runtimes.choice import RuntimeChoice, runtime_text

__all__ = ["DEFAULT_RUNTIME", "ONNX_FORM", "PTE_FORM", "RUNTIMES", "IOMeta", "Runtime", "RuntimeChoice",
           "RuntimeParams", "RuntimeSession", "installed_runtimes", "runtime_class", "runtime_names", "runtime_text"]
