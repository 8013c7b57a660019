"""A study's build through a local 2-CPU Ray cluster against the in-process build: same keys, wall time.

Each variant builds the study into an empty cache in its own process, as `edgewise build` does:
  local   the local executor (missing teachers and steps in lanes, one thread each, one per core)
  ray     the same through a Ray cluster of 2 CPUs started by that process (one task per missing
          cache step, one thread each), its start-up included in the figure
Rounds alternate the order. Both builds must give every cell the same artifact key.

The figures are taken on STUDY below (tiny subjects, every black- and white-box operator, 8 cells)
unless --study names another study file. `--teachers-from CACHE` starts each build from the trained
teachers (and prepared data) of that cache, so a study with long teacher trainings (the default
study: ~8 min of them) can be built several times: the artifacts are built, the teachers are not.

Usage: python benchmarks/bench_ray.py [--quick] [--rounds N] [--study FILE] [--teachers-from CACHE]
Writes benchmarks/results/bench_ray.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import parse_args, spread, table, write_results

ROOT = Path(__file__).resolve().parent.parent
STUDY = {"name": "bench-ray", "subjects": ["tiny-cnn", "tiny-bert"], "seed": 0,
         "testbed": {"kind": "local", "verify": False},
         "cells": [{"chains": ["identity", "sptq", "prune"], "placements": ["mobile"]},
                   {"chains": ["partition"], "placements": ["mobile-edge"]}]}
QUICK = {**STUDY, "subjects": ["tiny-cnn"]}

CHILD = """
import json, sys, time
from pathlib import Path
t0 = time.time()
from edgewise.config import load_study
from edgewise.executors import ExecutorConfig
from edgewise.executors.choice import make_executor
from edgewise.study import RunOptions, Study
study_file, cache, kind = sys.argv[1:4]
s = Study.open(load_study(study_file), RunOptions(out=Path(cache), cache_dir=Path(cache), log=lambda m: None))
cells = s.plan()
t1 = time.time()
executor = make_executor(ExecutorConfig(kind=kind, local_cpus=2, object_store_mb=150), lambda m: None)
with executor:
    if kind == "ray":
        executor.connect()
    t2 = time.time()
    built = executor.build(s.build_spec(), cells, s.progress)
t3 = time.time()
print(json.dumps({"keys": {b.cell.name: b.artifact.key if b.artifact else None for b in built},
                  "errors": {b.cell.name: b.error for b in built if b.error},
                  "wall_s": t3 - t1, "build_s": t3 - t2, "startup_s": t2 - t1}))
"""


WARM = ("teachers", "subjects", "tokenizers")  # what --teachers-from copies: trained teachers, prepared data


def build_once(study_file: Path, kind: str, teachers_from: Path | None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("RAY_ADDRESS", None)  # a cluster of its own, started by the build
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as cache:
        for folder in WARM if teachers_from else ():
            if (teachers_from / folder).is_dir():
                shutil.copytree(teachers_from / folder, Path(cache) / folder)
        proc = subprocess.run([sys.executable, "-c", CHILD, str(study_file), cache, kind], capture_output=True,
                              text=True, env=env, cwd=ROOT, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} build failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: (p.add_argument("--rounds", type=int, default=3),
                                                          p.add_argument("--study", type=Path),
                                                          p.add_argument("--teachers-from", type=Path)))
    rounds = 1 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        study_file = args.study or Path(tmp) / "study.yaml"
        if args.study is None:
            study_file.write_text(yaml.safe_dump(QUICK if args.quick else STUDY))
        runs: dict[str, list[dict]] = {"local": [], "ray": []}
        for r in range(rounds):
            order = list(runs)[r % 2:] + list(runs)[:r % 2]
            for kind in order:
                started = time.time()
                runs[kind].append(build_once(study_file, kind, args.teachers_from))
                print(f"round {r + 1}: {kind} {runs[kind][-1]['wall_s']:.1f} s (process {time.time() - started:.0f} s)",
                      flush=True)
    keys = {kind: [run["keys"] for run in v] for kind, v in runs.items()}
    identical = all(k == keys["local"][0] for v in keys.values() for k in v)
    errors = {kind: [run["errors"] for run in v if run["errors"]] for kind, v in runs.items()}
    ratios = [ray["wall_s"] / local["wall_s"] for ray, local in zip(runs["ray"], runs["local"])]
    result = {
        "study": "--study " + str(args.study) if args.study else ("quick" if args.quick else "tiny, 8 cells"),
        "teachers": "trained before (--teachers-from)" if args.teachers_from else "trained in each build",
        "cells": len(keys["local"][0]), "rounds": rounds, "identical_keys": identical, "errors": errors,
        "local_wall_s": spread([r["wall_s"] for r in runs["local"]]),
        "ray_wall_s": spread([r["wall_s"] for r in runs["ray"]]),
        "ray_build_s": spread([r["build_s"] for r in runs["ray"]]),
        "ray_startup_s": spread([r["startup_s"] for r in runs["ray"]]),
        "ratio_ray_to_local": spread(ratios), "target_ratio": 1.25,
        "load_average": os.getloadavg(), "cpus": os.cpu_count(),
    }
    print(table(["variant", "wall s (median)", "min", "max"],
                [[k, f"{result[f'{k}_wall_s']['median']:.1f}", f"{result[f'{k}_wall_s']['min']:.1f}",
                  f"{result[f'{k}_wall_s']['max']:.1f}"] for k in runs]))
    print(f"ray / local: {result['ratio_ray_to_local']['median']:.2f}x (target <= 1.25x); identical keys: {identical}")
    write_results("bench_ray", result, args.out)
    if not identical or any(errors.values()):
        raise SystemExit("the builds differ: " + json.dumps(errors))


if __name__ == "__main__":
    main()
