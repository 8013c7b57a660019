"""Verification of an emulation: achieved bandwidth and RTT per link, CPU share and memory cap per tier.

Bandwidth is application goodput compared against the requested rate (tbf counts Ethernet/IP/TCP
headers, so goodput sits ~3-6% under the rate; the bound absorbs it rather than hiding it).
RTT is a user-space echo over the same connections and delayer as requests; the requested RTT is
both one-way delays (an echo fits in tbf's one-packet bucket, so it pays no serialisation when the
bucket is full, up to ~2.4 ms at 1 Mbit/s when not); its bound is ±2 ms.
CPU: a spinning thread in the tier's cgroup reports the CPU seconds it receives per wall second
(`cpu:TIER`, expected min(cpus, 1)): the quota itself, and the figure a study stops on. Beside it,
`cpu_scaling:TIER` runs a fixed single-threaded ONNX loop inside the cgroup and unlimited (achieved
share = t_unlimited / t_limited): what a model really gets. It is recorded, not gated: on this kind of
VM the ONNX loop under a 0.5 quota took 2.1-4.2x its unlimited time from run to run while the spinner
received 0.50 +- 0.003 CPU s/s, so the quota holds and the extra loss is the host's (descheduled
vCPU, cold caches after each throttle) — exactly what tier latency then measures.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Callable

from edgewise.testbeds.base import EmulationReport, Figure
from edgewise.tiers.client import TierClient
from edgewise.tiers.spec import LinkSpec, TierSpec

RTT_BOUND_MS = 2.0
# Runs `python -m edgewise.testbeds.workloads ARGS` for a tier (None: unlimited); returns (exit code, stdout).
WorkloadRunner = Callable[[str | None, list[str]], tuple[int, str]]


def transfer_bytes(link: LinkSpec, quick: bool) -> int:
    """1 MB, or what the slower direction carries in ~2 s (0.5 s when quick) when that is less."""
    slowest = min(link.rate_mbit(link.a), link.rate_mbit(link.b))
    seconds = 0.5 if quick else 2.0
    return int(min(1_000_000 if not quick else 400_000, slowest * 1e6 / 8 * seconds))


def verify_links(client: TierClient, links: list[LinkSpec], report: EmulationReport, quick: bool,
                 measure_rate: bool = True) -> None:
    for link in links:
        nbytes = transfer_bytes(link, quick) if measure_rate else 0
        figures = client.probe(link.a, link.b, nbytes, count=5 if quick else 15)
        rtt = link.delay(link.a) + link.delay(link.b)
        report.add(Figure(f"rtt:{link.name}", rtt, figures["rtt_ms"], "ms", tolerance_abs=RTT_BOUND_MS,
                          note=f"min {figures['rtt_min_ms']:.2f} max {figures['rtt_max_ms']:.2f}"))
        if measure_rate:
            report.add(Figure(f"bandwidth:{link.name}:up", link.rate_mbit(link.a), figures["up_mbit"], "Mbit/s",
                              note=f"goodput of {nbytes} bytes"))
            report.add(Figure(f"bandwidth:{link.name}:down", link.rate_mbit(link.b), figures["down_mbit"], "Mbit/s",
                              note=f"goodput of {nbytes} bytes"))


def python_workload(args: list[str], preexec: Callable[[], None] | None = None,
                    prefix: tuple[str, ...] = ()) -> tuple[int, str]:
    proc = subprocess.run([*prefix, sys.executable, "-m", "edgewise.testbeds.workloads", *args], capture_output=True,
                          text=True, preexec_fn=preexec, timeout=300)
    return proc.returncode, proc.stdout.strip()


def verify_cpu(run: WorkloadRunner, tiers: dict[str, TierSpec], report: EmulationReport, quick: bool) -> None:
    target = 0.25 if quick else 1.0
    code, out = run(None, ["cpu", "--target-s", str(target)])
    if code != 0:
        report.notes.append(f"CPU probe failed unlimited: {out}")
        return
    iterations = int(out.split()[0])
    baseline = min(float(out.split()[1]), _seconds(run(None, ["cpu", "--iterations", str(iterations)])))
    spin_s = "0.5" if quick else "1.0"
    for name, spec in tiers.items():
        limited = _seconds(run(name, ["cpu", "--iterations", str(iterations)]))
        share = baseline / limited if limited else None
        report.add(Figure(f"cpu_scaling:{name}", min(spec.cpus, 1.0), share, "cores", gates=False,
                          note=f"single-threaded ONNX probe: {baseline:.3f} s unlimited, {limited:.3f} s in the tier"))
        code, out = run(name, ["spin", "--seconds", spin_s])
        received = float(out.split()[0]) if code == 0 and out else None
        report.add(Figure(f"cpu:{name}", min(spec.cpus, 1.0), received, "cores",
                          note="CPU seconds per wall second a spinning thread received inside the tier's cgroup"))


def _seconds(result: tuple[int, str]) -> float:
    code, out = result
    return float(out.split()[1]) if code == 0 and out else float("nan")


def verify_memory(run: WorkloadRunner, tiers: dict[str, TierSpec], kernel_limits: dict[str, float],
                  report: EmulationReport, available_mb: float) -> None:
    """The kernel's cap per tier; a hog over the cap must be killed (only where filling it is safe)."""
    for name, spec in tiers.items():
        limit = kernel_limits.get(name)
        fig = Figure(f"memory:{name}", float(spec.memory_mb), limit, "MiB")
        if spec.memory_mb <= min(2048, available_mb / 4):
            code, out = run(name, ["hog", "--mb", str(spec.memory_mb + 64)])
            killed = code == -9
            fig.note = "hog over the cap was killed" if killed else f"hog over the cap was NOT killed ({out})"
            if not killed:
                fig.achieved = float("inf")
        else:
            fig.note = "cap read back from the kernel; too large to fill safely here"
        report.add(fig)


def available_memory_mb() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
