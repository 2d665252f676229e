"""A model and the data it is measured on, loaded together and checked against each other.

What every command that runs a model does first, so that a Python user gets the same
defaults and the same one-line errors: the data defaults to a built-in model's own data
set, is required for a user's model, carries the subset sizes in its canonical spec (which
worker processes and benchmark metadata compare), and the model must run on it.
"""
from __future__ import annotations

from torch import nn

from tapq.data import DataSpec, DatasetSplits, load_data
from tapq.errors import TapqError
from tapq.models.registry import check_fits, default_data_for, load_model

__all__ = ["load_model_and_data", "resolve_data_spec"]


def resolve_data_spec(model: str, data: str | None = None, calib_n: int | None = None,
                      eval_n: int | None = None) -> str | None:
    """The canonical data spec for `model`: `data`, or a built-in model's own data set,
    with the subset sizes `calib_n` / `eval_n` folded in; None for a user's model given no
    data (the caller decides whether that is an error)."""
    spec = data or default_data_for(model)
    if spec is None:
        return None
    return DataSpec.parse(spec).with_sizes(calib_n, eval_n).format()


def load_model_and_data(model: str, weights: str | None = None, data: str | None = None,
                        calib_n: int | None = None, eval_n: int | None = None
                        ) -> tuple[nn.Module, DatasetSplits]:
    """The model `model` (with `weights`) and its data, checked to fit each other.

    Raises TapqError in one line for a bad data spec (before the model loads), a user model
    without data, or a model that does not run on the data's inputs.
    """
    data_spec = resolve_data_spec(model, data, calib_n, eval_n)
    if data_spec is None and ":" in model:
        raise TapqError(f"--data is required for user model {model!r}")
    network = load_model(model, weights)
    splits = load_data(data_spec)
    check_fits(network, splits, model)
    return network, splits
