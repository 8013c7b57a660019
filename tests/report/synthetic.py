"""A synthetic results.json in the "edgewise-results/1" shape: lognormal latencies with a breakdown."""

from __future__ import annotations

from typing import Any

import numpy as np

SPEED = {"identity": 1.0, "sptq": 0.45, "qat": 0.5, "prune": 0.7, "distill": 0.4, "distill+sptq": 0.25,
         "partition": 1.1, "sptq+partition": 0.6}
TIER_SLOWNESS = {"mobile": 2.0, "edge": 1.0, "cloud": 0.5}
DROP = {"identity": 0.0, "sptq": 0.004, "qat": 0.01, "prune": 0.02, "distill": 0.025, "distill+sptq": 0.03,
        "partition": 0.0, "sptq+partition": 0.004}


def synthetic_results(subjects: list[str], chains: list[str], placements: list[str], samples: int = 40,
                      seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    cells = []
    for si, subject in enumerate(subjects):
        truth = rng.random(200) < 0.9
        for chain in chains:
            for placement in placements:
                split = "-" in placement
                if split != chain.endswith("partition"):
                    continue
                tiers = placement.split("-")
                base = 0.02 * (si + 1) * SPEED[chain] * TIER_SLOWNESS[tiers[-1]]
                compute = base * rng.lognormal(0, 0.15, samples)
                link = 0.002 * rng.lognormal(0, 0.3, samples) * len(tiers)
                pre, enc, dec = (np.full(samples, v) * rng.lognormal(0, 0.1, samples) for v in (0.003, 0.001, 0.0005))
                breakdown = {"client_encode": enc, "link:client-mobile": link / 2, "preprocess:mobile": pre}
                if split:
                    breakdown |= {f"compute:{tiers[0]}": compute * 0.4, f"link:{placement}": link / 2,
                                  f"compute:{tiers[1]}": compute * 0.6}
                else:
                    breakdown |= {f"compute:{tiers[0]}": compute, "link:relay": link / 2}
                breakdown["decode"] = dec
                total = sum(breakdown.values()) + 0.0003
                correct = truth ^ (rng.random(200) < DROP[chain])
                meta: dict[str, Any] = {}
                if "sptq" in chain:
                    meta |= {"quantized_nodes": 42, "fallback_nodes": 3, "fallbacks": ["Softmax", "LayerNorm"]}
                if "prune" in chain:
                    meta |= {"macs_before": 4.1e9, "macs_after": 2.9e9, "params_before": 25e6, "params_after": 17e6}
                if split:
                    meta |= {"cut": "layer3.2", "cut_bytes": 200704,
                             "estimate": {"head_s": 0.01, "transfer_s": 0.008, "tail_s": 0.02, "total_s": 0.038}}
                if chain == "prune":
                    meta["warnings"] = ["no speed-up: pruned channels are not a multiple of 8"]
                cells.append({
                    "cell": f"{subject}:{chain}@{placement}", "subject": subject, "chain": chain,
                    "placement": placement, "status": "ok", "error": None, "task": "image-classification",
                    "metric": "top1", "accuracy": {"top1": float(correct.mean()), "top5": min(1.0, correct.mean() + 0.07)},
                    "correct": correct.astype(int).tolist(), "latency_s": total.tolist(),
                    "warmup_latency_s": (total[:5] * 3).tolist(),
                    "breakdown_s": {k: v.tolist() for k, v in breakdown.items()},
                    "artifact": {"key": f"{si:02d}{len(cells):06x}", "size_bytes": 1_000_000 + len(cells), "parts": 2 if split else 1,
                                 "meta": meta},
                })
    cells.append({"cell": f"{subjects[0]}:qat@mobile-edge", "subject": subjects[0], "chain": "qat",
                  "placement": "mobile-edge", "status": "does-not-fit", "error": "head needs 1.4 GB, mobile has 1 GB",
                  "latency_s": [], "artifact": {}})
    return {
        "format": "edgewise-results/1",
        "study": {"name": "synthetic", "profile": "quick", "seed": seed, "source": "examples/synthetic.yaml",
                  "sla": {"max_latency_ms": 50, "percentile": 95, "max_accuracy_drop": 1.0},
                  "measure": {"inputs": 20, "passes": 3, "warmup_passes": 1, "cold_start": False},
                  "testbed": {"kind": "linux", "preset": "paper-scaled", "modelled": False,
                              "tiers": {"mobile": {"cpus": 0.5, "memory_mb": 1024}, "edge": {"cpus": 1.0, "memory_mb": 2048},
                                        "cloud": {"cpus": 2.0, "memory_mb": 8192}},
                              "links": {"mobile-edge": {"bandwidth_mbit": 200, "delay_ms": 0},
                                        "edge-cloud": {"bandwidth_mbit": 1, "delay_ms": 0}}}},
        "environment": {"edgewise": "0.1.0", "python": "3.11.7", "onnxruntime": "1.32.0", "torch": "2.13.0",
                        "cpu": "synthetic CPU", "kernel": "6.1", "cores": 2},
        "emulation": {"links": [{"link": "mobile-edge", "direction": "up", "requested_mbit": 200, "achieved_mbit": 191.2,
                                 "requested_delay_ms": 0, "achieved_rtt_ms": 0.1}],
                      "tiers": [{"tier": "mobile", "requested_cpus": 0.5, "achieved_cpus": 0.49}],
                      "memory": [{"tier": "mobile", "requested_mb": 1024, "hog_killed": True}], "ok": True},
        "cells": cells,
    }
