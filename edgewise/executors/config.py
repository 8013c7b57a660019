"""The `executor:` section of a study file: where builds and measurements run (here, or on a Ray cluster).

It says how a study is carried out, not what it measures: it is left out of the study's
fingerprint, so one study can be started here and resumed on a cluster.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClusterTestbed(_Strict):
    """One testbed of a cluster: the study's testbed section with its own endpoints, on the host that
    holds `resources` (Ray custom resources, e.g. `{edge-box-1: 1}` given to that host's `ray start`)."""

    name: str
    resources: dict[str, float] = Field(default_factory=dict, description="Ray resources pinning it to a host")
    kind: str | None = Field(default=None, description="default: testbed.kind")
    endpoints: dict[str, str] = Field(default_factory=dict, description="remote: tier -> host:port")
    token: str | None = None


class ExecutorConfig(_Strict):
    kind: Literal["local", "ray"] = "local"
    address: str | None = Field(default=None, description="ray: cluster address; default RAY_ADDRESS, else a cluster started here")
    cpus_per_task: int = Field(default=1, ge=1, description="ray: CPU threads of each build task")
    gpus_per_training: float = Field(default=1.0, ge=0, description="ray: GPUs of a training task where the cluster has GPUs")
    shared_cache: bool = Field(default=True, description="ray: workers see the study's cache directory at the same path")
    max_retries: int = Field(default=1, ge=0, description="ray: retries of a task whose worker died")
    local_cpus: int | None = Field(default=None, ge=1, description="ray: CPUs of a cluster started here")
    object_store_mb: int | None = Field(default=None, ge=75, description="ray: object store of a cluster started here")
    testbeds: list[ClusterTestbed] = Field(default_factory=list, description="ray: testbeds that measure side by side")
