"""SPTQ's candidate search: which int8 variant of a model is fastest at an accepted accuracy.

Which graph (fused by ONNX Runtime's transformer optimizer or not), which format (QDQ or
operator-level), which op types and which calibration run fastest depends on the model and on the
runtime's kernels, so it is measured rather than assumed. The search is a bounded coordinate
descent in a fixed order: start from a first candidate, then change one choice at a time and keep
the change when it is faster than the incumbent (both timed interleaved in one run; a close call is
timed again) and within the accepted accuracy drop on the calibration split. Only when no candidate
is accurate enough are other calibration methods tried. The order and the space are fixed by the
parameters (they are in the artifact's key); the timings are not.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np

from edgewise.sla import within
from edgewise.tiers.session_latency import interleaved_times

# A challenger must beat the incumbent by this fraction: timings on a shared CPU wobble, and a
# change that is not clearly faster should not flip the choice from one build to the next.
MARGIN = 0.03
# A challenger that lands between 2 x MARGIN faster and even is a close call: one timing of 30 runs
# put a variant 4 % faster on either side of the margin from one build to the next. Its timing is
# repeated over twice the runs, and all of the samples decide, at CONFIRMED_MARGIN: three times the
# runs leave the medians' noise about 1/sqrt(3) of what the margin was set for.
CLOSE_CALL = (1.0 - 2 * MARGIN, 1.0)
CONFIRMED_MARGIN = MARGIN / 2
CALIBRATIONS = ("minmax", "entropy", "percentile")


@dataclass(frozen=True)
class Candidate:
    """One way to quantize a model."""

    graph: Literal["plain", "fused"]  # fused: ORT's transformer optimizer ran first
    format: Literal["qdq", "qoperator"]
    op_types: tuple[str, ...] | None  # None: every op type the quantizer supports
    weights_only_matmul: bool  # quantize only MatMuls with a constant B (not attention's activations)
    per_channel: bool
    requantize: bool  # QDQ: quantize the outputs of quantized ops too
    calibration: str
    exclude: tuple[str, ...] = ()  # nodes left in float (node-level control, or the user's)
    only: tuple[str, ...] = ()  # when given, quantize these nodes and no other (a sensitivity probe)

    def label(self) -> str:
        ops = "all" if self.op_types is None else "+".join(self.op_types)
        return (f"{self.graph}/{self.format}/{ops}{'/const-b' if self.weights_only_matmul else ''}/"
                f"{'per-channel' if self.per_channel else 'per-tensor'}/"
                f"{'requant' if self.requantize else 'float-out'}/{self.calibration}"
                + (f"/{len(self.exclude)}-float" if self.exclude else "")
                + (f"/only:{','.join(self.only)}" if self.only else ""))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["op_types"] = list(self.op_types) if self.op_types is not None else "all"
        data["exclude"], data["only"] = list(self.exclude), list(self.only)
        return data


@dataclass
class Outcome:
    """What a candidate measured: latency against the incumbent of its round, and accuracy."""

    candidate: Candidate
    path: Path | None = None
    latency_s: float | None = None
    incumbent_s: float | None = None  # the incumbent's latency in the same interleaved run
    drop_points: float | None = None
    accepted: bool = False  # within the accuracy drop
    error: str | None = None
    verdict: str = ""
    timed_runs: int = 0  # runs per session its latency is the median of
    retimed: bool = False  # a close call, timed again
    build_s: float = 0.0
    session: Any = field(default=None, repr=False)

    def record(self) -> dict[str, Any]:
        ms = None if self.latency_s is None else round(self.latency_s * 1e3, 4)
        return {"label": self.candidate.label(), "params": self.candidate.as_dict(), "latency_ms": ms,
                "incumbent_ms": None if self.incumbent_s is None else round(self.incumbent_s * 1e3, 4),
                "drop_points": None if self.drop_points is None else round(self.drop_points, 3),
                "accepted": self.accepted, "error": self.error, "verdict": self.verdict, "timed_runs": self.timed_runs,
                "build_s": round(self.build_s, 2)}


@dataclass(frozen=True)
class Space:
    """The first candidate and, in search order, the alternatives of each choice."""

    first: Candidate
    steps: tuple[tuple[str, tuple[dict[str, Any], ...]], ...]
    calibrations: tuple[str, ...]  # tried on the best candidate only when none is accurate enough

    def describe(self) -> dict[str, Any]:
        return {"first": self.first.as_dict(), "steps": [[name, [_plain(a) for a in alts]] for name, alts in self.steps],
                "calibrations": list(self.calibrations), "margin": MARGIN, "close_call": list(CLOSE_CALL),
                "confirmed_margin": CONFIRMED_MARGIN}


def _plain(alt: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in alt.items()}


TRANSFORMER_OPS = ("MatMul", "Gemm")
CNN_KERNEL_OPS = ("Conv", "Gemm", "MatMul")


def candidate_space(is_transformer: bool, *, calibration: str | None, per_channel: bool | None,
                    op_types: list[str] | None, requantize: bool | None, quant_format: str | None,
                    fuse: bool | None, search: bool, exclude: list[str] | None = None) -> Space:
    """The candidates a model allows; a parameter the user fixed is not searched. `exclude`: nodes every
    candidate leaves in float."""
    if is_transformer:
        # Weights-only MatMuls with float outputs: quantizing attention's activation MatMuls, the
        # adds or the outputs turns the attention mask's large negatives into garbage.
        first = Candidate("plain" if fuse is not True else "fused", quant_format or "qdq",
                          tuple(op_types) if op_types else ("MatMul",), op_types is None,
                          bool(per_channel) if per_channel is not None else False,
                          bool(requantize), calibration or "minmax")
        steps: list[tuple[str, tuple[dict[str, Any], ...]]] = [
            ("format", ({"format": "qoperator"},)),
            ("graph", ({"graph": "fused"},)),
            ("op_types", ({"op_types": TRANSFORMER_OPS, "weights_only_matmul": False},)),
            ("per_channel", ({"per_channel": True},)),
        ]
    else:
        # CNNs: every op quantized and outputs requantized, so that quantized ops feed each other.
        first = Candidate("plain", quant_format or "qdq", tuple(op_types) if op_types else None, False,
                          True if per_channel is None else per_channel, True if requantize is None else requantize,
                          calibration or "minmax")
        steps = [
            ("format", ({"format": "qoperator"},)),
            ("per_channel", ({"per_channel": False},)),
            ("op_types", ({"op_types": CNN_KERNEL_OPS},)),
            ("requantize", ({"requantize": False},)),
        ]
    fixed = {"format": quant_format is not None, "graph": fuse is not None or not is_transformer,
             "op_types": op_types is not None, "per_channel": per_channel is not None, "requantize": requantize is not None}
    steps = [s for s in steps if not fixed[s[0]]] if search else []
    calibrations = tuple(c for c in CALIBRATIONS if c != first.calibration) if search and calibration is None else ()
    return Space(replace(first, exclude=tuple(sorted(exclude or ()))), tuple(steps), calibrations)


# --- measuring ---------------------------------------------------------------------------------

@dataclass
class Judge:
    """Builds candidates, times them against the incumbent and scores them on the calibration split."""

    build: Callable[[Candidate, Path], None]  # writes the quantized model of a candidate to a path
    session: Callable[[Path], Any]
    score: Callable[[Any], float]  # a session's metric (fraction) on the calibration split
    feeds: list[dict[str, np.ndarray]]
    runs: int
    reference_metric: float
    max_drop_points: float
    workdir: Path
    confirm_close_calls: bool  # time a challenger again when it lands in CLOSE_CALL (Int8Params says when)
    reference_outputs: list[np.ndarray] = field(default_factory=list)  # fp32's first output on each feed

    def output_error(self, candidate: Candidate, index: int) -> tuple[float, float]:
        """The candidate's relative L2 error of the first output against fp32's on the feeds, and the share of
        feeds whose top class differs (a sensitivity probe: the model is built, run and deleted)."""
        path = self.workdir / f"probe-{index}.onnx"
        try:
            self.build(candidate, path)
            session = self.session(path)
            names = [i.name for i in session.get_inputs()]
            errors, differ = [], []
            for feed, reference in zip(self.feeds, self.reference_outputs):
                out = session.run(None, {n: feed[n] for n in names})[0]
                errors.append(float(np.linalg.norm(out - reference) / max(float(np.linalg.norm(reference)), 1e-12)))
                differ.append(bool(np.any(out.argmax(-1) != reference.argmax(-1))))
            return float(np.mean(errors)), float(np.mean(differ))
        finally:
            path.unlink(missing_ok=True)

    def try_candidate(self, candidate: Candidate, incumbent: Outcome | None, index: int) -> Outcome:
        out = Outcome(candidate, self.workdir / f"candidate-{index}.onnx")
        t0 = time.perf_counter()
        try:
            self.build(candidate, out.path)
            out.session = self.session(out.path)
            metric = self.score(out.session)
            sessions = [out.session] + ([incumbent.session] if incumbent is not None else [])
            times = self.timed(sessions)
        except Exception as exc:  # noqa: BLE001 - a candidate the quantizer or runtime cannot take is skipped
            out.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            out.session = None
            out.build_s = time.perf_counter() - t0
            return out
        out.latency_s = float(np.median(times[0]))
        out.incumbent_s = float(np.median(times[1])) if len(times) > 1 else None
        out.timed_runs = len(times[0])
        out.retimed = out.timed_runs > self.runs
        out.drop_points = 100.0 * (self.reference_metric - metric)
        out.accepted = within(out.drop_points, self.max_drop_points)
        out.build_s = time.perf_counter() - t0
        return out

    def timed(self, sessions: list) -> list[list[float]]:
        """Each session's run times, a challenger and its incumbent taking turns; a close call twice."""
        times = interleaved_times(sessions, self.feeds, self.runs)
        if self.confirm_close_calls and len(times) == 2 and close_call(float(np.median(times[0])),
                                                                       float(np.median(times[1]))):
            again = interleaved_times(sessions, self.feeds, 2 * self.runs)
            times = [first + second for first, second in zip(times, again)]
        return times


