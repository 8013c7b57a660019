"""The report's one door to the data: the analyses every section reads, run once.

The statistics themselves live in edgewise.analysis; this module runs them once per report
(`analyse`) and picks the reference files a study is set beside by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgewise.analysis import Analyses, CellVerdict, Recommendation, ResultSet, default_analyses, findings, recommend
from edgewise.operators.base import EVERY_OPERATOR, LINEAR_LAYERS
from edgewise.reference_data import BLACKBOX_LATENCY, WHITEBOX_LATENCY, reference_files
from edgewise.sla import Sla

# A chain's kind, order, int8 and split come from its operators, kept in results.json (study.chains).
# Only results without them (an older run, a reference CSV) fall back to these known names.
BLACKBOX_OPERATORS = frozenset({"identity", "sptq", "dptq", "partition", "early-exit"})
_KNOWN_DISPLAY_ORDER = {"identity": 0, "sptq": 10, "dptq": 11, "qat": 20, "prune": 30, "distill": 40, "early-exit": 60,
                        "partition": 80}
_KNOWN_ACTS_ON = {"sptq": LINEAR_LAYERS, "dptq": LINEAR_LAYERS, "qat": LINEAR_LAYERS, "prune": LINEAR_LAYERS,
                  "distill": frozenset({EVERY_OPERATOR})}


def chain_facts(chain: str, results: ResultSet | None = None) -> dict:
    """The chain's kind (white|black), operator display orders, int8 and split: as the results declare them,
    else from the known operator names."""
    declared = ((results.study.get("chains") or {}) if results is not None else {}).get(chain)
    if declared:
        return declared
    names = [link.split("[")[0] for link in chain.split("+")]  # settings: sptq[calibration=...]
    return {"kind": "black" if set(names) <= BLACKBOX_OPERATORS else "white",
            "order": [_KNOWN_DISPLAY_ORDER.get(n, 1000) for n in names],
            "int8": bool({"sptq", "dptq", "qat"} & set(names)), "split": "partition" in names,
            "acts_on": sorted(set().union(*(_KNOWN_ACTS_ON.get(n, frozenset()) for n in names)))}


@dataclass(frozen=True)
class Analysed:
    """A result set with its default analyses and SLA recommendation, each computed once."""

    results: ResultSet
    analyses: Analyses
    recommendation: Recommendation
    findings: tuple[str, ...]

    def verdict(self, cell: str) -> CellVerdict | None:
        return next((v for v in self.recommendation.verdicts if v.cell == cell), None)


def analyse(results: ResultSet, sla: Sla) -> Analysed:
    analyses = default_analyses(results)
    rec = recommend(results, sla.max_latency_ms, sla.percentile, sla.max_accuracy_drop, medians=analyses.medians,
                    max_model_mb=sla.max_model_mb, max_memory_mb=sla.max_memory_mb)
    return Analysed(results, analyses, rec, tuple(f.text for f in findings(results, analyses)))


def is_blackbox_chain(chain: str, results: ResultSet | None = None) -> bool:
    return chain_facts(chain, results)["kind"] == "black"


def default_reference(results: ResultSet) -> list[Path]:
    """The published files to set a study beside: white-box for white-box chains, black-box for sptq/partition."""
    if results.study.get("reference"):
        return []
    chains = [c for c in results.chains if c != "identity"]
    files = reference_files()
    wanted = [WHITEBOX_LATENCY] if any(not is_blackbox_chain(c, results) for c in chains) else []
    wanted += [BLACKBOX_LATENCY] if any(is_blackbox_chain(c, results) for c in chains) else []
    return [files[name] for name in wanted]


def relevant_part(reference: ResultSet, study: ResultSet) -> ResultSet:
    """The reference's cells a comparison with the study needs: its chains (and identity) on its placements
    (and the first tier of each split placement, where a partition's baseline runs)."""
    placements = set(study.placements) | {p.split("-")[0] for p in study.placements}
    return reference.filter(chains={"identity", *study.chains}, placements=placements)
