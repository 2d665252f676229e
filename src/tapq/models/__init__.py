"""Models: built-in networks with shipped weights, and user models by `module:factory`."""
from tapq.models.identity import model_digest, model_hash, update_digest
from tapq.models.loading import load_model_and_data, resolve_data_spec
from tapq.models.registry import (BUILTIN_MODELS, DEFAULT_MODEL, PRETRAINED_MODELS, check_fits,
                                  default_data_for, load_model, train_builtin)

__all__ = ["BUILTIN_MODELS", "DEFAULT_MODEL", "PRETRAINED_MODELS", "check_fits", "default_data_for", "load_model",
           "load_model_and_data", "model_digest", "model_hash", "resolve_data_spec",
           "train_builtin", "update_digest"]
