"""Throughput of tapq's hot paths on a ResNet-18-sized network, made to run once on a GPU.

Usage:
    PYTHONPATH=src python benchmarks/gpu_throughput.py --device cuda      # ~3-8 min on an H100
    PYTHONPATH=src python benchmarks/gpu_throughput.py --small            # CPU smoke test, seconds
    PYTHONPATH=src python benchmarks/gpu_throughput.py --size medium      # a CPU-sized middle

ResNet-18 (written here, random weights, BatchNorm statistics from one pass over random
images) at 224x224 with 1,000 classes, on random data. Measured, each part timed with the
device synchronised:
  (a) seconds to collect LayerStats (Hutchinson Hessian trace, eigenvalue, Fisher, SynFlow)
      on 128 images -- target <= 5 s on an H100;
  (b) configurations per minute of PTQ (RTN weights, 8-bit activations, random per-layer
      bits) + evaluation on 10,000 images -- target >= 150/min; the evaluation data sits on
      the device, and a few configurations are also run with it in host memory;
  (c) the share of (b)'s time spent in the forward pass;
  (d) fake-quant overhead: the W8A8 model's forward over the plain (BN-folded) forward on
      the same batch, for each activation fake-quant implementation -- target <= 1.3x.
Every part runs under a total time cap and in its own try block; the JSON (default
benchmarks/results/gpu_throughput.json) is rewritten after each part, so a failure or the
cap leaves what was measured.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from tapq.data import Split
from tapq.device import resolve_device, synchronize
from tapq.evaluate import evaluate
from tapq.progress import set_quiet
from tapq.proxies import stats as stats_module
from tapq.proxies import stats_passes as passes_module
from tapq.quant import BitConfig, PTQEngine, PTQSettings, uniform_config
from tapq.quant import quantizers

BITS = (2, 3, 4, 6, 8)
DEFAULT_OUT = Path(__file__).parent / "results" / "gpu_throughput.json"


@dataclass(frozen=True)
class Sizes:
    """One run's scale. `width` is ResNet-18's first stage width (64 in the paper)."""

    width: int
    image: int
    classes: int
    stats_images: int
    calib_images: int
    eval_images: int
    configs: int
    host_configs: int
    batch: int
    forward_repeats: int


SIZES = {
    "full": Sizes(width=64, image=224, classes=1000, stats_images=128, calib_images=256,
                  eval_images=10_000, configs=20, host_configs=2, batch=256,
                  forward_repeats=20),
    "medium": Sizes(width=16, image=64, classes=100, stats_images=32, calib_images=64,
                    eval_images=1_000, configs=4, host_configs=1, batch=128, forward_repeats=5),
    "small": Sizes(width=8, image=32, classes=10, stats_images=8, calib_images=16,
                   eval_images=128, configs=2, host_configs=1, batch=64, forward_repeats=5),
}


# ---- ResNet-18 (He et al., 2016): BasicBlocks [2, 2, 2, 2] ------------------------------

class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                         nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.downsample(x))


class ResNet18(nn.Module):
    """ResNet-18 for `classes` classes; `width` scales every stage (64: the original)."""

    def __init__(self, classes: int = 1000, width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, cin = [], width
        for i in range(4):
            cout = width * 2 ** i
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_model(sizes: Sizes, device: torch.device, seed: int) -> nn.Module:
    """Random ResNet-18 whose BatchNorm statistics come from one pass over random images
    (so folding and activation ranges see realistic, not identity, statistics)."""
    torch.manual_seed(seed)
    model = ResNet18(sizes.classes, sizes.width).to(device)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # a cumulative average: one pass sets the statistics
    model.train()
    with torch.no_grad():
        model(torch.randn(min(64, sizes.calib_images), 3, sizes.image, sizes.image,
                          device=device))
    return model.eval().cpu()


def random_images(n: int, sizes: Sizes, device: torch.device, seed: int) -> torch.Tensor:
    generator = torch.Generator(device=device).manual_seed(seed)
    return torch.randn(n, 3, sizes.image, sizes.image, generator=generator, device=device)


# ---- timing ------------------------------------------------------------------------------

def timed(fn, device: torch.device) -> float:
    """Seconds `fn()` takes, with the device's queue drained before and after."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


class Deadline:
    """The total time cap: parts and loops ask it before starting more work."""

    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()


# ---- the parts ---------------------------------------------------------------------------

