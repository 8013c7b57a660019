"""The study file: pydantic models, defaults, presets and profiles.

Every validation error names the field, the bad value and the fix (see `load_study`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgewise.errors import ConfigError
from edgewise.executors.config import ExecutorConfig
from edgewise.sla import Sla
from edgewise.testbeds.kinds import modules as testbed_modules
from edgewise.testbeds.kinds import testbed_class
from edgewise.tiers.admission import DEFAULT_QUEUE_DEPTH
from edgewise.tiers.spec import TIER_ORDER, LinkSpec, TierSpec
from edgewise.vocabulary import IMAGE_CLASSIFICATION, PAPER, QUICK, Task


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TierConfig(_Strict):
    cpus: float = Field(gt=0, description="CPU share, fractional (0.5 = half a core): load over time")
    memory_mb: int = Field(gt=0, description="memory cap in MiB")
    threads: int | None = Field(default=None, ge=1)
    speed: float = Field(default=1.0, gt=0, description="per-request speed relative to the nominal host, <= 1")
    runtimes: list[str] | None = Field(default=None, description="runtimes the tier offers (default: every one)")

    @field_validator("speed")
    @classmethod
    def _emulable(cls, v: float) -> float:
        if v > 1:
            raise ValueError(f"speed {v} is faster than this host's nominal speed (1.0), which cannot be emulated by "
                             "slowing requests down")
        return v


class LinkConfig(_Strict):
    bandwidth_mbit: float = Field(gt=0)
    delay_ms: float = Field(default=0.0, ge=0)
    down_bandwidth_mbit: float | None = Field(default=None, gt=0)
    down_delay_ms: float | None = Field(default=None, ge=0)


class LinkExpectation(_Strict):
    """Bounds a real link must measure within (remote testbeds): [low, high], either end inclusive."""

    bandwidth_mbit: tuple[float, float] | None = Field(default=None, description="goodput, each direction")
    rtt_ms: tuple[float, float] | None = None
    jitter_ms: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "LinkExpectation":
        for name in ("bandwidth_mbit", "rtt_ms", "jitter_ms"):
            bounds = getattr(self, name)
            if bounds is not None and not 0 <= bounds[0] <= bounds[1]:
                raise ValueError(f"{name} {list(bounds)} must be [low, high] with 0 <= low <= high")
        return self


# Presets: the reference testbed scaled to this machine, a realistic one, and the exact one.
# The reference's 1:2:4 lives in the speeds, relative to the host's nominal speed (testbeds/nominal.py).
# The cloud runs at 0.8 of it, so the host may get a quarter slower than nominal (as a shared host does
# for minutes) before any tier's device speed can no longer be held (its headroom). Each share is at least the tier's
# thread count, so one request stream never exhausts a CFS period's quota (that stalls requests
# bimodally); the share then only bounds concurrent load, and a 2-core host leaves no room for more.
# Every tier computes on one thread: two threads on two shared cores run only as fast as the host's
# other work lets both get a core at once, which makes the cloud's time noise, not a property.
SCALED_TIERS: dict[str, dict[str, Any]] = {
    "mobile": {"cpus": 1.0, "memory_mb": 1024, "speed": 0.2, "threads": 1},
    "edge": {"cpus": 1.0, "memory_mb": 2048, "speed": 0.4, "threads": 1},
    "cloud": {"cpus": 2.0, "memory_mb": 8192, "speed": 0.8, "threads": 1},
}
PRESETS: dict[str, dict[str, Any]] = {
    "paper-scaled": {
        "tiers": SCALED_TIERS,
        "links": {
            "client-mobile": {"bandwidth_mbit": 200.0},
            "mobile-edge": {"bandwidth_mbit": 200.0},
            "edge-cloud": {"bandwidth_mbit": 1.0},
        },
    },
    "realistic": {
        "tiers": SCALED_TIERS,
        "links": {
            "client-mobile": {"bandwidth_mbit": 1000.0},
            "mobile-edge": {"bandwidth_mbit": 100.0, "delay_ms": 5.0},
            "edge-cloud": {"bandwidth_mbit": 50.0, "delay_ms": 25.0},
        },
    },
    "paper-exact": {
        "tiers": {
            "mobile": {"cpus": 4.0, "memory_mb": 4096, "speed": 0.2},
            "edge": {"cpus": 8.0, "memory_mb": 16384, "speed": 0.4},
            "cloud": {"cpus": 16.0, "memory_mb": 65536, "speed": 0.8},
        },
        "links": {
            "client-mobile": {"bandwidth_mbit": 200.0},
            "mobile-edge": {"bandwidth_mbit": 200.0},
            "edge-cloud": {"bandwidth_mbit": 1.0},
        },
    },
}


class TestbedConfig(_Strict):
    __test__ = False

    kind: str = Field(default="linux", description="linux (root) | local | remote, or a plug-in's kind")
    preset: str = "paper-scaled"
    tiers: dict[str, TierConfig] = Field(default_factory=dict, description="overrides per tier")
    links: dict[str, LinkConfig] = Field(default_factory=dict, description="overrides per link, 'a-b'")
    endpoints: dict[str, str] = Field(default_factory=dict, description="remote: tier -> host:port")
    token: str | None = None
    tolerance: float = Field(default=0.10, gt=0, le=1, description="allowed relative error of verified figures")
    verify: bool = True
    queue_depth: int = Field(default=DEFAULT_QUEUE_DEPTH, ge=1,
                             description="requests a tier server queues before it answers busy (under load)")
    expect: dict[str, LinkExpectation] = Field(default_factory=dict,
                                               description="remote: bounds per link the measured figures must meet")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        known = testbed_modules()
        if v not in known:
            raise ValueError(f"unknown testbed kind {v!r}; use one of {', '.join(known)}")
        return v

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, v: str) -> str:
        if v not in PRESETS:
            raise ValueError(f"unknown preset {v!r}; use one of {', '.join(PRESETS)}")
        return v

    @model_validator(mode="after")
    def _known_names(self) -> "TestbedConfig":
        for t in self.tiers:
            if t not in TIER_ORDER:
                raise ValueError(f"unknown tier {t!r} in testbed.tiers; use {', '.join(TIER_ORDER)}")
        for name in self.links:
            ends = name.split("-")
            if len(ends) != 2 or any(e not in ("client", *TIER_ORDER) for e in ends):
                raise ValueError(f"link {name!r} must be 'a-b' with a, b among client, {', '.join(TIER_ORDER)}")
        for name in self.expect:
            ends = name.split("-")
            if len(ends) != 2 or any(e not in ("client", *TIER_ORDER) for e in ends):
                raise ValueError(f"testbed.expect: link {name!r} must be 'a-b' with a, b among client, "
                                 f"{', '.join(TIER_ORDER)}")
        problem = testbed_class(self.kind).check_config(self)
        if problem:
            raise ValueError(problem)
        return self
        return self

    def tier_specs(self) -> dict[str, TierSpec]:
        base = {k: dict(v) for k, v in PRESETS[self.preset]["tiers"].items()}
        for name, override in self.tiers.items():
            # What the file states wins; what it leaves out (the speed, say) stays the preset's.
            base[name] = {**base.get(name, {}), **override.model_dump(exclude_unset=True, exclude={"runtimes"})}
        return {n: TierSpec(name=n, **{k: v for k, v in cfg.items() if v is not None or k == "threads"}) for n, cfg in base.items()}

    def tier_runtimes(self) -> dict[str, list[str]]:
        """The runtimes each tier offers, for the tiers that name them (the others offer every one)."""
        return {name: list(t.runtimes) for name, t in self.tiers.items() if t.runtimes is not None}

    def link_specs(self) -> list[LinkSpec]:
        base = {k: dict(v) for k, v in PRESETS[self.preset]["links"].items()}
        for name, override in self.links.items():
            base[name] = override.model_dump()
        links = []
        for name, cfg in base.items():
            a, b = name.split("-")
            links.append(LinkSpec(a=a, b=b, **cfg))
        return links


class LoadConfig(_Strict):
    """The server scenario (`edgewise load`): Poisson arrivals, searched up to the largest rate that holds."""

    requests_per_step: int | None = Field(default=None, ge=16,
                                          description="requests per offered rate (default: enough for the bound)")
    max_in_flight: int = Field(default=128, ge=1, description="concurrent requests the generator keeps open")
    precision: float = Field(default=0.05, gt=0, le=1, description="relative precision of the largest rate")
    max_steps: int = Field(default=10, ge=2, description="offered rates per cell at most")


class MeasureConfig(_Strict):
    scenario: Literal["single-stream", "server"] = Field(
        default="single-stream", description="single-stream (edgewise run) or server (edgewise load)")
    load: LoadConfig = Field(default_factory=LoadConfig)
    inputs: int = Field(default=100, ge=1, description="distinct latency inputs per cell")
    passes: int = Field(default=6, ge=1, description="passes over the inputs")
    warmup_passes: int = Field(default=1, ge=0, description="first passes stored but left out of statistics")
    warmup_inputs: int | None = Field(default=None, ge=1,
                                      description="inputs sent in each warm-up pass (default: all of them)")
    condition_turn_inputs: int | None = Field(
        default=None, ge=1, description="network conditions take turns this many inputs at a time, so that the "
        "host's drift is spread over every condition (default: edgewise.measure.latency.TURN_INPUTS)")
    cold_start: bool = Field(default=False, description="new inference session per request (reference)")
    evaluation_samples: int | None = Field(default=None, ge=1, description="cap on the evaluation split")
    timeout_s: float = Field(default=120.0, gt=0)
    retries: int = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _warmup_fits(self) -> "MeasureConfig":
        if self.warmup_passes >= self.passes:
            raise ValueError(f"warmup_passes ({self.warmup_passes}) must be smaller than passes ({self.passes})")
        if self.warmup_inputs is not None and self.warmup_inputs > self.inputs:
            raise ValueError(f"warmup_inputs ({self.warmup_inputs}) must be at most inputs ({self.inputs})")
        return self


class CellGroup(_Strict):
    chains: list[str] = Field(min_length=1)
    placements: list[str] = Field(min_length=1)
    subjects: list[str] | None = Field(default=None, description="default: every subject of the study")
    runtimes: list[str] | None = Field(default=None, description="runtimes that serve the cells, with settings in "
                                       "brackets (openvino[precision=bf16]); default: onnxruntime")


class SubjectConfig(_Strict):
    """A user's model: an ONNX file, a PyTorch factory or a Hugging Face directory, plus data."""

    name: str
    task: Task = IMAGE_CLASSIFICATION
    onnx: str | None = None
    torch: str | None = Field(default=None, description="package.module:factory")
    hf: str | None = Field(default=None, description="local Hugging Face model directory")
    data: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> "SubjectConfig":
        given = [k for k in ("onnx", "torch", "hf") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"subject {self.name!r} needs exactly one of onnx, torch, hf (got {given or 'none'})")
        return self


