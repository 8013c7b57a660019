"""Residual networks for small grayscale images: a wide ResNet and a ResNeXt.

Both stack bottleneck blocks (1x1 reduce, 3x3, 1x1 expand) in three stages at full, half and
quarter resolution. The wide ResNet widens the 3x3 by a width factor; ResNeXt splits it into
`cardinality` groups.
"""

from __future__ import annotations

import torch.nn as nn


class Bottleneck(nn.Module):
    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, stride: int = 1, groups: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, mid_ch, 1, bias=False), nn.BatchNorm2d(mid_ch), nn.ReLU(inplace=True),
            nn.Conv2d(mid_ch, mid_ch, 3, stride=stride, padding=1, groups=groups, bias=False),
            nn.BatchNorm2d(mid_ch), nn.ReLU(inplace=True),
            nn.Conv2d(mid_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        self.shortcut = nn.Identity() if stride == 1 and in_ch == out_ch else nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.body(x) + self.shortcut(x))


class _ResidualNet(nn.Module):
    """Stem + three stages of bottlenecks + global pooling + linear classifier."""

    def __init__(self, stem: int, stages: list[tuple[int, int, int]], groups: int, classes: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True))
        blocks: list[nn.Module] = []
        in_ch = stem
        for i, (mid, out, depth) in enumerate(stages):
            for j in range(depth):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(Bottleneck(in_ch, mid, out, stride, groups))
                in_ch = out
        self.stages = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_ch, classes))

    def forward(self, pixel_values):
        return self.head(self.stages(self.stem(pixel_values)))


class WideResNet(_ResidualNet):
    """Bottleneck wide ResNet: stage s has a 3x3 of base*2^s*width_factor channels, output 4*base*2^s."""

    def __init__(self, depths: tuple[int, ...] = (2, 2, 2), base: int = 16, width_factor: int = 2, classes: int = 10):
        stages = [(base * 2**s * width_factor, 4 * base * 2**s, d) for s, d in enumerate(depths)]
        super().__init__(base, stages, 1, classes)


class ResNeXt(_ResidualNet):
    """ResNeXt: stage s has a grouped 3x3 of cardinality*group_width*2^s channels, output 2x that."""

    def __init__(self, depths: tuple[int, ...] = (2, 2, 2), cardinality: int = 8, group_width: int = 4,
                 classes: int = 10):
        stages = [(cardinality * group_width * 2**s, 2 * cardinality * group_width * 2**s, d) for s, d in enumerate(depths)]
        super().__init__(2 * cardinality * group_width // 2, stages, cardinality, classes)
