"""`load_data(spec)`: one entry for every data source, memoised per canonical spec.

The spec is parsed once (tapq.data.spec), the source is loaded (built-in, image folder or
user factory), and the requested subsets are taken. Splits are immutable, so each
canonical spec is loaded at most once per process; two spellings of the same spec share
the entry.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from tapq.data.builtin import BUILTIN_DATASETS
from tapq.data.spec import SIZE_KEYS, DataSpec
from tapq.data.splits import DatasetSplits, Split, stratified_subset
from tapq.errors import TapqError

SUBSET_SEED = 0
_memo: dict[str, DatasetSplits] = {}


def load_data(spec: str) -> DatasetSplits:
    """Load a dataset by spec (see tapq.data.spec for the format), e.g. ``mnist``,
    ``digits?eval_n=500``, ``imagefolder:/data/imnet?eval_n=10000``, ``data.py:make``.

    Returns DatasetSplits named by the canonical spec. Every mistake in the spec or the
    data is a one-line TapqError.
    """
    if not isinstance(spec, str) or not spec:
        raise TapqError(f"no data spec given ({spec!r})")
    parsed = DataSpec.parse(spec)
    name = parsed.format()
    if name not in _memo:
        _memo[name] = _load(parsed, name)
    return _memo[name]


def _load(spec: DataSpec, name: str) -> DatasetSplits:
    if spec.kind == "imagefolder":  # takes its subsets itself, before decoding
        from tapq.data.imagefolder import load_imagefolder

        return load_imagefolder(spec)
    whole = spec.whole.format()
    if name != whole:  # subsets of the whole, which is loaded (and memoised) once
        data = load_data(whole)
    elif spec.kind == "builtin":
        return replace(BUILTIN_DATASETS[spec.source](**dict(spec.options)), name=name)
    else:
        from tapq.data.factory import load_factory_data

        return load_factory_data(spec.source, name, dict(spec.options))
    parts = {key[:-2]: _subset(spec, key, getattr(data, key[:-2])) for key in SIZE_KEYS}
    return replace(data, name=name, **parts)


def _subset(spec: DataSpec, key: str, split: Split) -> Split:
    n = getattr(spec, key)
    if n is None:
        return split
    if n > len(split):
        raise TapqError(f"data {spec.source!r}: {key}={n} asks for more examples than its "
                        f"{key[:-2]} split holds ({len(split)})")
    labels = split.y.numpy() if split.labelled else np.zeros(len(split), np.int64)
    return split.take(stratified_subset(labels, n, SUBSET_SEED))
