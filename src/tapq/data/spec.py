"""Data specs: one string names a dataset, how it is preprocessed and how much of it is used.

    SOURCE[?KEY=VALUE&KEY=VALUE...]

SOURCE is a built-in name (``mnist``, ``digits``, ``photos``), ``imagefolder:PATH``, or a
user factory ``package.module:factory`` / ``path/to/file.py:factory``. Options:

- ``train_n``, ``calib_n``, ``eval_n`` (every source): a seeded, class-stratified subset
  of that many examples of the training / calibration / evaluation split (the CLI's
  ``--calib-n`` / ``--eval-n`` write these);
- ``resize``, ``crop``, ``gray``, ``mean``, ``std`` (image folders only): see
  `tapq.data.preprocess.ImageOptions`;
- a built-in's own options (``photos``: ``size``), defaults dropped from the canonical form;
- any other key of a factory spec is passed to the factory as a keyword argument (a
  string), e.g. ``data.py:make?size=240&seed=1`` calls ``make(size="240", seed="1")``.

A string, not a Python object, is what travels: benchmark worker processes load the data
themselves from it, and a benchmark stores it in its metadata and compares it on resume.
So every option that changes the data lives in it, and `DataSpec.format` gives one
canonical spelling -- options equal to their defaults dropped, image options then sizes in
a fixed order -- so two spellings of the same data compare equal, and a plain built-in name
stays exactly that name (benchmarks built before options existed still resume).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from tapq.data.builtin import BUILTIN_DATASETS, BUILTIN_OPTIONS
from tapq.data.preprocess import ImageOptions
from tapq.errors import TapqError

SIZE_KEYS = ("train_n", "calib_n", "eval_n")
IMAGE_KEYS = ("resize", "crop", "gray", "mean", "std")
IMAGEFOLDER = "imagefolder:"


@dataclass(frozen=True)
class DataSpec:
    """A parsed data spec.

    Attributes:
        source: what is loaded: a built-in name, ``imagefolder:PATH`` or ``module:factory``.
        image: preprocessing of an image folder (None for other sources).
        train_n, calib_n, eval_n: size of the seeded stratified subset of each split
            (None: the whole split, or for image folders its default size).
        options: the source's own options as sorted (key, value) text pairs: a built-in's
            (defaults dropped) or a factory's keyword arguments.
    """

    source: str
    image: ImageOptions | None = None
    train_n: int | None = None
    calib_n: int | None = None
    eval_n: int | None = None
    options: tuple[tuple[str, str], ...] = ()

    @property
    def kind(self) -> str:
        """``builtin``, ``imagefolder`` or ``factory``."""
        if self.source in BUILTIN_DATASETS:
            return "builtin"
        return "imagefolder" if self.source.startswith(IMAGEFOLDER) else "factory"

    @property
    def path(self) -> str:
        """The folder of an ``imagefolder:`` spec."""
        return self.source[len(IMAGEFOLDER):]

    @classmethod
    def parse(cls, text: str) -> "DataSpec":
        """Parse and check a spec; TapqError in one line for any mistake in it."""
        source, _, query = text.rpartition("?") if "?" in text else (text, "", "")
        if source in BUILTIN_DATASETS:
            allowed = SIZE_KEYS + tuple(BUILTIN_OPTIONS.get(source, {}))
        elif source.startswith(IMAGEFOLDER):
            if not source[len(IMAGEFOLDER):]:
                raise TapqError(f"data spec {text!r} names no folder: use imagefolder:PATH")
            allowed = IMAGE_KEYS + SIZE_KEYS
        elif ":" in source:
            allowed = None  # a factory takes any keyword argument
        else:
            raise TapqError(f"unknown data spec {text!r}; use a built-in dataset "
                            f"({', '.join(sorted(BUILTIN_DATASETS))}), imagefolder:PATH or "
                            "'package.module:factory'")
        options = _options(text, query, allowed)
        sizes = {key: _size(key, options.pop(key)) for key in SIZE_KEYS if key in options}
        if source.startswith(IMAGEFOLDER):
            return cls(source, ImageOptions.parse(options), **sizes)
        defaults = BUILTIN_OPTIONS.get(source, {})
        own = tuple(sorted((k, v) for k, v in options.items() if defaults.get(k) != v))
        return cls(source, None, **sizes, options=own)

    @property
    def whole(self) -> "DataSpec":
        """This spec without subset sizes: the data every subset is drawn from."""
        return replace(self, train_n=None, calib_n=None, eval_n=None)

    def format(self) -> str:
        """The canonical spelling (``parse(spec.format()) == spec``)."""
        options = self.image.to_options() if self.image else dict(self.options)
        options.update({key: str(getattr(self, key)) for key in SIZE_KEYS
                        if getattr(self, key) is not None})
        query = "&".join(f"{key}={value}" for key, value in options.items())
        return f"{self.source}?{query}" if query else self.source

    def with_sizes(self, calib_n: int | None = None, eval_n: int | None = None) -> "DataSpec":
        """This spec with the given subset sizes (None keeps what the spec says)."""
        for key, value in (("calib_n", calib_n), ("eval_n", eval_n)):
            if value is not None:
                _size(key, str(value))
        return replace(self, calib_n=calib_n if calib_n is not None else self.calib_n,
                       eval_n=eval_n if eval_n is not None else self.eval_n)


def canonical(text: str) -> str:
    """The canonical spelling of data spec `text` (checks it on the way)."""
    return DataSpec.parse(text).format()


def _options(text: str, query: str, allowed: tuple[str, ...] | None) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, equals, value = item.partition("=")
        if not equals or not value:
            raise TapqError(f"data spec {text!r}: option {item!r} needs a value (KEY=VALUE)")
        if allowed is not None and key not in allowed:
            raise TapqError(f"data spec {text!r}: unknown option {key!r}; this source takes "
                            f"{', '.join(allowed)}")
        if key in options:
            raise TapqError(f"data spec {text!r}: option {key!r} is given twice")
        options[key] = value
    return options


def _size(key: str, text: str) -> int:
    if not text.lstrip("-").isdigit() or int(text) < 1:
        raise TapqError(f"data option {key}={text}: give a whole number, at least 1")
    return int(text)
