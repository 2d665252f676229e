"""``photos``: label-free natural-image crops for ImageNet networks, from photos in packages.

No class-labelled ImageNet image ships in any installable package, but natural photos do:
scikit-learn's two sample images and the photos bundled inside scikit-image's wheel
(read from its data folder directly, so nothing is ever downloaded). Each photo gives a
fixed set of 32 square crops -- the whole image (at up to 3 positions along its longer
side), a 2 x 2 grid at 0.6 and a 3 x 3 grid at 0.4 of its shorter side, each also
mirrored -- resized to ``size`` pixels and normalised as the network was trained:
``norm=imagenet`` (default: the ImageNet mean and std, torchvision's models) or ``norm=tf``
((pixel - 127) / 128, TensorFlow's EfficientNet-Lite and MobileNet checkpoints; feeding
them ImageNet-normalised crops lowers their confidence on every photo checked). Crops of one photo never straddle splits: a fixed third
of the photos is the calibration split (also the training split, which only QAT uses),
the rest the evaluation split, so PTQ never calibrates on the pixels it is judged on.
The crops of a photo (and a crop and its mirror) are far from independent, so each crop
carries its photo as its group: split-half reliability splits photos, not crops.

There are no labels: the target is agreement with, and KL to, the full-precision model.
Grayscale photos are repeated over three channels. Photos missing from an installed
version are skipped; fewer than the minimum is an error naming the package to install.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tapq.data.preprocess import IMAGENET_MEAN, IMAGENET_STD
from tapq.data.splits import DatasetSplits, Split
from tapq.errors import TapqError

DEFAULT_SIZE = 224
# (mean, std) of pixels in [0, 255] per normalisation name.
NORMS = {"imagenet": (tuple(255 * m for m in IMAGENET_MEAN), tuple(255 * s for s in IMAGENET_STD)),
         "tf": ((127.0,) * 3, (128.0,) * 3)}
# (crop side / shorter side, positions per axis): 16 crops of a photo, 32 with mirrors.
# Few enough that the ImageNet network evaluates 320 crops in seconds to a minute on 2 cores.
SCALES = ((1.0, 3), (0.6, 2), (0.4, 3))
# Files of scikit-image's bundled data folder (no download), in a fixed order.
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg",
                  "motorcycle_left.png", "hubble_deep_field.jpg", "ihc.png", "camera.png", "coins.png", "moon.png",
                  "grass.png", "gravel.png", "brick.png")
CALIB_EVERY = 3  # photos 0, 3, 6, ... of the sorted list calibrate; the others evaluate
MIN_PHOTOS = 4


def _photos() -> list[tuple[str, np.ndarray]]:
    """(name, H x W x 3 uint8) of every available photo, in a fixed order."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    found = [(Path(f).stem, np.asarray(image)) for f, image in zip(bunch.filenames, bunch.images)]
    try:
        import skimage
        folder = Path(skimage.__file__).parent / "data"
    except ImportError:
        folder = None
    for name in SKIMAGE_PHOTOS if folder else ():
        path = folder / name
        if path.is_file():
            with Image.open(path) as image:
                found.append((Path(name).stem, np.asarray(image.convert("RGB"))))
    if len(found) < MIN_PHOTOS:
        raise TapqError(f"the photos data set found {len(found)} photos; install "
                        "scikit-image (pip install 'tapq[imagenet]') for its bundled photos")
    return found


def crop_boxes(height: int, width: int) -> list[tuple[int, int, int]]:
    """(top, left, side) of every square crop of a height x width photo, fixed order."""
    short = min(height, width)
    boxes = []
    for scale, grid in SCALES:
        side = round(scale * short)
        tops = np.linspace(0, height - side, grid).round().astype(int)
        lefts = np.linspace(0, width - side, grid).round().astype(int)
        boxes += [(int(t), int(left), side) for t in dict.fromkeys(tops)
                  for left in dict.fromkeys(lefts)]
    return boxes


def _crops(photo: np.ndarray, size: int) -> np.ndarray:
    """(N, 3, size, size) uint8: every crop of `photo`, each followed by its mirror."""
    from PIL import Image

    image = Image.fromarray(photo)
    out = []
    for top, left, side in crop_boxes(*photo.shape[:2]):
        crop = image.crop((left, top, left + side, top + side)).resize((size, size),
                                                                      Image.BILINEAR)
        array = np.asarray(crop).transpose(2, 0, 1)
        out += [array, array[:, :, ::-1]]
    return np.stack(out)


def _normalise(images: np.ndarray, norm: str) -> torch.Tensor:
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in NORMS[norm])
    return (torch.from_numpy(np.ascontiguousarray(images)).float() - mean) / std


def load_photos(size: str | int = DEFAULT_SIZE, norm: str = "imagenet") -> DatasetSplits:
    """The ``photos`` data set at `size` x `size` pixels, normalised by `norm` (see the
    module docstring)."""
    if norm not in NORMS:
        raise TapqError(f"photos option norm={norm}: give one of {', '.join(NORMS)}")
    try:
        side = int(size)
    except ValueError:
        side = 0
    if not 32 <= side <= 1024:
        raise TapqError(f"photos option size={size}: give a whole number of pixels, 32..1024")
    photos = _photos()
    calib = [(i, _crops(p, side)) for i, (_, p) in enumerate(photos) if i % CALIB_EVERY == 0]
    evaluation = [(i, _crops(p, side)) for i, (_, p) in enumerate(photos) if i % CALIB_EVERY]
    calib_split, eval_split = (
        Split(_normalise(np.concatenate([c for _, c in part]), norm), None,
              torch.cat([torch.full((len(c),), i) for i, c in part]))  # a group per photo
        for part in (calib, evaluation))
    return DatasetSplits("photos", calib_split, calib_split, eval_split, num_classes=None)
