"""tapq: training-free proxy discovery for mixed-precision quantization.

The public API mirrors the pipeline: ``load_model`` / ``load_data`` -> ``quantize``
(PTQ under a ``BitConfig``) -> ``evaluate`` and ``measure_costs``.
"""
from tapq.data import load_data
from tapq.errors import TapqError
from tapq.evaluate import evaluate
from tapq.models import load_model
from tapq.quant import (BitConfig, PTQEngine, PTQSettings, apply_bit_config,
                        find_quantizable_layers, load_quantized, measure_costs, quantize,
                        save_quantized, uniform_config)

__version__ = "0.1.0"
__all__ = ["BitConfig", "PTQEngine", "PTQSettings", "TapqError", "apply_bit_config", "evaluate",
           "find_quantizable_layers", "load_data", "load_model", "load_quantized",
           "measure_costs", "quantize", "save_quantized", "uniform_config"]
