"""The Runtime seam: what executes an artifact on a tier, registered by subclassing.

A runtime loads an artifact's file in its own form (an ONNX graph, an ExecuTorch program) with its
settings and the tier's threads, runs it on named numpy feeds, reports the memory its session took
and unloads it. It declares the form it serves (`form`) and what it cannot take (`refusal`), so the
plan refuses a cell it cannot serve with the reason. A runtime that serves a form other than the
chain's ONNX builds that form itself (`build_form`), and may do the work of the chain's last
operators in its own way (`replaces`: ExecuTorch quantizes with its own int8 path instead of sptq).
A runtime that reads the chain's graph but only some of its variants names the operator settings
it needs (`operator_settings`: OpenVINO reads sptq's QDQ format).

Built-in runtimes are imported only when a study names them (`runtime_class`), so a study on ONNX
Runtime alone never imports OpenVINO or ExecuTorch; a package of your own declares its module in
the `edgewise.runtimes` entry-point group.
"""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edgewise.errors import ConfigError, PlanError
from edgewise.parameters import validated

RUNTIMES: dict[str, type["Runtime"]] = {}
DEFAULT_RUNTIME = "onnxruntime"
# The built-in runtimes and the module that registers each: imported when a study names one.
BUILTIN_MODULES = {
    "onnxruntime": "edgewise.runtimes.onnx_runtime",
    "openvino": "edgewise.runtimes.openvino_runtime",
    "executorch": "edgewise.runtimes.executorch_runtime",
}
PLUGIN_GROUP = "edgewise.runtimes"  # entry-point group of third-party runtime modules

ONNX_FORM = "onnx"  # the chain's ONNX graph(s), as the operators built them
PTE_FORM = "pte"  # an ExecuTorch program lowered from the chain's torch model


class RuntimeParams(BaseModel):
    """Settings every runtime takes; a runtime adds its own by subclassing."""

    model_config = ConfigDict(extra="forbid")

    threads: int | None = Field(default=None, ge=1, description="intra-op threads; default: the tier's")


@dataclass(frozen=True)
class IOMeta:
    """One input of a loaded model: its name, numpy dtype name and shape (None: a dynamic dimension)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]


class RuntimeSession(ABC):
    """A model loaded by a runtime, ready to run one request at a time."""

    inputs: list[IOMeta]
    outputs: list[str]
    memory_mb: float = float("nan")  # what loading it added to the process (set by Runtime.open)

    @abstractmethod
    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The model's outputs, in its order, for feeds holding exactly its inputs."""

    def close(self) -> None:
        """Release what the session holds (unload)."""

    @property
    def fixed_batch(self) -> int | None:
        """The batch the model fixes (first dimension of its inputs), None when dynamic."""
        for meta in self.inputs:
            dim = meta.shape[0] if meta.shape else None
            if isinstance(dim, int) and dim > 0:
                return dim
        return None


