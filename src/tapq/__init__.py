"""tapq: training-free proxy discovery for mixed-precision quantization.

The public API mirrors the pipeline: ``load_model`` / ``load_data`` -> ``quantize``
(PTQ under a ``BitConfig``) -> ``evaluate`` and ``measure_costs``.
"""
from tapq.data import load_data
from tapq.errors import TapqError
from tapq.evaluate import evaluate
from tapq.models import load_model
from tapq.quant import (BitConfig, PTQEngine, PTQSettings, find_quantizable_layers,
                        measure_costs, quantize, uniform_config)

__version__ = "0.1.0"
__all__ = ["BitConfig", "PTQEngine", "PTQSettings", "TapqError", "evaluate",
           "find_quantizable_layers", "load_data", "load_model", "measure_costs", "quantize",
           "uniform_config"]
