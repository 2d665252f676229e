"""Building a ground-truth benchmark: sample, PTQ and measure configurations into SQLite.

``build_bench`` writes every configuration first, then measures the missing (config,
calibration seed) pairs -- in this process or in a pool of worker processes -- and
commits each result as it arrives. Killing it loses only the measurements in flight;
running it again with the same settings finishes the job. What is measured:
- ``sample`` configurations: per-layer weight bits stratified over average bits,
  activations at ``a_bits``, split into a search and a validation split;
- the first ``repeat`` samples again under calibration seed ``seed + 1``: the noise
  ceiling is the Spearman correlation between the two measurements;
- ``layer`` configurations: one layer at each bit-width, all others at full precision.
"""
from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from tapq.bench.sampling import average_bits, sample_configs
from tapq.bench.store import BenchStore, ConfigRow, ResultRow
from tapq.data import DatasetSplits, load_data
from tapq.errors import TapqError
from tapq.evaluate import evaluate
from tapq.models import check_fits, default_data_for, load_model, model_hash
from tapq.outputs import check_output_file
from tapq.progress import set_quiet, track
from tapq.quant import BitConfig, PTQEngine, PTQSettings, measure_costs
from tapq.quant.quantizers import check_bits


@dataclass(frozen=True)
class BenchSpec:
    """What a benchmark measures; stored in its metadata and checked on resume.

    Attributes:
        model: model spec; ``weights`` its weights file for user models.
        data: data spec (None: the built-in model's own dataset, resolved when building).
        configs: number of sampled configurations.
        bits: candidate weight bit-widths.
        a_bits: activation bit-width of every layer in sampled configurations.
        ptq: weight rounding used for every measurement (``adaround`` or ``rtn``).
        calib_size: calibration images per PTQ.
        seed: sampling seed and first calibration seed.
        repeat: sampled configurations measured again with calibration seed ``seed + 1``.
        val_every: every n-th sampled configuration goes to the validation split.
        layer_sensitivity: also measure every layer alone at every bit-width.
    """

    model: str = "mnist-cnn"
    weights: str | None = None
    data: str | None = None
    configs: int = 600
    bits: tuple[int, ...] = (2, 3, 4, 6, 8)
    a_bits: int = 8
    ptq: str = "adaround"
    calib_size: int = 256
    seed: int = 0
    repeat: int = 120
    val_every: int = 5
    layer_sensitivity: bool = True

    def ptq_settings(self, calib_seed: int) -> PTQSettings:
        """The PTQ settings every measurement of this benchmark uses."""
        return PTQSettings(weight_rounding=self.ptq, calib_size=self.calib_size,
                           calib_seed=calib_seed)


def _check(spec: BenchSpec) -> str:
    for bits in (*spec.bits, spec.a_bits):
        check_bits(bits)
    if spec.configs < 1 or spec.repeat < 0 or spec.val_every < 2:
        raise TapqError("need --configs >= 1, --repeat >= 0 and a validation share below 1/2")
    if spec.calib_size < 1:
        raise TapqError("--calib-size must be at least 1")
    data = spec.data or default_data_for(spec.model)
    if data is None:
        raise TapqError(f"--data is required for user model {spec.model!r}")
    return data


# ---- measurement, in this process or in a worker -------------------------------------

# Per process: the spec being built and one PTQ engine per calibration seed, so each
# (layer, bits) result is computed once per process however many configurations use it.
_engines: dict[int, tuple[PTQEngine, DatasetSplits, torch.Tensor]] = {}
_spec: BenchSpec | None = None


def _init_worker(spec: BenchSpec, threads: int | None) -> None:
    """Set up this process to measure `spec`; a pool worker also runs one torch thread
    (two threads per worker on two cores would oversubscribe them) and shows no bars."""
    global _spec
    _spec = spec
    _engines.clear()
    if threads:
        torch.set_num_threads(threads)
        set_quiet(True)


def _engine(calib_seed: int) -> tuple[PTQEngine, DatasetSplits, torch.Tensor]:
    if calib_seed not in _engines:
        model = load_model(_spec.model, _spec.weights)
        data = load_data(_spec.data)
        engine = PTQEngine(model, data.calib, _spec.ptq_settings(calib_seed))
        fp_log_probs = torch.log_softmax(evaluate(engine.fp_model, data.eval).logits, 1)
        _engines[calib_seed] = (engine, data, fp_log_probs)
    return _engines[calib_seed]


def _measure(config: ConfigRow, calib_seed: int) -> ResultRow:
    start = time.perf_counter()
    engine, data, fp_log_probs = _engine(calib_seed)
    result = evaluate(engine.quantize(BitConfig(config.w_bits, config.a_bits)), data.eval)
    log_probs = torch.log_softmax(result.logits, 1)
    kl = (fp_log_probs.exp() * (fp_log_probs - log_probs)).sum(1).mean().item()
    correct = (result.logits.argmax(1) == data.eval.y).float()
    return ResultRow(config.id, calib_seed, result.accuracy, result.loss, kl,
                     correct[0::2].mean().item(), correct[1::2].mean().item(),
                     time.perf_counter() - start)


