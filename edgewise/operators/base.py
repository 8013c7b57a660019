"""The Operator seam: a transformation of a model, registered by subclassing.

An operator declares what it needs from its input artifact (`requires`: capabilities such as
"torch", "onnx", "float") and what its output offers (`produces`). That is enough to refuse an
impossible chain at plan time with the reason, and to build any valid one.

Constructors only store validated parameters (the `Params` pydantic model); all work happens in
`apply`. A new operator is one file with one subclass: it is registered, listed, planned and
put through the conformance suite by that alone.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict

from edgewise.building.artifacts import Artifact
from edgewise.errors import ConfigError, PlanError
from edgewise.parameters import validated
from edgewise.tiers.spec import LinkSpec, Placement, TierSpec
from edgewise.vocabulary import FLOAT, ONNX, TORCH

OPERATORS: dict[str, type["Operator"]] = {}


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class BuildContext:
    """Everything an operator may use besides its input artifact."""

    subject: Any  # edgewise.subjects.Subject
    workdir: Path  # write output files here (flat); it becomes the artifact's directory
    seed: int = 0
    profile: str = "quick"  # quick | paper: training schedules shorten in quick
    device: str = "cpu"
    placement: Placement | None = None  # for placement-dependent operators (partition)
    tiers: dict[str, TierSpec] = field(default_factory=dict)
    links: list[LinkSpec] = field(default_factory=list)
    log: Callable[[str], None] = print

    def load_torch(self, artifact: Artifact):
        """The torch module an artifact carries (white-box steps continue from it)."""
        import torch

        if artifact.torch_module is None:
            raise PlanError(f"artifact {artifact.chain} carries no torch model", "white-box steps must come before black-box ones")
        return torch.load(artifact.torch_module, weights_only=False)

    def link_between(self, a: str, b: str) -> LinkSpec | None:
        for link in self.links:
            if {link.a, link.b} == {a, b}:
                return link
        return None


EVERY_OPERATOR = "*"
LINEAR_LAYERS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm"})  # what quantization and pruning shrink


class Operator(ABC):
    name: ClassVar[str] = ""
    kind: ClassVar[str] = "black"  # white (trains) | black (no training)
    display_order: ClassVar[int] = 1000  # where the report lists its chains (lower first; chains sort by their operators')
    requires: ClassVar[frozenset[str]] = frozenset({ONNX})
    produces: ClassVar[frozenset[str]] = frozenset({ONNX, FLOAT})
    keeps: ClassVar[frozenset[str]] = frozenset()  # input capabilities passed through unchanged
    placement_dependent: ClassVar[bool] = False  # output depends on the tiers/links it will run on
    tolerance: ClassVar[float] = 0.02  # accuracy drop (fraction) the conformance suite allows on tiny models
    description: ClassVar[str] = ""
    meta_keys: ClassVar[frozenset[str]] = frozenset()  # keys every artifact's meta carries (checked by conformance)
    # The operator families (ONNX op types as analysis.profiles.family names them) whose time the operator
    # shrinks, which the report weighs against the model's profile to say what it can gain at most;
    # EVERY_OPERATOR where it shrinks the whole model (a smaller student), empty where it shrinks nothing.
    acts_on: ClassVar[frozenset[str]] = frozenset()
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if cls.name and not getattr(cls, "__abstractmethods__", None):
            _register(cls)

    def __init__(self, **params: Any):
        self.params = validated(self.Params, params, f"operator {self.name!r}", "parameter")

    def output_capabilities(self, inputs: frozenset[str]) -> frozenset[str]:
        return self.produces | (inputs & self.keeps)

    def refusal(self, inputs: frozenset[str]) -> str | None:
        """Why this operator cannot take an artifact with these capabilities (None: it can)."""
        missing = self.requires - inputs
        if not missing:
            return None
        words = {
            TORCH: "a trainable PyTorch model",
            ONNX: "an unpartitioned ONNX model",
            FLOAT: "a floating-point model (it is already int8)",
        }
        return f"{self.name} needs {' and '.join(words.get(m, m) for m in sorted(missing))}"

    @abstractmethod
    def apply(self, artifact: Artifact, ctx: BuildContext) -> Artifact:
        """Transform `artifact`, writing output files into ctx.workdir."""

    def cache_params(self) -> dict[str, Any]:
        return self.params.model_dump()

    def subject_inputs(self, subject) -> Any:
        """What this operator takes from the subject besides the input artifact (e.g. a student
        architecture); part of the artifact's cache key. None: nothing."""
        return None


def _where(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _register(cls: type["Operator"]) -> None:
    """One operator per name: a second class taking a name silently would change what a chain means."""
    known = OPERATORS.get(cls.name)
    if known is not None and _where(known) != _where(cls):  # the same class re-imported (reload) may replace itself
        raise ConfigError(f"operator name {cls.name!r} is registered twice: by {_where(known)} and by {_where(cls)}",
                          "give one of the two operators another `name`")
    OPERATORS[cls.name] = cls


def get_operator(name: str, params: dict[str, Any] | None = None) -> Operator:
    load_builtin_operators()
    if name not in OPERATORS:
        raise PlanError(f"unknown operator {name!r}", f"use one of {', '.join(sorted(OPERATORS))}")
    return OPERATORS[name](**(params or {}))


PLUGIN_GROUP = "edgewise.operators"  # entry-point group of third-party operator modules


def load_builtin_operators() -> None:
    """Register the built-in operators and every module a package declares in the `edgewise.operators`
    entry-point group (importing a module is what registers its Operator subclasses)."""
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):  # this package's own modules
        if mod.name not in ("base", "chain"):
            importlib.import_module(f"edgewise.operators.{mod.name}")
    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            entry.load()
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"operator plug-in {entry.name!r} ({entry.value}) failed to import: {exc!r}",
                              f"fix or uninstall the package declaring it in the {PLUGIN_GROUP!r} entry points") from exc
