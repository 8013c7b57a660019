"""Fitting a user's model to its data: input names read from the model, and hints that name the
study-file key that fixes a mismatch.

The input names come from the model so that the common cases need no setting: an ONNX graph's
inputs, a Hugging Face model's `main_input_name`, a PyTorch module's `forward` signature.
`input.name` (image) and `input.inputs` (text) override them.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, NamedTuple

import numpy as np

from edgewise.data.preprocess import TEXT_INPUTS
from edgewise.errors import DataError
from edgewise.vocabulary import IMAGE_CLASSIFICATION


def read_input_names(subject: Any) -> tuple[str, ...]:
    """The names under which the subject's data is fed to its model."""
    spec = subject.config.input
    if subject.task == IMAGE_CLASSIFICATION and spec.get("name"):
        return (str(spec["name"]),)
    if subject.task != IMAGE_CLASSIFICATION and spec.get("inputs"):
        return tuple(str(n) for n in spec["inputs"])
    if subject.config.onnx:
        return _onnx_input_names(subject)
    module = subject.teacher()
    if subject.task == IMAGE_CLASSIFICATION:
        return (_image_input_name(module),)
    return _text_input_names(module, subject.name)


class GraphInput(NamedTuple):
    name: str
    shape: list  # ints where fixed, names or None where dynamic


