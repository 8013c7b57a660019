"""Verification a burst cannot fool: `edgewise testbed check` run back to back, each figure's worst error
over the runs, and how many runs passed.

Usage: python benchmarks/bench_verification.py [--runs 10] [--study examples/paper.yaml] [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from common import parse_args, table, write_results

ROOT = Path(__file__).resolve().parent.parent


def check(study: Path, quick: bool) -> dict:
    cmd = [sys.executable, "-m", "edgewise.cli", "testbed", "check", str(study), "--json", *(["--quick"] if quick else [])]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)  # a failed check is a result
    report, _ = json.JSONDecoder().raw_decode(proc.stdout.lstrip()) if proc.stdout.strip() else ({}, 0)
    return {"passed": proc.returncode == 0, "report": report, "error": proc.stderr.strip().splitlines()[-1:] or []}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: (
        p.add_argument("--runs", type=int, default=10),
        p.add_argument("--study", type=Path, default=ROOT / "examples" / "paper.yaml")))
    runs = []
    for i in range(2 if args.quick else args.runs):
        t0 = time.time()
        runs.append(check(args.study, args.quick))
        print(f"check {i + 1}: {'passed' if runs[-1]['passed'] else 'FAILED ' + ' '.join(runs[-1]['error'])} "
              f"({time.time() - t0:.0f} s)", flush=True)
    worst: dict[str, dict] = {}
    for run in runs:
        for f in run["report"].get("figures", []):
            if f.get("error") is None:
                continue
            w = worst.setdefault(f["name"], {"error": 0.0, "bound": _bound(f), "unit": f["unit"], "gates": f["gates"]})
            w["error"] = max(w["error"], f["error"])
    rows = [[name, f"{w['error']:.3g}",
             f"{w['bound']:.3g}", "abs " + w["unit"] if w["unit"] == "ms" else "relative", "yes" if w["gates"] else "no"]
            for name, w in sorted(worst.items())]
    print(table(["figure", "worst error", "bound", "error is", "judged"], rows))
    passed = sum(r["passed"] for r in runs)
    print(f"{passed} of {len(runs)} checks passed")
    write_results("verification", {"study": str(args.study), "quick": args.quick, "passed": passed, "runs": len(runs),
                                   "worst": worst, "failures": [_failure(r) for r in runs if not r["passed"]]})


def _bound(figure: dict) -> float:
    """The figure's bound, as the check judged it (relative unless absolute; its slack above not counted)."""
    if figure.get("tolerance_abs") is not None:
        return figure["tolerance_abs"]
    return max(0.10, figure.get("tolerance_min") or 0)


def _failure(run: dict) -> dict:
    """What stopped a check, with the figures that fell outside their bounds and the host's drift then."""
    figures = run["report"].get("figures", [])
    return {"error": run["error"],
            "outside": [f for f in figures if f.get("gates") and (f.get("error") or 0.0) > _bound(f)],
            "host": {f["name"]: f.get("achieved") for f in figures if f["name"].startswith(("host:", "headroom:"))}}


if __name__ == "__main__":
    main()
