"""Seeded training of the built-in networks (the project's own weights; nothing is downloaded).

`python -m tapq.models.train mnist-cnn` (or `tapq train mnist-cnn`) reproduces a shipped
checkpoint. Training is deterministic for a given seed, thread count and PyTorch build.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from tapq.data import DatasetSplits, random_shift
from tapq.device import DeviceLike, resolve_device
from tapq.evaluate import evaluate
from tapq.progress import track


@dataclass(frozen=True)
class TrainConfig:
    """How a built-in model is trained.

    Attributes:
        epochs: passes over the training split.
        batch_size: examples per SGD step.
        lr: peak learning rate of the one-cycle schedule.
        weight_decay: L2 penalty on all parameters (decoupled for AdamW).
        optimizer: ``sgd`` (Nesterov momentum 0.9, the CNNs) or ``adamw`` (transformers,
            which SGD trains poorly).
        max_shift: random translation in pixels for augmentation (0 disables).
        seed: seeds initialisation, shuffling and augmentation.
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.1
    weight_decay: float = 5e-4
    max_shift: int = 2
    seed: int = 0
    optimizer: str = "sgd"


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, nesterov=True,
                               weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; use 'sgd' or 'adamw'")


def train_model(model: nn.Module, data: DatasetSplits, config: TrainConfig,
                device: DeviceLike = None) -> dict:
    """Train `model` in place on `data.train` on `device` (batches moved there; the model
    ends on the CPU); return a record of the run.

    The record (config, eval accuracy, seconds, device) is stored in the checkpoint so a
    shipped checkpoint says how it was made. Shuffling and shifts are drawn on the CPU,
    so every device sees the same batches.
    """
    device = resolve_device(device)
    model.to(device)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = _optimizer(model, config)
    steps_per_epoch = -(-len(data.train) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr,
                                                   total_steps=config.epochs * steps_per_epoch)
    start = time.perf_counter()
    for _ in track(range(config.epochs), f"training ({len(data.train)} images)"):
        model.train()
        order = torch.randperm(len(data.train), generator=generator)
        for i in range(0, len(order), config.batch_size):
            index = order[i:i + config.batch_size]
            x = random_shift(data.train.x[index], config.max_shift, generator).to(device)
            loss = nn.functional.cross_entropy(model(x), data.train.y[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    result = evaluate(model, data.eval)
    model.to("cpu")
    return {"train_config": asdict(config), "eval_accuracy": result.accuracy,
            "eval_loss": result.loss, "train_seconds": time.perf_counter() - start,
            "torch_version": str(torch.__version__), "device": str(device)}


def train_from_seed(factory: Callable[[], nn.Module], data: DatasetSplits, config: TrainConfig,
                    device: DeviceLike = None) -> tuple[nn.Module, dict]:
    """Build a model with `config.seed` (so initialisation is reproducible) and train it."""
    torch.manual_seed(config.seed)
    model = factory()
    return model, train_model(model, data, config, device)


if __name__ == "__main__":
    import sys

    from tapq.models.registry import train_builtin

    for name in sys.argv[1:] or ["mnist-cnn"]:
        print(train_builtin(name))
