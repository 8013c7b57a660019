"""Study throughput: wall time of a small study fresh and cached, and how it grows with cells and inputs.

Every run is `edgewise run STUDY --out OUT --cache CACHE --fresh` in its own process, as a user runs it:
  fresh    an empty cache (teachers trained, artifacts built) - examples/smoke.yaml
  cached   the same study again on the warm cache
  cells    1..6 tiny-cnn cells (identity, sptq on mobile/edge/cloud) on the warm cache
  inputs   2 cells with 4..32 latency inputs on the warm cache
A line is fitted to each sweep: seconds per cell and seconds per request (the slope over inputs
divided by cells x passes). The testbed is linux as root (local otherwise) with verification off:
this measures edgewise's orchestration, bench_emulation measures fidelity.
The default study's own wall times (make study) are read from benchmarks/results/study_wall.json.

Usage: python benchmarks/bench_study.py [--quick] [--rounds N]
Writes benchmarks/results/bench_study.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from common import RESULTS, parse_args, spread, table, write_results

ROOT = Path(__file__).resolve().parent.parent
PASSES = 2
CELL_SWEEP = [["mobile"], ["mobile", "edge"], ["mobile", "edge", "cloud"]]


def study(name: str, subjects: list[str], chains: list[str], placements: list[str], inputs: int) -> dict:
    kind = "linux" if os.geteuid() == 0 else "local"
    return {"name": name, "subjects": subjects, "cells": [{"chains": chains, "placements": placements}],
            "testbed": {"kind": kind, "preset": "paper-scaled", "verify": False},
            "measure": {"inputs": inputs, "passes": PASSES, "warmup_passes": 1}, "seed": 0}


def smoke() -> dict:
    raw = yaml.safe_load((ROOT / "examples" / "smoke.yaml").read_text())
    raw["testbed"] = {**raw.get("testbed", {}), "kind": "linux" if os.geteuid() == 0 else "local", "verify": False}
    return raw


def run_study(raw: dict, cache: Path, workdir: Path) -> float:
    """Wall seconds of one `edgewise run` of `raw` (fails loudly if the study fails)."""
    path = workdir / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw))
    cmd = [str(Path(sys.executable).parent / "edgewise"), "run", str(path), "--out", str(workdir / "out"),
           "--cache", str(cache), "--fresh", "--device", "cpu"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{raw['name']} failed: {(proc.stderr or proc.stdout)[-1500:]}")
    return took


def fit(xs: list[float], ys: list[float]) -> dict:
    slope, intercept = np.polyfit(xs, ys, 1)
    return {"slope_s": float(slope), "intercept_s": float(intercept), "points": [[x, y] for x, y in zip(xs, ys)]}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: p.add_argument("--rounds", type=int))
    rounds = args.rounds or (1 if args.quick else 3)
    small = study("small", ["tiny-cnn"], ["identity"], ["mobile"], 2)
    base = small if args.quick else smoke()
    cell_sweep = CELL_SWEEP[:2] if args.quick else CELL_SWEEP
    input_sweep = [2, 4] if args.quick else [4, 8, 16, 32]
    result: dict = {"quick": args.quick, "rounds": rounds, "passes": PASSES}
    with tempfile.TemporaryDirectory(prefix="bench-study-") as tmp:
        workdir = Path(tmp)
        fresh, cached = [], []
        for r in range(rounds):
            cache = workdir / f"cache{r}"
            fresh.append(run_study(base, cache, workdir))
            cached.append(run_study(base, cache, workdir))
        n_cells = sum(len(g["chains"]) * len(g["placements"]) for g in base["cells"]) * len(base["subjects"])
        result["study"] = {"name": base["name"], "cells": n_cells, "fresh_s": spread(fresh), "cached_s": spread(cached),
                           "cached_per_cell_s": statistics.median(cached) / n_cells}
        warm = workdir / "cache0"
        chains = ["identity"] if args.quick else ["identity", "sptq"]
        cells_x, cells_y = [], []
        for placements in cell_sweep:
            cells_x.append(len(chains) * len(placements))
            cells_y.append(statistics.median(run_study(study("cells", ["tiny-cnn"], chains, placements, 4), warm, workdir)
                                             for _ in range(rounds)))
        inputs_y = [statistics.median(run_study(study("inputs", ["tiny-cnn"], ["identity"], ["mobile", "edge"], n), warm, workdir)
                                      for _ in range(rounds)) for n in input_sweep]
        result["per_cell"] = fit(cells_x, cells_y)
        result["per_input"] = fit(input_sweep, inputs_y)
        result["per_request_s"] = result["per_input"]["slope_s"] / (2 * PASSES)
    s = result["study"]
    print(table(["study", "cells", "fresh s (min-max)", "cached s (min-max)", "cached s/cell"],
                [[s["name"], s["cells"], f"{s['fresh_s']['median']:.1f} ({s['fresh_s']['min']:.1f}-{s['fresh_s']['max']:.1f})",
                  f"{s['cached_s']['median']:.1f} ({s['cached_s']['min']:.1f}-{s['cached_s']['max']:.1f})",
                  f"{s['cached_per_cell_s']:.2f}"]]))
    print(f"wall time vs cells  (cached): {_points(result['per_cell'])}: "
          f"{result['per_cell']['slope_s']:.2f} s per cell + {result['per_cell']['intercept_s']:.1f} s")
    print(f"wall time vs inputs (2 cells x {PASSES} passes): {_points(result['per_input'])}: "
          f"{result['per_request_s'] * 1e3:.1f} ms per request + {result['per_input']['intercept_s']:.1f} s")
    wall = RESULTS / "study_wall.json"
    result["default_study"] = json.loads(wall.read_text()) if wall.exists() else None
    print(f"default study (make study): {result['default_study'] if wall.exists() else 'no ' + str(wall.relative_to(ROOT)) + ' yet'}")
    print(f"wrote {write_results('bench_study', result, args.out)}")


def _points(f: dict) -> str:
    return ", ".join(f"{x:g}->{y:.1f}s" for x, y in f["points"])


if __name__ == "__main__":
    main()
