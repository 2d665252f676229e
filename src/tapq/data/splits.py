"""Dataset containers and the fixed, stratified train / calibration / evaluation split.

Every built-in dataset is split the same way: per class, a seeded permutation assigns a
fixed number of examples to each split. Fixed splits are what make accuracy numbers
comparable across runs, machines and benchmark files.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Split:
    """Inputs `x` (N, C, H, W float32, already normalised) and integer labels `y` (N,),
    or ``y=None`` for label-free data (then targets come from the full-precision model).

    `groups` (N,) names the source of each example where several come from one (the
    crops of one photo): examples of a group are not independent, so the two halves that
    split-half reliability correlates keep each group whole (``halves``). None: every
    example is its own source.
    """

    x: torch.Tensor
    y: torch.Tensor | None
    groups: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.x)

    def halves(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices of two disjoint halves of the examples that share no source: even and
        odd positions, or with `groups`, alternate groups in order of first appearance."""
        index = torch.arange(len(self))
        if self.groups is None:
            return index[0::2], index[1::2]
        order = list(dict.fromkeys(self.groups.tolist()))
        side = torch.tensor([order.index(g) % 2 for g in self.groups.tolist()], dtype=torch.long)
        return index[side == 0], index[side == 1]

    @property
    def labelled(self) -> bool:
        """Whether the examples carry labels."""
        return self.y is not None

    def take(self, index) -> "Split":
        """The examples at `index` (labels too, when there are any)."""
        return Split(self.x[index], None if self.y is None else self.y[index],
                     None if self.groups is None else self.groups[index])

    def subset(self, n: int, seed: int) -> "Split":
        """A seeded random subset of `n` examples (all of them if n >= len)."""
        if n >= len(self):
            return self
        index = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return self.take(index)


@dataclass(frozen=True)
class DatasetSplits:
    """A dataset as tapq uses it.

    Attributes:
        name: the data spec that produced it (e.g. "mnist").
        train: examples the model is trained on.
        calib: examples PTQ calibrates on; never trained on, never evaluated on.
        eval: held-out examples that every accuracy in tapq is measured on.
        num_classes: number of labels; None for label-free data, whose target is
            agreement with (and KL to) the full-precision model.
    """

    name: str
    train: Split
    calib: Split
    eval: Split
    num_classes: int | None

    @property
    def labelled(self) -> bool:
        """Whether the data has labels (else the target is agreement with full precision)."""
        return self.eval.labelled

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input (C, H, W)."""
        return tuple(self.train.x.shape[1:])


def stratified_split(labels: np.ndarray, counts: tuple[int, int, int], seed: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train / calib / eval holding `counts` examples of every class.

    Classes with fewer examples than sum(counts) give up evaluation examples first.
    """
    rng = np.random.default_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_train, n_calib, _ = counts
        parts[0].append(members[:n_train])
        parts[1].append(members[n_train:n_train + n_calib])
        parts[2].append(members[n_train + n_calib:n_train + n_calib + counts[2]])
    return tuple(np.sort(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of `n` of the examples, each class keeping its share of `labels`.

    A subset that shifts the class balance would measure accuracy on another task than the
    full split: each class gets n * (its share) examples, rounded by largest remainder,
    chosen by a seeded permutation within the class. Requires n <= len(labels).
    Label-free data (an array of equal labels) gets a plain seeded random subset.
    """
    classes, counts = np.unique(labels, return_counts=True)
    exact = n * counts / counts.sum()
    quota = np.floor(exact).astype(int)
    by_remainder = np.argsort(-(exact - quota), kind="stable")
    quota[by_remainder[:n - quota.sum()]] += 1
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == label))[:q]
              for label, q in zip(classes, quota)]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def make_splits(name: str, images: np.ndarray, labels: np.ndarray,
                counts: tuple[int, int, int], seed: int) -> DatasetSplits:
    """Split (N, C, H, W) images into fixed stratified splits, normalised by train statistics."""
    train_idx, calib_idx, eval_idx = stratified_split(labels, counts, seed)
    x = torch.as_tensor(images, dtype=torch.float32)
    mean, std = x[train_idx].mean(), x[train_idx].std()
    x = (x - mean) / std
    y = torch.as_tensor(labels, dtype=torch.long)
    return DatasetSplits(name=name, train=Split(x[train_idx], y[train_idx]),
                         calib=Split(x[calib_idx], y[calib_idx]),
                         eval=Split(x[eval_idx], y[eval_idx]),
                         num_classes=int(labels.max()) + 1)
