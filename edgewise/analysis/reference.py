"""Importer of the reference study's published CSVs (arXiv 2411.00907 white-box, 2403.17154 black-box).

The files are read unchanged: latencies are quoted strings ending in a newline, accuracies are
percents (converted to fractions here). The reference study had no per-sample correctness.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Literal

import numpy as np

from edgewise.analysis.results import CellResult, ResultSet
from edgewise.errors import DataError
from edgewise.vocabulary import CLOUD, IMAGE_CLASSIFICATION, PAPER, TEXT_CLASSIFICATION

Flavour = Literal["whitebox", "blackbox"]

# Operator words of the reference "Model" column, per file, mapped to edgewise chains.
_WHITEBOX_CHAINS = {"": "identity", "SPTQ": "sptq", "QAT": "qat", "Pruned": "prune",
                    "Distilled": "distill", "Distilled SPTQ": "distill+sptq"}
_BLACKBOX_CHAINS = {"": "identity", "Quantize": "sptq", "EarlyExit": "early-exit",
                    "Quantize EarlyExit": "sptq+early-exit", "Partition": "partition",
                    "Quantize EarlyExit Partition": "sptq+early-exit+partition"}
# Operator column of the white-box accuracy file, keyed by chain (partition keeps accuracy).
_WHITEBOX_ACCURACY_OPERATOR = {"identity": "Identity", "sptq": "SPTQ", "qat": "QAT", "prune": "Pruned",
                               "distill": "Distilled", "distill+sptq": "DSPTQ",
                               "partition": "Identity", "sptq+partition": "SPTQ"}
_PRIMARY_METRIC = {"top1": IMAGE_CLASSIFICATION, "f1": TEXT_CLASSIFICATION, "miou": "semantic-segmentation"}
_METRIC_ORDER = ("top1", "f1", "miou", "top5")


def detect_flavour(path: Path, first_models: list[str]) -> Flavour:
    """White-box or black-box, from the file name, else from the operator words it uses."""
    name = path.name.lower()
    if "whitebox" in name or "2411.00907" in name:
        return "whitebox"
    if "blackbox" in name or "2403.17154" in name:
        return "blackbox"
    if any(w in m for m in first_models for w in ("Quantize", "EarlyExit", "Partition")):
        return "blackbox"
    return "whitebox"


def _split_model(model: str) -> tuple[str, str]:
    subject, _, operator = model.strip().partition(" ")
    return subject, operator.strip()


def _chain_for(flavour: Flavour, operator: str, device: str) -> str:
    table = _WHITEBOX_CHAINS if flavour == "whitebox" else _BLACKBOX_CHAINS
    if operator not in table:
        raise DataError(f"unknown operator {operator!r} in the {flavour} reference file",
                        f"known: {', '.join(repr(k) for k in table)}")
    chain = table[operator]
    # White-box rows name a partition only by running on two tiers.
    if flavour == "whitebox" and "-" in device:
        chain = "partition" if chain == "identity" else f"{chain}+partition"
    return chain


def _read_latencies(path: Path) -> dict[tuple[str, str], list[float]]:
    """(Model, Device) -> latencies in file order."""
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["Inference", "Device", "Model"]:
            raise DataError(f"{path} does not look like a reference latency CSV",
                            "expected the columns Inference,Device,Model")
        for row in reader:
            groups[(row[2], row[1])].append(float(row[0]))  # float() strips the trailing newline
    return groups


def _percent(text: str) -> float | None:
    text = text.strip()
    return round(float(text) / 100.0, 10) if text else None


def _whitebox_accuracy(path: Path) -> dict[tuple[str, str, str], dict[str, float]]:
    """(subject, operator, column 'cpu'|'gpu') -> {metric: fraction}."""
    table: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            for column, hardware in (("mobile_edge", "cpu"), ("cloud", "gpu")):
                value = _percent(row[column])
                if value is not None:
                    table[(row["model"].lower(), row["operator"], hardware)][row["metric"]] = value
    return table


def _blackbox_accuracy(path: Path) -> dict[str, dict[str, float]]:
    """Model column as written -> {metric: fraction}."""
    table: dict[str, dict[str, float]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            table[row["Model"].strip()] = {m: v for m in ("top1", "top5", "miou")
                                           if (v := _percent(row.get(m, ""))) is not None}
    return table


def _primary(accuracy: dict[str, float]) -> str | None:
    return next((m for m in _METRIC_ORDER if m in accuracy), None)


def accuracy_path_for(latency_path: Path) -> Path:
    return latency_path.with_name(latency_path.name.replace("-latency", "-accuracy"))


def load_reference(path: Path) -> ResultSet:
    """Cells of one published latency CSV, with accuracy from the matching *-accuracy.csv beside it."""
    groups = _read_latencies(path)
    flavour = detect_flavour(path, [m for m, _ in list(groups)[:50]])
    acc_path = accuracy_path_for(path)
    notes = ["accuracy values were percents in the source and are stored as fractions",
             "the reference study had no per-sample correctness (correct = null)",
             "each latency includes creating an ONNX Runtime session (cold start per request)"]
    wb_acc = _whitebox_accuracy(acc_path) if flavour == "whitebox" and acc_path.exists() else None
    bb_acc = _blackbox_accuracy(acc_path) if flavour == "blackbox" and acc_path.exists() else None
    if not acc_path.exists():
        notes.append(f"no accuracy file {acc_path.name} beside the latencies: accuracy unknown")
    if flavour == "whitebox":
        notes.append("the reference cloud tier ran on a GPU: cloud cells carry its accuracy, the other cells "
                     "the CPU accuracy; both are kept under artifact.meta.reference_accuracy")

    cells = []
    for (model, device), latencies in groups.items():
        subject_name, operator = _split_model(model)
        subject, placement = subject_name.lower(), device.strip().lower()
        chain = _chain_for(flavour, operator, placement)
        meta: dict = {"reference_model": model, "reference_device": device}
        accuracy: dict[str, float] = {}
        if wb_acc is not None:
            op = _WHITEBOX_ACCURACY_OPERATOR.get(chain)
            cpu, gpu = wb_acc.get((subject, op, "cpu"), {}), wb_acc.get((subject, op, "gpu"), {})
            accuracy = dict(gpu if placement == CLOUD else cpu)
            meta["reference_accuracy"] = {"cpu": cpu, "gpu": gpu}
        elif bb_acc is not None:
            accuracy = dict(bb_acc.get(model.strip()) or {})
            if not accuracy and operator.endswith("Partition"):
                # Partitioning does not change the model's outputs: use the unpartitioned row.
                accuracy = dict(bb_acc.get(model.strip().removesuffix("Partition").strip()) or {})
                meta["accuracy_from"] = "the same chain without partition (lossless split)"
        metric = _primary(accuracy)
        cells.append(CellResult(subject=subject, chain=chain, placement=placement,
                                latency_s=np.asarray(latencies, dtype=float), task=_PRIMARY_METRIC.get(metric or ""),
                                metric=metric, accuracy=accuracy, artifact={"meta": meta}))
    study = {"name": f"reference {flavour} ({path.name})", "profile": PAPER, "source": str(path),
             "reference": flavour, "notes": notes,
             "measure": {"inputs": 100, "passes": 6, "warmup_passes": 1, "cold_start": True},
             "testbed": {"kind": "docker", "preset": "reference", "modelled": False}}
    return ResultSet(cells, study=study)
