"""The Ray executor: teachers and artifacts built as Ray tasks, latency measured on a cluster's testbeds.

The driver (the `edgewise run` process) plans the build as a graph of cache keys: every step's key
is known before anything is built (`operators.chain.step_key`), so what the study's cache already
holds is never sent to the cluster, and each missing step becomes one task that depends on the
task of the step before it. A task builds with the same code as a local build (`build_chain`), so
it puts the same keys in the cache; where the workers do not share the cache directory, a task
returns its files and the driver installs them (`executors.packs`). A task that fails, or whose
worker is lost after its retries, fails the cells that need it, with the reason; the study goes on.

Latency is measured by one actor per testbed (`executors.ray_measure`), pinned to its host by Ray
resources; the driver alone writes the store.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from edgewise.building.workshop import BuildSpec, Built, Workshop, worker_workshop
from edgewise.errors import ConfigError
from edgewise.executors.base import Executor
from edgewise.executors.config import ExecutorConfig
from edgewise.executors.graph import build_one, plan_steps
from edgewise.executors.packs import install, pack_artifact, pack_teacher
from edgewise.executors.ray_common import failure_reason, worker_cache_dir
from edgewise.executors.ray_measure import fan_out
from edgewise.progress import Progress
from edgewise.subjects.teachers import teacher_missing, teacher_path
from edgewise.vocabulary import FAILED_MARK


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray executor needs Ray, which is not installed",
                          "pip install 'edgewise[ray]', or run with --executor local") from None
    return ray


@dataclass
class RayExecutor(Executor):
    config: ExecutorConfig
    log: Callable[[str], None] = print
    kind = "ray"
    _started: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.ray = import_ray()

    # --- the cluster ---------------------------------------------------------------------------
    def connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        address = self.config.address or os.environ.get("RAY_ADDRESS")
        common = {"include_dashboard": False, "log_to_driver": False, "logging_level": "WARNING"}
        try:
            if address:
                ray.init(address=address, **common)
            else:
                store = self.config.object_store_mb * 2**20 if self.config.object_store_mb else None
                ray.init(num_cpus=self.config.local_cpus, object_store_memory=store, **common)
        except ConnectionError as exc:
            raise ConfigError(f"cannot reach the Ray cluster at {address!r}: {exc}",
                              "start it with `ray start --head` and give its address (executor.address or --executor ray=ADDRESS)") from None
        self._started = True
        resources = ray.cluster_resources()
        self.log(f"ray cluster: {resources.get('CPU', 0):.0f} CPUs, {resources.get('GPU', 0):.0f} GPUs, "
                 f"{len(ray.nodes())} node(s)")

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()
            self._started = False

    def has_gpus(self) -> bool:
        return self.ray.cluster_resources().get("GPU", 0) > 0

    def task_spec(self, spec: BuildSpec) -> dict[str, Any]:
        """What a task needs: the study's BuildSpec (its cache where the workers keep theirs), its resources."""
        cache_dir = spec.cache_dir if self.config.shared_cache else str(worker_cache_dir())
        return {"build": replace(spec, cache_dir=cache_dir), "shared": self.config.shared_cache,
                "cpus": self.config.cpus_per_task}

    # --- builds --------------------------------------------------------------------------------
    def build(self, spec: BuildSpec, cells, progress: Progress):
        self.connect()
        ray = self.ray
        workshop = Workshop(spec, progress.log)
        cache_root = Path(spec.cache_dir).resolve()
        cache = workshop.cache
        steps, final = plan_steps(workshop, cells)
        task = self.task_spec(spec)
        gpu = self.config.gpus_per_training if self.has_gpus() else 0
        cpu = {"num_cpus": self.config.cpus_per_task, "max_retries": self.config.max_retries}
        build_task, teacher_task = ray.remote(_build_step), ray.remote(_train_teacher)
        tasks: dict[Any, str] = {}  # result ref -> what it builds
        refs: dict[str, Any] = {}  # step key -> the task building it, or (no shared cache) the pack of a cached step
        progress.start("build", len(cells))
        missing = [step for step in steps.values() if cache.get(step.key) is None]
        for step in missing:
            deps = []
            for key in step.ancestors:
                if key not in refs and not self.config.shared_cache:
                    refs[key] = ray.put({"pack": pack_artifact(cache_root, key)})
                if key in refs:
                    deps.append(refs[key])
            subject = workshop.subject(step.subject)
            if not step.names and subject.trains_teacher:
                if teacher_missing(subject):
                    ref = teacher_task.options(**cpu, num_gpus=gpu).remote({**task, "subject": step.subject})
                    tasks[ref] = f"{step.subject} teacher"
                    deps.append(ref)
                elif not self.config.shared_cache:
                    deps.append(ray.put({"pack": pack_teacher(cache_root, teacher_path(subject))}))
            options = {**cpu, "num_gpus": gpu if step.trains else 0}
            refs[step.key] = build_task.options(**options).remote(
                {**task, "subject": step.subject, "cell": step.cell, "names": list(step.names), "key": step.key}, *deps)
            tasks[refs[step.key]] = step.key
        progress.log(f"ray: {len(tasks)} task(s) for {len(missing)} missing step(s) of {len(steps)}; {len(cells)} cells")
        errors = self._gather(tasks, cache_root, install, progress, cells, final)
        built = []
        for cell in cells:
            key = final[cell.name]
            error = errors.get(key)
            artifact = None if error else cache.get(key)
            if error is None and artifact is None:
                error = (f"artifact {key} is not in the cache {cache_root} after its build "
                         "(if the workers do not share that directory, set executor.shared_cache: false)")
            built.append(Built(cell, artifact, error))
            if error:
                progress.log(f"{FAILED_MARK} build of {cell.name} failed: {error}")
        return built

    def _gather(self, tasks: dict[Any, str], cache_root: Path, install, progress: Progress, cells,
                final) -> dict[str, str]:
        """Wait for every task; install what non-shared workers return; the reason of each failure."""
        ray = self.ray
        errors: dict[str, str] = {}
        cells_of: dict[str, int] = {}
        for cell in cells:
            cells_of[final[cell.name]] = cells_of.get(final[cell.name], 0) + 1
        for key, count in cells_of.items():  # cells whose artifact is cached are done already
            if key not in tasks.values():
                for _ in range(count):
                    progress.advance("build")
        pending = list(tasks)
        start = time.time()
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            what = tasks[ready[0]]
            try:
                result = ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001 - a failed or lost task fails its cells, not the study
                errors[what] = failure_reason(exc)
            else:
                for line in result.get("log", []):
                    progress.log(line)
                if result.get("pack"):
                    install(cache_root, result["pack"])
                progress.log(f"built {what} ({result.get('seconds', 0):.1f} s on {result.get('node', '?')})")
            for _ in range(cells_of.get(what, 0)):
                progress.advance("build")
        progress.log(f"ray build: {len(tasks)} task(s) in {time.time() - start:.1f} s")
        return errors

    # --- measurements --------------------------------------------------------------------------
    @property
    def testbeds(self) -> list[Any]:
        return list(self.config.testbeds)

    def measure(self, requests, settings, sink, progress: Progress) -> None:
        self.connect()
        fan_out(self, requests, settings, sink, progress)