def _measure_many(jobs: list[tuple[ConfigRow, int]]) -> list[ResultRow]:
    return [_measure(config, seed) for config, seed in jobs]


# ---- planning ------------------------------------------------------------------------

def _plan(spec: BenchSpec) -> tuple[list[ConfigRow], dict]:
    """All configurations of the benchmark and its metadata (deterministic in `spec`)."""
    model = load_model(spec.model, spec.weights)
    data = load_data(spec.data)
    check_fits(model, data, spec.model)
    engine = PTQEngine(model, data.calib, spec.ptq_settings(spec.seed))
    names, costs = engine.layer_names, measure_costs(engine.fp_model, data.calib.x[:1])
    params = np.array([costs.layers[n].num_params for n in names])
    bits = sample_configs(list(params), list(spec.bits), spec.configs, spec.seed)
    avg = average_bits(bits, params)
    rows = []
    for i, (row, avg_bits) in enumerate(zip(bits, avg)):
        config = BitConfig(dict(zip(names, map(int, row))), dict.fromkeys(names, spec.a_bits))
        rows.append(ConfigRow(i, "sample", "val" if i % spec.val_every == 0 else "search",
                              config.w, config.a, float(avg_bits), costs.size_mb(config),
                              costs.bitops(config)))
    if spec.layer_sensitivity:
        for name in names:
            for b in spec.bits:
                config = BitConfig({name: b}, {})
                rows.append(ConfigRow(len(rows), "layer", None, config.w, config.a,
                                      costs.avg_w_bits(config), costs.size_mb(config),
                                      costs.bitops(config), name, b))
    meta = {"spec": asdict(spec),
            "data": spec.data, "model_hash": model_hash(model), "layers": names,
            "num_params": params.tolist(), "macs": [costs.layers[n].macs for n in names],
            "fp_accuracy": evaluate(engine.fp_model, data.eval).accuracy,
            "ptq_settings": asdict(spec.ptq_settings(spec.seed)),
            "eval_size": len(data.eval), "calib_seeds": [spec.seed, spec.seed + 1],
            "tapq_version": "0.1.0", "torch_version": str(torch.__version__),
            "sampled": len(bits)}
    return rows, meta


def build_bench(spec: BenchSpec, out: str | Path, workers: int = 1) -> BenchStore:
    """Build (or resume) the benchmark `spec` into the SQLite file `out`."""
    spec = replace(spec, data=_check(spec), bits=tuple(sorted(spec.bits)))
    # Everything that can be checked without the model is checked before loading it, and
    # a refused `out` is left as it was (a new one is not even created).
    check_output_file(out, "benchmark")
    _check_resumable(out, {"spec": asdict(spec)})
    rows, meta = _plan(spec)
    _check_resumable(out, meta)
    store = BenchStore(out, create=True)
    old = store.meta()
    store.set_meta({**meta, "started": old.get("started", time.time())})
    store.add_configs(rows)
    samples = [r for r in rows if r.kind == "sample"]
    jobs = ([(r, spec.seed) for r in rows if r.kind == "layer"]
            + [(r, spec.seed) for r in samples]
            + [(r, spec.seed + 1) for r in samples[:spec.repeat]])
    done = store.done()
    jobs = [(r, s) for r, s in jobs if (r.id, s) not in done]
    if workers <= 1:
        _init_worker(spec, None)
        for config, seed in track(jobs, "measuring configurations"):
            store.add_result(_measure(config, seed))
    else:
        _run_pool(spec, jobs, store, workers)
    store.set_meta({"finished": time.time()})
    return store


def _check_resumable(out: str | Path, meta: dict) -> None:
    """Raise TapqError if `out` holds a benchmark whose settings differ from `meta`'s."""
    if not Path(out).exists():
        return
    store = BenchStore(out, create=True)
    try:
        old = store.meta()
    finally:
        store.close()
    for key in ("spec", "model_hash", "layers"):
        if old and key in meta and old.get(key) != json.loads(json.dumps(meta[key])):
            raise TapqError(f"{out} was built with different settings ({key} differs); "
                            "use another --out to build a new benchmark")


def _run_pool(spec: BenchSpec, jobs: list[tuple[ConfigRow, int]], store: BenchStore,
              workers: int) -> None:
    """Measure `jobs` on `workers` processes (one torch thread each), in small chunks so
    results are committed steadily and a crash loses little."""
    chunks = [jobs[i:i + 8] for i in range(0, len(jobs), 8)]
    context = multiprocessing.get_context("spawn")  # fork after torch threads can deadlock
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(spec, 1)) as pool:
        futures = [pool.submit(_measure_many, chunk) for chunk in chunks]
        for future in track(as_completed(futures), "measuring configurations (chunks of 8)",
                            total=len(futures)):
            for result in future.result():
                store.add_result(result)