def close_call(challenger_s: float, incumbent_s: float) -> bool:
    low, high = CLOSE_CALL
    return low <= challenger_s / incumbent_s <= high


def better(challenger: Outcome, incumbent: Outcome) -> tuple[bool, str]:
    """Whether the challenger replaces the incumbent, and why (or why not)."""
    if challenger.error is not None:
        return False, "failed"
    if not challenger.accepted and incumbent.accepted:
        return False, f"drops {challenger.drop_points:.2f} points, more than accepted"
    if challenger.accepted and not incumbent.accepted:
        return True, "within the accepted drop where the incumbent was not"
    if not challenger.accepted:  # neither is accurate enough: the more accurate one leads
        won = (challenger.drop_points or 0.0) < (incumbent.drop_points or 0.0)
        return won, "more accurate (neither within the accepted drop)" if won else "less accurate"
    ratio = challenger.latency_s / challenger.incumbent_s  # type: ignore[operator]
    margin = CONFIRMED_MARGIN if challenger.retimed else MARGIN
    timed = f", a close call timed over {challenger.timed_runs} runs" if challenger.retimed else ""
    if ratio < 1.0 - margin:
        return True, f"{1 / ratio:.3f}x faster than the incumbent{timed}"
    return False, f"not faster by {margin:.1%} ({ratio:.3f}x the incumbent's time{timed})"


