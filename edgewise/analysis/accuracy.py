"""Accuracy drop of a cell against its subject's identity cell, paired when per-sample correctness exists."""

from __future__ import annotations

from dataclasses import dataclass

from edgewise.analysis.bootstrap import seed_for
from edgewise.analysis.paired import PairedAccuracy, paired_accuracy
from edgewise.analysis.results import PLACEMENT_ORDER, CellResult, ResultSet


@dataclass(frozen=True)
class AccuracyDrop:
    """Baseline minus cell accuracy of the primary metric, in percentage points (positive = worse)."""

    cell: str
    baseline: str
    metric: str
    baseline_accuracy: float
    accuracy: float
    paired: PairedAccuracy | None = None

    @property
    def drop_points(self) -> float:
        return (self.baseline_accuracy - self.accuracy) * 100.0

    def to_dict(self) -> dict:
        return {"cell": self.cell, "baseline": self.baseline, "metric": self.metric,
                "baseline_accuracy": self.baseline_accuracy, "accuracy": self.accuracy,
                "drop_points": self.drop_points, "paired": self.paired.to_dict() if self.paired else None}


def baseline_for(rs: ResultSet, cell: CellResult) -> CellResult | None:
    """The subject's identity cell on the same placement, else the first one in tier order."""
    same = rs.find(cell.subject, "identity", cell.placement)
    if same is not None and same.primary_accuracy is not None:
        return same
    candidates = [c for c in rs.cells if c.subject == cell.subject and c.chain == "identity"
                  and c.primary_accuracy is not None]
    order = {p: i for i, p in enumerate(PLACEMENT_ORDER)}
    return min(candidates, key=lambda c: order.get(c.placement, len(order)), default=None)


def accuracy_drop(rs: ResultSet, cell: CellResult) -> AccuracyDrop | None:
    """None when the cell or its subject's identity has no accuracy for the cell's primary metric."""
    base = baseline_for(rs, cell)
    if base is None or cell.primary_accuracy is None or base.metric != cell.metric:
        return None
    paired = None
    if cell.correct is not None and base.correct is not None and cell.correct.shape == base.correct.shape:
        paired = paired_accuracy(base.correct, cell.correct, seed_for(base.name, cell.name))
    return AccuracyDrop(cell=cell.name, baseline=base.name, metric=cell.metric or "",
                        baseline_accuracy=base.primary_accuracy or 0.0, accuracy=cell.primary_accuracy, paired=paired)
