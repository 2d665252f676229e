"""Generated image folders: small coloured shapes, one class per colour and shape.

Fixtures for tests/data, imported by name by the test modules (not a conftest.py: a
second conftest module shadows the root one for `from conftest import ...`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

CLASSES = ("circle", "square", "triangle")  # sorted: class index = position here
COLOURS = {"circle": (220, 30, 30), "square": (30, 200, 30), "triangle": (30, 30, 220)}


def draw(kind: str, seed: int, size=(20, 16)):
    """An RGB image of one shape at a seeded position and size, on a grey background."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, (120, 120, 120))
    pen = ImageDraw.Draw(image)
    w, h = size
    r = int(rng.integers(3, 6))
    cx, cy = int(rng.integers(r, w - r)), int(rng.integers(r, h - r))
    box = (cx - r, cy - r, cx + r, cy + r)
    if kind == "circle":
        pen.ellipse(box, fill=COLOURS[kind])
    elif kind == "square":
        pen.rectangle(box, fill=COLOURS[kind])
    else:
        pen.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=COLOURS[kind])
    return image


def write_class_folders(root: Path, per_class: int, seed: int = 0) -> Path:
    """`root/<class>/NN.png|jpg`, alternating PNG and JPEG, plus files to be ignored."""
    for c, kind in enumerate(CLASSES):
        folder = root / kind
        folder.mkdir(parents=True)
        for i in range(per_class):
            image = draw(kind, seed * 1000 + c * 100 + i)
            image.save(folder / (f"{i:02d}.png" if i % 2 else f"{i:02d}.jpg"), quality=95)
        (folder / "notes.txt").write_text("not an image")
        (folder / ".hidden.png").write_bytes(b"not decoded: hidden")
    return root


@pytest.fixture
def flat_folder(tmp_path, monkeypatch):
    """3 classes x 10 images, one folder per class; the cache in tmp_path."""
    monkeypatch.setenv("TAPQ_CACHE", str(tmp_path / "cache"))
    return write_class_folders(tmp_path / "shapes", 10)


@pytest.fixture
def imagenet_folder(tmp_path, monkeypatch):
    """train/ (3 x 10) and val/ (3 x 4), ImageNet style."""
    monkeypatch.setenv("TAPQ_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "imnet"
    write_class_folders(root / "train", 10, seed=1)
    write_class_folders(root / "val", 4, seed=2)
    return root


@pytest.fixture(autouse=True)
def fresh_memo():
    """Each test loads from disk: load_data's per-process memo is emptied around it."""
    from tapq.data import loading

    loading._memo.clear()
    yield
    loading._memo.clear()
