"""Engine set-up and fake-quantized forward time on the embedded default (mnist-cnn).

Usage: python benchmarks/quant_forward_speed.py [--threads 1] [--repeats 7] [--out FILE]

Times what a change to the quantized layers' forward path or to BatchNorm folding can
slow down: ``PTQEngine`` set-up (BN fold with its numerical checks, calibration pass;
min-max activation ranges so the range search does not dominate) and the evaluation
forward pass over the 2,000 evaluation images of a W4A8 model, next to the full-precision
forward pass in the same process. To compare two versions, run it alternately with
``PYTHONPATH`` pointing at each version's ``src`` and compare the quantized/FP ratios
pair by pair (a loaded machine moves absolute times, the ratio much less). One thread by
default: on a shared machine, two threads wait on each other and the spread explodes.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from tapq.data import load_data
from tapq.evaluate import evaluate
from tapq.models import load_model
from tapq.progress import set_quiet
from tapq.quant import PTQEngine, PTQSettings, uniform_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=None, help="also write the result as JSON here")
    args = parser.parse_args()
    set_quiet(True)
    torch.set_num_threads(args.threads)
    model, data = load_model("mnist-cnn"), load_data("mnist")
    start = time.perf_counter()
    engine = PTQEngine(model, data.calib, PTQSettings(act_clipping="minmax"))
    setup_s = time.perf_counter() - start
    quantized = engine.quantize(uniform_config(engine.layer_names, 4, 8))
    evaluate(quantized, data.eval)  # warm-up

    def timed(net: torch.nn.Module) -> float:
        begin = time.perf_counter()
        evaluate(net, data.eval)
        return time.perf_counter() - begin

    q_times = [timed(quantized) for _ in range(args.repeats)]
    fp_times = [timed(engine.fp_model) for _ in range(args.repeats)]
    result = {"threads": args.threads, "eval_images": len(data.eval), "setup_s": setup_s,
              "q_forward_s": statistics.median(q_times),
              "fp_forward_s": statistics.median(fp_times),
              "q_over_fp": statistics.median(q_times) / statistics.median(fp_times)}
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
