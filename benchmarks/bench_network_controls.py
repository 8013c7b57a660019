"""Cells that never cross a swept link: their medians across the study's network conditions.

Runs a study with conditions (default examples/network.yaml; its artifacts come from the cache,
so run `make study` or the study once first) and reads `edgewise analyze --json`: for each control
(a cell whose requests never cross a link the conditions change) its median under every condition,
the slowest over the fastest, the farthest any condition lies from its median, and whether the
analysis calls it different (Kruskal-Wallis, Holm-adjusted over the controls, and medians more than the
emulation resolves apart: edgewise.analysis.conditions.RESOLUTION). The host's factor
over the run (results.json's drift) is printed beside it: a control that moves is the host's doing.
Goal: every control within +-5 % of its median, none called different.

Usage: python benchmarks/bench_network_controls.py [--study FILE] [--quick] [--out FILE]
(--quick: the same study with 4 inputs x 2 passes; it checks the benchmark, its figures mean little).
Needs root (the linux testbed).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml
from common import cpu_name, parse_args, run_study, table, write_results

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "results" / "tmp" / "network-controls"  # the run is kept there to look into
GOAL = 0.05


def controls(out: Path) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "edgewise.cli", "analyze", str(out), "--json"], cwd=ROOT,
                          check=True, capture_output=True, text=True)
    rows = []
    for across in json.loads(proc.stdout)["across"]:
        if across["crosses"]:
            continue
        medians = dict(zip(across["conditions"], (m * 1e3 for m in across["medians_s"])))
        middle = statistics.median(medians.values())
        kruskal = across["kruskal"]
        p = kruskal["adjusted_p"] if kruskal["adjusted_p"] is not None else kruskal["p"]
        rows.append({"cell": across["cell"], "medians_ms": {k: round(v, 3) for k, v in medians.items()},
                     "max_over_min": 1 + across["spread"],
                     "worst_from_median": max(abs(v / middle - 1) for v in medians.values()),
                     "adjusted_p": p, "significant": across["significant"], "called_different": across["differs"]})
    return rows


def quick_study(study: Path, folder: Path) -> Path:
    data = yaml.safe_load(study.read_text())
    data["measure"] = {**data.get("measure", {}), "inputs": 4, "passes": 2, "warmup_passes": 1}
    path = folder / study.name
    path.write_text(yaml.safe_dump(data))
    return path


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: p.add_argument(
        "--study", type=Path, default=ROOT / "examples" / "network.yaml"))
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    study = quick_study(args.study, WORK) if args.quick else args.study
    out = WORK / "run"
    took = run_study(study, out)
    rows = controls(out)
    drift = json.loads((out / "results.json").read_text())["study"].get("drift") or {}
    print(table(["control", "slowest/fastest", "farthest from median", "significant", "called different"],
                [[r["cell"], f"{r['max_over_min']:.3f}", f"{100 * r['worst_from_median']:.1f} %",
                  "yes" if r["significant"] else "no", "yes" if r["called_different"] else "no"] for r in rows]))
    goals = {"within_5_percent": sum(r["worst_from_median"] <= GOAL for r in rows), "controls": len(rows),
             "called_different": sum(r["called_different"] for r in rows),
             "significant": sum(r["significant"] for r in rows)}
    factor = drift.get("factor") or {}
    print(f"{cpu_name()}; the host ran the reference workloads at {factor.get('median', float('nan')):.2f}x its "
          f"nominal time in the median ({factor.get('min', float('nan')):.2f}-{factor.get('max', float('nan')):.2f})")
    print("goals:", goals)
    path = write_results("network_controls", {
        "study": str(args.study.relative_to(ROOT) if args.study.is_relative_to(ROOT) else args.study),
        "quick": args.quick, "cpu": cpu_name(), "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": round(took),
        "goal": f"controls' medians within +-{GOAL:.0%} of their median across the conditions, none called different",
        "controls": rows, "goals": goals, "drift": drift}, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
