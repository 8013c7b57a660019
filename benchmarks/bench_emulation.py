"""Emulation fidelity: requested against achieved bandwidth, RTT and CPU share, from the testbed's own verification.

For each preset ("realistic": 100 Mbit/s 5 ms and 50 Mbit/s 25 ms; "paper-scaled": 200 Mbit/s and
1 Mbit/s) the linux testbed is started and verified afresh in each run; per figure the median and
min/max over the runs, and whether the median is inside the acceptance band (bandwidth ±7%, RTT
±2 ms, CPU ±10%).

Beside the verification's CPU figure (t_unlimited / t_limited of a fixed single-threaded loop) a
second measure is taken: the CPU time a spinning single-threaded process inside the tier's cgroup
receives per wall second, next to what the same spinner receives unlimited at that moment (what
the host can give one thread under its current load).

Usage: python benchmarks/bench_emulation.py [--quick] [--runs N] [--presets realistic,paper-scaled]
Needs root (namespaces, tc, cgroups); without it, says so and exits 0.
Writes benchmarks/results/bench_emulation.json.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from typing import Callable

from common import parse_args, spread, table, write_results

BANDS = {"bandwidth": ("rel", 0.07), "rtt": ("abs", 2.0), "cpu": ("rel", 0.10), "cpu_spin": ("rel", 0.10)}
# A single-threaded spinner: prints the CPU seconds it received and the wall seconds it ran.
SPIN = ("import sys, time\n"
        "w0, c0, n = time.perf_counter(), time.process_time(), 0\n"
        "while time.perf_counter() - w0 < float(sys.argv[1]):\n"
        "    n += 1\n"
        "print(time.process_time() - c0, time.perf_counter() - w0)")


def spin_share(seconds: float, preexec: Callable[[], None] | None = None) -> float:
    out = subprocess.run([sys.executable, "-c", SPIN, str(seconds)], capture_output=True, text=True,
                         preexec_fn=preexec, check=True).stdout.split()
    return float(out[0]) / float(out[1])


def one_run(preset: str, quick: bool, spin_s: float) -> dict[str, dict]:
    """Start, verify and stop one linux testbed; returns {figure name: {requested, achieved, unit}}."""
    from edgewise.config import TestbedConfig
    from edgewise.testbeds import make_testbed

    config = TestbedConfig(kind="linux", preset=preset)
    tiers = config.tier_specs()
    figures = {}
    with make_testbed(config) as testbed:
        testbed.start(tiers, config.link_specs())
        report = testbed.verify(quick=quick)
        for f in report.figures:
            figures[f.name] = {"requested": f.requested, "achieved": f.achieved, "unit": f.unit}
        for name, spec in tiers.items():
            host = spin_share(spin_s)
            inside = spin_share(spin_s, preexec=testbed.groups[name].join)
            figures[f"cpu_spin:{name}"] = {"requested": min(spec.cpus, 1.0), "achieved": inside, "unit": "cores",
                                           "host_share": host}
    return figures


def summarise(runs: list[dict[str, dict]]) -> list[dict]:
    by_name: dict[str, list[dict]] = defaultdict(list)
    for run in runs:
        for name, fig in run.items():
            by_name[name].append(fig)
    rows = []
    for name, figs in by_name.items():
        achieved = [f["achieved"] for f in figs if f["achieved"] is not None]
        if not achieved:
            continue
        requested = figs[0]["requested"]
        row = {"name": name, "requested": requested, "unit": figs[0]["unit"], "achieved": spread(achieved)}
        if "host_share" in figs[0]:
            row["host_share"] = spread([f["host_share"] for f in figs])
        kind = name.split(":")[0]
        if kind in BANDS and requested:
            mode, bound = BANDS[kind]
            err = row["achieved"]["median"] - requested
            row["error"] = err / requested if mode == "rel" else err
            row["band"] = f"±{bound:.0%}" if mode == "rel" else f"±{bound:g} {row['unit']}"
            row["inside"] = abs(row["error"]) <= bound
        rows.append(row)
    return rows


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: (
        p.add_argument("--runs", type=int), p.add_argument("--presets", default="realistic,paper-scaled")))
    if os.geteuid() != 0:
        print("bench_emulation: the linux testbed needs root; nothing measured")
        print(f"wrote {write_results('bench_emulation', {'skipped': 'needs root'}, args.out)}")
        return
    presets = args.presets.split(",")[:1] if args.quick else args.presets.split(",")
    runs = args.runs or (1 if args.quick else 5)
    spin_s = 0.3 if args.quick else 1.0
    result: dict = {"quick": args.quick, "runs": runs, "presets": {}}
    for preset in presets:
        rows = summarise([one_run(preset, args.quick, spin_s) for _ in range(runs)])
        result["presets"][preset] = rows
        print(f"\n{preset}: {runs} run(s), median (min-max) of each verified figure")
        print(table(["figure", "requested", "achieved", "min-max", "error", "band", "inside"],
                    [[r["name"], "-" if r["requested"] is None else f"{r['requested']:.4g} {r['unit']}",
                      f"{r['achieved']['median']:.4g}",
                      f"{r['achieved']['min']:.4g}-{r['achieved']['max']:.4g}"
                      + (f" (host {r['host_share']['median']:.2f})" if "host_share" in r else ""),
                      _error(r), r.get("band", ""), {True: "yes", False: "NO"}.get(r.get("inside"), "")]
                     for r in rows]))
    print(f"wrote {write_results('bench_emulation', result, args.out)}")


def _error(row: dict) -> str:
    if "error" not in row:
        return ""
    return f"{row['error']:+.1%}" if row["band"].endswith("%") else f"{row['error']:+.2f}"


if __name__ == "__main__":
    main()
