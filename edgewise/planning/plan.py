"""The plan: the cells of a study, named SUBJECT:CHAIN@PLACEMENT[/RUNTIME][~CONDITION], checked before anything runs.

The runtime part is left out for ONNX Runtime as it is (the default), so a study that names no runtime
keeps its cells' names."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from edgewise.config import StudyConfig
from edgewise.errors import PlanError
from edgewise.operators.chain import ONNX_START, TORCH_START, Chain
from edgewise.planning.conditions import Condition, study_conditions
from edgewise.runtimes.choice import RuntimeChoice
from edgewise.runtimes.forms import check_cell
from edgewise.subjects.base import SUBJECTS, _load_builtins
from edgewise.tiers.spec import Placement

_CELL = re.compile(r"^(?P<subject>[A-Za-z0-9_.\-]+):(?P<chain>[^@~]+)@(?P<placement>[a-z\-]+)"
                   r"(?:/(?P<runtime>[^~/]+))?(?:~(?P<condition>.+))?$")


@dataclass(frozen=True)
class Cell:
    subject: str
    chain: Chain
    placement: Placement
    condition: str = ""  # the network condition's name (edgewise/planning/conditions.py); "" in a study without any
    runtime: str = ""  # the runtime with its settings (edgewise/runtimes/choice.py); "" for ONNX Runtime as it is

    @property
    def base_name(self) -> str:
        name = f"{self.subject}:{self.chain.name}@{self.placement.name}"
        return f"{name}/{self.runtime}" if self.runtime else name

    @property
    def name(self) -> str:
        return f"{self.base_name}~{self.condition}" if self.condition else self.base_name

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, text: str) -> "Cell":
        m = _CELL.match(text.strip())
        if not m:
            raise PlanError(f"cell name {text!r} is not SUBJECT:CHAIN@PLACEMENT[/RUNTIME][~CONDITION]",
                            "e.g. resnet:distill+sptq@edge, resnet:sptq@edge/openvino or "
                            "bert:identity@cloud~edge-cloud=5mbit,25ms")
        condition = Condition.parse(m["condition"]).name if m["condition"] else ""
        runtime = RuntimeChoice.parse(m["runtime"]).text
        return cls(m["subject"], Chain.parse(m["chain"]), Placement.parse(m["placement"]), condition, runtime)

    @property
    def runtime_choice(self) -> RuntimeChoice:
        return RuntimeChoice.parse(self.runtime)

    def as_dict(self) -> dict[str, str]:
        out = {"cell": self.name, "subject": self.subject, "chain": self.chain.name, "placement": self.placement.name}
        if self.runtime:
            out["runtime"] = self.runtime
        return {**out, "condition": self.condition} if self.condition else out


def plan_cells(study: StudyConfig, onnx_only: set[str] | None = None) -> list[Cell]:
    """Every cell of the study, in file order, each validated; duplicates are kept once."""
    onnx_only = onnx_only or set()
    subjects = study.subject_names()
    _check_builtin_subjects(study)
    cells: list[Cell] = []
    seen: set[str] = set()
    for gi, group in enumerate(study.cells):
        group_subjects = group.subjects or subjects
        for s in group_subjects:
            if s not in subjects:
                raise PlanError(f"cells[{gi}].subjects names {s!r}, which is not among the study's subjects",
                                f"add it to 'subjects' or use one of {', '.join(subjects)}")
        runtimes = [RuntimeChoice.parse(r) for r in group.runtimes or [""]]
        for chain_text in group.chains:
            chain = Chain.parse(chain_text)
            for placement_text in group.placements:
                placement = Placement.parse(placement_text)
                _check_chain_placement(chain, placement)
                for choice in runtimes:
                    runtime = choice.make(study.runtimes)  # unknown names and settings are refused here
                    _check_tiers_offer(study, choice, placement)
                    for s in group_subjects:
                        cell = Cell(s, chain, placement, runtime=choice.text)
                        start = ONNX_START if s in onnx_only else TORCH_START
                        chain.check(start, study.operators)
                        check_cell(chain, runtime, start, study.operators, f"cell {cell.name}")
                        if cell.name not in seen:
                            seen.add(cell.name)
                            cells.append(cell)
    return under_conditions(cells, study_conditions(study))


def _check_tiers_offer(study: StudyConfig, choice: RuntimeChoice, placement: Placement) -> None:
    offered = study.testbed.tier_runtimes()
    for tier in placement.tiers:
        if tier in offered and choice.name not in offered[tier]:
            raise PlanError(f"tier {tier} does not offer runtime {choice.name!r} "
                            f"(it offers {', '.join(offered[tier])})",
                            f"add {choice.name} to testbed.tiers.{tier}.runtimes, or serve {placement.name} with "
                            "a runtime it offers")


def under_conditions(cells: list[Cell], conditions: list[Condition]) -> list[Cell]:
    """Every cell under every condition, condition by condition; the cells as they are without conditions."""
    if not conditions:
        return cells
    return [replace(c, condition=cond.name) for cond in conditions for c in cells]


def _check_builtin_subjects(study: StudyConfig) -> None:
    _load_builtins()
    for s in study.subjects:
        if isinstance(s, str) and s not in SUBJECTS:
            raise PlanError(f"unknown subject {s!r}",
                            f"use one of {', '.join(sorted(SUBJECTS))}, or a mapping {{name, onnx|torch|hf, data}} for your own model")


def _check_chain_placement(chain: Chain, placement: Placement) -> None:
    if chain.splits and not placement.is_split:
        raise PlanError(f"chain {chain.name!r} splits the model but placement {placement.name!r} is one tier",
                        "use a tier pair such as mobile-edge for partition chains")
    if placement.is_split and not chain.splits:
        raise PlanError(f"placement {placement.name!r} needs a split model but chain {chain.name!r} has no partition",
                        f"use {chain.name}+partition, or a single tier")
