"""Models and data no built-in subject resembles, written where docs/your-model.md names them:
an ONNX graph with a static batch of 1, a depthwise-separable CNN behind a torch factory with
`forward(self, x)`, a small Hugging Face BERT text classifier with its tokenizer.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SIZE = 32

DEPTHWISE_MODULE = '''
"""A depthwise-separable CNN; make() returns it with the weights saved beside this file."""

from pathlib import Path

import torch
import torch.nn as nn


def separable(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(),
                         nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class DepthwiseNet(nn.Module):
    def __init__(self, classes=2):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.blocks = nn.Sequential(separable(8, 16, 1), separable(16, 32, 2))
        self.head = nn.Linear(32, classes)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def make():
    torch.manual_seed(0)
    net = DepthwiseNet()
    weights = Path(__file__).with_name("depthwise.pt")
    if weights.exists():
        net.load_state_dict(torch.load(weights))
    return net.eval()
'''


def _save_png(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _photo(rng: np.random.Generator, tint: np.ndarray | None = None) -> np.ndarray:
    """A smooth random RGB picture (blocks upsampled), optionally tinted towards one colour."""
    coarse = rng.integers(0, 256, (4, 4, 3)).astype(np.float32)
    img = np.kron(coarse, np.ones((SIZE // 4, SIZE // 4, 1), np.float32))
    if tint is not None:
        img = 0.4 * img + 0.6 * tint
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


def static_batch_onnx(path: Path, batch: int = 1) -> Path:
    """A small CNN exported with its batch fixed (at 1 by default): input "image" [batch, 3, 32, 32]."""
    import torch
    import torch.nn as nn

    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(16, 4)).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(net, (torch.zeros(batch, 3, SIZE, SIZE),), str(path), input_names=["image"],
                      output_names=["logits"], opset_version=17, dynamo=False)
    return path


def flat_photos(root: Path, n: int = 30) -> Path:
    rng = np.random.default_rng(2)
    for i in range(n):
        _save_png(root / f"{i:03d}.png", _photo(rng))
    return root


def depthwise_package(root: Path, photos: Path, n_per_class: int = 20) -> None:
    """mymodels/depthwise.py under `root`, trained for a few steps on red vs blue photos in `photos`."""
    import importlib
    import sys

    import torch

    rng = np.random.default_rng(3)
    tints = {"blue": np.array([30, 40, 230], np.float32), "red": np.array([230, 40, 30], np.float32)}
    images, labels = [], []
    for label, (name, tint) in enumerate(sorted(tints.items())):
        for i in range(n_per_class):
            img = _photo(rng, tint)
            _save_png(photos / name / f"{i:03d}.png", img)
            images.append(img)
            labels.append(label)
    package = root / "mymodels"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "depthwise.py").write_text(DEPTHWISE_MODULE)
    sys.path.insert(0, str(root))
    try:
        module = importlib.import_module("mymodels.depthwise")
        net = module.DepthwiseNet()
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == "mymodels" or m.startswith("mymodels.")]:
            del sys.modules[name]
    x = torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    y = torch.tensor(labels)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    torch.save(net.state_dict(), package / "depthwise.pt")


WORDS = {"positive": ["good", "great", "fine", "lovely", "superb"],
         "negative": ["bad", "poor", "awful", "dull", "weak"]}
FILLER = ["the", "film", "was", "plot", "and", "acting", "really", "quite"]


def review_classifier(folder: Path, data: Path, n: int = 40) -> None:
    """A 2-layer BERT (random init) saved with save_pretrained and a word-level tokenizer.json, and
    `n` labeled JSONL reviews."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *FILLER, *WORDS["positive"], *WORDS["negative"]]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=2)
    import torch

    torch.manual_seed(4)
    folder.mkdir(parents=True, exist_ok=True)
    BertForSequenceClassification(config).save_pretrained(folder)
    tok.save(str(folder / "tokenizer.json"))
    rng = np.random.default_rng(5)
    lines = []
    for i in range(n):
        label = "positive" if i % 2 else "negative"
        words = list(rng.choice(FILLER, 6)) + list(rng.choice(WORDS[label], 2))
        lines.append(json.dumps({"text": " ".join(rng.permutation(words)), "label": label}))
    data.write_text("\n".join(lines) + "\n")


def write_all(root: Path) -> None:
    """Every file docs/your-model.md's examples name, under `root`."""
    static_batch_onnx(root / "models" / "classifier-b1.onnx")
    flat_photos(root / "photos")
    depthwise_package(root, root / "labeled-photos")
    review_classifier(root / "models" / "review-classifier", root / "reviews.jsonl")
