"""Small trained models of families no built-in subject uses, for conformance tests and benchmarks.

Each builder trains a tiny model on a generated task it can learn in seconds and leaves it where
a user would: a local Hugging Face folder (with its tokenizer.json) or a torch factory module, with
the data beside it (a labeled CSV, or an image folder with one sub-folder per class).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from edgewise.subjects.tiny import banded_texts

CLASSES = 4
IMAGE = 16
MAX_LENGTH = 16
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + [f"w{i}" for i in range(60)]


@dataclass
class Family:
    """A trained model as a study file names it: the subject mapping of `subjects:`."""

    name: str
    subject: dict[str, Any]
    model: nn.Module = field(repr=False)


# --- data --------------------------------------------------------------------------------------
def texts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Class c draws most of its words from its own band of the vocabulary."""
    return banded_texts(n, seed, CLASSES, own=0.75, words=(5, 12))


def images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB 16x16 uint8 images; class c brightens quadrant c in colour channel c % 3."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = rng.normal(70, 25, (n, IMAGE, IMAGE, 3))
    h = IMAGE // 2
    for i, c in enumerate(y):
        r, col = divmod(int(c), 2)
        x[i, r * h:(r + 1) * h, col * h:(col + 1) * h, int(c) % 3] += 120
    return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)


def write_tokenizer(path: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.save(str(path))
    return path


def _encode(tokenizer: Path, batch: list[str]) -> dict[str, np.ndarray]:
    from edgewise.data.preprocess import build_preprocessor

    return build_preprocessor(_text_input(tokenizer)).batch(batch)


def _text_input(tokenizer: Path) -> dict[str, Any]:
    return {"kind": "text", "tokenizer": str(tokenizer), "max_length": MAX_LENGTH,
            "inputs": ["input_ids", "attention_mask"], "pad_token": "[PAD]", "pad_id": 0}


def _train(model: nn.Module, inputs: dict[str, np.ndarray], labels: np.ndarray, epochs: float, lr: float) -> nn.Module:
    from edgewise.building.training import FP32, fit
    from edgewise.data.split import Split

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: more threads only wait on each other on a shared machine
    try:
        # A user's model arrives trained, however its owner trained it: these fixtures train in fp32
        # on every CPU (a ViT this small and this short learned its task in fp32, not in bf16).
        return fit(model, Split(inputs, labels), epochs=epochs, lr=lr, batch_size=32, seed=0, precision=FP32)
    finally:
        torch.set_num_threads(threads)


# --- Hugging Face text classifiers -------------------------------------------------------------
def text_config(kind: str, **sizes):
    """A tiny transformers config of `kind` (albert, deberta-v2, electra; decoders gpt2, qwen2), random init."""
    from transformers import AlbertConfig, DebertaV2Config, ElectraConfig

    if kind in DECODERS:
        return decoder_config(kind, **sizes)

    common = dict(vocab_size=len(VOCAB), max_position_embeddings=MAX_LENGTH, num_labels=CLASSES, pad_token_id=0,
                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    common.update(dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64))
    common.update(sizes)
    if kind == "albert":
        return AlbertConfig(embedding_size=16, classifier_dropout_prob=0.0, **common)
    if kind == "deberta-v2":
        # DeBERTa-v3's attention: relative positions in both directions through a shared key projection.
        return DebertaV2Config(relative_attention=True, pos_att_type=["p2c", "c2p"], share_att_key=True,
                               position_buckets=8, max_relative_positions=MAX_LENGTH, type_vocab_size=0, **common)
    if kind == "electra":
        return ElectraConfig(embedding_size=16, **common)
    raise ValueError(kind)


DECODERS = ("gpt2", "qwen2")


def decoder_config(kind: str, **sizes):
    """A tiny decoder classifying from its last token: GPT-2 (one fused q/k/v Conv1D, causal
    attention) or Qwen2 (grouped-query attention, 4 query heads sharing 2 key/value heads, gated FFN)."""
    from transformers import GPT2Config, Qwen2Config

    common = dict(vocab_size=len(VOCAB), num_labels=CLASSES, pad_token_id=0, bos_token_id=2, eos_token_id=3)
    if kind == "gpt2":
        gpt2 = dict(n_positions=MAX_LENGTH, n_embd=32, n_layer=2, n_head=4, resid_pdrop=0.0, embd_pdrop=0.0,
                    attn_pdrop=0.0)
        renamed = {"hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head"}
        gpt2.update({renamed.get(k, k): v for k, v in sizes.items()})
        return GPT2Config(**common, **gpt2)
    if kind == "qwen2":
        qwen2 = dict(max_position_embeddings=MAX_LENGTH, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2)
        return Qwen2Config(**common, **{**qwen2, **sizes})
    raise ValueError(kind)


def text_classifier(kind: str, config=None) -> nn.Module:
    from transformers import AutoModelForSequenceClassification

    from edgewise.subjects.modules import LogitsOnly

    torch.manual_seed(0)
    return LogitsOnly(AutoModelForSequenceClassification.from_config(config or text_config(kind)))


def hf_text_family(kind: str, root: Path, samples: int = 400) -> Family:
    """A trained `kind` text classifier saved as a local Hugging Face folder, and a labeled CSV."""
    folder = root / kind
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = write_tokenizer(folder / "tokenizer.json")
    train_texts, train_y = texts(800, seed=1)
    model = _train(text_classifier(kind), _encode(tokenizer, train_texts), train_y, epochs=10, lr=2e-3)
    model.model.save_pretrained(folder)
    data_texts, data_y = texts(samples, seed=2)
    data = root / f"{kind}.csv"
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(data_texts, data_y)))
    subject = {"name": kind, "task": "text-classification", "hf": str(folder), "data": str(data),
               "input": {"max_length": MAX_LENGTH}}
    return Family(kind, subject, model)


