"""Models: built-in networks with shipped weights, and user models by `module:factory`."""
from tapq.models.identity import model_hash
from tapq.models.registry import (BUILTIN_MODELS, DEFAULT_MODEL, check_fits, default_data_for,
                                  load_model, train_builtin)

__all__ = ["BUILTIN_MODELS", "DEFAULT_MODEL", "check_fits", "default_data_for", "load_model",
           "model_hash", "train_builtin"]
