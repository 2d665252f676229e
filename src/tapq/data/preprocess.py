"""Image preprocessing for user image folders: decode, resize, centre crop, normalise.

The defaults are the standard ImageNet evaluation transform (shorter side to 256 pixels,
bilinear; centre 224 x 224 crop; RGB; the ImageNet channel mean and std), because a model
must be fed what it was trained on and most pretrained vision models were trained on
that. Small images need their own sizes (``resize=32&crop=32`` for CIFAR-like data), and
``resize=0&crop=0`` keeps images as they are (then they must all have one size).

Decoding gives uint8 arrays, which is what the image-folder cache stores; normalising is
a cheap step applied after the cache, so changing mean or std never decodes again.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from tapq.errors import TapqError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImageOptions:
    """How images are turned into model inputs (options of an ``imagefolder:`` spec).

    Attributes:
        resize: shorter side in pixels after a bilinear resize; 0 keeps the size.
        crop: side of the centre square crop; 0 keeps the whole image.
        gray: one channel (luminance) instead of RGB.
        mean: per-channel mean subtracted from pixels in [0, 1]; one value or one per
            channel. None: the ImageNet mean (for gray, the average of its three).
        std: per-channel divisor after the mean, likewise; None: the ImageNet std.
    """

    resize: int = 256
    crop: int = 224
    gray: bool = False
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @property
    def channels(self) -> int:
        """Channels of a decoded image: 1 when gray, else 3."""
        return 1 if self.gray else 3

    def norm(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The mean and std actually used."""
        def default(values: tuple[float, ...]) -> tuple[float, ...]:
            return (round(sum(values) / 3, 4),) if self.gray else values
        return self.mean or default(IMAGENET_MEAN), self.std or default(IMAGENET_STD)

    @classmethod
    def parse(cls, options: dict[str, str]) -> "ImageOptions":
        """Options from their spec text (``{"resize": "256", "gray": "1"}``); TapqError
        naming the option when one is malformed."""
        values: dict = {}
        for key in ("resize", "crop"):
            if key in options:
                text = options[key]
                if not text.isdigit():
                    raise TapqError(f"imagefolder option {key}={text!r}: give a whole number "
                                    "of pixels (0 keeps the size)")
                values[key] = int(text)
        if "gray" in options:
            text = options["gray"].lower()
            if text not in ("0", "1", "true", "false"):
                raise TapqError(f"imagefolder option gray={options['gray']!r}: use 0 or 1")
            values["gray"] = text in ("1", "true")
        for key in ("mean", "std"):
            if key in options:
                values[key] = _floats(key, options[key])
        result = cls(**values)
        result._check()
        return result

    def _check(self) -> None:
        if self.resize and self.crop > self.resize:
            raise TapqError(f"imagefolder option crop={self.crop} is larger than "
                            f"resize={self.resize}; the crop must fit the resized image")
        for key, values in zip(("mean", "std"), self.norm()):
            if len(values) not in (1, self.channels):
                raise TapqError(f"imagefolder option {key} has {len(values)} values; give 1 "
                                f"or {self.channels} (one per channel)")
        if any(value <= 0 for value in self.norm()[1]):
            raise TapqError("imagefolder option std must be positive")

    def to_options(self) -> dict[str, str]:
        """The options that differ from the defaults, as spec text (canonical spelling)."""
        default = ImageOptions(gray=self.gray)
        text = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name in ("mean", "std"):
                value = self.norm()[0 if field.name == "mean" else 1]
                if value == default.norm()[0 if field.name == "mean" else 1]:
                    continue
                text[field.name] = ",".join(f"{v:g}" for v in value)
            elif value != getattr(ImageOptions(), field.name):
                text[field.name] = str(int(value))
        return text


def _floats(key: str, text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise TapqError(f"imagefolder option {key}={text!r}: give numbers separated by "
                        "commas, e.g. 0.485,0.456,0.406") from None
    if not all(np.isfinite(values)):
        raise TapqError(f"imagefolder option {key}={text!r} is not finite")
    return values


def decode_image(path: Path, options: ImageOptions) -> np.ndarray:
    """One image file as a (C, H, W) uint8 array, resized and centre-cropped.

    Raises TapqError naming the file when it cannot be decoded (corrupt or truncated).
    """
    from PIL import Image  # imported here: only image folders need Pillow

    try:
        with Image.open(path) as image:
            image = image.convert("L" if options.gray else "RGB")  # decodes the whole file
    except Exception as error:  # Pillow raises many types for a damaged file
        detail = " ".join(str(error).split())
        detail = "" if str(path) in detail else f": {detail[:200]}"  # no path twice
        raise TapqError(f"cannot decode image {path}: {type(error).__name__}{detail}") from None
    if options.resize:
        width, height = image.size
        # Shorter side to `resize`, the longer one scaled and truncated (as torchvision).
        if width <= height:
            size = (options.resize, int(options.resize * height / width))
        else:
            size = (int(options.resize * width / height), options.resize)
        image = image.resize(size, Image.BILINEAR)
    if options.crop:
        width, height = image.size
        if min(width, height) < options.crop:
            raise TapqError(f"image {path} is {width}x{height}, smaller than crop="
                            f"{options.crop}; set resize to at least the crop")
        left = int(round((width - options.crop) / 2))
        top = int(round((height - options.crop) / 2))
        image = image.crop((left, top, left + options.crop, top + options.crop))
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def normalise(images: np.ndarray, options: ImageOptions) -> torch.Tensor:
    """(N, C, H, W) uint8 images as float32 model inputs: [0, 1], minus mean, over std."""
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1) for v in options.norm())
    return (torch.from_numpy(np.ascontiguousarray(images)).float() / 255 - mean) / std
