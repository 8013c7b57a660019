"""The request loop: passes x inputs, batch 1, sequential, client-side end to end.

Cells of one subject are interleaved in a seeded random order within each pass, and a study's
network conditions take turns a few inputs at a time, so drift of the machine over time favours no
cell and no condition. Every sample is stored as it is measured; a resumed run asks the store what is
missing and measures only that. A sample the host was too slow to take at its tiers' speed is set aside and
taken again (Headroom).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgewise.measure.drift import WAIT_EVENT, wait_message
from edgewise.output.store import Store
from edgewise.planning.conditions import Condition
from edgewise.tiers import parts
from edgewise.tiers.client import DoesNotFit, TierDown, TierLost
from edgewise.tiers.spec import Route
from edgewise.tiers.speed import held
from edgewise.vocabulary import DOES_NOT_FIT, FAILED, TIER_DOWN


@dataclass
class CellJob:
    """One cell ready to measure: where its requests go and under which artifact id."""

    name: str
    route: Route
    artifact_id: str
    check: Callable[[bytes, np.ndarray], str | None] | None = None  # compares served logits to in-process
    failed: str | None = field(default=None)


# Conditions take turns this many inputs at a time. Turns of a whole pass gave each condition two
# windows of time in a study of three passes, and the host's drift between windows (a 25 % step in one
# cell's medians) passed into the comparison of conditions; shorter turns spread every condition over
# the whole run. A cell's requests within a turn follow each other, as a served model's do, after
# untimed ones: the first would follow other cells' requests, whose length depends on the condition, and
# what they leave behind fades over several short requests (docs/benchmarks.md, network conditions):
# untimed requests for REWARM_S (at least one, at most REWARM_MAX).
TURN_INPUTS = 4
REWARM_S, REWARM_MAX = 0.05, 8


@dataclass
class Protocol:
    inputs: int
    passes: int
    warmup_passes: int
    retries: int = 2
    warmup_inputs: int | None = None  # inputs sent in a warm-up pass; None: all of them
    turn_inputs: int = TURN_INPUTS  # inputs each cell sends under one condition before the next condition's turn

    @classmethod
    def of(cls, measure) -> "Protocol":
        """The protocol a study's `measure` section states."""
        return cls(measure.inputs, measure.passes, measure.warmup_passes, measure.retries, measure.warmup_inputs,
                   measure.condition_turn_inputs or TURN_INPUTS)

    def inputs_in(self, pass_: int) -> int:
        """How many inputs pass `pass_` sends."""
        return (self.warmup_inputs or self.inputs) if pass_ < self.warmup_passes else self.inputs

    def turns_in(self, pass_: int, conditions: int) -> list[range]:
        """The inputs of pass `pass_` in the turns conditions take (one turn when there is one condition)."""
        n = self.inputs_in(pass_)
        size = n if conditions <= 1 else self.turn_inputs
        return [range(first, min(first + size, n)) for first in range(0, n, size)]

    def turn_index(self, pass_: int, input_: int, conditions: int) -> int:
        """Which turn of the whole run sample (pass_, input_) was taken in, counting from 0: a turn's samples
        share the host's moment, so an analysis across conditions weighs turns, not samples."""
        before = sum(len(self.turns_in(q, conditions)) for q in range(pass_))
        return before + next(k for k, inputs in enumerate(self.turns_in(pass_, conditions)) if input_ in inputs)

    @property
    def samples(self) -> int:
        """Requests per cell, warm-up included: what a finished cell holds."""
        return sum(self.inputs_in(p) for p in range(self.passes))


@dataclass
class Block:
    """The cells of one subject measured under one network condition (None: the study's own links)."""

    condition: Condition | None
    jobs: list[CellJob]