class Runtime(ABC):
    name: ClassVar[str] = ""
    form: ClassVar[str] = ONNX_FORM
    suffix: ClassVar[str] = ".onnx"  # of the file it loads
    package: ClassVar[str] = ""  # the Python distribution that provides it (named in the hint when missing)
    display_order: ClassVar[int] = 1000  # where the report lists it (lower first)
    description: ClassVar[str] = ""
    replaces: ClassVar[frozenset[str]] = frozenset()  # chain operators (at the chain's end) it does in its form
    # Settings it needs of the operators whose graphs it reads as they are, and why (OpenVINO reads sptq's QDQ
    # graphs, not its operator-level ones): its cells build those links with them (runtimes/forms.py).
    operator_settings: ClassVar[dict[str, dict[str, Any]]] = {}
    operator_settings_reason: ClassVar[str] = ""
    Params: ClassVar[type[RuntimeParams]] = RuntimeParams

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if cls.name and not getattr(cls, "__abstractmethods__", None):
            known = RUNTIMES.get(cls.name)
            where = f"{cls.__module__}.{cls.__qualname__}"
            if known is not None and f"{known.__module__}.{known.__qualname__}" != where:
                raise ConfigError(f"runtime name {cls.name!r} is registered twice: by "
                                  f"{known.__module__}.{known.__qualname__} and by {where}",
                                  "give one of the two runtimes another `name`")
            RUNTIMES[cls.name] = cls

    def __init__(self, **settings: Any):
        self.params = validated(self.Params, settings, f"runtime {self.name!r}", "setting")

    # --- what it serves ----------------------------------------------------------------------
    def refusal(self, capabilities: frozenset[str], chain_names: tuple[str, ...] = ()) -> str | None:
        """Why this runtime cannot serve an artifact with these capabilities (None: it can)."""
        return None

    def form_chain(self, names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The chain built before the runtime's own form, and the operators its form does instead
        (trailing operators in `replaces`)."""
        cut = len(names)
        while cut > 0 and names[cut - 1] in self.replaces:
            cut -= 1
        return names[:cut], names[cut:]

    def build_form(self, artifact, ctx, replaced: tuple[str, ...], params: dict[str, Any], out: Path):
        """Write this runtime's form of `artifact` into `out` and return it as an Artifact; runtimes
        that load the chain's ONNX as it is never get here."""
        raise NotImplementedError(f"runtime {self.name} loads the chain's own artifact")

    def form_params(self) -> dict[str, Any]:
        """What of the settings changes the built form (its cache key); load-time settings stay out."""
        return {}

    # --- the session seam --------------------------------------------------------------------
    @abstractmethod
    def load(self, path: Path, threads: int, io: dict[str, Any] | None = None) -> RuntimeSession:
        """A session of the model file `path` on `threads` threads (the setting, when given, wins).
        `io` names the inputs and outputs where the form does not (an ExecuTorch program)."""

    def open(self, path: Path, threads: int, io: dict[str, Any] | None = None) -> RuntimeSession:
        """`load`, with the memory the session took measured (the growth of this process's RSS)."""
        before = rss_mb()
        session = self.load(Path(path), self.threads(threads), io)
        session.memory_mb = max(0.0, rss_mb() - before)
        return session

    def threads(self, tier_threads: int) -> int:
        return max(1, self.params.threads or tier_threads)

    def profile(self, session: RuntimeSession, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
        """Time per operator of one run (optional)."""
        raise NotImplementedError(f"runtime {self.name} has no per-operator profile")

    @classmethod
    def version(cls) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(cls.package) if cls.package else ""
        except PackageNotFoundError:
            return ""

    def settings(self) -> dict[str, Any]:
        return self.params.model_dump(exclude_defaults=True)


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def runtime_class(name: str) -> type[Runtime]:
    """The runtime registered as `name`, importing its module (and only its) on first use."""
    if name not in RUNTIMES:
        module = BUILTIN_MODULES.get(name)
        if module is not None:
            _import_runtime(name, module)
        else:
            _load_plugins()
    if name not in RUNTIMES:
        raise PlanError(f"unknown runtime {name!r}", f"use one of {', '.join(runtime_names())}")
    return RUNTIMES[name]


def _import_runtime(name: str, module: str) -> None:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        package = {"openvino": "openvino", "executorch": "executorch"}.get(name, exc.name)
        raise ConfigError(f"runtime {name!r} is not installed here ({exc})",
                          f"install it: pip install 'edgewise[runtimes]' (or scripts/setup.sh), or drop {package}"
                          " from the study's runtimes") from None


def _load_plugins() -> None:
    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            entry.load()
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"runtime plug-in {entry.name!r} ({entry.value}) failed to import: {exc!r}",
                              f"fix or uninstall the package declaring it in the {PLUGIN_GROUP!r} entry points"
                              ) from exc


def runtime_names() -> list[str]:
    """The built-in runtimes and those registered so far, default first."""
    names = [*BUILTIN_MODULES, *(n for n in RUNTIMES if n not in BUILTIN_MODULES)]
    return names


def installed_runtimes() -> list[str]:
    """The built-in runtimes whose packages import here (a suite parametrises over them)."""
    out = []
    for name in BUILTIN_MODULES:
        try:
            runtime_class(name)
        except ConfigError:
            continue
        out.append(name)
    return out
