"""Uniform weight bit-widths on an ImageNet network, label-free: agreement and KL with FP.

Usage: python benchmarks/imagenet_uniform.py [--model efficientnet-lite1] [--bits 8,6,4]
                                             [--ptq rtn] [--eval-n N]

One Measurer (what ``tapq quantize`` runs) shares the full-precision evaluation and the
calibration pass between the bit-widths, so the table costs one setup plus one PTQ and
one evaluation per row; each row is what ``tapq quantize --model M --bits B --ptq P``
prints (activations 8 bits). Agreement carries its 95% binomial interval over the
evaluation crops. Prints one JSON line per row and writes
benchmarks/results/imagenet_uniform_<model>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

from tapq.measure import Measurer
from tapq.models import load_model_and_data
from tapq.progress import set_quiet
from tapq.quant import PTQSettings, uniform_config


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet-lite1")
    parser.add_argument("--bits", default="8,6,4")
    parser.add_argument("--ptq", default="rtn", choices=("rtn", "adaround"))
    parser.add_argument("--eval-n", type=int)
    args = parser.parse_args()
    set_quiet(True)
    start = time.perf_counter()
    model, data = load_model_and_data(args.model, eval_n=args.eval_n)
    measurer = Measurer(model, data, PTQSettings(weight_rounding=args.ptq))
    result = {"model": args.model, "data": data.name, "eval": len(data.eval),
              "calib": len(data.calib), "ptq": args.ptq, "setup_s": time.perf_counter() - start,
              "setup_cpu_s": cpu_seconds(), "machine": platform.platform(),
              "load_average": os.getloadavg(), "rows": []}
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}), flush=True)
    for bits in map(int, args.bits.split(",")):
        start, cpu = time.perf_counter(), cpu_seconds()
        r = measurer.measure(uniform_config(measurer.layer_names, bits, 8))
        row = {"bits": bits, "agreement": r.agreement, "agreement_ci": list(r.q_acc_ci),
               "kl": r.kl, "size_mb": r.size_mb, "seconds": time.perf_counter() - start,
               "cpu_seconds": cpu_seconds() - cpu}
        result["rows"].append(row)
        print(json.dumps(row), flush=True)
    result["load_average_end"] = os.getloadavg()
    out = Path(__file__).parent / "results" / f"imagenet_uniform_{args.model}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
