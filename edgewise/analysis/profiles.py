"""Where a cell's model time goes, read from its stored operator profile (edgewise.profiling).

A study stores each artifact's profile as the host measured it; a cell's figures are the host's
divided by the speed of the tier each part runs on. For an int8 cell, its float counterpart is the same
chain without the link that made it int8, on the same placement (identity for sptq, dptq and qat,
distill for distill+sptq, partition for sptq+partition), and the two compare per operator family: an
int8 kernel (QLinearConv) is set beside the float kernel it replaces (Conv, FusedConv), and the
conversions between int8 and float get a family of their own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from edgewise.analysis.results import CellResult, ResultSet
from edgewise.profiling.ort import NodeTime, OperatorProfile

CONVERSIONS = "int8 conversions"
_FAMILY = {"QGemm": "Gemm", "FusedGemm": "Gemm", "MatMulInteger": "MatMul", "MatMulIntegerToFloat": "MatMul",
           "DynamicQuantizeMatMul": "MatMul", "FusedMatMul": "MatMul", "QOrderedMatMul": "MatMul",
           "ConvInteger": "Conv", "FusedConv": "Conv", "NhwcConv": "Conv", "NchwcConv": "Conv",
           "NhwcMaxPool": "MaxPool", "QAttention": "Attention", "QEmbedLayerNormalization": "EmbedLayerNormalization",
           "QuantizeLinear": CONVERSIONS, "DequantizeLinear": CONVERSIONS, "DynamicQuantizeLinear": CONVERSIONS,
           "ReorderInput": "layout", "ReorderOutput": "layout",
           # A residual Add fused into the normalization after it: set beside the float graph's LayerNormalization.
           "SkipLayerNormalization": "LayerNormalization", "SkipSimplifiedLayerNormalization": "LayerNormalization"}


def family(op_type: str) -> str:
    """The operator an op type computes, int8 or float alike: QLinearConv and FusedConv are both Conv."""
    if op_type in _FAMILY:
        return _FAMILY[op_type]
    return op_type[len("QLinear"):] if op_type.startswith("QLinear") else op_type


def tier_speeds(rs: ResultSet, cell: CellResult, parts: int) -> list[float]:
    tiers = (rs.study.get("testbed") or {}).get("tiers") or {}
    names = cell.placement.split("-")
    return [float((tiers.get(names[min(i, len(names) - 1)]) or {}).get("speed") or 1.0) for i in range(parts)]


def cell_profile(rs: ResultSet, cell: CellResult) -> OperatorProfile | None:
    """The cell's profile on its tiers (the host's figures divided by each tier's speed), or None."""
    if not cell.profile:
        return None
    host = OperatorProfile.from_dict(cell.profile)
    return host.scaled(tier_speeds(rs, cell, len(host.parts)))


def float_counterpart(rs: ResultSet, cell: CellResult) -> CellResult | None:
    """The float cell an int8 cell is compared with: the same chain without the link that made it int8, on
    the same placement (sptq: identity; distill+sptq: distill; sptq+partition: partition), when measured."""
    chains = rs.study.get("chains") or {}
    if not (chains.get(cell.chain) or {}).get("int8"):
        return None
    links = cell.chain.split("+")
    for i in reversed(range(len(links))):
        source = "+".join(links[:i] + links[i + 1:]) or "identity"
        if source in chains and not chains[source].get("int8"):
            found = next((c for c in rs.cells if (c.subject, c.chain, c.placement, c.runtime, c.condition)
                          == (cell.subject, source, cell.placement, cell.runtime, cell.condition)), None)
            if found is not None:
                return found
    return None


@dataclass(frozen=True)
class FamilyTime:
    family: str
    fp32_ms: float
    int8_ms: float
    kernels: tuple[str, ...]  # the op types the int8 graph ran for this family

    @property
    def ratio(self) -> float | None:
        """fp32 / int8: above 1 the int8 graph spends less time here (None: only one graph runs it)."""
        return self.fp32_ms / self.int8_ms if self.int8_ms > 0 and self.fp32_ms > 0 else None

    def to_dict(self) -> dict:
        return {"family": self.family, "fp32_ms": self.fp32_ms, "int8_ms": self.int8_ms, "ratio": self.ratio,
                "kernels": list(self.kernels)}


def by_family(fp32: OperatorProfile, int8: OperatorProfile) -> list[FamilyTime]:
    """Time per operator family in both graphs, where the int8 graph spends most first."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    kernels: dict[str, set[str]] = defaultdict(set)
    for op, ms in fp32.by_type().items():
        totals[family(op)][0] += ms
    for op, ms in int8.by_type().items():
        totals[family(op)][1] += ms
        kernels[family(op)].add(op)
    rows = [FamilyTime(f, t[0], t[1], tuple(sorted(kernels[f]))) for f, t in totals.items()]
    return sorted(rows, key=lambda r: -max(r.int8_ms, r.fp32_ms))


@dataclass(frozen=True)
class ProfileView:
    """What the report and `edgewise analyze --profile` show of one cell."""

    cell: str
    profile: OperatorProfile
    baseline_cell: str | None = None
    families: tuple[FamilyTime, ...] = ()

    def top_types(self, n: int = 3) -> list[tuple[str, float, float]]:
        """(op type, ms, share of the kernels' time) of the n costliest op types."""
        types = self.profile.by_type()
        total = sum(types.values()) or 1.0
        return [(op, ms, ms / total) for op, ms in list(types.items())[:n]]

    def costliest_nodes(self, n: int = 5) -> list[tuple[int, NodeTime]]:
        return self.profile.costliest_nodes(n)

    def to_dict(self) -> dict:
        return {"cell": self.cell, "profile": self.profile.to_dict(), "baseline_cell": self.baseline_cell,
                "by_family": [f.to_dict() for f in self.families]}


def profile_view(rs: ResultSet, cell: CellResult) -> ProfileView | None:
    profile = cell_profile(rs, cell)
    if profile is None:
        return None
    baseline = float_counterpart(rs, cell)
    base_profile = cell_profile(rs, baseline) if baseline is not None else None
    if base_profile is None:
        return ProfileView(cell.name, profile)
    return ProfileView(cell.name, profile, baseline.name, tuple(by_family(base_profile, profile)))