# --- in the workers ---------------------------------------------------------------------------
_lines: list[str] = []


def _worker_workshop(task: dict[str, Any]) -> tuple[Workshop, Path]:
    import ray
    import torch

    torch.set_num_threads(task["cpus"])
    device = "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"
    _lines.clear()
    return worker_workshop(task["build"], _lines.append, device), Path(task["build"].cache_dir)


def _install_deps(cache_root: Path, deps: tuple[dict[str, Any], ...]) -> None:
    for dep in deps:
        if dep.get("pack"):
            install(cache_root, dep["pack"])


def _result(t0: float, **kw: Any) -> dict[str, Any]:
    import ray

    return {"log": list(_lines), "seconds": time.time() - t0, "node": ray.get_runtime_context().get_node_id()[:8], **kw}


def _train_teacher(spec: dict[str, Any]) -> dict[str, Any]:
    t0 = time.time()
    workshop, cache_root = _worker_workshop(spec)
    subject = workshop.subject(spec["subject"])
    subject.teacher()
    return _result(t0, pack=None if spec["shared"] else pack_teacher(cache_root, teacher_path(subject)))


def _build_step(spec: dict[str, Any], *deps: dict[str, Any]) -> dict[str, Any]:
    t0 = time.time()
    workshop, cache_root = _worker_workshop(spec)
    if not spec["shared"]:
        _install_deps(cache_root, deps)
    artifact = build_one(workshop, spec["subject"], spec["cell"], spec["names"], spec["key"])
    return _result(t0, key=artifact.key, pack=None if spec["shared"] else pack_artifact(cache_root, artifact.key))
