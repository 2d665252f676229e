"""A user's own data from a ``package.module:factory`` or ``path/to/file.py:factory`` spec.

The factory is called with the spec's own options as keyword arguments (text values:
``data.py:make?size=240`` calls ``make(size="240")``; none for a bare spec) and returns
either a `DatasetSplits`, or a dict with keys ``calib`` and ``eval`` (and optionally
``train`` and ``num_classes``) whose values are each a map-style dataset yielding
``(x, y)`` pairs (a torch ``Dataset``, or anything with ``len`` and indexing) or a pair of
tensors / arrays ``(x, y)``. Inputs are used as given (normalise them in the factory);
labels must be integers.

Label-free data: give inputs only -- a tensor / array of inputs, ``(x, None)``, or a
dataset yielding inputs -- in every split. Its target is then agreement with, and KL to,
the full-precision model.

Without ``train``, the training split is the calibration split: tapq trains only for QAT
fine-tuning, which then adapts on the calibration examples -- never on the evaluation
ones, so measured accuracy stays held-out. ``num_classes`` defaults to the largest label
plus one.
"""
from __future__ import annotations

from collections.abc import Mapping
import numpy as np
import torch

from tapq.data.splits import DatasetSplits, Split
from tapq.errors import TapqError
from tapq.progress import track
from tapq.user_code import import_callable, one_line

KEYS = ("train", "calib", "eval", "num_classes")


def load_factory_data(source: str, name: str, options: dict[str, str] | None = None
                      ) -> DatasetSplits:
    """Call the factory `source` names with `options` as keyword arguments and check what
    it returns; `name` is the DatasetSplits' name (the canonical spec)."""
    factory = import_callable(source, "data")
    try:
        result = factory(**(options or {}))
    except Exception as error:
        given = f" with options {options}" if options else ""
        raise TapqError(f"data factory {source!r} failed{given}: {one_line(error)}") from None
    if isinstance(result, DatasetSplits):
        splits = {"train": result.train, "calib": result.calib, "eval": result.eval}
        parts = {key: _split(source, key, (s.x, s.y)) for key, s in splits.items()}
        return _assemble(source, name, parts, result.num_classes)
    if not isinstance(result, Mapping) or not {"calib", "eval"} <= set(result):
        got = (f"a dict with keys {sorted(map(str, result))}" if isinstance(result, Mapping)
               else type(result).__name__)
        raise TapqError(f"data factory {source!r} returned {got}; return a DatasetSplits "
                        "or a dict with 'calib' and 'eval' (and optional 'train', "
                        "'num_classes')")
    unknown = sorted(map(str, set(result) - set(KEYS)))
    if unknown:
        raise TapqError(f"data factory {source!r} returned unknown keys {unknown}; "
                        f"it may return {', '.join(KEYS)}")
    parts = {key: _split(source, key, result[key]) for key in ("calib", "eval", "train")
             if key in result}
    parts.setdefault("train", parts["calib"])
    return _assemble(source, name, parts, result.get("num_classes"))


def _assemble(source: str, name: str, parts: dict[str, Split], num_classes) -> DatasetSplits:
    shapes = {key: tuple(part.x.shape[1:]) for key, part in parts.items()}
    if len(set(shapes.values())) > 1:
        raise TapqError(f"data factory {source!r}: splits have different input shapes "
                        f"{shapes}")
    labelled = {key for key, part in parts.items() if part.labelled}
    if labelled and labelled != set(parts):
        raise TapqError(f"data factory {source!r}: splits {sorted(labelled)} have labels and "
                        f"{sorted(set(parts) - labelled)} not; give labels everywhere or nowhere")
    if not labelled:
        if num_classes is not None:
            raise TapqError(f"data factory {source!r} gives num_classes but no labels")
        return DatasetSplits(name, parts["train"], parts["calib"], parts["eval"], None)
    largest = max(int(part.y.max()) for part in parts.values())
    if num_classes is None:
        num_classes = largest + 1
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) \
            or num_classes <= largest:
        raise TapqError(f"data factory {source!r}: num_classes={num_classes!r} must be a "
                        f"whole number above the largest label ({largest})")
    return DatasetSplits(name, parts["train"], parts["calib"], parts["eval"], int(num_classes))


