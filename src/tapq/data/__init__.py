"""Datasets: built-in offline data, users' image folders and factories, and their fixed
train / calibration / evaluation splits, all named by one data spec string."""
from tapq.data.augment import random_shift
from tapq.data.builtin import BUILTIN_DATASETS
from tapq.data.loading import load_data
from tapq.data.spec import DataSpec
from tapq.data.splits import DatasetSplits, Split

__all__ = ["BUILTIN_DATASETS", "DataSpec", "DatasetSplits", "Split", "load_data",
           "random_shift"]
