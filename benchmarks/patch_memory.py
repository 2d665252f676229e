"""Upper bounds on the memory the `patches` statistic takes on a model.

Usage:
    python benchmarks/patch_memory.py --model efficientnet-lite1 [--images 32 --rows 256]

Kept: at most `--rows` patch rows per layer (``max_act_rows``), each fan_in float32
values. Transient: one example's unfolded input of one layer (groups x fan_in x output
positions float32), the most the sampler holds at once (it unfolds example by example).
Arithmetic on the layer shapes seen in one forward pass at the model's input size.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--images", type=int, default=32, help="statistics images")
    parser.add_argument("--rows", type=int, default=256, help="max_act_rows")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from tapq.models import load_model_and_data
    from tapq.quant import find_quantizable_layers, fold_batchnorm

    model, data = load_model_and_data(args.model)
    x = data.calib.x[:1]
    folded, _ = fold_batchnorm(model, x)
    infos = find_quantizable_layers(folded, x)
    positions = {}
    handles = [folded.get_submodule(i.name).register_forward_hook(
        lambda m, a, o, n=i.name: positions.__setitem__(n, o[0, 0].numel() if o.dim() > 2 else 1))
        for i in infos]
    with torch.no_grad():
        folded(x)
    for handle in handles:
        handle.remove()
    kept = transient = 0
    for info in infos:
        module = folded.get_submodule(info.name)
        fan_in, groups = module.weight[0].numel(), getattr(module, "groups", 1)
        rows = min(args.rows, positions[info.name] * groups * args.images)
        kept += rows * fan_in * 4
        transient = max(transient, groups * fan_in * positions[info.name] * 4)
    print(f"{args.model}: {len(infos)} layers; patches kept in all {kept / 2 ** 20:.1f} MiB; "
          f"largest one-example unfold {transient / 2 ** 20:.1f} MiB")


if __name__ == "__main__":
    main()
