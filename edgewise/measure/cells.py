"""The one per-cell driver: a cell's parts deployed on their tiers, its requests measured by a scenario,
its failures mapped to its status, its parts unloaded. The study drives it on its own testbed, a Ray
actor on a cluster's testbed, for the single-stream and the server scenario alike.

A cell arrives as a CellRequest: plain values (it travels to a Ray actor). One failure policy holds at
deployment wherever it runs: a real host that is down waits for a later run (tier-down), a model its
tier's memory cannot hold does not fit there (does-not-fit, the tier restarted), a tier that refuses the
part (its runtime cannot load it) fails that cell alone; the other cells go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edgewise.data.preprocess import build_preprocessor
from edgewise.deploying.deploy import Deployment
from edgewise.errors import EdgewiseError, build_failure
from edgewise.measure.latency import CellJob, output_check, tier_down_reason
from edgewise.runtimes.choice import RuntimeChoice
from edgewise.runtimes.runner import ArtifactRunner
from edgewise.tiers.client import DoesNotFit, TierLost
from edgewise.tiers.spec import Route
from edgewise.vocabulary import DOES_NOT_FIT, FAILED, TIER_DOWN


class Sink(Protocol):
    """Where a cell's figures go: the study's store, or a Ray actor's record of them for the driver."""

    def add_sample(self, cell: str, pass_: int, input_: int, warmup: bool, latency_s: float,
                   breakdown: dict[str, float], pacing: dict | None = None, held: bool = True) -> None: ...

    def add_unheld(self, cell: str, pass_: int, input_: int, latency_s: float, pacing: dict) -> None: ...

    def done_inputs(self, cell: str, pass_: int) -> set[int]: ...

    def event(self, kind: str, message: str, cell: str | None = None) -> None: ...

    def set_cell(self, cell: str, status: str, error: str | None = None, artifact: str | None = None) -> None: ...


@dataclass(frozen=True)
class CellRequest:
    """One built cell, ready to deploy and measure."""

    cell: str
    subject: str
    condition: str
    artifact: str  # the artifact's cache key
    artifact_id: str  # the artifact as its runtime serves it (runtimes.choice.served_key)
    tiers: tuple[str, ...]
    parts: tuple[str, ...]  # the parts' files (a Ray worker without the cache finds them under its own root)
    split: bool
    preprocessing: dict[str, Any]
    route: Route
    runtime: str = ""  # the cell's runtime text (runtimes.choice); "" for ONNX Runtime as it is
    runtimes: dict[str, dict[str, Any]] | None = None  # the study's `runtimes:` settings
    io: dict[str, Any] | None = None  # names a runtime's form does not carry

    @property
    def choice(self) -> RuntimeChoice:
        return RuntimeChoice.parse(self.runtime)

    def wire_runtime(self) -> dict[str, Any] | None:
        return None if self.choice.is_default else self.choice.wire(self.runtimes)

    def with_parts(self, root: Path) -> "CellRequest":
        from dataclasses import replace

        return replace(self, parts=tuple(str(root / p) for p in self.parts))


def deploy_cells(deployment: Deployment, requests: list[CellRequest], sink: Sink) -> list[CellJob]:
    """Each cell's parts on its tiers; the cells that deployed, ready to measure (an in-process runner of
    each checks the served outputs). A cell that cannot deploy gets its status and reason in `sink`."""
    jobs, checks = [], {}
    for r in requests:
        try:
            deployment.deploy(r.artifact_id, r.tiers, [Path(p) for p in r.parts], r.split, r.preprocessing,
                              r.wire_runtime(), r.io)
        except TierLost as exc:  # a real host that went down: the cell waits for a later run
            sink.set_cell(r.cell, TIER_DOWN, tier_down_reason(exc))
            sink.event(TIER_DOWN, str(exc), r.cell)
            continue
        except DoesNotFit as exc:
            sink.set_cell(r.cell, DOES_NOT_FIT, f"does not fit on {exc.tier}")
            sink.event(DOES_NOT_FIT, str(exc), r.cell)
            deployment.restart(exc.tier)
            continue
        except EdgewiseError as exc:  # the tier refused the part (its runtime cannot load it): this cell fails alone
            sink.set_cell(r.cell, FAILED, f"load through {r.choice}: {build_failure(exc)}")
            sink.event("load-failed", str(exc), r.cell)
            continue
        if r.artifact_id not in checks:  # one in-process runner per served artifact, whatever the conditions
            runner = ArtifactRunner(r.parts, runtime=r.choice.make(r.runtimes), io=r.io)
            checks[r.artifact_id] = output_check(runner, build_preprocessor(r.preprocessing))
        jobs.append(CellJob(r.cell, r.route, r.artifact_id, checks[r.artifact_id]))
    return jobs


@dataclass(frozen=True)
class ClusterSettings:
    """What a cluster's testbeds need to measure a study's cells, as plain values."""

    testbed: dict[str, Any]  # the study's testbed section (TestbedConfig.model_dump)
    tiers: dict[str, Any]  # TierSpec by tier: the tiers to start
    links: list[Any]  # LinkSpec
    protocol: Any  # measure.latency.Protocol
    seed: int
    cold_start: bool
    timeout_s: float
    verify: bool  # verify each testbed when it starts (once per study: a resume keeps the figures)
    quick: bool
    tolerance: float
    cache_dir: str  # the driver's cache, where the requests' parts lie (a worker without it gets packs)
    payloads: dict[str, list[bytes]]  # each subject's latency inputs
