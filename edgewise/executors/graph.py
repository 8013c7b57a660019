"""A study's build as a graph of cache steps, and how a worker builds one of them.

Every step's cache key is known before anything is built (`operators.chain.step_key`), so the
executors (local lanes, Ray tasks) can skip what the cache holds and run each missing step once,
after the step before it. A worker makes its Workshop from the study's BuildSpec and builds a step
with the same code as an in-process build (`build_chain`), so it writes the same key.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgewise.building.artifacts import Artifact
from edgewise.building.workshop import Workshop
from edgewise.errors import ArtifactError
from edgewise.operators.chain import build_chain, root_artifact, root_key, step_key
from edgewise.planning.plan import Cell
from edgewise.runtimes.forms import form_key, form_plan, form_step, is_form_step, prefix, served_chain


@dataclass
class Step:
    """One node of the build graph: the root (the subject's model) or one operator applied after it."""

    key: str
    subject: str
    cell: str  # a cell whose chain holds this step (placement-dependent steps are keyed by its placement)
    names: tuple[str, ...]  # the chain up to this step; () is the root
    ancestors: list[str]  # keys of the steps before it, root first
    trains: bool  # white-box: trains a network (wants a GPU where there is one)

    @property
    def parent(self) -> str | None:
        return self.ancestors[-1] if self.ancestors else None

    @property
    def label(self) -> str:
        return f"{self.subject}:{'+'.join(self.names) or 'model'}"


def plan_steps(workshop: Workshop, cells: list[Cell]) -> tuple[dict[str, Step], dict[str, str]]:
    """Every step the cells need, parents before children, keyed by cache key; each cell's last key."""
    steps: dict[str, Step] = {}
    final: dict[str, str] = {}
    operators = workshop.config.operators
    for cell in cells:
        subject = workshop.subject(cell.subject)
        key = root_key(subject)
        chain_keys = [key]
        steps.setdefault(key, Step(key, cell.subject, cell.name, (), [], False))
        names: tuple[str, ...] = ()
        probe = workshop.context(cell, None)
        runtime = cell.runtime_choice.make(workshop.config.runtimes)
        chain = served_chain(cell.chain, runtime, operators)
        form = form_plan(chain, runtime)  # a runtime with a form of its own builds it after the chain's start
        for op in (form[0] if form else chain).operators(operators):
            if op.name == "identity":
                continue
            names = (*names, op.name)
            key = step_key(op, key, probe)
            steps.setdefault(key, Step(key, cell.subject, cell.name, names, list(chain_keys), op.kind == "white"))
            chain_keys.append(key)
        if form is not None:
            key = form_key(runtime, key, form[1], operators, probe)
            steps.setdefault(key, Step(key, cell.subject, cell.name, form_step(names, runtime), list(chain_keys),
                                       False))
        final[cell.name] = key
    return steps, final


def build_one(workshop: Workshop, subject_name: str, cell_name: str, names: list[str], key: str) -> Artifact:
    """Build (or find in the cache) the step `key`: the chain `names` of `subject_name` as `cell_name` needs it."""
    cache, subject = workshop.cache, workshop.subject(subject_name)
    cell = Cell.parse(cell_name)
    if not names:
        artifact = root_artifact(subject, cache, workshop.log)
    elif is_form_step(names):
        artifact = workshop.build(cell)
    else:
        # The cell's chain as its runtime builds it, cut at this step: its links keep their settings.
        runtime = cell.runtime_choice.make(workshop.config.runtimes)
        chain = prefix(served_chain(cell.chain, runtime, workshop.config.operators), len(names))
        artifact = build_chain(chain, subject, cache, lambda workdir: workshop.context(cell, workdir),
                               workshop.config.operators, workshop.log)
    if artifact.key != key:
        raise ArtifactError(f"the worker built {artifact.key} where the driver expected {key}",
                            "run the same edgewise version on the driver and on every worker")
    return artifact
