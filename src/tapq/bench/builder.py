"""Building a ground-truth benchmark: sample, PTQ and measure configurations into SQLite.

``build_bench`` writes every configuration first, then measures the missing (config,
calibration seed) pairs -- in this process, in a pool of worker processes or on a Ray
cluster (see tapq.executors) -- and commits each result as it arrives. Killing it loses
only the measurements in flight; running it again with the same settings finishes the
job. What is measured:
- ``sample`` configurations: per-layer weight bits stratified over average bits,
  activations at ``a_bits``, split into search / select / test (balanced within every
  average-bit band, see ground_truth.py), each measured for accuracy, KL to and top-1
  agreement with the full-precision model (whole evaluation split and its two halves);
- the first ``repeat`` samples again under calibration seed ``seed + 1``: the noise
  ceiling is the Spearman correlation between the two measurements;
- ``layer`` configurations: one layer at each bit-width, all others at full precision.
Every measurement also stores each target on the even and the odd evaluation examples
(the same PTQ and evaluation, split afterwards): the independent halves reliability
and the proxy ceiling are computed from (tapq.bench.reliability).
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from tapq.bench.ground_truth import SPLITS, DEFAULT_SHARES, assign_splits, check_target
from tapq.bench.sampling import average_bits, sample_configs
from tapq.bench.store import HALF_TARGETS, BenchStore, ConfigRow, ResultRow
from tapq.correlation import BAND_WIDTH, MIN_BAND, budget_bands
from tapq.data import DataSpec, DatasetSplits, Split, load_data
from tapq.device import DeviceLike, resolve_device
from tapq.errors import TapqError
from tapq.evaluate import evaluate
from tapq.executors import Executor, LocalExecutor
from tapq.models import check_fits, default_data_for, load_model, model_hash
from tapq.outputs import check_output_file
from tapq.progress import track
from tapq.quant import BitConfig, PTQEngine, PTQSettings, check_bits, measure_costs

_log = logging.getLogger(__name__)


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
        splits: shares of the search, select and test splits.
        target: the primary target proxies are ranked against (``accuracy``, ``kl`` or
            ``agreement``; every one is measured).
        layer_sensitivity: also measure every layer alone at every bit-width.
        pin_first_last: hold the first and last layer's weights at this many bits in every
            sampled configuration (as users deploy: those layers are small and
            sensitive), and measure only the other layers alone; None: no pin.
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
    splits: tuple[float, float, float] = DEFAULT_SHARES
    target: str = "accuracy"
    layer_sensitivity: bool = True
    pin_first_last: int | None = None

    def ptq_settings(self, calib_seed: int) -> PTQSettings:
        """The PTQ settings every measurement of this benchmark uses."""
        return PTQSettings(weight_rounding=self.ptq, calib_size=self.calib_size,
                           calib_seed=calib_seed)


def _check(spec: BenchSpec) -> str:
    for bits in (*spec.bits, spec.a_bits):
        check_bits(bits)
    if spec.pin_first_last is not None:
        check_bits(spec.pin_first_last)
    for flag, value, least in (("--configs", spec.configs, 1), ("--repeat", spec.repeat, 0),
                               ("--calib-size", spec.calib_size, 1), ("--seed", spec.seed, 0)):
        if value < least:
            raise TapqError(f"{flag} must be at least {least}, not {value}")
    check_target(spec.target)
    if len(spec.splits) != 3 or min(spec.splits) <= 0:
        raise TapqError(f"--splits needs three positive shares (search, select, test), "
                        f"not {','.join(map(str, spec.splits))}")
    data = spec.data or default_data_for(spec.model)
    if data is None:
        raise TapqError(f"--data is required for user model {spec.model!r}")
    return DataSpec.parse(data).format()  # one spelling, so that resuming compares like with like


# ---- measurement, in this process or in a worker -------------------------------------

# Per process: the spec being measured, the device it runs on, and one PTQ engine per
# calibration seed, so each (layer, bits) result is computed once per process however
# many configurations use it. A worker (pool process or Ray task) sets them up on its
# first job of a spec, loading the model and data itself.
_engines: dict[int, tuple[PTQEngine, DatasetSplits, torch.Tensor]] = {}
_spec: BenchSpec | None = None
_device: str = "cpu"


def _use_spec(spec: BenchSpec, device: str = "cpu") -> None:
    """Measure `spec` on `device` in this process from now on, with no engine cached."""
    global _spec, _device
    _spec, _device = spec, device
    _engines.clear()


def _engine(calib_seed: int) -> tuple[PTQEngine, DatasetSplits, torch.Tensor]:
    if calib_seed not in _engines:
        model = load_model(_spec.model, _spec.weights)
        data = load_data(_spec.data)
        engine = PTQEngine(model, data.calib, _spec.ptq_settings(calib_seed), _device)
        fp_logits = evaluate(engine.fp_model, data.eval).logits
        _engines[calib_seed] = (engine, data, fp_logits)
    return _engines[calib_seed]


def _measure(config: ConfigRow, calib_seed: int) -> ResultRow:
    start = time.perf_counter()
    engine, data, fp_logits = _engine(calib_seed)
    result = evaluate(engine.quantize(BitConfig(config.w_bits, config.a_bits)), data.eval,
                      reference=fp_logits)
    per_example = per_example_targets(result.logits, data.eval, fp_logits)
    # The accuracy column holds the data's target: agreement with full precision for
    # label-free data (the benchmark's meta says which).
    correct = per_example["accuracy"]
    even, odd = data.eval.halves()  # disjoint sources (photos), not only disjoint images
    return ResultRow(config.id, calib_seed, correct.mean().item(), result.loss,
                     per_example["kl"].mean().item(), correct[even].mean().item(),
                     correct[odd].mean().item(), time.perf_counter() - start,
                     agreement=per_example["agreement"].mean().item(),
                     halves={t: (per_example[t][even].mean().item(),
                                 per_example[t][odd].mean().item()) for t in HALF_TARGETS})


def per_example_targets(logits: torch.Tensor, split: Split, fp_logits: torch.Tensor
                        ) -> dict[str, torch.Tensor]:
    """Each target per evaluation example, so that any subset's value is a mean: accuracy
    (top-1 correct; without labels, agreement), loss (cross-entropy; without labels, KL),
    KL to the full-precision outputs and agreement with the full-precision top-1. The even
    and odd examples are the two disjoint halves split-half reliability correlates."""
    fp_log_probs = torch.log_softmax(fp_logits, 1)
    log_probs = torch.log_softmax(logits, 1)
    kl = (fp_log_probs.exp() * (fp_log_probs - log_probs)).sum(1)
    agreement = (logits.argmax(1) == fp_logits.argmax(1)).float()
    if not split.labelled:
        return {"accuracy": agreement, "loss": kl, "kl": kl, "agreement": agreement}
    return {"accuracy": (logits.argmax(1) == split.y).float(),
            "loss": torch.nn.functional.cross_entropy(logits, split.y, reduction="none"),
            "kl": kl, "agreement": agreement}


def _measure_job(spec: BenchSpec, job: tuple[ConfigRow, int], device: str = "cpu"
                 ) -> ResultRow:
    """One (configuration, calibration seed) of `spec` on `device`: what an executor runs."""
    if _spec != spec or _device != device:
        _use_spec(spec, device)
    return _measure(*job)


# ---- planning ------------------------------------------------------------------------

def _plan(spec: BenchSpec) -> tuple[list[ConfigRow], dict]:
    """All configurations of the benchmark and its metadata (deterministic in `spec`)."""
    model = load_model(spec.model, spec.weights)
    data = load_data(spec.data)
    check_fits(model, data, spec.model)
    engine = PTQEngine(model, data.calib, spec.ptq_settings(spec.seed))
    names, costs = engine.layer_names, measure_costs(engine.fp_model, data.calib.x[:1])
    params = np.array([costs.layers[n].num_params for n in names])
    pinned = {names[0], names[-1]} if spec.pin_first_last is not None and names else set()
    free = [i for i, n in enumerate(names) if n not in pinned]
    sampled = sample_configs(list(params[free]), list(spec.bits), spec.configs, spec.seed)
    bits = np.full((len(sampled), len(names)), spec.pin_first_last or 0, dtype=int)
    bits[:, free] = sampled
    avg = average_bits(bits, params)
    splits = assign_splits(avg, spec.splits)
    rows = []
    for i, (row, avg_bits) in enumerate(zip(bits, avg)):
        config = BitConfig(dict(zip(names, map(int, row))), dict.fromkeys(names, spec.a_bits))
        rows.append(ConfigRow(i, "sample", splits[i], config.w, config.a, float(avg_bits),
                              costs.size_mb(config), costs.bitops(config)))
    if spec.layer_sensitivity:
        for name in (n for n in names if n not in pinned):
            for b in spec.bits:
                config = BitConfig({name: b}, {})
                rows.append(ConfigRow(len(rows), "layer", None, config.w, config.a,
                                      costs.avg_w_bits(config), costs.size_mb(config),
                                      costs.bitops(config), name, b))
    meta = {"spec": asdict(spec),
            "data": spec.data, "model_hash": model_hash(model), "layers": names,
            "pinned": [n for n in names if n in pinned],
            "num_params": params.tolist(), "macs": [costs.layers[n].macs for n in names],
            # fp_accuracy is the target's full-precision value: 1 for agreement.
            "fp_accuracy": evaluate(engine.fp_model, data.eval).accuracy
            if data.labelled else 1.0,
            # label-free data: the accuracy columns hold agreement with full precision
            "labelled": data.labelled,
            "ptq_settings": asdict(spec.ptq_settings(spec.seed)),
            "eval_size": len(data.eval), "calib_seeds": [spec.seed, spec.seed + 1],
            # what the two halves of the reliability estimates keep apart
            "halves_split": "examples" if data.eval.groups is None else "sources",
            "tapq_version": "0.1.0", "torch_version": str(torch.__version__),
            "sampled": len(bits)}
    return rows, meta


def build_bench(spec: BenchSpec, out: str | Path, workers: int = 1,
                executor: Executor | None = None, device: DeviceLike = None) -> BenchStore:
    """Build (or resume) the benchmark `spec` into the SQLite file `out`.

    Args:
        spec: what to measure.
        out: the benchmark file; an unfinished one with the same settings is resumed.
        workers: local worker processes (1: measure in this process); ignored with
            `executor`.
        executor: where to measure (e.g. ``make_executor("ray")``); left open for the
            caller to close. None: a LocalExecutor of `workers`, closed at the end.
        device: where each worker runs PTQ and evaluation (default CPU; several local
            workers share one GPU). Not a resume key -- measurements agree across
            devices within tolerance -- but every device used is in the metadata.
    Returns the open store.
    """
    spec = replace(spec, data=_check(spec), bits=tuple(sorted(spec.bits)))
    device = str(resolve_device(device))
    runner = executor or LocalExecutor(workers)  # checks `workers`; starts nothing yet
    # Everything that can be checked without the model is checked before loading it, and
    # a refused `out` is left as it was (a new one is not even created).
    check_output_file(out, "benchmark")
    _check_resumable(out, {"spec": asdict(spec)})
    rows, meta = _plan(spec)
    _check_resumable(out, meta)
    warn_small(rows, spec.splits)
    store = BenchStore(out, create=True)
    old = store.meta()
    store.set_meta({**meta, "started": old.get("started", time.time()),
                    "devices": sorted({*old.get("devices", []), device})})
    store.add_configs(rows)
    samples = [r for r in rows if r.kind == "sample"]
    jobs = ([(r, spec.seed) for r in rows if r.kind == "layer"]
            + [(r, spec.seed) for r in samples]
            + [(r, spec.seed + 1) for r in samples[:spec.repeat]])
    done = store.done()
    jobs = [(r, s) for r, s in jobs if (r.id, s) not in done]
    _use_spec(spec, device)  # a fresh cache for measuring in this process
    try:
        results = runner.map_unordered(partial(_measure_job, spec, device=device), jobs)
        for _, result in track(results, "measuring configurations", total=len(jobs)):
            store.add_result(result)
    finally:
        if executor is None:
            runner.close()
    store.set_meta({"finished": time.time()})
    return store


def warn_small(rows: list[ConfigRow], shares: tuple[float, ...]) -> None:
    """Warn (before anything is measured) when a split has no average-bit band with
    MIN_BAND configurations: iso-budget rho is undefined there, so discovery would refuse
    the benchmark (search) or nothing could be reported (select, test)."""
    samples = [r for r in rows if r.kind == "sample"]
    avg = np.array([r.avg_bits for r in samples])
    if not len(avg):
        return
    bands = int(budget_bands(avg).max()) + 1
    short = []
    for name, share in zip(SPLITS, np.asarray(shares) / sum(shares)):
        members = avg[[r.split == name for r in samples]]
        counts = np.unique(budget_bands(members), return_counts=True)[1] if len(members) else []
        if not any(c >= MIN_BAND for c in counts):
            short.append((name, share))
    if short:
        needed = max(math.ceil(MIN_BAND * bands / share) for _, share in short)
        _log.warning(f"tapq: warning: no {BAND_WIDTH}-bit band of the "
                     f"{' / '.join(n for n, _ in short)} split will have {MIN_BAND} "
                     f"configurations, so iso-budget rho is undefined there "
                     f"({'discover refuses such a benchmark; ' if short[0][0] == 'search' else ''}"
                     f"about {needed} configurations (--configs) over its {bands} bands would do)")


def _check_resumable(out: str | Path, meta: dict) -> None:
    """Raise TapqError if `out` holds a benchmark whose settings differ from `meta`'s."""
    if not Path(out).exists():
        return
    if Path(out).is_dir():
        raise TapqError(f"{out} is a folder, not a benchmark database file")
    old = BenchStore.existing_meta(out)
    if isinstance(old.get("spec"), dict):  # settings added since: the file used the default
        old["spec"] = {**json.loads(json.dumps(asdict(BenchSpec()))), **old["spec"]}
    for key in ("spec", "model_hash", "layers"):
        new = json.loads(json.dumps(meta.get(key)))
        if old and key in meta and old.get(key) != new:
            names = [key]
            if key == "spec" and isinstance(old.get(key), dict):  # name the settings
                names = [k for k in new if old[key].get(k) != new[k]] or names
                # --repeat may grow: more configurations measured under the second seed
                # (tighter seed-based ceilings), nothing re-measured; a smaller one would
                # leave stored repeats the spec does not describe.
                if names == ["repeat"] and new["repeat"] >= old[key]["repeat"]:
                    continue
                if names == ["repeat"]:
                    raise TapqError(f"{out} holds {old[key]['repeat']} repeated "
                                    f"configurations; --repeat may grow on resume, not "
                                    f"shrink to {new['repeat']}")
            verb = "differs" if len(names) == 1 else "differ"
            raise TapqError(f"{out} was built with different settings ({', '.join(names)} "
                            f"{verb}); use another --out to build a new benchmark")