def search(space: Space, judge: Judge, log: Callable[[str], None]) -> tuple[Outcome, list[Outcome]]:
    """Coordinate descent over the space; returns the winner and every outcome in order."""
    outcomes: list[Outcome] = []

    def attempt(candidate: Candidate, incumbent: Outcome | None) -> Outcome:
        outcome = judge.try_candidate(candidate, incumbent, len(outcomes))
        outcomes.append(outcome)
        return outcome

    best = attempt(space.first, None)
    best.verdict = "first candidate" if best.error is None else "failed"
    seen = {space.first}
    for _, alternatives in space.steps:
        for alt in alternatives:
            candidate = replace(best.candidate, **alt)
            if candidate in seen:
                continue
            seen.add(candidate)
            if best.error is not None:  # no incumbent yet: the first candidate that works becomes it
                challenger = attempt(candidate, None)
                won, why = challenger.error is None, "first candidate that builds"
            else:
                challenger = attempt(candidate, best)
                won, why = better(challenger, best)
            challenger.verdict = ("kept: " if won else "rejected: ") + why
            log(f"sptq candidate {challenger.candidate.label()}: {challenger.verdict}")
            if won:
                best = challenger
    if best.error is None and not best.accepted:
        for method in space.calibrations:
            challenger = attempt(replace(best.candidate, calibration=method), best)
            won, why = better(challenger, best)
            challenger.verdict = ("kept: " if won else "rejected: ") + why
            if won:
                best = challenger
            if best.accepted:
                break
    return best, outcomes


def why_it_won(best: Outcome, outcomes: list[Outcome], max_drop_points: float) -> str:
    if best.error is not None:
        return "no candidate could be built"
    tried = len(outcomes)
    if not best.accepted:
        return (f"no candidate of {tried} stayed within {max_drop_points:g} points on the calibration split; "
                f"this one dropped least ({best.drop_points:.2f} points)")
    rivals = [o for o in outcomes if o is not best and o.accepted and o.latency_s is not None]
    return (f"fastest of {len(rivals) + 1} accepted candidates ({tried} tried) within {max_drop_points:g} points "
            f"on the calibration split (drop {best.drop_points:.2f} points); a change had to be "
            f"{MARGIN:.0%} faster than the incumbent, timed interleaved ({CONFIRMED_MARGIN:.1%} when a close call "
            "was timed again)")
