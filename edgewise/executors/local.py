"""The local executor: this host builds (missing teachers and steps in lanes, one per core) and
drives the testbed.

The missing teachers and build steps form one graph (`executors.graph`): a step starts once the
step it builds on is in the cache, a subject's first step once its teacher is trained, so the
builds of one subject run beside the teacher training of another. Each lane writes the same cache
keys a one-process build would. The in-process build that follows finds every step in the cache;
what a lane could not build it builds again here, and reports the error against the cells.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from edgewise.artifacts import ArtifactCache
from edgewise.environment import usable_cores
from edgewise.executors.base import Executor
from edgewise.executors.graph import build_one, plan_steps, study_spec, worker_study
from edgewise.lanes import LaneTask, Outcome, run_in_lanes
from edgewise.subjects.teachers import teacher_missing, teacher_record
from edgewise.vocabulary import FAILED_MARK


class LocalExecutor(Executor):
    kind = "local"

    def build(self, study, cells):
        build_in_lanes(study, cells, study.options.lanes)
        study._start_stage("build", len(cells))
        return study.build(cells)

    def measure_latency(self, study, store, built, testbed=None) -> None:
        study.measure_latency(store, built, testbed)


def build_in_lanes(study, cells, lanes: int | None = None) -> dict[str, Outcome]:
    """Train the missing teachers and build the missing steps of `cells` side by side into the cache.

    Nothing to gain with one lane (one core, or `--lanes 1`), on a GPU (one device, trained
    in-process) or with fewer than two tasks: then the in-process build does it all. Returns each
    lane task's outcome.
    """
    lanes = lanes or usable_cores()
    if lanes < 2 or study.options.device != "cpu":
        return {}  # decided before planning: the graph costs every cell's build context
    tasks = lane_tasks(study, cells)
    if len(tasks) < 2:
        return {}
    log = study.options.log
    teachers = [t.name for t in tasks if t.name.startswith("teacher:")]
    log(f"building {len(tasks) - len(teachers)} missing steps and {len(teachers)} teachers "
        f"in {min(lanes, len(tasks))} lanes")
    study._start_stage("lanes", len(tasks))
    study._progress("lanes", ", ".join(t.label for t in tasks[:2]))

    labels = {t.name: t.label for t in tasks}

    def done(name: str, outcome: Outcome) -> None:
        label = labels[name]
        if outcome.error:
            log(f"{FAILED_MARK} {label}: failed in its lane ({outcome.error}); the build tries it again")
        else:
            log(f"built {label} in a lane ({outcome.seconds:.1f} s)")
        study._advance("lanes")

    start = time.time()
    outcomes = run_in_lanes(tasks, log, lanes, done)
    records = [o.result for n, o in outcomes.items() if n.startswith("teacher:")]
    log(f"lanes done in {time.time() - start:.0f} s wall{training_span(records)}")
    return outcomes


def lane_tasks(study, cells) -> list[LaneTask]:
    """The missing teachers (first: every step of their subject waits for them) and missing steps,
    the steps that train before those that do not."""
    cache = ArtifactCache(study.options.cache_dir / "artifacts")
    steps, _ = plan_steps(study, cells)
    spec = study_spec(study, study.options.cache_dir)
    teachers: list[LaneTask] = []
    builds: list[LaneTask] = []
    missing = {key for key in steps if cache.get(key) is None}
    for step in steps.values():
        if step.key not in missing:
            continue
        after = [f"step:{step.parent}"] if step.parent in missing else []
        if not step.names and teacher_missing(study.subject(step.subject)):
            teachers.append(LaneTask(f"teacher:{step.subject}", _train_teacher, (spec, step.subject),
                                     label=f"{step.subject}"))
            after.append(teachers[-1].name)
        builds.append(LaneTask(f"step:{step.key}", _build_step,
                               (spec, step.subject, step.cell, list(step.names), step.key), tuple(after), step.label))
    # Trainings first: a short black-box step left for last keeps the lanes' ends close together.
    return teachers + sorted(builds, key=lambda task: not steps[task.name.removeprefix("step:")].trains)


# --- in the lanes ------------------------------------------------------------------------------
def _train_teacher(spec: dict[str, Any], subject: str, log: Callable[[str], None]) -> dict[str, Any] | None:
    study = worker_study(spec, "cpu", log)
    study.subject(subject).teacher()
    return teacher_record(study.subject(subject))


def _build_step(spec: dict[str, Any], subject: str, cell: str, names: list[str], key: str,
                log: Callable[[str], None]) -> str:
    return build_one(worker_study(spec, "cpu", log), subject, cell, names, key).key


def training_span(records) -> str:
    """From the first training's start to the last one's end: the stage less set-up and evaluation."""
    spans = [(r["train_started"], r["train_started"] + r["train_seconds"]) for r in records
             if r and "train_started" in r]
    return f", teachers training {max(e for _, e in spans) - min(s for s, _ in spans):.0f} s of it" if spans else ""
