"""Run every benchmark (benchmarks/bench_*.py), each in its own process, and collect the tables.

Each benchmark prints a table and writes benchmarks/results/<name>.json. This runner writes
benchmarks/results/summary.md with the date and the machine, which the README quotes.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"


def main(argv: list[str]) -> int:
    only = set(argv)
    RESULTS.mkdir(exist_ok=True)
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not only or p.stem in only or p.stem[6:] in only)
    rows = []
    for script in scripts:
        t0 = time.time()
        print(f"== {script.stem}", flush=True)
        proc = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, text=True, capture_output=True)
        took = time.time() - t0
        print(proc.stdout[-6000:], flush=True)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
        rows.append((script.stem, "ok" if proc.returncode == 0 else f"failed ({proc.returncode})", took, proc.stdout))
    cpu = _cpu()
    lines = [f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {cpu}, {platform.release()}.", ""]
    for name, status, took, out in rows:
        lines += [f"### {name} ({status}, {took:.0f} s)", "", "```", out.strip()[-4000:], "```", ""]
    (RESULTS / "summary.md").write_text("\n".join(lines))
    (RESULTS / "runs.json").write_text(json.dumps([{"bench": r[0], "status": r[1], "seconds": r[2]} for r in rows], indent=1))
    return 0 if all(r[1] == "ok" for r in rows) else 1


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" x{__import__('os').cpu_count()}"
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
