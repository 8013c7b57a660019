"""What builds a study's artifacts, wherever it runs: the study's subjects and the network its artifacts are
built for, made from plain values (a BuildSpec) that travel to a lane process or a Ray worker.

The driver (edgewise.study) builds through one Workshop; an executor hands the same BuildSpec to its
workers, which make their own from it, so a step built anywhere gets the key the driver planned. The
network is part of the spec: on real hosts the measured one (partition cuts are chosen for it and keyed
by it), which a worker could not measure again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgewise.building.artifacts import Artifact, ArtifactCache
from edgewise.config import StudyConfig
from edgewise.errors import ConfigError, TestbedError, build_failure
from edgewise.operators.base import BuildContext
from edgewise.planning.plan import Cell
from edgewise.runtimes.forms import build_cell
from edgewise.subjects.base import Subject, SubjectContext
from edgewise.subjects.user import make_subject
from edgewise.tiers.spec import LinkSpec, TierSpec
from edgewise.vocabulary import FAILED_MARK, normalise_profile

Log = Callable[[str], None]


@dataclass(frozen=True)
class Network:
    """The tiers and links a study's artifacts are built for: declared, or the real hosts' as measured."""

    tiers: dict[str, TierSpec]
    links: list[LinkSpec]

    def to_dict(self) -> dict[str, Any]:
        return {"tiers": {name: vars(t) for name, t in self.tiers.items()}, "links": [vars(link) for link in self.links]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Network":
        return cls({name: TierSpec(**t) for name, t in data["tiers"].items()}, [LinkSpec(**link) for link in data["links"]])


@dataclass(frozen=True)
class BuildSpec:
    """Everything a build needs, as plain, picklable values."""

    config: dict[str, Any]  # the study file as validated, its profile applied (StudyConfig.model_dump)
    source: str | None  # where the study file was read from (user models' paths are relative to it)
    profile: str
    cache_dir: str
    device: str = "cpu"
    network: dict[str, Any] | None = None  # Network.to_dict(); None: the study file's declared tiers and links


@dataclass(frozen=True)
class Built:
    """What a build gave one cell: its artifact, or the reason it failed."""

    cell: Cell
    artifact: Artifact | None
    error: str | None = None


@dataclass
class Workshop:
    spec: BuildSpec
    log: Log = print
    config: StudyConfig = field(init=False)
    subjects: dict[str, Subject] = field(default_factory=dict, init=False)
    network: Network = field(init=False)

    def __post_init__(self) -> None:
        self.config = StudyConfig.model_validate(self.spec.config)
        self.config.source = self.spec.source
        declared = Network(self.config.testbed.tier_specs(), self.config.testbed.link_specs())
        self.network = Network.from_dict(self.spec.network) if self.spec.network else declared

    @property
    def cache(self) -> ArtifactCache:
        return ArtifactCache(Path(self.spec.cache_dir) / "artifacts")

    def subject(self, name: str) -> Subject:
        if name not in self.subjects:
            ctx = SubjectContext(cache_dir=Path(self.spec.cache_dir), seed=self.config.seed,
                                 profile=normalise_profile(self.spec.profile), device=self.spec.device, log=self.log)
            entry = next(s for s in self.config.subjects if (s if isinstance(s, str) else s.name) == name)
            self.subjects[name] = make_subject(entry, ctx)
        return self.subjects[name]

    def context(self, cell: Cell, workdir: Path | None) -> BuildContext:
        """What the operators of `cell` build with (and key their artifacts by), wherever they run."""
        from edgewise.measure.conditions import links_for_cell

        return BuildContext(subject=self.subject(cell.subject), workdir=workdir, seed=self.config.seed,
                            profile=normalise_profile(self.spec.profile), device=self.spec.device,
                            placement=cell.placement, tiers=self.network.tiers,
                            links=links_for_cell(self.network.links, cell), log=self.log)

    def build(self, cell: Cell) -> Artifact:
        """The cell's artifact: every step of its chain, in its runtime's form, each found in or put in the cache."""
        return build_cell(cell.chain, cell.runtime, self.subject(cell.subject), self.cache,
                          lambda workdir: self.context(cell, workdir), self.config.operators, self.config.runtimes,
                          self.log)

    def build_all(self, cells: list[Cell], done: Callable[[Cell], None] = lambda cell: None) -> list[Built]:
        """Every cell's artifact; a build that fails fails its cell only (the study file or the testbed, all)."""
        built = []
        for cell in cells:
            t0 = time.time()
            try:
                built.append(Built(cell, self.build(cell)))
                self.log(f"built {cell.name} ({time.time() - t0:.1f} s)")
            except (ConfigError, TestbedError):
                raise  # the study file or the testbed: nothing else can be measured right either
            except Exception as exc:  # noqa: BLE001 - an operator failing on one subject must not end the study
                built.append(Built(cell, None, build_failure(exc)))
                self.log(f"{FAILED_MARK} build of {cell.name} failed: {built[-1].error}")
            done(cell)
        return built


_kept: dict[Any, Workshop] = {}  # a worker builds many steps: its workshop (subjects, data) stays loaded
_log_to: list[Log] = [print]  # where the kept workshop's lines go: the current step's log


def worker_workshop(spec: BuildSpec, log: Log, device: str | None = None) -> Workshop:
    """The workshop of `spec` in a worker process, made once per worker and reused by its later steps."""
    if device is not None and device != spec.device:
        spec = BuildSpec(**{**vars(spec), "device": device})
    ident = repr(spec)
    if ident not in _kept:
        _kept.clear()
        _kept[ident] = Workshop(spec, lambda message: _log_to[0](message))
    _log_to[0] = log
    return _kept[ident]