class LinkAxes(_Strict):
    """The values one link takes across a study's network conditions (a scalar or a list per figure)."""

    bandwidth_mbit: float | list[float] | None = None
    delay_ms: float | list[float] | None = None

    @model_validator(mode="after")
    def _valid_values(self) -> "LinkAxes":
        if self.bandwidth_mbit is None and self.delay_ms is None:
            raise ValueError("name bandwidth_mbit and/or delay_ms for the link")
        for field_name, low, strict in (("bandwidth_mbit", 0.0, True), ("delay_ms", 0.0, False)):
            value = getattr(self, field_name)
            values = value if isinstance(value, list) else [] if value is None else [value]
            if isinstance(value, list) and not value:
                raise ValueError(f"{field_name}: give at least one value")
            if any(v <= low if strict else v < low for v in values):
                raise ValueError(f"{field_name}: every value must be {'>' if strict else '>='} {low:g}")
        return self


class StudyConfig(_Strict):
    name: str = "study"
    subjects: list[str | SubjectConfig] = Field(min_length=1)
    cells: list[CellGroup] = Field(min_length=1)
    testbed: TestbedConfig = Field(default_factory=TestbedConfig)
    measure: MeasureConfig = Field(default_factory=MeasureConfig)
    sla: Sla = Field(default_factory=Sla)
    operators: dict[str, dict[str, Any]] = Field(default_factory=dict, description="parameters per operator name")
    runtimes: dict[str, dict[str, Any]] = Field(default_factory=dict, description="settings per runtime name")
    # Network conditions every cell is measured under: a grid {link: {bandwidth_mbit: [...], delay_ms: [...]}},
    # or a list of such grids (see edgewise/planning/conditions.py). None: the testbed's links only.
    conditions: dict[str, LinkAxes] | list[dict[str, LinkAxes]] | None = None
    seed: int = 0
    # How the study runs, not what it measures: outside the fingerprint (excluded from dumps).
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig, exclude=True)
    source: str | None = Field(default=None, exclude=True)

    def subject_names(self) -> list[str]:
        return [s if isinstance(s, str) else s.name for s in self.subjects]


