"""Datasets: built-in offline data and its fixed train / calibration / evaluation splits."""
from tapq.data.builtin import BUILTIN_DATASETS, load_data
from tapq.data.splits import DatasetSplits, Split

__all__ = ["BUILTIN_DATASETS", "DatasetSplits", "Split", "load_data"]
