"""Seconds per configuration for PTQ + evaluation on the embedded default.

Usage: python benchmarks/ptq_speed.py [--configs 50] [--ptq rtn|adaround] [--seed 0]

Builds one measurer (BN folding, calibration pass, cost hooks), then quantizes and
evaluates random mixed-precision configurations (weights from {2,3,4,6,8}, activations 8
bits), timing separately the PTQ step (copy + per-layer quantization, cached per layer
and bit-width) and the evaluation forward pass over the 2,000 evaluation images. It also
times the full-precision forward pass on the same images, so the cost of activation
fake-quantization is a ratio measured in the same run. Prints a table and writes
benchmarks/results/ptq_speed.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path

import torch

from tapq.data import load_data
from tapq.evaluate import evaluate
from tapq.measure import Measurer
from tapq.models import load_model
from tapq.progress import set_quiet
from tapq.quant import BitConfig, PTQSettings

BITS = (2, 3, 4, 6, 8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=50)
    parser.add_argument("--ptq", default="rtn", choices=("rtn", "adaround"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "ptq_speed.json"))
    args = parser.parse_args()
    set_quiet(True)
    rng = random.Random(args.seed)
    model, data = load_model("mnist-cnn"), load_data("mnist")

    start = time.perf_counter()
    measurer = Measurer(model, data, PTQSettings(weight_rounding=args.ptq))
    setup_s = time.perf_counter() - start
    names = measurer.layer_names

    fp_times = []
    for _ in range(5):
        start = time.perf_counter()
        evaluate(measurer.engine.fp_model, data.eval)
        fp_times.append(time.perf_counter() - start)

    ptq_times, eval_times, total_times = [], [], []
    for _ in range(args.configs):
        config = BitConfig(w={n: rng.choice(BITS) for n in names}, a=dict.fromkeys(names, 8))
        start = time.perf_counter()
        quantized = measurer.engine.quantize(config)
        mid = time.perf_counter()
        evaluate(quantized, data.eval)
        end = time.perf_counter()
        measurer.costs.size_mb(config), measurer.costs.bitops(config)
        ptq_times.append(mid - start)
        eval_times.append(end - mid)
        total_times.append(time.perf_counter() - start)

    median = statistics.median
    result = {
        "command": f"python benchmarks/ptq_speed.py --configs {args.configs} --ptq {args.ptq}",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        "ptq": args.ptq,
        "configs": args.configs,
        "eval_images": len(data.eval),
        "setup_s": setup_s,
        "first_config_s": total_times[0],
        "median_config_s": median(total_times),
        "median_ptq_s": median(ptq_times),
        "median_eval_forward_s": median(eval_times),
        "median_fp_forward_s": median(fp_times),
        "overhead_share_of_total": median(total_times) and
        (median(total_times) - median(eval_times)) / median(total_times),
        "overhead_vs_forward": (median(total_times) - median(eval_times)) / median(eval_times),
        "fakequant_forward_vs_fp": median(eval_times) / median(fp_times),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value:.4f}" if isinstance(value, float) else
              f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