# Profiles trim the measurement and the training; `paper` is the reference protocol. The quick
# profile measures 135 requests per cell after a warm-up of one request: p95's early-stopping bound
# needs 130 (analysis/tails.py; from 130 to 160 samples it is the largest sample alike), 5 are
# spare, and the first request to a session is the one that pays for its set-up.
PROFILES: dict[str, dict[str, Any]] = {
    QUICK: {"measure": {"inputs": 9, "passes": 16, "warmup_passes": 1, "warmup_inputs": 1, "evaluation_samples": 1000}},
    PAPER: {"measure": {"inputs": 100, "passes": 6, "warmup_passes": 1}},
}


def identity_dump(config: StudyConfig) -> dict[str, Any]:
    """The study as its fingerprint sees it: the runtime keys left out where unset, so a study without
    them keeps the fingerprint (and the store) it had before runtimes were a dimension (the conditions'
    turn likewise). Conditions are left out too: a study re-run with one more condition resumes and
    measures only that one."""
    data = config.model_dump(mode="json", exclude={"conditions"})
    if data["measure"].get("condition_turn_inputs") is None:
        data["measure"].pop("condition_turn_inputs", None)
    if not data.get("runtimes"):
        data.pop("runtimes", None)
    for group in data.get("cells", []):
        if group.get("runtimes") is None:
            group.pop("runtimes", None)
    for tier in (data.get("testbed") or {}).get("tiers", {}).values():
        if tier.get("runtimes") is None:
            tier.pop("runtimes", None)
    return data


