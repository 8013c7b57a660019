"""The request loop: passes x inputs, batch 1, sequential, client-side end to end.

Cells of one subject are interleaved in a seeded random order within each pass, so drift of the
machine over time does not favour a cell. Every sample is stored as it is measured; a resumed
run asks the store what is missing and measures only that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgewise.store import Store
from edgewise.tiers.client import DoesNotFit, TierDown, TierLost
from edgewise.tiers.spec import Route
from edgewise.vocabulary import DOES_NOT_FIT, FAILED


@dataclass
class CellJob:
    """One cell ready to measure: where its requests go and under which artifact id."""

    name: str
    route: Route
    artifact_id: str
    check: Callable[[bytes, np.ndarray], str | None] | None = None  # compares served logits to in-process
    failed: str | None = field(default=None)


@dataclass
class Protocol:
    inputs: int
    passes: int
    warmup_passes: int
    retries: int = 2
    warmup_inputs: int | None = None  # inputs sent in a warm-up pass; None: all of them

    @classmethod
    def of(cls, measure) -> "Protocol":
        """The protocol a study's `measure` section states."""
        return cls(measure.inputs, measure.passes, measure.warmup_passes, measure.retries, measure.warmup_inputs)

    def inputs_in(self, pass_: int) -> int:
        """How many inputs pass `pass_` sends."""
        return (self.warmup_inputs or self.inputs) if pass_ < self.warmup_passes else self.inputs

    @property
    def samples(self) -> int:
        """Requests per cell, warm-up included: what a finished cell holds."""
        return sum(self.inputs_in(p) for p in range(self.passes))


def measure_subject(jobs: list[CellJob], payloads: list[bytes], protocol: Protocol, store: Store, infer,
                    recover: Callable[[str], None], seed: int, on_sample: Callable[[str], None] | None = None) -> None:
    """Measure every missing sample of `jobs`.

    `infer(job, payload)` returns an InferResult; it raises the testbed's TierDown / DoesNotFit.
    `recover(tier)` restarts a dead tier and reloads what it held.
    """
    rng = np.random.default_rng(seed)
    for p in range(protocol.passes):
        order = rng.permutation(len(jobs))
        warm = p < protocol.warmup_passes
        for j in order:
            job = jobs[int(j)]
            if job.failed:
                continue
            done = store.done_inputs(job.name, p)
            for i in range(protocol.inputs_in(p)):
                if i in done:
                    continue
                payload = payloads[i % len(payloads)]
                attempts = 0
                while True:
                    try:
                        result = infer(job, payload)
                        break
                    except DoesNotFit as exc:
                        job.failed = f"does not fit on {exc.tier}"
                        store.event("does-not-fit", str(exc), job.name)
                        store.set_cell(job.name, DOES_NOT_FIT, job.failed)
                        break
                    except TierDown as exc:
                        attempts += 1
                        store.event("tier-down", f"{exc} (attempt {attempts})", job.name)
                        if attempts > protocol.retries:
                            job.failed = f"tier {exc.tier} kept failing: {exc}"
                            store.set_cell(job.name, FAILED, job.failed)
                            break
                        try:
                            recover(exc.tier)
                        except TierLost as lost:  # a real host: the cells needing it wait for a later run
                            _tier_lost(jobs, lost, store, protocol.samples)
                            job.failed = job.failed or tier_down_reason(lost)
                            break
                if job.failed:
                    break
                if p == 0 and i == 0 and job.check is not None:
                    problem = job.check(payload, result.logits)
                    if problem:
                        store.event("output-mismatch", problem, job.name)
                store.add_sample(job.name, p, i, warm, result.total_s, result.breakdown)
                if on_sample:
                    on_sample(job.name)
            time.sleep(0)  # let a Ctrl-C land between cells


def tier_down_reason(lost: Exception) -> str:
    return f"{lost}; the other cells were measured: run the study again once the server is back"


def _tier_lost(jobs: list[CellJob], lost, store: Store, expected: int) -> None:
    """Mark every unfinished cell whose route passes through the lost tier (as compute or relay)."""
    reason = tier_down_reason(lost)
    for job in jobs:
        if job.failed or lost.tier not in {tier for tier, _ in job.route.hops}:
            continue
        if store.sample_count(job.name) >= expected:
            continue
        job.failed = reason
        store.set_cell(job.name, "tier-down", reason)
        store.event("tier-down", str(lost), job.name)


def output_check(runner, preprocess) -> Callable[[bytes, np.ndarray], str | None]:
    """A placement must not change outputs: compare the served logits with in-process ones."""

    def check(payload: bytes, served: np.ndarray) -> str | None:
        local = runner(preprocess(payload))
        diff = float(np.max(np.abs(local - served)))
        if int(local.argmax()) != int(served.argmax()) or diff > 1e-3:
            return f"served output differs from in-process output (max abs diff {diff:.2e})"
        return None

    return check
