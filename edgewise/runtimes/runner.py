"""An artifact run in process through a runtime: one session, or head then tail for a partition.

The accuracy pass and the check of served outputs use it, so a cell is scored as its runtime serves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgewise.runtimes.base import Runtime, runtime_class


class ArtifactRunner:
    def __init__(self, parts: Sequence[str | Path], threads: int = 1, runtime: Runtime | None = None,
                 io: dict[str, Any] | None = None):
        runtime = runtime or runtime_class("onnxruntime")()
        self.sessions = [runtime.load(Path(p), runtime.threads(threads), io) for p in parts]

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.sessions[0].inputs]

    @property
    def fixed_batch(self) -> int | None:
        return self.sessions[0].fixed_batch

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        values = dict(feeds)
        out = None
        for sess in self.sessions:
            names = [i.name for i in sess.inputs]
            missing = [n for n in names if n not in values]
            if missing:
                raise KeyError(f"inputs {missing} missing for a part (it has {names})")
            outs = sess.run({n: values[n] for n in names})
            values.update(zip(sess.outputs, outs))
            out = outs[0]
        return out

    def close(self) -> None:
        for sess in self.sessions:
            sess.close()
