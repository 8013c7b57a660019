"""Small torch modules shared by subjects. Module-level classes, so trained models pickle."""

from __future__ import annotations

import torch.nn as nn


class LogitsOnly(nn.Module):
    """Wraps a Hugging Face classifier so it returns the logits tensor (for export and training)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, **inputs):
        return self.model(**inputs).logits


class TinyConvNet(nn.Module):
    def __init__(self, width: int, classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(2 * width, classes)

    def forward(self, pixel_values):
        return self.classifier(self.features(pixel_values))