def part_stats(model, sizes, device, seed, deadline) -> dict:
    """(a) collect_stats on `stats_images` images, with a per-stage breakdown."""
    spent: dict[str, float] = {}
    # (module, attribute, breakdown name): the stages collect_stats calls by these names
    stages = [(stats_module, "hutchinson_traces", "hessian_trace"),
              (stats_module, "power_iterations", "hessian_eig"),
              (passes_module, "first_order", "first_order"),
              (passes_module, "fisher", "fisher"), (passes_module, "synflow", "synflow")]
    originals = {(module, attribute): getattr(module, attribute)
                 for module, attribute, _ in stages}
    labels = {(module, attribute): label for module, attribute, label in stages}

    def wrap(name, fn):
        def run(*args, **kwargs):
            synchronize(device)
            start = time.perf_counter()
            result = fn(*args, **kwargs)
            synchronize(device)
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - start
            return result
        return run

    x = random_images(sizes.stats_images, sizes, device, seed + 1).cpu()
    y = torch.randint(0, sizes.classes, (sizes.stats_images,),
                      generator=torch.Generator().manual_seed(seed))
    # Warm-up: kernels, cuDNN plans and allocator pools, on two images and one probe.
    warm = timed(lambda: stats_module.collect_stats(model, x[:2], y[:2], hutchinson_samples=1,
                                                     power_iters=1, device=device), device)
    if deadline.left() < 4 * warm + 5:
        return {"skipped": f"time cap (warm-up took {warm:.1f} s)"}
    try:
        for (module, attribute), fn in originals.items():
            setattr(module, attribute, wrap(labels[module, attribute], fn))
        seconds = timed(lambda: stats_module.collect_stats(model, x, y, seed=seed,
                                                           device=device), device)
    finally:
        for (module, attribute), fn in originals.items():
            setattr(module, attribute, fn)
    return {"images": sizes.stats_images, "seconds": seconds, "warmup_seconds": warm,
            "target_seconds": 5.0, "hutchinson_samples": 16, "power_iters": 20,
            "breakdown_seconds": {label: spent.get(label, 0.0) for *_, label in stages}}


def random_configs(layers: list[str], count: int, seed: int) -> list[BitConfig]:
    rng = random.Random(seed)
    return [BitConfig({n: rng.choice(BITS) for n in layers}, dict.fromkeys(layers, 8))
            for _ in range(count)]


def part_ptq(model, sizes, device, seed, deadline, results) -> dict:
    """(b) + (c): configurations per minute of PTQ (RTN, A8) + evaluation."""
    calib = Split(random_images(sizes.calib_images, sizes, device, seed + 2).cpu(),
                  torch.zeros(sizes.calib_images, dtype=torch.long))
    settings = PTQSettings(weight_rounding="rtn", calib_size=sizes.calib_images)
    out: dict = {"eval_images": sizes.eval_images, "batch": sizes.batch,
                 "weight_bits": list(BITS), "a_bits": 8, "ptq": "rtn"}
    engine_box: list[PTQEngine] = []
    out["engine_seconds"] = timed(lambda: engine_box.append(
        PTQEngine(model, calib, settings, device)), device)
    engine = engine_box[0]
    results["_engine"] = engine  # part (d) reuses it
    labels = torch.randint(0, sizes.classes, (sizes.eval_images,),
                           generator=torch.Generator().manual_seed(seed))
    on_device = Split(random_images(sizes.eval_images, sizes, device, seed + 3), labels)
    # Warm-up, which also fills the per-(layer, bits) caches: every uniform bit-width.
    out["cache_fill_seconds"] = timed(lambda: [engine.quantize(uniform_config(
        engine.layer_names, b, 8)) for b in BITS], device)
    small = Split(on_device.x[:sizes.batch], labels[:sizes.batch])
    evaluate(engine.quantize(uniform_config(engine.layer_names, 4, 8)), small, sizes.batch)

    def run(configs: list[BitConfig], split: Split) -> list[dict]:
        rows = []
        for config in configs:
            if deadline.left() < 10:
                break
            box = []
            quantize = timed(lambda: box.append(engine.quantize(config)), device)
            forward = timed(lambda: evaluate(box[0], split, sizes.batch), device)
            rows.append({"quantize_seconds": quantize, "eval_seconds": forward})
        return rows

    rows = run(random_configs(engine.layer_names, sizes.configs, seed), on_device)
    if not rows:
        return {**out, "skipped": "time cap"}
    total = sum(r["quantize_seconds"] + r["eval_seconds"] for r in rows)
    out.update(configs=len(rows), seconds=total, configs_per_minute=60 * len(rows) / total,
               target_configs_per_minute=150,
               forward_share=sum(r["eval_seconds"] for r in rows) / total,
               median_quantize_seconds=statistics.median(r["quantize_seconds"] for r in rows),
               median_eval_seconds=statistics.median(r["eval_seconds"] for r in rows),
               eval_data="on the device")
    if device.type != "cpu" and sizes.host_configs:
        host = Split(on_device.x.cpu(), labels)
        host_rows = run(random_configs(engine.layer_names, sizes.host_configs, seed + 1), host)
        if host_rows:
            host_total = sum(r["quantize_seconds"] + r["eval_seconds"] for r in host_rows)
            out["host_eval_data"] = {"configs": len(host_rows),
                                     "configs_per_minute": 60 * len(host_rows) / host_total,
                                     "note": "evaluation data in (pageable) host memory, "
                                             "moved a batch at a time, as tapq's CLI does"}
        del host
    return out


