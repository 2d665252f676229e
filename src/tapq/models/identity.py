"""A model's identity: what benchmarks and caches key on, so results measured on one
model are never silently reused for another."""
from __future__ import annotations

import hashlib

import torch
from torch import nn


def model_digest(model: nn.Module) -> hashlib._Hash:
    """Running SHA-256 over the model's architecture (its repr) and every state_dict tensor.

    The repr is included because two nets can share a state dict yet differ in strides
    or padding, and would then share cached statistics wrongly.
    """
    digest = hashlib.sha256(f"{type(model).__qualname__}\n{model!r}".encode())
    for name, tensor in model.state_dict().items():
        update_digest(digest, name, tensor)
    return digest


def update_digest(digest: hashlib._Hash, name: str, tensor: torch.Tensor) -> None:
    """Add one named tensor (dtype, shape and raw bytes) to `digest`."""
    tensor = tensor.detach().cpu().contiguous()
    digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
    digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())


def model_hash(model: nn.Module) -> str:
    """A short identity of a model's architecture and weights (16 hex chars of SHA-256)."""
    return model_digest(model).hexdigest()[:16]