@dataclass
class Headroom:
    """What the request loop does with a sample the host was too slow to take at its device's speed
    (tiers/speed.py): it is set aside, logged, and taken again after a pause, pauses growing while the
    host stays slow, until the study's waiting budget is spent; what is still unheld then is kept,
    marked, and the report counts it. One per study: the budget spans its subjects."""

    pauses_s: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
    budget_s: float = 300.0
    waited_s: float = 0.0

    def pause(self, round_: int) -> float | None:
        """Wait before re-measuring round `round_`; the seconds waited, None once no rounds or budget are left."""
        if round_ >= len(self.pauses_s) or self.waited_s >= self.budget_s:
            return None
        wait = min(self.pauses_s[round_], self.budget_s - self.waited_s)
        time.sleep(wait)
        self.waited_s += wait
        return wait


def measure_subject(blocks: list[Block], payloads: list[bytes], protocol: Protocol, store: Store, infer,
                    recover: Callable[[str], None], seed: int, on_sample: Callable[[str], None] | None = None,
                    enter: Callable[[Condition], None] | None = None, headroom: Headroom | None = None) -> None:
    """Measure every missing sample of the blocks' jobs.

    The blocks (one per network condition) take turns a few inputs at a time (Protocol.turn_inputs), in
    an order that rotates from turn to turn, so that the host's drift over time never poses as a
    difference between conditions; within a block the cells take turns in a seeded random order.
    `enter(condition)` puts the testbed's links into a block's condition before it is measured.
    `infer(job, payload)` returns an InferResult; it raises the testbed's TierDown / DoesNotFit.
    `recover(tier)` restarts a dead tier and reloads what it held.
    """
    rng = np.random.default_rng(seed)
    headroom = headroom or Headroom()
    jobs = [job for block in blocks for job in block.jobs]
    turn = 0
    for p in range(protocol.passes):
        order = [jobs[int(j)] for j in rng.permutation(len(jobs))]
        in_order = [_in_order(order, block) for block in blocks]
        rewarm = len(blocks) > 1 and p >= protocol.warmup_passes
        for inputs in protocol.turns_in(p, len(blocks)):
            for k in range(len(blocks)):
                b = (turn + k) % len(blocks)
                todo = [(job, missing) for job in in_order[b]
                        if not job.failed and (missing := _missing(store, job, p, inputs))]
                if not todo:
                    continue
                if blocks[b].condition is not None and enter is not None:
                    enter(blocks[b].condition)
                loop = _Loop(jobs, payloads, protocol, store, infer, recover, on_sample)
                for job, missing in todo:
                    loop.measure(job, p, missing, rewarm)
                    time.sleep(0)  # let a Ctrl-C land between cells
                loop.measure_again(headroom)
            turn += 1


def _in_order(order: list[CellJob], block: Block) -> list[CellJob]:
    """The block's jobs in the pass's order."""
    members = {id(job) for job in block.jobs}
    return [job for job in order if id(job) in members]


def _missing(store, job: CellJob, p: int, inputs: range) -> list[int]:
    """The inputs of a turn the store does not hold yet for `job` in pass `p` (a resumed run measures only those)."""
    done = store.done_inputs(job.name, p)
    return [i for i in inputs if i not in done]


