"""A small, deterministic training loop shared by subjects and white-box operators."""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING, Callable

import numpy as np

from edgewise.data.split import Split
from edgewise.errors import ConfigError

if TYPE_CHECKING:  # torch is imported where training runs, not when this module is
    import torch

LossFn = Callable[["torch.Tensor", "torch.Tensor", np.ndarray], "torch.Tensor"]

# How many intra-op threads this process may use now, when it shares the CPU with other training
# processes (see edgewise.building.lanes); None: torch's own setting stands.
_thread_share: Callable[[], int] | None = None
_THREAD_CHECK_STEPS = 8


def share_cpu(threads_now: Callable[[], int] | None) -> None:
    """Make `fit` follow `threads_now()` as other lanes start and finish (checked every few steps)."""
    global _thread_share
    _thread_share = threads_now


def _follow_thread_share() -> None:
    if _thread_share is not None:
        import torch

        wanted = max(1, int(_thread_share()))
        if wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)


def seed_everything(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


FP32 = "fp32"
BF16 = "bf16"  # bf16 autocast: matrix products and convolutions in bf16, weights and losses in fp32
PRECISION_ENV = "EDGEWISE_TRAINING_PRECISION"  # auto (default), fp32 or bf16


def training_precision(device: str) -> str:
    """The precision `fit` trains in: bf16 mixed precision on a CPU that computes bf16 natively
    (AVX-512 BF16 or AMX, where it is much faster: benchmarks/results/bench_training.json), fp32
    everywhere else. EDGEWISE_TRAINING_PRECISION overrides it; the teacher record and the build log
    say which was used."""
    import torch

    wanted = os.environ.get(PRECISION_ENV, "auto").strip().lower()
    if wanted in (FP32, BF16):
        return wanted
    if wanted != "auto":
        raise ConfigError(f"{PRECISION_ENV}={wanted!r} is not a training precision", "use auto, fp32 or bf16")
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return BF16 if torch.device(device).type == "cpu" and native else FP32


def conv_layout(module, device: str) -> None:
    """Lay `module`'s 2-D convolution weights out channels-last when it runs on the CPU.

    oneDNN's convolutions run faster that way on one core (benchmarks/results/bench_training.json);
    fit and predict call restore_layout before they return, so every caller keeps the plain layout
    that ONNX export, pruning and the cache expect. Modules without 2-D convolutions are unchanged.
    """
    import torch

    if torch.device(device).type == "cpu" and any(isinstance(m, torch.nn.Conv2d) for m in module.modules()):
        module.to(memory_format=torch.channels_last)


def restore_layout(module) -> None:
    import torch

    module.to(memory_format=torch.contiguous_format)


def fit(module, data: Split, *, epochs: float = 1.0, batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
        optimizer: str = "adamw", weight_decay: float = 0.0, loss_fn: LossFn | None = None,
        device: str = "cpu", log: Callable[[str], None] | None = None, max_seconds: float | None = None,
        on_epoch: Callable[[int], None] | None = None, precision: str | None = None):
    """Train `module` on `data` (labels required unless loss_fn ignores them). Returns the module.

    `epochs` may be fractional (quick profiles); `loss_fn(logits, labels, sample_index)` lets
    distillation mix in teacher logits looked up by sample index. `precision` defaults to
    training_precision(device); the loss is always computed in fp32.
    """
    import torch
    import torch.nn.functional as F

    seed_everything(seed)
    module.to(device).train()
    conv_layout(module, device)
    kind = torch.device(device).type
    precision = precision or training_precision(device)
    autocast = _autocast(kind, precision)
    params = [p for p in module.parameters() if p.requires_grad]
    # One fused kernel per step instead of a loop over tensors (bench_training.json).
    fused = kind in ("cpu", "cuda")
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay, fused=fused)
    else:
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused)
    n = len(data)
    steps_per_epoch = max(1, (n + batch_size - 1) // batch_size)
    total_steps = max(1, int(round(epochs * steps_per_epoch)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps, pct_start=0.15) \
        if optimizer != "sgd" else torch.optim.lr_scheduler.CosineAnnealingLR(opt, total_steps)
    rng = np.random.default_rng(seed)
    labels = None if data.labels is None else torch.from_numpy(data.labels.astype(np.int64))
    start = time.time()
    step = 0
    epoch = 0
    while step < total_steps:
        order = rng.permutation(n)
        for b in range(steps_per_epoch):
            if step >= total_steps:
                break
            if step % _THREAD_CHECK_STEPS == 0:
                _follow_thread_share()
            idx = order[b * batch_size : (b + 1) * batch_size]
            feeds = {k: torch.from_numpy(v).to(device) for k, v in data.batch(idx).items()}
            with autocast:
                logits = module(**feeds)
            logits = logits.float()
            y = None if labels is None else labels[idx].to(device)
            loss = loss_fn(logits, y, idx) if loss_fn else F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if max_seconds is not None and time.time() - start > max_seconds:
                step = total_steps
                break
        if log:
            log(f"  epoch {epoch + 1}: loss {float(loss.detach()):.4f} ({time.time() - start:.0f} s, {precision})")
        if on_epoch:
            on_epoch(epoch)
        epoch += 1
    restore_layout(module)
    return module.eval()


def predict(module, data: Split, batch_size: int = 64, device: str = "cpu", precision: str | None = None) -> np.ndarray:
    """Logits (fp32) of `module` on every sample of `data`, in `precision` (default: the training
    precision, which computes teacher logits and a teacher's quality about twice as fast in bf16:
    the top-1 of the resnet and MiniLM teachers agreed with fp32 on 99.9% and 100% of their
    evaluation splits, at the same accuracy).

    Batches of 64 keep a convolution's activations in cache: faster per sample than 256 on one core
    (benchmarks/results/bench_training.json)."""
    import torch

    module.to(device).eval()
    conv_layout(module, device)
    outs = []
    try:
        with torch.inference_mode(), _autocast(torch.device(device).type, precision or training_precision(device)):
            for feeds, _ in data.batches(batch_size):
                t = {k: torch.from_numpy(v).to(device) for k, v in feeds.items()}
                outs.append(module(**t).float().cpu().numpy())
    finally:
        restore_layout(module)
    return np.concatenate(outs)


def _autocast(kind: str, precision: str):
    import torch

    return torch.autocast(kind, dtype=torch.bfloat16) if precision == BF16 else contextlib.nullcontext()
