"""Conformance of an Executor: a study run through it ends as it ends on this host's local lanes.

- `outcomes(run)`: each cell of a finished run with its artifact key and its status;
- `check_executor(config, executor, reference, out, cache)`: runs `config` through `executor` (`local`,
  `ray`, `ray=ADDRESS`, or a plug-in's kind) into `out` with its own `cache`, and checks that every cell
  ends with the artifact key and status it has in `reference` (a run of the same study on local lanes).
  Where the reference ran on real hosts, their measured network is taken over first (it is what the
  partitions' cuts and keys were chosen for): the executor's workers must build for it too.

Same keys mean each step is built with the same inputs wherever it runs; same statuses mean one failure
policy: a failing build, a tier that refuses a model at LOAD and a lost tier fail their own cell only.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgewise.config import StudyConfig
from edgewise.output.store import Store
from edgewise.study import RunOptions, Study
from edgewise.testbeds import testbed_class


def outcomes(run: Path) -> dict[str, tuple[str | None, str]]:
    """{cell: (artifact key, status)} of a finished run (its results.json)."""
    data = json.loads((Path(run) / "results.json").read_text())
    return {c["cell"]: ((c.get("artifact") or {}).get("key"), c["status"]) for c in data["cells"]}


def run_with(config: StudyConfig, executor: str, out: Path, cache: Path, lanes: int | None = None) -> Path:
    options = RunOptions(out=out, cache_dir=cache, profile="quick", executor=executor, lanes=lanes,
                         log=lambda message: None)
    return Study.open(config, options).run()


def check_executor(config: StudyConfig, executor: str, reference: Path, out: Path, cache: Path) -> None:
    measured = None
    if testbed_class(config.testbed.kind).real_hosts:
        seen = Store(Path(reference) / "study.sqlite")
        try:
            measured = seen.emulation()
        finally:
            seen.close()
    if measured is not None:
        ahead = Store(Path(out) / "study.sqlite")
        try:
            ahead.set_emulation(measured)
        finally:
            ahead.close()
    run_with(config, executor, out, cache)
    expected, got = outcomes(reference), outcomes(out)
    differ = {cell: (expected.get(cell), got.get(cell)) for cell in expected.keys() | got.keys()
              if expected.get(cell) != got.get(cell)}
    assert not differ, f"{executor}: cells that end otherwise than on local lanes (expected, got): {differ}"