class _Loop:
    """One block's requests of one pass: each sample stored as it is measured, those the host could not
    hold at their device's speed set aside for `measure_again`."""

    def __init__(self, jobs, payloads, protocol, store, infer, recover, on_sample):
        self.jobs, self.payloads, self.protocol, self.store = jobs, payloads, protocol, store
        self.infer, self.recover, self.on_sample = infer, recover, on_sample
        self.unheld: list[tuple[CellJob, int, int]] = []  # (job, pass, input)

    def measure(self, job: CellJob, p: int, missing: list[int], rewarm: bool = False) -> None:
        """The inputs of one turn not yet stored; `rewarm`: after untimed requests (REWARM_S of them)."""
        if rewarm and not self._rewarm(job, self.payloads[missing[0] % len(self.payloads)]):
            return
        for i in missing:
            if not self.take(job, p, i, last_chance=False):
                if job.failed:
                    return

    def _rewarm(self, job: CellJob, payload: bytes) -> bool:
        """Untimed requests until REWARM_S have passed (at least one); False when the job failed."""
        start = time.perf_counter()
        for _ in range(REWARM_MAX):
            if self.request(job, payload) is None:
                return False
            if time.perf_counter() - start >= REWARM_S:
                break
        return True

    def take(self, job: CellJob, p: int, i: int, last_chance: bool) -> bool:
        """One sample; False when the job failed or the sample was set aside (not held, not the last chance)."""
        payload = self.payloads[i % len(self.payloads)]
        result = self.request(job, payload)
        if result is None:
            return False
        warm = p < self.protocol.warmup_passes
        compute = sum(parts.work_by_tier(result.breakdown).values())
        ok = held(result.late_s, compute)
        if not ok and not warm:
            self.store.add_unheld(job.name, p, i, result.total_s, result.pacing)
            if not last_chance:
                self.unheld.append((job, p, i))
                return False
        if p == 0 and i == 0 and job.check is not None:
            problem = job.check(payload, result.logits)
            if problem:
                self.store.event("output-mismatch", problem, job.name)
        self.store.add_sample(job.name, p, i, warm, result.total_s, result.breakdown, result.pacing, ok)
        if self.on_sample:
            self.on_sample(job.name)
        return True

    def measure_again(self, headroom: Headroom) -> None:
        """The samples set aside, again after a pause, until held or the rounds or the budget run out;
        then what is left is taken once more and kept, marked as measured without headroom."""
        round_ = 0
        while self.unheld:
            waiting, self.unheld = self.unheld, []
            waited = headroom.pause(round_)
            last = waited is None
            if not last:
                self.store.event(WAIT_EVENT, wait_message(waited, len(waiting)))
            for job, p, i in waiting:
                if not job.failed:
                    self.take(job, p, i, last_chance=last)
            if last and waiting:
                self.store.event("headroom-kept", f"{len(waiting)} sample(s) kept without headroom: the host stayed "
                                                  "too slow for their tiers' speed (see the report's drift section)")
            round_ += 1

    def request(self, job: CellJob, payload: bytes):
        """The job's reply to `payload`, or None once the job has failed (its status is stored)."""
        attempts = 0
        while True:
            try:
                return self.infer(job, payload)
            except DoesNotFit as exc:
                job.failed = f"does not fit on {exc.tier}"
                self.store.event("does-not-fit", str(exc), job.name)
                self.store.set_cell(job.name, DOES_NOT_FIT, job.failed)
                return None
            except TierDown as exc:
                attempts += 1
                self.store.event(TIER_DOWN, f"{exc} (attempt {attempts})", job.name)
                if attempts > self.protocol.retries:
                    job.failed = f"tier {exc.tier} kept failing: {exc}"
                    self.store.set_cell(job.name, FAILED, job.failed)
                    return None
                try:
                    self.recover(exc.tier)
                except TierLost as lost:  # a real host: the cells needing it wait for a later run
                    _tier_lost(self.jobs, lost, self.store, self.protocol.samples)
                    job.failed = job.failed or tier_down_reason(lost)
                    return None


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
        store.set_cell(job.name, TIER_DOWN, reason)
        store.event(TIER_DOWN, str(lost), job.name)


def output_check(runner, preprocess) -> Callable[[bytes, np.ndarray], str | None]:
    """A placement must not change outputs: compare the served logits with in-process ones."""

    def check(payload: bytes, served: np.ndarray) -> str | None:
        local = runner(preprocess(payload))
        diff = float(np.max(np.abs(local - served)))
        if int(local.argmax()) != int(served.argmax()) or diff > 1e-3:
            return f"served output differs from in-process output (max abs diff {diff:.2e})"
        return None

    return check