def apply_profile(study: StudyConfig, profile: str | None) -> StudyConfig:
    """Return the study with a profile's settings laid under it: what the file states wins."""
    if profile is None:
        return study
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}", f"use one of {', '.join(PROFILES)}")
    data = study.model_dump(exclude={"source"})
    for section, values in PROFILES[profile].items():
        stated = getattr(study, section).model_fields_set
        data[section] = {**data.get(section, {}), **{k: v for k, v in values.items() if k not in stated}}
    out = StudyConfig.model_validate(data)
    out.source, out.executor = study.source, study.executor
    return out


def load_study(path: str | Path) -> StudyConfig:
    """Read and validate a study file; errors name the field, the bad value and the fix."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"study file {str(p)!r} not found", "give the path of a YAML study file, e.g. examples/paper.yaml")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}: malformed YAML{where}", "fix the syntax (indentation, colons, brackets)") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: the study file must be a mapping", "start with 'name:', 'subjects:', 'cells:'")
    return parse_study(raw, source=str(p))


def parse_study(raw: dict[str, Any], source: str = "<study>") -> StudyConfig:
    try:
        study = StudyConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "(top level)"
        value = err.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        raise ConfigError(
            f"{source}: field '{field}' = {shown}: {err['msg']}",
            _fix_for(err),
        ) from None
    study.source = source
    return study


def _fix_for(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if err.get("loc") and err["loc"][-1] == "speed":
        return ("give the fastest tier at most speed 1.0 (this host's nominal speed) and the others relative to it, or run a faster tier "
                "on a real host (testbed.kind: remote; `edgewise testbed calibrate` measures a device)")
    if kind == "extra_forbidden":
        return "remove the field or check its spelling against examples/paper.yaml"
    if kind == "missing":
        return "add the field"
    if kind.startswith("greater_than") or kind.startswith("less_than"):
        return "use a value inside the stated bound"
    return "see examples/paper.yaml for a valid study file"
