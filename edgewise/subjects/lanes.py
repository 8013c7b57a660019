"""Train the missing teachers side by side: one process per lane, the CPU's cores shared among them.

On a small CPU one training does not use its cores fully (a second thread buys well under 2x),
so teachers trained at once on one thread each finish sooner than the same trained one after the
other on all threads (benchmarks/results/teacher-recipes.md has the figures). When a
lane has nothing left to train, the trainings still running take its cores (`training.share_cpu`),
so the last teacher does not run on one thread beside an idle core.

Teachers land in the cache as usual (`subjects.teachers.cached_teacher`); the build stage then
finds them there. A teacher whose lane fails is left to the build, which trains it in-process and
reports its error against the cells that need it.
"""

from __future__ import annotations

import os
import queue
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import fields
from typing import Any, Callable

from edgewise.subjects.base import Subject, SubjectContext
from edgewise.subjects.teachers import teacher_record
from edgewise.testbeds.processes import die_with_parent
from edgewise.training import share_cpu

SubjectFactory = Callable[[SubjectContext], Subject]  # picklable: a top-level function or a partial of one


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def train_teachers(factories: dict[str, SubjectFactory], ctx: SubjectContext, lanes: int | None = None,
                   on_done: Callable[[str, dict[str, Any] | None], None] | None = None) -> dict[str, dict[str, Any] | None]:
    """Train the teachers of `factories` (name -> how to make the subject) in parallel lanes.

    Returns each name's teacher record (fingerprint, quality, train_seconds), or None where its lane
    failed (the error is logged). `lanes` defaults to one per core, at most one per teacher.
    """
    import multiprocessing as mp

    if not factories:
        return {}
    cores = cpu_cores()
    lanes = max(1, min(lanes or cores, len(factories)))
    spawn = mp.get_context("spawn")  # fork would copy a parent whose torch thread pools may be running
    active = spawn.Value("i", lanes)
    messages = spawn.Queue()
    ctx_fields = {f.name: getattr(ctx, f.name) for f in fields(ctx) if f.name != "log"}
    start = time.time()
    results: dict[str, dict[str, Any] | None] = {}
    ctx.log(f"training {len(factories)} teachers in {lanes} lanes on {cores} cores: {', '.join(factories)}")
    with ProcessPoolExecutor(lanes, mp_context=spawn, initializer=_lane_init, initargs=(active, cores, messages)) as pool:
        pending = {pool.submit(_train_one, name, factory, ctx_fields): name for name, factory in factories.items()}
        try:
            while pending:
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                _relay(messages, ctx.log)
                for future in done:
                    name = pending.pop(future)
                    try:
                        results[name] = future.result()
                    except Exception as exc:  # noqa: BLE001 - the build retries it in-process and reports it
                        results[name] = None
                        ctx.log(f"[red]{name}: teacher training failed in its lane: {exc}[/red]")
                    # The trainings still running share the cores this lane leaves.
                    active.value = max(1, min(lanes, len(pending)))
                    if on_done:
                        on_done(name, results[name])
        except BaseException:  # interrupted: the lanes stop too (no public way to stop them before Python 3.14)
            for future in pending:
                future.cancel()
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            raise
    _relay(messages, ctx.log)
    ctx.log(f"teachers trained in {time.time() - start:.0f} s wall ({lanes} lanes){_training_span(results)}")
    return results


def _training_span(records: dict[str, dict[str, Any] | None]) -> str:
    """From the first training's start to the last one's end: the stage less set-up and evaluation."""
    spans = [(r["train_started"], r["train_started"] + r["train_seconds"]) for r in records.values()
             if r and "train_started" in r]
    return f", training {max(e for _, e in spans) - min(s for s, _ in spans):.0f} s of it" if spans else ""


def _relay(messages, log: Callable[[str], None]) -> None:
    while True:
        try:
            log(messages.get_nowait())
        except queue.Empty:
            return


# --- in the lane processes ---------------------------------------------------------------------
_messages = None


def _lane_init(active, cores: int, messages) -> None:
    global _messages
    import torch

    die_with_parent()  # a killed study leaves no teacher training behind
    _messages = messages
    threads_now = lambda: max(1, cores // max(1, active.value))  # noqa: E731
    torch.set_num_threads(threads_now())
    share_cpu(threads_now)


def _train_one(name: str, factory: SubjectFactory, ctx_fields: dict[str, Any]) -> dict[str, Any] | None:
    def log(message: str) -> None:  # two lanes write at once: say whose line it is
        _messages.put(message if message.startswith(f"{name}:") else f"{name}: {message.strip()}")

    subject = factory(SubjectContext(**ctx_fields, log=log))
    subject.teacher()
    return teacher_record(subject)
