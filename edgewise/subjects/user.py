"""A user's own model and data as a Subject, and `make_subject` for built-in names and user mappings.

Sources: an ONNX file (black-box operators only), a PyTorch factory "package.module:factory",
or a local Hugging Face directory. Data: an image folder (one sub-folder per class, or flat =
unlabeled) or a CSV / JSONL of text[,label]. Without labels the metric is `agreement`: top-1
agreement with the unmodified model, whose predictions become the labels.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.building.training import predict
from edgewise.config import SubjectConfig
from edgewise.data.batching import fixed_batch, run_batched
from edgewise.data.images import read_image_folder
from edgewise.data.preprocess import build_preprocessor
from edgewise.data.split import Split, Splits, disjoint_indices
from edgewise.data.text import read_text_file
from edgewise.errors import DataError, EdgewiseError, PlanError
from edgewise.subjects.architecture import model_family
from edgewise.subjects.base import Subject, SubjectContext, get_subject
from edgewise.subjects.fit import check_hf_fit, check_onnx_fit, mismatch_hint
from edgewise.subjects.fit import read_input_names as _read_input_names
from edgewise.subjects.keys import INPUT_KEYS, OPTION_KEYS, check_keys
from edgewise.vocabulary import IMAGE_CLASSIFICATION, TEXT_CLASSIFICATION

DEFAULT_FRACTIONS = (0.6, 0.1, 0.3)


def make_subject(entry: str | SubjectConfig | dict, ctx: SubjectContext) -> Subject:
    """The one subject factory: a built-in subject by name, or a UserSubject from a study file's mapping."""
    if isinstance(entry, str):
        return get_subject(entry, ctx)
    if isinstance(entry, dict):
        entry = SubjectConfig(**entry)
    try:
        return UserSubject(entry, ctx)
    except EdgewiseError:
        raise
    except Exception as exc:  # noqa: BLE001 - a user's model file can fail to load in any library's way
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
        raise DataError(f"subject {entry.name!r}: cannot load its model: {detail}",
                        "give a valid model file (onnx:, torch: or hf:) in the study file") from None