def part_overhead(results, sizes, device, seed, deadline) -> dict:
    """(d) W8A8 forward over plain forward on one batch, per activation fake-quant
    implementation ("auto" is what tapq picks on this device)."""
    engine: PTQEngine = results["_engine"]
    fp, quantized = engine.fp_model, engine.quantize(uniform_config(engine.layer_names, 8, 8))
    x = random_images(sizes.batch, sizes, device, seed + 4)
    out: dict = {"batch": sizes.batch, "repeats": sizes.forward_repeats,
                 "auto_impl": quantizers.act_inference_impl(device)}
    saved = dict(quantizers.ACT_INFERENCE_IMPL)

    def median_forwards() -> tuple[float, float]:
        """Median seconds of the plain and the quantized forward, timed alternately so
        that a busy neighbour or a clock change slows both alike."""
        times: dict[str, list[float]] = {"plain": [], "quantized": []}
        with torch.inference_mode():
            for _ in range(3):  # warm-up
                fp(x), quantized(x)
            for _ in range(sizes.forward_repeats):
                times["plain"].append(timed(lambda: fp(x), device))
                times["quantized"].append(timed(lambda: quantized(x), device))
        return statistics.median(times["plain"]), statistics.median(times["quantized"])

    try:
        for impl in ("inplace", "fused"):
            if deadline.left() < 10:
                out[impl] = "skipped: time cap"
                continue
            quantizers.ACT_INFERENCE_IMPL[device.type] = impl
            plain, quant = median_forwards()
            out[impl] = {"plain_seconds": plain, "quantized_seconds": quant,
                         "ratio": quant / plain}
    finally:
        quantizers.ACT_INFERENCE_IMPL.clear()
        quantizers.ACT_INFERENCE_IMPL.update(saved)
    chosen = out.get(out["auto_impl"])
    out["ratio"] = chosen["ratio"] if isinstance(chosen, dict) else None
    out["target_ratio"] = 1.3
    return out


# ---- driver ------------------------------------------------------------------------------

def environment(device: torch.device, args, sizes: Sizes) -> dict:
    info = {"device": str(device), "torch": torch.__version__, "python":
            platform.python_version(), "machine": platform.machine(),
            "cpu_threads": torch.get_num_threads(), "size": args.size, "sizes": asdict(sizes),
            "seed": args.seed, "time_cap_seconds": args.time_cap,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "tf32_conv": torch.backends.cudnn.allow_tf32,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(device_name=props.name, device_memory_gib=props.total_memory / 2 ** 30,
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    else:
        info["device_name"] = platform.processor() or platform.machine()
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", choices=tuple(SIZES), default="full")
    parser.add_argument("--small", action="store_const", const="small", dest="size",
                        help="tiny sizes: a CPU smoke test in seconds (= --size small)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--time-cap", type=float, default=450.0,
                        help="seconds for the whole run (default 450, under 8 minutes)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    set_quiet(True)
    device = resolve_device(args.device)
    sizes = SIZES[args.size]
    deadline = Deadline(args.time_cap)
    results: dict = {"environment": environment(device, args, sizes), "errors": {}}
    public = lambda: {k: v for k, v in results.items() if not k.startswith("_")}  # noqa: E731

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        partial = args.out.with_name(args.out.name + ".partial")
        partial.write_text(json.dumps(public(), indent=2))
        partial.replace(args.out)

    save()
    model = build_model(sizes, device, args.seed)
    parts = [("stats", lambda: part_stats(model, sizes, device, args.seed, deadline)),
             ("ptq_eval", lambda: part_ptq(model, sizes, device, args.seed, deadline, results)),
             ("fake_quant_overhead", lambda: part_overhead(results, sizes, device, args.seed,
                                                          deadline))]
    for name, part in parts:
        start = time.perf_counter()
        if deadline.left() < 10:
            results[name] = {"skipped": "time cap"}
        else:
            try:
                results[name] = part()
            except Exception as error:  # record and go on: one run, no supervision
                results["errors"][name] = "".join(
                    traceback.format_exception_only(type(error), error)).strip()
                results[name] = {"failed": True}
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        results[name]["wall_seconds"] = time.perf_counter() - start
        print(f"{name}: {json.dumps(results[name])}", flush=True)
        save()
    results["total_seconds"] = args.time_cap - deadline.left()
    save()
    print(f"wrote {args.out}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