def _onnx_inputs(subject: Any) -> list[GraphInput]:
    """The graph's inputs as plain values (a subject stays picklable), read once."""
    import onnxruntime as ort

    if not hasattr(subject, "_onnx_session_inputs"):
        try:
            session = ort.InferenceSession(subject.config.onnx, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime's errors share no base class but Exception
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
            raise DataError(f"subject {subject.name!r}: cannot load its model: {detail}",
                            "give a valid ONNX file under onnx:") from None
        subject._onnx_session_inputs = [GraphInput(i.name, list(i.shape)) for i in session.get_inputs()]
    return subject._onnx_session_inputs


def _onnx_input_names(subject: Any) -> tuple[str, ...]:
    names = tuple(i.name for i in _onnx_inputs(subject))
    if subject.task == IMAGE_CLASSIFICATION:
        if len(names) != 1:
            raise DataError(f"subject {subject.name!r}: the ONNX graph has {len(names)} inputs {list(names)}, "
                            "an image model is fed one", "set input.name to the one that takes the image")
        return names
    unknown = [n for n in names if n not in TEXT_INPUTS]
    if unknown:
        raise DataError(f"subject {subject.name!r}: the ONNX graph's inputs {unknown} are not tokenizer outputs "
                        f"({', '.join(TEXT_INPUTS)})", "export the model with those input names")
    return names


def _forward_parameters(module: Any) -> list[inspect.Parameter]:
    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _hf_model(module: Any) -> Any:
    """The Hugging Face model inside edgewise's LogitsOnly wrapper, or the module itself."""
    inner = getattr(module, "model", None)
    return inner if hasattr(inner, "main_input_name") else module


def _image_input_name(module: Any) -> str:
    hf = _hf_model(module)
    if hasattr(hf, "main_input_name"):
        return str(hf.main_input_name)
    params = _forward_parameters(module)
    return params[0].name if params else "pixel_values"


def _text_input_names(module: Any, subject: str) -> tuple[str, ...]:
    if hasattr(_hf_model(module), "main_input_name"):
        return ("input_ids", "attention_mask")
    taken = {p.name for p in _forward_parameters(module)}
    names = tuple(n for n in TEXT_INPUTS if n in taken)
    if not names:
        raise DataError(f"subject {subject!r}: forward() takes {sorted(taken)}, none of them a tokenizer output "
                        f"({', '.join(TEXT_INPUTS)})", "name forward's arguments input_ids / attention_mask, "
                        "or list the ones it takes in input.inputs")
    return names


def check_onnx_fit(subject: Any, inputs: dict[str, np.ndarray]) -> None:
    """Compare the data with the graph's declared input shapes; name the key that fixes a mismatch."""
    for value in _onnx_inputs(subject):
        if value.name not in inputs:
            continue
        declared, given = value.shape, inputs[value.name].shape
        refused = f"subject {subject.name!r}: the model does not accept the data: input {value.name!r}"
        if len(declared) != len(given):
            raise DataError(f"{refused} has rank {len(declared)} {declared}, the data rank {len(given)}",
                            _rank_hint(subject))
        batch = declared[0]
        if isinstance(batch, int) and batch > 1:
            raise DataError(f"subject {subject.name!r}: the graph fixes the batch at {batch}; tiers serve one "
                            "request at a time", "export the model with a batch of 1 or a dynamic batch")
        for axis, (want, got) in enumerate(zip(declared[1:], given[1:]), 1):
            if isinstance(want, int) and want != got:
                raise DataError(f"{refused} is {declared}, the data {list(given)}", _axis_hint(subject, declared, axis))


def _rank_hint(subject: Any) -> str:
    if subject.task == IMAGE_CLASSIFICATION:
        return "edgewise feeds images as [N, channels, H, W]: export the model channels-first"
    return "edgewise feeds text as [N, max_length] token ids"


def _axis_hint(subject: Any, declared: list, axis: int) -> str:
    if subject.task != IMAGE_CLASSIFICATION:
        return f"set input.max_length: {declared[axis]}"
    if axis == 1:
        if declared[3] in (1, 3) and declared[1] not in (1, 3):
            return "the model takes channels last (NHWC); edgewise feeds [N, C, H, W]: export it channels-first"
        return f"set input.channels: {declared[1]}"
    return f"set input.size: [{declared[2]}, {declared[3]}]"


def mismatch_hint(subject: Any, exc: Exception) -> str:
    """The study-file keys that fix a model that rejects its data, with their current values."""
    spec = subject.config.input
    text = str(exc)
    if subject.task == IMAGE_CLASSIFICATION:
        argument = re.search(r"unexpected keyword argument '([^']+)'", text)
        if argument:
            takes = [p.name for p in _forward_parameters(subject.teacher())]
            return f"set input.name to the argument forward() takes ({', '.join(takes) or '?'}), not {argument[1]!r}"
        channels = re.search(r"to have (\d+) channels", text)
        if channels:
            return f"set input.channels: {channels[1]}"
        return (f"check input.size (now {spec.get('size')}), input.channels (now {spec.get('channels', 3)}) and "
                f"input.name (now {subject.input_names[0]!r}) against what the model takes")
    return (f"check input.tokenizer (now {spec.get('tokenizer') or subject.config.hf}), input.max_length (now "
            f"{spec.get('max_length', 128)}) and input.inputs (now {list(subject.input_names)}) against what the "
            "model takes")


def check_hf_fit(subject: Any, inputs: dict[str, np.ndarray]) -> None:
    """Compare the data with a Hugging Face model's config (image size and channels, positions,
    vocabulary); name the key that fixes a mismatch. Other torch modules say nothing in advance."""
    config = getattr(_hf_model(subject.teacher()), "config", None)
    if config is None:
        return
    problem = None
    if subject.task == IMAGE_CLASSIFICATION:
        given = inputs[subject.input_names[0]].shape
        size, channels = getattr(config, "image_size", None), getattr(config, "num_channels", None)
        size = [size, size] if isinstance(size, int) else (list(size) if size else None)
        if channels and given[1] != channels:
            problem = (f"the model takes {channels} channels, the data has {given[1]}",
                       f"set input.channels: {channels}")
        elif size and list(given[2:]) != size:
            problem = (f"the model takes {size[0]}x{size[1]} images, the data is {given[2]}x{given[3]}",
                       f"set input.size: {size}")
    elif "input_ids" in inputs:
        ids = inputs["input_ids"]
        positions, vocabulary = getattr(config, "max_position_embeddings", None), getattr(config, "vocab_size", None)
        if positions and ids.shape[1] > positions:
            problem = (f"{ids.shape[1]} tokens per text, the model has {positions} positions",
                       f"set input.max_length: {positions} (or less)")
        elif vocabulary and int(ids.max()) >= vocabulary:
            problem = (f"token ids reach {int(ids.max())}, the model's vocabulary has {vocabulary}",
                       "set input.tokenizer to the model's own tokenizer.json")
    if problem:
        raise DataError(f"subject {subject.name!r}: the model does not accept the data: {problem[0]}", problem[1])
