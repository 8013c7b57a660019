"""Why an operator pays for a model, or does not: what share of the end-to-end time it can act on.

An operator shrinks some of a model's operators (quantization and pruning the linear layers: Conv,
MatMul, Gemm; distillation the whole model: Operator.acts_on). Read from the float model's profile on
the cell's tiers, the share of the model's time in those operators, times the model's share of the
end-to-end latency (the rest is preprocessing, links, the hops), is what the operator can act on; were
it to remove all of it, the cell would run at most 1 / (1 - that share) times faster (Amdahl's bound).
A measured speed-up far below the bound is the operator's own doing; a bound near 1 says the model
itself leaves the operator nothing to gain, whatever it does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewise.analysis.profiles import cell_profile, family
from edgewise.analysis.results import ResultSet
from edgewise.operators.base import EVERY_OPERATOR
from edgewise.vocabulary import OK


@dataclass(frozen=True)
class Why:
    cell: str
    acts_on: tuple[str, ...]  # the operator families the chain shrinks (EVERY_OPERATOR: the whole model)
    model_share: float  # of the float model's time, the share in those families
    latency_share: float  # of the float cell's median end-to-end latency, the share the model's time takes
    speedup: float  # measured: the float cell's median latency over this cell's

    @property
    def reach(self) -> float:
        """The share of the end-to-end time the operator acts on."""
        return self.model_share * self.latency_share

    @property
    def bound(self) -> float:
        """The end-to-end speed-up were the operator to remove all it acts on."""
        return 1 / (1 - self.reach) if self.reach < 1 else float("inf")

    def text(self) -> str:
        what = "the whole model" if EVERY_OPERATOR in self.acts_on else ", ".join(self.acts_on)
        return (f"{self.cell}: acts on {self.model_share:.0%} of the model's time ({what}); the model is "
                f"{self.latency_share:.0%} of the latency end to end, so at most {self.bound:.2f}x; measured "
                f"{self.speedup:.2f}x")

    def to_dict(self) -> dict:
        return {"cell": self.cell, "acts_on": list(self.acts_on), "model_share": self.model_share,
                "latency_share": self.latency_share, "reach": self.reach, "bound": self.bound,
                "speedup": self.speedup}


def why(rs: ResultSet) -> list[Why]:
    """For every measured cell whose chain shrinks something, against its subject's identity on the same
    placement, runtime and condition (whose profile says where the float model's time goes)."""
    chains = rs.study.get("chains") or {}
    out = []
    for cell in rs.cells:
        acts_on = tuple((chains.get(cell.chain) or {}).get("acts_on") or ())
        if cell.chain == "identity" or not acts_on or cell.status != OK or not len(cell.latency_s):
            continue
        base = next((c for c in rs.cells if (c.subject, c.chain, c.placement, c.runtime, c.condition)
                     == (cell.subject, "identity", cell.placement, cell.runtime, cell.condition)), None)
        profile = cell_profile(rs, base) if base is not None and base.status == OK else None
        if profile is None or not len(base.latency_s):
            continue
        types = profile.by_type()
        kernels = sum(types.values())
        if kernels <= 0:
            continue
        acted = kernels if EVERY_OPERATOR in acts_on else sum(ms for op, ms in types.items() if family(op) in acts_on)
        median = float(np.median(base.latency_s))
        out.append(Why(cell.name, acts_on, acted / kernels, min(1.0, profile.run_ms / 1e3 / median),
                       median / float(np.median(cell.latency_s))))
    return out
