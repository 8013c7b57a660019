"""Models no built-in subject resembles, built here: a depthwise-separable CNN and a transformers config
(ALBERT: shared layers, factorised embeddings) with random weights; and a RoBERTa config, whose positions
are counted from the padding (a cumulative sum over the mask) where ExecuTorch's int8 path once failed."""

from __future__ import annotations

import numpy as np
import torch

from edgewise.testing.runtimes import ReferenceModel


class DepthwiseNet(torch.nn.Module):
    """MobileNet-like: depthwise 3x3 then pointwise 1x1, batch norm, hardswish, global pooling."""

    def __init__(self, classes: int = 5):
        super().__init__()
        layers, channels = [torch.nn.Conv2d(3, 16, 3, stride=2, padding=1), torch.nn.BatchNorm2d(16),
                            torch.nn.Hardswish()], 16
        for out in (24, 32):
            layers += [torch.nn.Conv2d(channels, channels, 3, padding=1, groups=channels),
                       torch.nn.BatchNorm2d(channels), torch.nn.ReLU6(),
                       torch.nn.Conv2d(channels, out, 1), torch.nn.BatchNorm2d(out), torch.nn.Hardswish()]
            channels = out
        self.features = torch.nn.Sequential(*layers)
        self.head = torch.nn.Linear(channels, classes)

    def forward(self, pixel_values):
        return self.head(self.features(pixel_values).mean((2, 3)))


def depthwise_cnn() -> ReferenceModel:
    torch.manual_seed(0)
    module = DepthwiseNet().eval()
    with torch.no_grad():  # batch norm statistics other than the identity, as a trained model has
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    return ReferenceModel(module, {"pixel_values": x})


class _Logits(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, attention_mask):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits


def albert() -> ReferenceModel:
    from transformers import AlbertConfig, AlbertForSequenceClassification

    torch.manual_seed(0)
    config = AlbertConfig(vocab_size=200, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=4, intermediate_size=64, max_position_embeddings=32, num_labels=3)
    module = _Logits(AlbertForSequenceClassification(config).eval()).eval()
    ids = np.random.default_rng(0).integers(1, 200, (1, 12)).astype(np.int64)
    mask = np.ones((1, 12), np.int64)
    mask[0, 9:] = 0  # padded, as the serving tier's tokenizer pads
    return ReferenceModel(module, {"input_ids": ids, "attention_mask": mask}, tolerance=1e-3)


def roberta() -> ReferenceModel:
    from transformers import RobertaConfig, RobertaForSequenceClassification

    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=64, max_position_embeddings=40, type_vocab_size=1, pad_token_id=1,
                           num_labels=4)
    module = _Logits(RobertaForSequenceClassification(config).eval()).eval()
    ids = np.random.default_rng(1).integers(3, 300, (1, 16)).astype(np.int64)
    ids[0, 12:] = config.pad_token_id
    mask = (ids != config.pad_token_id).astype(np.int64)
    return ReferenceModel(module, {"input_ids": ids, "attention_mask": mask}, tolerance=1e-3)
