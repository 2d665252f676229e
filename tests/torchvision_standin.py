"""A stand-in ``torchvision`` package, written into a folder that tests put on sys.path.

The real torchvision cannot be installed next to torch 2.13.0 (no matching release), so
the installed path of ``--model torchvision:NAME`` is tested against this: it exposes
what tapq calls, ``torchvision.models.list_models()`` and ``get_model(name, weights)``,
and fails a pretrained download the way an offline machine does (URLError).
"""
from __future__ import annotations

from pathlib import Path

MODELS = '''"""Stand-in torchvision.models: two tiny models for 1-channel 8x8 images."""
from urllib.error import URLError

from torch import nn


class TinyViT(nn.Module):
    """Pixels as tokens and nn.MultiheadAttention, as torchvision's ViTs use it."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(1, 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        tokens = self.embed(x.flatten(2).transpose(1, 2))
        return self.head(self.attn(tokens, tokens, tokens, need_weights=False)[0].mean(1))


def tiny_cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 10))


_BUILDERS = {"tiny_cnn": tiny_cnn, "tiny_vit": TinyViT}


def list_models():
    return sorted(_BUILDERS)


def get_model(name, weights=None):
    if name not in _BUILDERS:
        raise ValueError(f"Unknown model {name}")
    if weights is not None:
        raise URLError("[Errno -3] Temporary failure in name resolution")
    return _BUILDERS[name]()
'''


def write_standin(folder: Path) -> Path:
    """Write the stand-in package under `folder` (put `folder` on sys.path); return it."""
    package = folder / "torchvision"
    (package / "models").mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text('"""Stand-in torchvision."""\nfrom . import models\n')
    (package / "models" / "__init__.py").write_text(MODELS)
    return folder
