"""A study's build as a graph of cache steps, and how a worker process rebuilds the study to run one.

Every step's cache key is known before anything is built (`operators.chain.step_key`), so the
executors (local lanes, Ray tasks) can skip what the cache holds and run each missing step once,
after the step before it. A worker builds a step with the same code as an in-process build
(`build_chain`), so it writes the same key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from edgewise.artifacts import Artifact, ArtifactCache
from edgewise.config import StudyConfig
from edgewise.errors import ArtifactError
from edgewise.operators.chain import build_chain, root_artifact, root_key, step_key
from edgewise.plan import Cell
from edgewise.runtimes.forms import build_cell, form_key, form_plan, form_step, is_form_step, prefix, served_chain


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


def plan_steps(study, cells: list[Cell]) -> tuple[dict[str, Step], dict[str, str]]:
    """Every step the cells need, parents before children, keyed by cache key; each cell's last key."""
    steps: dict[str, Step] = {}
    final: dict[str, str] = {}
    for cell in cells:
        subject = study.subject(cell.subject)
        key = root_key(subject)
        chain_keys = [key]
        steps.setdefault(key, Step(key, cell.subject, cell.name, (), [], False))
        names: tuple[str, ...] = ()
        probe = study.build_context(cell, subject, None)
        runtime = cell.runtime_choice.make(study.config.runtimes)
        chain = served_chain(cell.chain, runtime, study.config.operators)
        form = form_plan(chain, runtime)  # a runtime with a form of its own builds it after the chain's start
        for op in (form[0] if form else chain).operators(study.config.operators):
            if op.name == "identity":
                continue
            names = (*names, op.name)
            key = step_key(op, key, probe)
            steps.setdefault(key, Step(key, cell.subject, cell.name, names, list(chain_keys), op.kind == "white"))
            chain_keys.append(key)
        if form is not None:
            key = form_key(runtime, key, form[1], study.config.operators, probe)
            steps.setdefault(key, Step(key, cell.subject, cell.name, form_step(names, runtime), list(chain_keys),
                                       False))
        final[cell.name] = key
    return steps, final


def study_spec(study, cache_dir: Path | str, **extra: Any) -> dict[str, Any]:
    """What a worker needs to rebuild the study's view of its subjects (the config, not the objects)."""
    # The study's own classes travel with it: a worker rebuilds one of the same kind, and the executors need
    # no import of edgewise.study (which imports them).
    return {"config": study.config.model_dump(mode="json"), "source": study.config.source,
            "study_type": type(study), "options": replace(study.options, log=print, progress=None),
            "profile": study.options.profile, "cache_dir": str(Path(cache_dir).resolve()), **extra}


_studies: dict[Any, Any] = {}  # a worker runs many steps: keep the study (its subjects and data) loaded
_log_to: list[Callable[[str], None]] = [print]  # where the kept study's lines go: the current step's log


def worker_study(spec: dict[str, Any], device: str, log: Callable[[str], None]):
    """The study of `spec` in a worker process, made once per worker and reused by its later steps."""
    ident = (repr(spec["config"]), spec["profile"], spec["cache_dir"], device)
    if ident not in _studies:
        config = StudyConfig.model_validate(spec["config"])
        config.source = spec["source"]
        options = replace(spec["options"], out=Path("."), profile=spec["profile"], cache_dir=Path(spec["cache_dir"]),
                          fresh=False, device=device, log=lambda message: _log_to[0](message), progress=None,
                          executor=None)
        _studies.clear()
        _studies[ident] = spec["study_type"](config, options)
    _log_to[0] = log
    return _studies[ident]


def build_one(study, subject_name: str, cell_name: str, names: list[str], key: str) -> Artifact:
    """Build (or find in the cache) the step `key`: the chain `names` of `subject_name` as `cell_name` needs it."""
    cache = ArtifactCache(Path(study.options.cache_dir) / "artifacts")
    subject = study.subject(subject_name)
    if not names:
        artifact = root_artifact(subject, cache, study.options.log)
    elif is_form_step(names):
        cell = Cell.parse(cell_name)
        artifact = build_cell(cell.chain, cell.runtime, subject, cache,
                              lambda workdir: study.build_context(cell, subject, workdir), study.config.operators,
                              study.config.runtimes, study.options.log)
    else:
        # The cell's chain as its runtime builds it, cut at this step: its links keep their settings.
        cell = Cell.parse(cell_name)
        runtime = cell.runtime_choice.make(study.config.runtimes)
        chain = prefix(served_chain(cell.chain, runtime, study.config.operators), len(names))
        artifact = build_chain(chain, subject, cache,
                               lambda workdir: study.build_context(cell, subject, workdir), study.config.operators,
                               study.options.log)
    if artifact.key != key:
        raise ArtifactError(f"the worker built {artifact.key} where the driver expected {key}",
                            "run the same edgewise version on the driver and on every worker")
    return artifact
