"""The local executor: this host builds (missing teachers and steps in lanes, one per core).

The missing teachers and build steps form one graph (`executors.graph`): a step starts once the
step it builds on is in the cache, a subject's first step once its teacher is trained, so the
builds of one subject run beside the teacher training of another. Each lane makes its Workshop from
the study's BuildSpec and writes the same cache keys a one-process build would. The in-process
build that follows finds every step in the cache; what a lane could not build it builds again here,
and reports the error against the cells.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from edgewise.building.lanes import LaneTask, Outcome, run_in_lanes
from edgewise.building.workshop import BuildSpec, Built, Workshop, worker_workshop
from edgewise.environment import usable_cores
from edgewise.executors.base import Executor
from edgewise.executors.graph import build_one, plan_steps
from edgewise.planning.plan import Cell
from edgewise.progress import Progress
from edgewise.subjects.teachers import teacher_missing, teacher_record
from edgewise.vocabulary import FAILED_MARK


@dataclass
class LocalExecutor(Executor):
    lanes: int | None = None  # builds side by side; default one per core
    kind = "local"

    def build(self, spec: BuildSpec, cells: list[Cell], progress: Progress) -> list[Built]:
        workshop = Workshop(spec, progress.log)
        build_in_lanes(workshop, cells, progress, self.lanes)
        progress.start("build", len(cells))

        def done(cell: Cell) -> None:
            progress.advance("build")

        return workshop.build_all(cells, done)


def build_in_lanes(workshop: Workshop, cells: list[Cell], progress: Progress,
                   lanes: int | None = None) -> dict[str, Outcome]:
    """Train the missing teachers and build the missing steps of `cells` side by side into the cache.

    Nothing to gain with one lane (one core, or `--lanes 1`), on a GPU (one device, trained
    in-process) or with fewer than two tasks: then the in-process build does it all. Returns each
    lane task's outcome.
    """
    lanes = lanes or usable_cores()
    if lanes < 2 or workshop.spec.device != "cpu":
        return {}  # decided before planning: the graph costs every cell's build context
    tasks = lane_tasks(workshop, cells)
    if len(tasks) < 2:
        return {}
    teachers = [t.name for t in tasks if t.name.startswith("teacher:")]
    progress.log(f"building {len(tasks) - len(teachers)} missing steps and {len(teachers)} teachers "
                 f"in {min(lanes, len(tasks))} lanes")
    progress.start("lanes", len(tasks))
    progress.current("lanes", ", ".join(t.label for t in tasks[:2]))

    labels = {t.name: t.label for t in tasks}

    def done(name: str, outcome: Outcome) -> None:
        label = labels[name]
        if outcome.error:
            progress.log(f"{FAILED_MARK} {label}: failed in its lane ({outcome.error}); the build tries it again")
        else:
            progress.log(f"built {label} in a lane ({outcome.seconds:.1f} s)")
        progress.advance("lanes")

    start = time.time()
    outcomes = run_in_lanes(tasks, progress.log, lanes, done)
    records = [o.result for n, o in outcomes.items() if n.startswith("teacher:")]
    progress.log(f"lanes done in {time.time() - start:.0f} s wall{training_span(records)}")
    return outcomes


def lane_tasks(workshop: Workshop, cells: list[Cell]) -> list[LaneTask]:
    """The missing teachers (first: every step of their subject waits for them) and missing steps,
    the steps that train before those that do not."""
    cache = workshop.cache
    steps, _ = plan_steps(workshop, cells)
    spec = workshop.spec
    teachers: list[LaneTask] = []
    builds: list[LaneTask] = []
    missing = {key for key in steps if cache.get(key) is None}
    for step in steps.values():
        if step.key not in missing:
            continue
        after = [f"step:{step.parent}"] if step.parent in missing else []
        if not step.names and teacher_missing(workshop.subject(step.subject)):
            teachers.append(LaneTask(f"teacher:{step.subject}", _train_teacher, (spec, step.subject),
                                     label=f"{step.subject}"))
            after.append(teachers[-1].name)
        builds.append(LaneTask(f"step:{step.key}", _build_step,
                               (spec, step.subject, step.cell, list(step.names), step.key), tuple(after), step.label))
    # Trainings first: a short black-box step left for last keeps the lanes' ends close together.
    return teachers + sorted(builds, key=lambda task: not steps[task.name.removeprefix("step:")].trains)


# --- in the lanes ------------------------------------------------------------------------------
def _train_teacher(spec: BuildSpec, subject: str, log: Callable[[str], None]) -> dict[str, Any] | None:
    workshop = worker_workshop(spec, log, "cpu")
    workshop.subject(subject).teacher()
    return teacher_record(workshop.subject(subject))


def _build_step(spec: BuildSpec, subject: str, cell: str, names: list[str], key: str,
                log: Callable[[str], None]) -> str:
    return build_one(worker_workshop(spec, log, "cpu"), subject, cell, names, key).key


def training_span(records) -> str:
    """From the first training's start to the last one's end: the stage less set-up and evaluation."""
    spans = [(r["train_started"], r["train_started"] + r["train_seconds"]) for r in records
             if r and "train_started" in r]
    return f", teachers training {max(e for _, e in spans) - min(s for s, _ in spans):.0f} s of it" if spans else ""
