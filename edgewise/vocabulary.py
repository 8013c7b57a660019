"""The words edgewise branches on, each spelled once: tasks, model families, profiles, cell
statuses, tiers and artifact capabilities.

They are plain strings because they travel as such (study files, results.json, the store, cache
keys); naming them here keeps a misspelt comparison from silently taking the other branch.
"""

from __future__ import annotations

from typing import Literal

# --- tasks a subject solves: decide its metrics, its data and its Hugging Face head -------------
IMAGE_CLASSIFICATION = "image-classification"
TEXT_CLASSIFICATION = "text-classification"
Task = Literal["image-classification", "text-classification"]
TASKS: tuple[str, ...] = (IMAGE_CLASSIFICATION, TEXT_CLASSIFICATION)

# --- model families: decide the transformer-specific operator paths and training schedules -------
CNN = "cnn"
TRANSFORMER = "transformer"
FAMILIES: tuple[str, ...] = (CNN, TRANSFORMER)

# --- profiles: quick trims measurement and training; paper is the reference protocol -------------
QUICK = "quick"
PAPER = "paper"
PROFILES: tuple[str, ...] = (QUICK, PAPER)


def normalise_profile(profile: str | None) -> str:
    """The profile that training schedules and subjects follow.

    None means no profile was laid over the study file: it runs as written, which is the reference
    protocol, so it trains on the paper schedules. Any value other than paper gets the shortened
    quick schedules (a study refuses unknown profiles before anything trains: config.apply_profile).
    """
    if profile is None:
        return PAPER
    return PAPER if profile == PAPER else QUICK


# --- cell statuses --------------------------------------------------------------------------------
# A cell's progress in the store ...
PLANNED = "planned"
BUILT = "built"
MEASURED = "measured"
TIER_DOWN = "tier-down"  # a real host was down: the cell waits for a later run
# ... and its outcome in results.json (FAILED and DOES_NOT_FIT are also recorded in the store).
OK = "ok"
FAILED = "failed"
DOES_NOT_FIT = "does-not-fit"
CellStatus = Literal["ok", "does-not-fit", "failed"]
CELL_STATUSES: tuple[str, ...] = (OK, DOES_NOT_FIT, FAILED)
UNMEASURABLE = frozenset({FAILED, DOES_NOT_FIT})  # store statuses whose cells the latency stage skips

# --- tiers, in the order a request travels them from the client ---------------------------------
MOBILE = "mobile"
EDGE = "edge"
CLOUD = "cloud"
TIER_ORDER: tuple[str, ...] = (MOBILE, EDGE, CLOUD)

# --- artifact capabilities: what an operator requires of its input and offers in its output -------
TORCH = "torch"  # a trainable PyTorch model travels with the artifact
ONNX = "onnx"  # an unpartitioned ONNX model
FLOAT = "float"  # floating-point weights (absent once quantised to int8)
SPLIT = "split"  # two parts, head and tail

# A log line that reports a failure starts with this mark (the terminal shows it red); log lines are plain
# text otherwise: the names a user wrote (prune[ratio=0.3]) reach the terminal as written.
FAILED_MARK = "✗"

# How requests arrive (measure.scenario): one after another, or Poisson arrivals searched up to the
# largest rate the SLA holds at.
SINGLE_STREAM, SERVER = "single-stream", "server"