def _split(source: str, key: str, value) -> Split:
    """One split from a pair of tensors or a map-style dataset of (x, y) pairs."""
    where = f"data factory {source!r}, split {key!r}"
    if isinstance(value, (torch.Tensor, np.ndarray)):  # inputs only
        x, y = torch.as_tensor(value), None
    elif isinstance(value, (tuple, list)) and len(value) == 2 and value[1] is None \
            and isinstance(value[0], (torch.Tensor, np.ndarray)):
        x, y = torch.as_tensor(value[0]), None
    elif _is_tensor_pair(value):
        x, y = (torch.as_tensor(np.asarray(v)) if isinstance(v, np.ndarray) else v
                for v in value)
        if len(x) != len(y):
            raise TapqError(f"{where}: {len(x)} inputs but {len(y)} labels")
    else:
        x, y = _from_dataset(where, value)
    if len(x) == 0:
        raise TapqError(f"{where} is empty")
    if x.ndim < 2 or x.dtype.is_complex:
        raise TapqError(f"{where}: inputs must be a batch of arrays, got shape "
                        f"{tuple(x.shape)}")
    if y is None:
        return Split(x.float().contiguous(), None)
    if y.ndim != 1 or y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise TapqError(f"{where}: labels must be integers, one per example (got "
                        f"{y.dtype} of shape {tuple(y.shape)})")
    if int(y.min()) < 0:
        raise TapqError(f"{where}: labels must not be negative (found {int(y.min())})")
    return Split(x.float().contiguous(), y.long())


def _is_tensor_pair(value) -> bool:
    return (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, (torch.Tensor, np.ndarray)) and v.ndim >= 1 for v in value))


def _from_dataset(where: str, dataset) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Inputs and labels of a map-style dataset of (x, y) pairs, or inputs and None of one
    yielding inputs only (label-free: item 0 decides which)."""
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise TapqError(f"{where} is a {type(dataset).__name__}; give a map-style dataset "
                        "of (x, y) pairs or a pair of tensors (x, y)")
    inputs, labels = [], []
    paired = None
    try:
        for i in track(range(len(dataset)), f"reading {where.split(', ')[-1]}"):
            item = dataset[i]
            is_pair = isinstance(item, (tuple, list)) and len(item) == 2
            paired = is_pair if paired is None else paired
            if is_pair != paired:
                raise TapqError(f"{where}: item {i} is {'' if is_pair else 'not '}an (x, y) "
                                f"pair and item 0 is {'' if paired else 'not'}")
            if not is_pair:
                item = (item, None)
            x = torch.as_tensor(np.asarray(item[0]) if not isinstance(item[0], torch.Tensor)
                                else item[0])
            if inputs and x.shape != inputs[0].shape:
                raise TapqError(f"{where}: item {i} has shape {tuple(x.shape)}, item 0 has "
                                f"{tuple(inputs[0].shape)}")
            inputs.append(x)
            if paired:
                labels.append(_label(where, i, item[1]))
    except TapqError:
        raise
    except Exception as error:  # the user's __getitem__ raised
        raise TapqError(f"{where}: reading item {len(inputs)} failed: {one_line(error)}") \
            from None
    if not inputs:
        raise TapqError(f"{where} is empty")
    return torch.stack(inputs), torch.tensor(labels, dtype=torch.long) if paired else None


def _label(where: str, i: int, label) -> int:
    if isinstance(label, torch.Tensor) and label.numel() == 1:
        label = label.item() if not label.dtype.is_floating_point else float(label.item())
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, bool) or not isinstance(label, int):
        raise TapqError(f"{where}: item {i} has label {label!r}; labels must be integers")
    return label
