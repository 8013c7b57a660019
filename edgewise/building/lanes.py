"""Run work side by side in lane processes, the CPU's cores shared among the lanes that are busy.

On a small CPU one training does not use its cores fully (a second thread buys well under 2x), so
trainings and builds run at once on one thread each finish sooner than the same run one after the
other on all threads (benchmarks/results/teacher-recipes.md). A task may wait for others (a step
for the step it starts from); when fewer tasks can run than there are lanes, the running ones take
the idle cores (`training.share_cpu`), so the last task does not run on one thread beside an idle core.

A task that fails is reported with its error and the tasks waiting for it are skipped; nothing else
stops. The lanes die with the process that started them.
"""

from __future__ import annotations

import queue
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable

from edgewise.building.training import share_cpu
from edgewise.environment import usable_cores
from edgewise.testbeds.processes import die_with_parent


@dataclass
class LaneTask:
    name: str
    run: Callable[..., Any]  # picklable: a top-level function (spawned lanes import it)
    args: tuple = ()
    after: tuple[str, ...] = ()  # tasks that must succeed first
    label: str = ""  # the prefix of its log lines; default its name


@dataclass
class Outcome:
    result: Any = None
    error: str | None = None
    seconds: float = 0.0


def run_in_lanes(tasks: list[LaneTask], log: Callable[[str], None], lanes: int | None = None,
                 on_done: Callable[[str, Outcome], None] | None = None) -> dict[str, Outcome]:
    """Run `tasks` in at most `lanes` processes (default one per core), each after the tasks it names.

    Tasks start in the order given as their prerequisites succeed. Returns every task's outcome; a
    task whose prerequisite failed gets the error `skipped: ... failed` without running.
    """
    import multiprocessing as mp

    if not tasks:
        return {}
    names = {t.name for t in tasks}
    unknown = {a for t in tasks for a in t.after} - names
    if unknown:
        raise ValueError(f"tasks wait for tasks not given: {sorted(unknown)}")
    cores = usable_cores()
    lanes = max(1, min(lanes or cores, len(tasks)))
    spawn = mp.get_context("spawn")  # fork would copy a parent whose torch thread pools may be running
    busy = spawn.Value("i", lanes)
    messages = spawn.Queue()
    waiting = list(tasks)
    outcomes: dict[str, Outcome] = {}
    running: dict[Future, LaneTask] = {}
    started: dict[str, float] = {}
    with ProcessPoolExecutor(lanes, mp_context=spawn, initializer=_lane_init, initargs=(busy, cores, messages)) as pool:
        try:
            while waiting or running:
                _skip_orphans(waiting, outcomes, on_done)
                ready = [t for t in waiting if all(outcomes.get(a) and outcomes[a].error is None for a in t.after)]
                for task in ready[:lanes - len(running)]:
                    waiting.remove(task)
                    started[task.name] = time.time()
                    running[pool.submit(_run_task, task.run, task.args, task.label or task.name)] = task
                busy.value = max(1, len(running))  # the cores go to the tasks running now
                if not running:
                    break
                done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                _relay(messages, log)
                for future in done:
                    task = running.pop(future)
                    seconds = time.time() - started[task.name]
                    try:
                        outcomes[task.name] = Outcome(future.result(), None, seconds)
                    except Exception as exc:  # noqa: BLE001 - one task failing leaves the others running
                        outcomes[task.name] = Outcome(None, f"{type(exc).__name__}: {exc}", seconds)
                    if on_done:
                        on_done(task.name, outcomes[task.name])
        except BaseException:  # interrupted: the lanes stop too (no public way to stop them before Python 3.14)
            for future in running:
                future.cancel()
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            raise
    _relay(messages, log)
    for task in waiting:  # not reached: the tasks it waits for never ran
        outcomes[task.name] = Outcome(None, "skipped: the tasks it waits for never ran")
    return outcomes


def _skip_orphans(waiting: list[LaneTask], outcomes: dict[str, Outcome], on_done) -> None:
    """Tasks waiting for one that failed (or was skipped) are skipped, and so on down the line."""
    changed = True
    while changed:
        changed = False
        for task in list(waiting):
            failed = next((a for a in task.after if a in outcomes and outcomes[a].error is not None), None)
            if failed is None:
                continue
            waiting.remove(task)
            outcomes[task.name] = Outcome(None, f"skipped: {failed} failed")
            changed = True
            if on_done:
                on_done(task.name, outcomes[task.name])


def _relay(messages, log: Callable[[str], None]) -> None:
    while True:
        try:
            log(messages.get_nowait())
        except queue.Empty:
            return


# --- in the lane processes ---------------------------------------------------------------------
_messages = None
_threads_now: Callable[[], int] = lambda: 1  # noqa: E731


def _lane_init(busy, cores: int, messages) -> None:
    global _messages, _threads_now
    import torch

    die_with_parent()  # a killed study leaves no lane behind
    _messages = messages
    _threads_now = lambda: max(1, cores // max(1, busy.value))  # noqa: E731
    torch.set_num_threads(_threads_now())
    share_cpu(_threads_now)


def lane_log(label: str) -> Callable[[str], None]:
    """A log for work in a lane: lanes write at once, so each line says whose it is."""
    def log(message: str) -> None:
        text = message.strip()
        _messages.put(text if text.startswith(f"{label}:") or text.startswith(f"{label.split(':')[0]}:")
                      else f"{label}: {text}")
    return log


def _run_task(run: Callable[..., Any], args: tuple, label: str) -> Any:
    """A task's function is called with its args and then the log its lines go to."""
    import torch

    torch.set_num_threads(_threads_now())
    return run(*args, lane_log(label))