# --- Hugging Face image classifiers (ViT, Swin, ConvNeXt) -----------------------------------------
def vit_classifier(**sizes) -> nn.Module:
    from transformers import ViTConfig, ViTForImageClassification

    from edgewise.subjects.modules import LogitsOnly

    config = dict(image_size=IMAGE, patch_size=4, num_channels=3, hidden_size=32, num_hidden_layers=2,
                  num_attention_heads=4, intermediate_size=64, num_labels=CLASSES, hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    return LogitsOnly(ViTForImageClassification(ViTConfig(**{**config, **sizes})))


def swin_classifier(**sizes) -> nn.Module:
    """Windowed attention with a relative position bias per head, shifted windows every other
    block, two stages joined by patch merging."""
    from transformers import SwinConfig, SwinForImageClassification

    from edgewise.subjects.modules import LogitsOnly

    config = dict(image_size=IMAGE, patch_size=2, num_channels=3, embed_dim=16, depths=[2, 2], num_heads=[2, 4],
                  window_size=2, num_labels=CLASSES, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                  drop_path_rate=0.0)
    torch.manual_seed(0)
    return LogitsOnly(SwinForImageClassification(SwinConfig(**{**config, **sizes})))


def convnext_classifier(**sizes) -> nn.Module:
    """Depthwise 7x7 convolutions, LayerNorm, an MLP written as Linear layers and a layer scale per block."""
    from transformers import ConvNextConfig, ConvNextForImageClassification

    from edgewise.subjects.modules import LogitsOnly

    config = dict(image_size=IMAGE, num_channels=3, patch_size=2, num_stages=2, hidden_sizes=[16, 32], depths=[2, 2],
                  num_labels=CLASSES, drop_path_rate=0.0)
    torch.manual_seed(0)
    return LogitsOnly(ConvNextForImageClassification(ConvNextConfig(**{**config, **sizes})))


IMAGE_CLASSIFIERS = {"vit": vit_classifier, "swin": swin_classifier, "convnext": convnext_classifier}
IMAGE_EPOCHS = {"vit": 4, "swin": 8, "convnext": 4}  # Swin at 4 epochs learned 0.77 of the task, at 8 all of it


def _pixels(x: np.ndarray) -> np.ndarray:
    """uint8 HWC images as the serving tier prepares them here (scaled to [0, 1], mean 0.5, std 0.25)."""
    return ((x.astype(np.float32) / 255.0 - 0.5) / 0.25).transpose(0, 3, 1, 2).copy()


def _image_folder(root: Path, x: np.ndarray, y: np.ndarray) -> Path:
    from PIL import Image

    for i, (img, label) in enumerate(zip(x, y)):
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i:04d}.png")
    return root


IMAGE_INPUT = {"size": IMAGE, "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3}


def hf_image_family(kind: str, root: Path, samples: int = 300) -> Family:
    """A trained `kind` image classifier (vit, swin, convnext) saved as a local Hugging Face folder,
    and an image folder with one sub-folder per class."""
    folder = root / kind
    x, y = images(800, seed=1)
    model = _train(IMAGE_CLASSIFIERS[kind](), {"pixel_values": _pixels(x)}, y, epochs=IMAGE_EPOCHS[kind], lr=3e-3)
    model.model.save_pretrained(folder)
    data = _image_folder(root / f"{kind}-images", *images(samples, seed=2))
    return Family(kind, {"name": kind, "task": "image-classification", "hf": str(folder), "data": str(data),
                         "input": dict(IMAGE_INPUT)}, model)


def hf_vit_family(root: Path, samples: int = 300) -> Family:
    return hf_image_family("vit", root, samples)


# --- a torch CNN with depthwise convolutions and the usual forward(self, x) ----------------------
class DepthwiseNet(nn.Module):
    """MobileNet-style: a stem, depthwise-separable blocks (one with a residual add), a linear head."""

    def __init__(self, width: int = 16, classes: int = CLASSES):
        super().__init__()

        def separable(cin: int, cout: int, stride: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(),
                                 nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.block1 = separable(width, width, 1)
        self.block2 = separable(width, 2 * width, 2)
        self.block3 = separable(2 * width, 2 * width, 1)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, classes))

    def forward(self, x):
        x = self.stem(x)
        x = x + self.block1(x)
        x = self.block2(x)
        x = x + self.block3(x)
        return self.head(x)


class _Positional(nn.Module):
    """Calls a forward(self, x) model with the keyword the training loop passes."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, pixel_values):
        return self.inner(pixel_values)


FACTORY_MODULE = '''"""A user's model factory: the trained depthwise CNN."""
import torch


def load():
    return torch.load({path!r}, weights_only=False)
'''


def torch_cnn_family(root: Path, samples: int = 300) -> Family:
    """A trained DepthwiseNet behind `torch: <module>:load`, with the module written under root."""
    torch.manual_seed(0)
    x, y = images(800, seed=1)
    model = _train(_Positional(DepthwiseNet()), {"pixel_values": _pixels(x)}, y, epochs=3, lr=3e-3).inner.eval()
    torch.save(model, root / "depthwise.pt")
    (root / "my_depthwise_factory.py").write_text(FACTORY_MODULE.format(path=str(root / "depthwise.pt")))
    data = _image_folder(root / "cnn-images", *images(samples, seed=2))
    # input.name: the model's forward takes `x`.
    return Family("depthwise-cnn", {"name": "depthwise-cnn", "task": "image-classification",
                                    "torch": "my_depthwise_factory:load", "data": str(data),
                                    "input": {**IMAGE_INPUT, "name": "x"}}, model)
