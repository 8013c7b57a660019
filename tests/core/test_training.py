"""The shared training loop: CNNs train and predict channels-last on the CPU, and callers get the
plain layout back (ONNX export, pruning and the cache rely on it); bf16 mixed precision where the
CPU computes it natively."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgewise.building.training import BF16, FP32, PRECISION_ENV, fit, predict, training_precision
from edgewise.data.split import Split
from edgewise.errors import ConfigError


def quadrant_images(n: int, seed: int = 0) -> Split:
    """Class c brightens quadrant c of a noisy 8x8 image."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    x = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    for i, c in enumerate(labels):
        r, q = divmod(int(c), 2)
        x[i, 0, r * 4:(r + 1) * 4, q * 4:(q + 1) * 4] += 1.5
    return Split({"pixel_values": x}, labels)


class SmallConvNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                        torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(32, 4))

    def forward(self, pixel_values):
        return self.body(pixel_values)


def plain_layout(module: torch.nn.Module) -> bool:
    return all(p.is_contiguous() for p in module.parameters())


def test_fit_trains_a_cnn_and_returns_the_plain_layout():
    data = quadrant_images(256)
    model = fit(SmallConvNet(), data, epochs=3, batch_size=32, lr=1e-2)
    assert plain_layout(model)
    assert not model.training
    accuracy = float((predict(model, data).argmax(1) == data.labels).mean())
    assert accuracy > 0.9


def test_predict_matches_the_plain_layout_and_leaves_it():
    data = quadrant_images(100, seed=1)
    model = SmallConvNet().eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(data.inputs["pixel_values"])).numpy()
    logits = predict(model, data, batch_size=16, precision=FP32)
    assert np.allclose(logits, expected, atol=1e-5)
    assert plain_layout(model)
    low = predict(model, data, batch_size=16, precision=BF16)  # what a bf16 machine computes by default
    assert low.dtype == np.float32 and np.abs(low - expected).max() <= 0.02 * np.abs(expected).max()


def test_fit_with_sgd_and_frozen_parameters():
    data = quadrant_images(128, seed=2)
    model = SmallConvNet()
    model.body[0].weight.requires_grad_(False)
    before = model.body[0].weight.detach().clone()
    fit(model, data, epochs=1, batch_size=32, lr=1e-2, optimizer="sgd")
    assert torch.equal(model.body[0].weight, before)  # frozen stays frozen
    assert plain_layout(model)


def test_bf16_mixed_precision_trains_and_keeps_fp32_weights():
    data = quadrant_images(256, seed=3)
    model = fit(SmallConvNet(), data, epochs=3, batch_size=32, lr=1e-2, precision=BF16)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert float((predict(model, data).argmax(1) == data.labels).mean()) > 0.9


def test_training_precision_follows_the_cpu_unless_told(monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert training_precision("cpu") == (BF16 if native else FP32)
    monkeypatch.setenv(PRECISION_ENV, "fp32")
    assert training_precision("cpu") == FP32
    monkeypatch.setenv(PRECISION_ENV, "half")
    with pytest.raises(ConfigError, match="auto, fp32 or bf16"):
        training_precision("cpu")
