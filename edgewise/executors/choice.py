"""Which executor a study runs on: the study file's `executor:` section, overridden by `--executor`."""

from __future__ import annotations

from edgewise.errors import ConfigError
from edgewise.executors.base import Executor
from edgewise.executors.config import ExecutorConfig
from edgewise.executors.local import LocalExecutor
from edgewise.executors.ray import RayExecutor


def make_executor(config: ExecutorConfig, log=print, lanes: int | None = None) -> Executor:
    if config.kind == "ray":
        return RayExecutor(config, log)
    return LocalExecutor(lanes)


def parse_choice(choice: str, config: ExecutorConfig) -> ExecutorConfig:
    """`--executor local`, `--executor ray` or `--executor ray=ADDRESS` laid over the study file's section."""
    kind, _, address = choice.partition("=")
    if kind not in ("local", "ray"):
        raise ConfigError(f"--executor {choice!r}: unknown executor", "use local, ray or ray=ADDRESS (e.g. ray=auto)")
    update: dict = {"kind": kind}
    if address:
        update["address"] = address
    return config.model_copy(update=update)
