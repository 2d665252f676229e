"""A user's images, one folder per class, as fixed train / calibration / evaluation splits.

Two layouts are recognised:

- ImageNet style, ``PATH/train/<class>/...`` and ``PATH/val/<class>/...``: evaluation is
  ``val/``; from ``train/`` a seeded 10% of every class (at least one image) is the
  calibration split and the rest the training split.
- One folder per class, ``PATH/<class>/...``: a seeded split of every class into 50%
  training, 10% calibration and 40% evaluation (as the built-in mnist: 250 / 50 / 200),
  each of calibration and evaluation getting at least one image per class.
- Images directly in ``PATH`` and no sub-folders: label-free data, split 50 / 10 / 40 as
  one class; its target is agreement with (and KL to) the full-precision model.

Class indices follow the sorted class-folder names (of ``train/`` in the ImageNet
layout; a ``val/`` class missing from ``train/`` is an error). Image files are found
recursively under each class folder by extension; hidden files and folders are ignored.

Only the images of the chosen splits are decoded, so a large folder costs what is used:
``calib_n`` / ``eval_n`` / ``train_n`` pick seeded stratified subsets before decoding, and
without them calibration holds at most 1,024 images and training at most 10,000 (PTQ
calibrates on 256 by default; training images only serve QAT fine-tuning). Evaluation is
never capped, since accuracy is measured on it: give ``eval_n`` for a large ``val/``.

Decoded uint8 images are cached in ``cache_dir()/data`` under a hash of the folder's
resolved path, every image file's relative path, size and modification time, the
decoding options and the subset sizes: benchmark workers and reruns read the cache
instead of decoding again, and any change to the files decodes afresh.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from tapq.cache import cache_dir
from tapq.data.preprocess import ImageOptions, decode_image, normalise
from tapq.data.spec import DataSpec
from tapq.data.splits import DatasetSplits, Split, stratified_subset
from tapq.errors import TapqError
from tapq.outputs import atomic_path
from tapq.progress import track

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif",
                              ".tiff", ".ppm", ".pgm", ".pbm"})
SPLIT_SEED = 0
FLAT_SHARES = (0.5, 0.1, 0.4)  # train, calib, eval of every class
CALIB_SHARE = 0.1  # of every class of train/ in the ImageNet layout
DEFAULT_CAP = {"train": 10_000, "calib": 1_024}
CACHE_VERSION = 1
SPLITS = ("train", "calib", "eval")
UNLABELLED = -1  # the label of every file of a folder without class folders


def load_imagefolder(spec: DataSpec) -> DatasetSplits:
    """Load the image folder of `spec` (an ``imagefolder:`` spec) as DatasetSplits."""
    root = Path(spec.path)
    if not root.is_dir():
        raise TapqError(f"image folder not found: {root}")
    classes, files = _scan(root)
    chosen = _choose(spec, classes, files)
    options = spec.image or ImageOptions()
    images = _decoded(root, options, spec, files, chosen)
    labels = np.array([label for part in SPLITS for _, label, _ in chosen[part]], np.int64)
    x, y = normalise(images, options), torch.from_numpy(labels)
    bounds = np.cumsum([0] + [len(chosen[part]) for part in SPLITS])
    parts = [Split(x[a:b], y[a:b] if classes else None) for a, b in zip(bounds[:-1], bounds[1:])]
    return DatasetSplits(spec.format(), *parts, num_classes=len(classes) or None)


# ---- finding the images ----------------------------------------------------------------

# A file is (relative path, label, "train" | "val" | "all"): where it came from, not yet
# which split it is in.
File = tuple[str, int, str]


def _visible_dirs(folder: Path) -> list[str]:
    return sorted(entry.name for entry in os.scandir(folder)
                  if entry.is_dir() and not entry.name.startswith("."))


def _images_under(folder: Path) -> list[Path]:
    found = []
    for where, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(where, n) for n in names
                  if not n.startswith(".") and Path(n).suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(found)


def _scan(root: Path) -> tuple[list[str], list[File]]:
    top = _visible_dirs(root)
    imagenet = "train" in top and "val" in top
    if imagenet:
        classes = _visible_dirs(root / "train")
        missing = sorted(set(_visible_dirs(root / "val")) - set(classes))
        if missing:
            raise TapqError(f"image folder {root}: val/ has classes that train/ lacks: "
                            f"{', '.join(missing[:3])}")
        parts = [("train", root / "train", classes),
                 ("val", root / "val", _visible_dirs(root / "val"))]
    elif "train" in top or "val" in top:
        raise TapqError(f"image folder {root} has {'train' if 'train' in top else 'val'}/ "
                        "but not both train/ and val/ (or rename it: it would be a class)")
    else:
        classes = top
        parts = [("all", root, classes)]
    if not top and _images_under(root):
        # Images without class folders: label-free data, judged against full precision.
        return [], [(str(p.relative_to(root)), UNLABELLED, "all") for p in _images_under(root)]
    if not classes:
        raise TapqError(f"image folder {root} holds no class folders (expected "
                        "PATH/<class>/image files, or PATH/train/<class> and PATH/val/<class>)")
    index = {name: i for i, name in enumerate(classes)}
    files: list[File] = []
    for part, folder, names in parts:
        for name in names:
            images = _images_under(folder / name)
            if not images:
                raise TapqError(f"image folder {root}: class folder {folder / name} holds no "
                                f"images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
            files += [(str(p.relative_to(root)), index[name], part) for p in images]
    return classes, files


# ---- choosing the splits ---------------------------------------------------------------

def _choose(spec: DataSpec, classes: list[str], files: list[File]) -> dict[str, list[File]]:
    """The files of each split, before any decoding: fixed by the seed and the file list."""
    rng = np.random.default_rng(SPLIT_SEED)
    labels = np.array([label for _, label, _ in files])
    pool = np.array([part != "val" for _, _, part in files])
    split: dict[str, list[int]] = {part: [] for part in SPLITS}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero((labels == label) & pool))
        n = len(members)
        if pool.all():  # one folder per class: 50 / 10 / 40
            if n < 3:
                what = f"class {classes[label]}" if classes else "it"
                raise TapqError(f"image folder {spec.path}: {what} has {n} image(s); each "
                                "needs at least 3 (training, calibration, evaluation)")
            calib, evaluation = (max(1, round(share * n)) for share in FLAT_SHARES[1:])
        else:
            calib, evaluation = max(1, round(CALIB_SHARE * n)), 0
        split["calib"] += members[:calib].tolist()
        split["eval"] += members[calib:calib + evaluation].tolist()
        split["train"] += members[calib + evaluation:].tolist()
    if not pool.all():
        split["eval"] = np.flatnonzero(~pool).tolist()
    chosen = {}
    for part in SPLITS:
        index = np.sort(np.array(split[part], dtype=np.int64))
        asked = getattr(spec, f"{part}_n")
        if asked is not None and asked > len(index):
            raise TapqError(f"image folder {spec.path}: {part}_n={asked} asks for more images "
                            f"than its {part} split holds ({len(index)})")
        size = asked if asked is not None else min(len(index), DEFAULT_CAP.get(part, len(index)))
        if size < len(index):
            index = index[stratified_subset(labels[index], size, SPLIT_SEED)]
        chosen[part] = [files[i] for i in index]
    return chosen


# ---- decoding, through the cache -------------------------------------------------------

def _cache_file(root: Path, options: ImageOptions, spec: DataSpec, files: list[File]) -> Path:
    digest = hashlib.sha256()
    decoding = {"resize": options.resize, "crop": options.crop, "gray": options.gray}
    sizes = {key: getattr(spec, key) for key in ("train_n", "calib_n", "eval_n")}
    digest.update(json.dumps([CACHE_VERSION, str(root.resolve()), decoding, sizes]).encode())
    for relative, _, _ in files:
        stat = (root / relative).stat()
        digest.update(f"\n{relative}\t{stat.st_size}\t{stat.st_mtime_ns}".encode())
    return cache_dir() / "data" / f"imagefolder-{digest.hexdigest()[:24]}.npy"


def _decoded(root: Path, options: ImageOptions, spec: DataSpec, files: list[File],
             chosen: dict[str, list[File]]) -> np.ndarray:
    """(N, C, H, W) uint8 images of the chosen files in split order, from cache if there."""
    cached = _cache_file(root, options, spec, files)
    if cached.is_file():
        try:
            return np.load(cached, allow_pickle=False)
        except (OSError, ValueError):  # a damaged cache file is decoded again
            pass
    paths = [root / relative for part in SPLITS for relative, _, _ in chosen[part]]
    images = _decode_all(paths, options)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cached) as partial, open(partial, "wb") as stream:
        np.save(stream, images)
    return images


def _decode_all(paths: list[Path], options: ImageOptions) -> np.ndarray:
    """Decode on a thread pool (Pillow releases the GIL while decoding and resizing)."""
    out: np.ndarray | None = None
    workers = min(16, os.cpu_count() or 1)
    pool = ThreadPoolExecutor(workers)
    try:
        decoded = pool.map(lambda path: decode_image(path, options), paths)
        for i, image in enumerate(track(decoded, "decoding images", total=len(paths))):
            if out is None:
                out = np.empty((len(paths), *image.shape), np.uint8)
            elif image.shape != out.shape[1:]:
                raise TapqError(f"images differ in size ({paths[0]}: {out.shape[2]}x"
                                f"{out.shape[3]}, {paths[i]}: {image.shape[1]}x"
                                f"{image.shape[2]}); set resize and crop")
            out[i] = image
    finally:  # on an error, images not yet decoded are not waited for
        pool.shutdown(wait=True, cancel_futures=True)
    return out if out is not None else np.zeros((0, options.channels, 1, 1), np.uint8)
