"""Helpers shared by the benchmarks: interleaved rounds, medians with their spread, tables, JSON output.

The machine the benchmarks run on is noisy, so every figure is taken side by side: each round
runs every variant once, in an order that rotates from round to round, and a figure is the
median of the per-round medians, with the min and max of those medians as its spread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The arguments every benchmark takes (--quick, --out) plus its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (fewer rounds, smaller sizes)")
    parser.add_argument("--out", type=Path, help="where to write the JSON (default benchmarks/results/<script>.json)")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def interleaved(variants: dict[str, Callable[[], float]], rounds: int, repeats: int) -> dict[str, list[float]]:
    """Per-round medians of `repeats` calls of each variant (each call returns seconds), order rotated per round."""
    names = list(variants)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            out[name].append(statistics.median(variants[name]() for _ in range(repeats)))
    return out


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of per-round figures."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": len(values)}


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table (numbers formatted by the caller)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_study(study: Path, out: Path, *options: str) -> float:
    """`edgewise run STUDY --out OUT --fresh OPTIONS` from the repository root; its wall time in seconds."""
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "edgewise.cli", "run", str(study), "--out", str(out), "--fresh", *options],
                   cwd=ROOT, check=True)
    return time.time() - t0


def cpu_name() -> str:
    """The CPU's model name, its int8 extensions and the core count: a figure is quoted with them."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    extras = [f for f in ("avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    return f"{name} ({', '.join(extras) or 'no VNNI/AMX'}), {os.cpu_count()} cores"


def write_results(script: str, data: dict[str, Any], out: Path | None = None) -> Path:
    path = out or RESULTS / f"{script}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=_jsonable))
    return path


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
