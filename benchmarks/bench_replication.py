"""Do a study's figures replicate? The default study measured three times from its cached artifacts: twice
on a quiet host, once with a neighbour this benchmark starts beside it; the cell medians compared
(the share within ±10 %) and the recommendations and decisions matched (edgewise.analysis.runs).

The neighbour is NEIGHBOURS processes, each multiplying 1500 x 1500 float matrices on one thread at
ordinary priority (edgewise.testing.neighbour): it takes cores, caches and memory bandwidth from everything
else on the host.
Its effect on this host is measured and printed: the 30 ms reference workload's wall time (what an
ordinary process here sees) and CPU time, without and with it.

Usage: python benchmarks/bench_replication.py [--study examples/paper.yaml] [--neighbours 2] [--quick]
(--quick: the smoke study). Needs the study's artifacts in the cache (`make study` builds them).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from common import RESULTS, parse_args, run_study, table, write_results

ROOT = Path(__file__).resolve().parent.parent
WORK = RESULTS / "tmp" / "replication"


def reference_workload(seconds: float = 4.0) -> dict[str, float]:
    """The 30 ms reference workload on this host, at ordinary priority: mean and median wall time and median CPU
    time (ms). The mean says what a neighbour takes: with two neighbours on two cores the scheduler may leave the
    workload a core of its own for most runs, and preempt the rest at length (a median 2 % slower, a mean 43 %)."""
    from edgewise.tiers.reference import ReferenceRunner

    runner = ReferenceRunner("30ms")
    runner.once()
    walls, cpus = [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        w0, c0 = time.perf_counter(), time.thread_time()
        runner.session.run(None, runner.feeds)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.thread_time() - c0)
    return {"wall_ms": statistics.fmean(walls) * 1e3, "median_wall_ms": statistics.median(walls) * 1e3,
            "cpu_ms": statistics.median(cpus) * 1e3, "runs": len(walls)}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: (
        p.add_argument("--study", type=Path, default=ROOT / "examples" / "paper.yaml"),
        p.add_argument("--neighbours", type=int, default=os.cpu_count() or 2),
        p.add_argument("--within", type=float, default=10.0, help="percent")))
    from edgewise.analysis import load_results
    from edgewise.analysis.runs import compare_runs
    from edgewise.testing.neighbour import start_neighbour, stop_neighbour

    study = ROOT / "examples" / "smoke.yaml" if args.quick else args.study
    runs: dict[str, dict] = {}
    for name in ("quiet-a", "quiet-b", "neighbour"):
        hogs = start_neighbour(args.neighbours) if name == "neighbour" else []
        try:
            if hogs:
                time.sleep(2.0)
            host = reference_workload()
            seconds = run_study(study, WORK / name, "--profile", "quick")
        finally:
            stop_neighbour(hogs)
        runs[name] = {"reference_workload": host, "seconds": seconds}
        print(f"{name}: study took {seconds:.0f} s; the 30 ms reference workload took {host['wall_ms']:.2f} ms wall "
              f"(mean; median {host['median_wall_ms']:.2f}), {host['cpu_ms']:.2f} ms CPU", flush=True)
    quiet, busy = runs["quiet-a"]["reference_workload"], runs["neighbour"]["reference_workload"]
    slowed = {"wall": busy["wall_ms"] / quiet["wall_ms"] - 1, "cpu": busy["cpu_ms"] / quiet["cpu_ms"] - 1}
    print(f"the neighbour ({args.neighbours} process(es)) slowed the reference workload by {slowed['wall']:.0%} "
          f"(mean wall time) and {slowed['cpu']:.0%} (CPU time)")
    results = {name: load_results(WORK / name) for name in runs}
    rows, comparisons = [], {}
    for label, b in (("two quiet runs", "quiet-b"), ("quiet against neighbour", "neighbour")):
        c = compare_runs(results["quiet-a"], results[b], args.within / 100)
        comparisons[label] = c.to_dict()
        drift = c.drift[1].get("factor") or {}
        rows.append([label, f"{len(c.agreeing)} of {len(c.pairs)}", "yes" if c.recommendations_match else "no",
                     f"{c.decisions - len(c.changed)} of {c.decisions}",
                     (f"{drift.get('median', float('nan')):.3f} ({drift.get('p10', float('nan')):.3f}-"
                      f"{drift.get('p90', float('nan')):.3f})"),
                     (c.drift[1].get("unheld") or {}).get("taken_again", 0)])
    print(table(["runs", f"medians within ±{args.within:g} %", "recommendations match", "decisions the same",
                 "host / nominal (B: median, p10-p90)", "samples taken again (B)"], rows))
    write_results("replication", {"study": str(study), "neighbours": args.neighbours, "neighbour_slowed": slowed,
                                  "runs": runs, "comparisons": comparisons,
                                  "drift": {name: (r.study.get("drift") or {}).get("factor") for name, r in
                                            results.items()}})


if __name__ == "__main__":
    main()
