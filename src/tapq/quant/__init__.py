"""Quantization: fake quantizers, bit configurations, BN folding, PTQ and the cost model."""
from tapq.quant.adaround import AdaRoundConfig
from tapq.quant.bit_config import BitConfig, pin_layers, uniform_config
from tapq.quant.bn_fold import FoldReport, fold_batchnorm
from tapq.quant.cost import ModelCosts, measure_costs
from tapq.quant.export import apply_bit_config, load_quantized, save_quantized
from tapq.quant.inventory import LayerInventory, LayerSummary, describe_layers
from tapq.quant.layers import LayerInfo, QuantLayer, find_quantizable_layers
from tapq.quant.ptq import PTQEngine, PTQSettings, quantize
from tapq.quant.qat import QATConfig, finetune_qat
from tapq.quant.quantizers import FULL_PRECISION, check_bits

__all__ = ["AdaRoundConfig", "BitConfig", "FULL_PRECISION", "FoldReport", "LayerInfo",
           "LayerInventory", "LayerSummary",
           "ModelCosts", "PTQEngine", "PTQSettings", "QATConfig", "QuantLayer",
           "apply_bit_config", "check_bits", "describe_layers", "find_quantizable_layers",
           "finetune_qat", "fold_batchnorm", "load_quantized", "measure_costs", "pin_layers",
           "quantize", "save_quantized", "uniform_config"]
