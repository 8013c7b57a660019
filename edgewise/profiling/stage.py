"""The study's profile stage: every built artifact's operator profile and serving memory, stored.

Once per artifact and thread counts of its tiers (identity on three one-thread tiers is profiled
once), in process on the host, model only, on the subject's latency inputs after preprocessing; the
memory in fresh processes. A profile that fails records its reason and fails nothing else: the cell
is measured as before, only without a profile. Both are ONNX Runtime's: cells another runtime serves
(OpenVINO, ExecuTorch) get neither until that runtime offers its own counters.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from edgewise.profiling.memory import serving_memory
from edgewise.profiling.ort import OperatorProfile, profile_onnx

PROFILE_RUNS = 10  # timed runs (after two warm-up runs), cycling through the inputs
PROFILE_INPUTS = 5  # latency inputs each profile and memory probe serves
STORED_NODES = 25  # costliest nodes kept per part; the time by op type keeps every node's share


def profiled(runtime: str) -> bool:
    """Whether a cell served by `runtime` (its text in the cell's name, "" for the default) is profiled here."""
    from edgewise.runtimes.choice import RuntimeChoice

    return RuntimeChoice.parse(runtime).name == "onnxruntime"


def part_threads(parts: int, placement_tiers: Iterable[str], tiers: dict[str, Any]) -> tuple[int, ...]:
    """The intra-op thread count each part runs on: the tiers of its placement, head first."""
    names = list(placement_tiers)[:parts]
    return tuple(tiers[name].intra_op_threads if name in tiers else 1 for name in names)


def profile_artifacts(store, built: list, subject_of: Callable[[str], Any], tiers: dict[str, Any],
                      log: Callable[[str], None], on_done: Callable[[], None] | None = None) -> None:
    """Profile every built artifact not profiled yet on its tiers' thread counts (`built`: the study's
    Built records; `subject_of(name)`: its subjects)."""
    for b in built:
        if b.artifact is not None and profiled(getattr(b.cell, "runtime", "")):
            threads = part_threads(len(b.artifact.parts), b.cell.placement.tiers, tiers)
            if store.profile(b.artifact.key, threads) is None:
                _profile_one(store, b, subject_of(b.cell.subject), threads, log)
        if on_done is not None:
            on_done()


def _profile_one(store, b, subject, threads: tuple[int, ...], log: Callable[[str], None]) -> None:
    from edgewise.data.preprocess import build_preprocessor

    art = b.artifact
    errors, profile, memory = [], None, None
    try:
        payloads = subject.latency_inputs(PROFILE_INPUTS)
        spec = subject.preprocessing()
        preprocess = build_preprocessor(spec)
        profile = profile_onnx(art.parts, [preprocess(p) for p in payloads], threads, PROFILE_RUNS)
        profile = profile.trimmed(STORED_NODES).to_dict()
        memory = serving_memory(art.parts, payloads, spec, threads).to_dict()
    except Exception as exc:  # noqa: BLE001 - a profile that fails leaves its cell to be measured without one
        errors.append(f"{'memory' if profile is not None else 'profile'}: {type(exc).__name__}: {exc}")
    store.add_profile(art.key, threads, profile, memory, "; ".join(errors) or None)
    if errors:
        log(f"[yellow]profile of {b.cell.name}: {'; '.join(errors)}[/yellow]")
    elif profile is not None and memory is not None:
        top = next(iter(OperatorProfile.from_dict(profile).by_type().items()), ("-", 0.0))
        peak = max(p["peak_rss_mb"] for p in memory["parts"])
        log(f"profiled {b.cell.name}: {sum(p['run_ms'] for p in profile['parts']):.2f} ms a run on the host "
            f"({top[0]} {top[1]:.2f} ms), peak memory {peak:.0f} MB")
