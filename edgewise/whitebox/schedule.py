"""Training schedules of the white-box operators, shortened in the quick profile.

A schedule counts epochs of `iterations` mini-batches (the reference study's "8 epochs x 30
iterations"): each epoch is one pass over a random subset of iterations x batch_size training
samples, so a build's cost does not grow with the size of the training set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from edgewise.data.split import Split
from edgewise.vocabulary import normalise_profile


@dataclass(frozen=True)
class Schedule:
    epochs: int
    iterations: int  # mini-batches per epoch
    batch_size: int
    lr: float
    optimizer: str = "adamw"  # adamw | sgd

    def with_overrides(self, **overrides: Any) -> "Schedule":
        """This schedule with the parameters a user set (None means keep the default)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def training_subset(self, train: Split, seed: int) -> tuple[Split, np.ndarray]:
        """The samples this schedule trains on, and their indices in `train`."""
        n = min(len(train), self.iterations * self.batch_size)
        index = np.sort(np.random.default_rng(seed).permutation(len(train))[:n])
        return train.subset(index), index

    def fit_kwargs(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "optimizer": self.optimizer}

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def resolve(table: dict[tuple[str, str], dict[str, Any]], operator: str, ctx, params) -> Schedule:
    """The schedule an operator trains with: its table's default for the profile and family, then
    what the subject suggests for this operator, then the study's own parameters."""
    profile = normalise_profile(ctx.profile)
    suggested = ctx.subject.operator_defaults(operator).get(profile, {})
    stated = {k: getattr(params, k, None) for k in ("epochs", "iterations", "batch_size", "lr", "optimizer")}
    return Schedule(**table[(profile, ctx.subject.family)]).with_overrides(**suggested).with_overrides(**stated)


def table_fingerprint(table: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A JSON-able copy of a (profile, family) -> schedule table, for cache keys."""
    return {"/".join(k): v for k, v in table.items()}
