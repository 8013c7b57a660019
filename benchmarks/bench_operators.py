"""Operators: speed-up against identity (ratio of medians, bootstrap CI) and accuracy drop, per chain and tier.

Read from a study's results (edgewise.analysis: load_results, default_analyses); the study itself
is `make study`. Where the results file is absent, says so and exits 0.

Usage: python benchmarks/bench_operators.py [--results runs/default/results.json] [--quick]
Writes benchmarks/results/bench_operators.json.
"""

from __future__ import annotations

from pathlib import Path

from common import parse_args, table, write_results

DEFAULT_RESULTS = Path("runs/default/results.json")


def rows_of(path: Path) -> list[dict]:
    """One row per (subject, chain, placement) with a speed-up against identity."""
    from edgewise.analysis import accuracy_drop, default_analyses, load_results

    rs = load_results(path)
    rows = []
    for s in default_analyses(rs).speedups:
        cell = rs.find(s.subject, s.chain, s.placement)
        drop = accuracy_drop(rs, cell) if cell is not None else None
        rows.append({"subject": s.subject, "chain": s.chain, "placement": s.placement, "speedup": s.ratio,
                     "ci_low": s.ci.low, "ci_high": s.ci.high, "significant": s.significant,
                     "drop_points": drop.drop_points if drop else None, "baseline": drop.baseline if drop else None})
    return sorted(rows, key=lambda r: (r["subject"], r["chain"], r["placement"]))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: p.add_argument("--results", type=Path, default=DEFAULT_RESULTS))
    if not args.results.exists():
        print(f"bench_operators: no study results at {args.results}; run `make study` (or pass --results PATH)")
        skipped = {"results": str(args.results), "skipped": "results file absent"}
        print(f"wrote {write_results('bench_operators', skipped, args.out)}")
        return
    rows = rows_of(args.results)
    print("speed-up = median(identity) / median(chain) on the same tier (95% bootstrap CI); drop in points")
    print(table(["subject", "chain", "tier", "speed-up", "95% CI", "significant", "drop pt"],
                [[r["subject"], r["chain"], r["placement"], f"{r['speedup']:.2f}x", f"{r['ci_low']:.2f}-{r['ci_high']:.2f}",
                  "yes" if r["significant"] else "no", "" if r["drop_points"] is None else f"{r['drop_points']:+.2f}"]
                 for r in rows]))
    print(f"wrote {write_results('bench_operators', {'results': str(args.results), 'rows': rows}, args.out)}")


if __name__ == "__main__":
    main()
