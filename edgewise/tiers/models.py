"""The tier server's model registry: what LOAD opens, INFER runs and UNLOAD drops, through any runtime.

A LOAD names the artifact part, its role, and the runtime that serves it with its settings (ONNX
Runtime when it names none); the runtime (edgewise/runtimes) opens the file on the tier's threads.
In cold-start mode no session is kept: every request opens its own, as the reference did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgewise.errors import DataError, EdgewiseError, ServerError
from edgewise.runtimes.base import DEFAULT_RUNTIME, Runtime, RuntimeSession, runtime_class
from edgewise.tiers import wire

SUFFIXES = (".onnx", ".pte")  # model files a tier accepts over the wire


@dataclass
class InputMeta:
    name: str
    dtype: str
    shape: tuple[int | None, ...]  # None: a dynamic dimension

    def __post_init__(self) -> None:
        self.numpy_dtype = wire.numpy_dtype(self.dtype)  # compared with each request's tensors


@dataclass
class Loaded:
    artifact_id: str
    role: str
    path: Path
    inputs: list[InputMeta]
    session: RuntimeSession | None  # None in cold-start mode: a new session per request
    preprocess: Callable[[bytes], dict[str, np.ndarray]] | None
    outputs: list[str] = field(default_factory=list)  # the model's output names, read once at LOAD
    runtime: Runtime | None = None
    threads: int = 1
    io: dict[str, Any] | None = None  # input and output names the runtime's form does not carry

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The outputs for checked feeds; a cold start opens (and drops) a session for this request."""
        if self.session is not None:
            return self.session.run(feeds)
        session = open_session(self.runtime, self.path, self.threads, self.io, "")
        try:
            return session.run(feeds)
        finally:
            session.close()


class ModelRegistry:
    """The runtimes a tier has opened models with, one instance per runtime and settings."""

    def __init__(self, tier: str, threads: int, providers: list[str] | None, offered: list[str] | None = None):
        self.tier, self.threads, self.providers = tier, threads, providers
        self.offered = offered  # the runtimes this host serves (None: every one installed)
        self._runtimes: dict[str, Runtime] = {}

    def runtime(self, spec: Any) -> Runtime:
        """The runtime a LOAD names: {"name", "settings"}, or nothing for ONNX Runtime as it is."""
        if spec is None:
            spec = {"name": DEFAULT_RUNTIME, "settings": {}}
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) \
                or not isinstance(spec.get("settings", {}), dict):
            raise ServerError("LOAD's runtime must be {name, settings}", "send loads made by TierClient.load")
        if self.offered is not None and spec["name"] not in self.offered:
            raise DataError(f"tier {self.tier} does not offer runtime {spec['name']!r} (it offers "
                            f"{', '.join(self.offered)})", "serve that cell on a tier offering its runtime, or start "
                            f"the tier's server with --runtimes including {spec['name']}")
        key = repr((spec["name"], sorted(spec.get("settings", {}).items())))
        if key not in self._runtimes:
            try:
                cls = runtime_class(spec["name"])
                extra = {"providers": self.providers} if spec["name"] == DEFAULT_RUNTIME else {}
                self._runtimes[key] = cls(**extra, **spec.get("settings", {}))
            except EdgewiseError as exc:
                raise DataError(f"tier {self.tier}: {exc.message}", exc.hint) from None
        return self._runtimes[key]

    def open(self, meta: dict[str, Any], path: Path,
             preprocess: Callable[[bytes], dict[str, np.ndarray]] | None) -> tuple[Loaded, float]:
        """Open the part a LOAD describes; returns it and the memory its session took (MiB)."""
        art_id, role = meta["artifact"], meta["role"]
        runtime = self.runtime(meta.get("runtime"))
        io = meta.get("io") if isinstance(meta.get("io"), dict) else None
        session = open_session(runtime, path, self.threads, io, self.tier)
        inputs = [InputMeta(i.name, i.dtype, i.shape) for i in session.inputs]
        cold = bool(meta.get("cold_start", False))
        memory = session.memory_mb
        loaded = Loaded(art_id, role, path, inputs, None if cold else session, preprocess, list(session.outputs),
                        runtime, runtime.threads(self.threads), io)
        if cold:
            session.close()
        return loaded, memory


def open_session(runtime: Runtime, path: Path, threads: int, io: dict[str, Any] | None, tier: str) -> RuntimeSession:
    try:
        return runtime.open(path, threads, io)
    except Exception as exc:  # noqa: BLE001 - every runtime's load errors differ: the LOAD fails, the tier serves on
        where = f"tier {tier}: " if tier else ""
        raise DataError(f"{where}{runtime.name} cannot load {Path(path).name}: {type(exc).__name__}: {exc}"[:2000],
                        f"send a model {runtime.name} can load ({runtime.form} form)") from None


def model_suffix(meta: dict[str, Any]) -> str:
    suffix = meta.get("suffix", ".onnx")
    if suffix not in SUFFIXES:
        raise ServerError(f"LOAD's model suffix {suffix!r} is not one a tier accepts", f"use one of {SUFFIXES}")
    return suffix


def unload(artifacts: dict[str, Loaded], art_id: Any) -> list[str]:
    """Drop every part of `art_id` from `artifacts` (call with the server's lock held); their keys."""
    gone = [k for k in artifacts if k.split("/")[0] == art_id]
    for k in gone:
        session = artifacts.pop(k).session
        if session is not None:
            session.close()
    return gone