class UserSubject(Subject):
    """A model and data named in the study file; not registered (it has no built-in name)."""

    def __init__(self, config: SubjectConfig, ctx: SubjectContext):
        super().__init__(ctx)
        self.config = config
        self.name = config.name  # type: ignore[misc]  (per instance: user subjects are not registered)
        self.task = config.task  # type: ignore[misc]
        self.family = model_family(config)  # type: ignore[misc]
        self.has_torch = config.onnx is None  # type: ignore[misc]
        if config.onnx and not Path(config.onnx).exists():
            raise DataError(f"subject {config.name!r}: ONNX file {config.onnx} not found", "fix the path under onnx:")
        if not config.data:
            raise DataError(f"subject {config.name!r} has no data", "set data: to an image folder or a CSV/JSONL file")
        check_keys(config.name, "input", config.input, INPUT_KEYS)
        check_keys(config.name, "options", config.options, OPTION_KEYS)

    # --- the model --------------------------------------------------------------------------
    def onnx_model(self) -> Path | None:
        return Path(self.config.onnx) if self.config.onnx else None

    def teacher(self):
        if self.config.onnx:
            raise PlanError(f"subject {self.name!r} is an ONNX model",
                            "white-box operators (qat, prune, distill) need a PyTorch or Hugging Face source")
        if not hasattr(self, "_module"):
            self._module = self._load_torch().eval()
        return self._module

    def student_fingerprint(self):
        return self.config.options.get("student")

    def student(self):
        factory = self.config.options.get("student")
        if not factory:
            return super().student()
        return _call_factory(factory, self.name)

    def _load_torch(self):
        if self.config.torch:
            return _call_factory(self.config.torch, self.name)
        return _load_hf(Path(self.config.hf), self.task)  # type: ignore[arg-type]

    @property
    def input_names(self) -> tuple[str, ...]:  # type: ignore[override]
        """The model's input names, read from the model unless input.name / input.inputs says otherwise."""
        if not hasattr(self, "_input_names"):
            self._input_names = _read_input_names(self)
        return self._input_names

    # --- preprocessing ----------------------------------------------------------------------
    def preprocessing(self) -> dict[str, Any]:
        spec = self.config.input
        if self.task == IMAGE_CLASSIFICATION:
            if "size" not in spec:
                raise DataError(f"subject {self.name!r} needs input.size", "set input: {size: [H, W], mean, std, channels}")
            size = spec["size"]
            size = [size, size] if isinstance(size, int) else list(size)
            channels = int(spec.get("channels", 3))
            return {"kind": "image", "size": size, "channels": channels, "mean": list(spec.get("mean", [0.0] * channels)),
                    "std": list(spec.get("std", [1.0] * channels)), "input": self.input_names[0]}
        return {"kind": "text", "tokenizer": str(self._tokenizer_file().resolve()), "max_length": int(spec.get("max_length", 128)),
                "inputs": list(self.input_names), "pad_token": spec.get("pad_token", "[PAD]"),
                "pad_id": spec.get("pad_id"), "lowercase": bool(spec.get("lowercase", False))}

    def _tokenizer_file(self) -> Path:
        given = self.config.input.get("tokenizer") or self.config.hf
        if not given:
            raise DataError(f"subject {self.name!r} has no tokenizer", "set input.tokenizer to a tokenizer.json or its folder")
        path = Path(given)
        path = path / "tokenizer.json" if path.is_dir() else path
        if not path.exists():
            raise DataError(f"tokenizer {path} not found", "give a tokenizer.json (or a folder holding one) in input.tokenizer")
        return path

    # --- data -------------------------------------------------------------------------------
    def _payloads(self) -> tuple[list[bytes], np.ndarray | None]:
        """Every sample as a client would send it, and the labels when the data has them."""
        if not hasattr(self, "_raw"):
            path = Path(self.config.data)  # type: ignore[arg-type]
            if self.task == IMAGE_CLASSIFICATION:
                files, labels, _ = read_image_folder(path)
                payloads = [f.read_bytes() for f in files]
            else:
                texts, raw_labels = read_text_file(path)
                payloads = [t.encode("utf-8") for t in texts]
                labels = None if raw_labels is None else _label_indices(raw_labels, self.config.options.get("classes"))
            self._raw = (payloads, labels)
        return self._raw

    def _model_inputs(self) -> dict[str, np.ndarray]:
        payloads, _ = self._payloads()
        pre = build_preprocessor(self.preprocessing())
        encoded = [pre(p) for p in payloads]
        return {k: np.concatenate([e[k] for e in encoded]) for k in encoded[0]}

    @property
    def labeled(self) -> bool:
        return self._payloads()[1] is not None

    @property
    def metrics(self) -> tuple[str, ...]:
        if not self.labeled:
            return ("agreement",)
        return super().metrics

    @property
    def num_classes(self) -> int:
        return int(self._reference_logits().shape[1])

    def _reference_logits(self) -> np.ndarray:
        """The unmodified model's logits on every sample (checks that the data fits the model)."""
        if not hasattr(self, "_logits"):
            inputs = self._model_inputs()
            all_data = Split(inputs, None)
            if self.config.onnx:
                check_onnx_fit(self, inputs)
            elif self.config.hf:
                check_hf_fit(self, inputs)
            try:
                if self.config.onnx:
                    self._logits = _onnx_logits(Path(self.config.onnx), all_data)
                else:
                    self._logits = predict(self.teacher(), all_data)
            except Exception as exc:  # ONNX Runtime's errors share no base class but Exception
                shapes = {k: list(v.shape[1:]) for k, v in inputs.items()}
                raise DataError(f"subject {self.name!r}: the model does not accept the data ({shapes}): "
                                f"{str(exc).splitlines()[0][:200]}", mismatch_hint(self, exc)) from None
        return self._logits

    def splits(self) -> Splits:
        if not hasattr(self, "_splits"):
            _, labels = self._payloads()
            predicted = self._reference_logits().argmax(axis=1)  # also checks that the data fits the model
            if labels is None:
                labels = predicted
            inputs = self._model_inputs()
            n = len(labels)
            fractions = tuple(self.config.options.get("split", DEFAULT_FRACTIONS))
            n_cal = max(1, int(round(fractions[1] * n)))
            n_eval = max(1, int(round(fractions[2] * n)))
            if n - n_cal - n_eval < 1:
                raise DataError(f"subject {self.name!r} has only {n} samples", "give at least 3 (train, calibration, evaluation)")
            train, cal, ev = disjoint_indices(n, (n - n_cal - n_eval, n_cal, n_eval), self.ctx.seed)
            self._split_index = {"train": train, "calibration": cal, "evaluation": ev}
            full = Split(inputs, np.asarray(labels, np.int64))
            self._splits = Splits(full.subset(train), full.subset(cal), full.subset(ev))
        return self._splits

    def latency_inputs(self, n: int) -> list[bytes]:
        self.splits()
        payloads, _ = self._payloads()
        ev = self._split_index["evaluation"]
        return [payloads[ev[i % len(ev)]] for i in range(n)]

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "config": self.config.model_dump()}

    def describe(self) -> dict[str, Any]:
        source = self.config.onnx or self.config.torch or self.config.hf
        return {**super().describe(), "source": source, "data": self.config.data, "labeled": self.labeled}


def _label_indices(raw: list[str], classes: list[str] | None) -> np.ndarray:
    """Integer labels kept as given; names mapped through `classes` (options) or sorted names."""
    if classes is None and all(r.lstrip("-").isdigit() for r in raw):
        return np.asarray([int(r) for r in raw], np.int64)
    names = list(classes) if classes else sorted(set(raw))
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise DataError(f"labels {unknown[:5]} are not in options.classes", "list every label name in options.classes")
    return np.asarray([names.index(r) for r in raw], np.int64)


def _call_factory(reference: str, subject: str):
    module_name, _, attr = reference.partition(":")
    if not attr:
        raise PlanError(f"subject {subject!r}: torch source {reference!r} is not package.module:factory",
                        "write it as package.module:factory")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise PlanError(f"subject {subject!r}: cannot import {reference} ({exc})",
                        "make the module importable (PYTHONPATH) and check the factory name") from None
    return factory()


def _load_hf(path: Path, task: str):
    """A local Hugging Face classifier returning logits; never reaches the hub."""
    if not (path / "config.json").exists():
        raise DataError(f"Hugging Face directory {path} has no config.json", "give a local model folder (save_pretrained)")
    from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification

    from edgewise.subjects.modules import LogitsOnly  # lazy: pulls torch

    auto = AutoModelForSequenceClassification if task == TEXT_CLASSIFICATION else AutoModelForImageClassification
    return LogitsOnly(auto.from_pretrained(path, local_files_only=True))


def _onnx_logits(path: Path, data: Split, batch_size: int = 64) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = {i.name for i in session.get_inputs()}
    if expected != set(data.inputs):
        raise ValueError(f"model inputs {sorted(expected)} differ from the data's {sorted(data.inputs)}")
    return run_batched(lambda feeds: session.run(None, feeds)[0], data, batch_size, fixed_batch(session))
