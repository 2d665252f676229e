"""``tapq bench import``: a ground truth measured elsewhere, as a benchmark tapq scores.

A user who measured configurations with their own toolchain (a real device, another PTQ,
a larger evaluation set) brings a file of per-layer weight bits and measured values; it
becomes an ordinary benchmark file with the same splits, targets, fitness and intervals
as a native one. Proxies still need the model (their statistics are computed on it), so
the model and its data are named on import, and every layer name is checked against it.

File formats (one configuration per row / object):
- CSV: a header of layer names and value columns ``accuracy``, ``kl``, ``agreement``
  (at least one), optionally ``split`` (search / select / test); one row per
  configuration, every layer's weight bits an integer in 2..8. An empty value cell is
  "not measured".
- JSON: a list (or ``{"configs": [...]}``) of objects, each with ``w`` (layer -> bits,
  as a tapq bit configuration) or the layer names as keys, and the same value keys.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tapq.bench.builder import warn_small
from tapq.bench.ground_truth import (DEFAULT_SHARES, SPLITS, TARGETS, assign_splits,
                                     check_target, load_bench_data)
from tapq.bench.store import BenchStore, ConfigRow, ResultRow
from tapq.data import load_data
from tapq.errors import TapqError
from tapq.models import default_data_for, load_model, model_hash
from tapq.outputs import atomic_path, check_output_file
from tapq.quant import (BitConfig, check_bits, describe_layers, fold_batchnorm,
                        measure_costs)

__all__ = ["ImportedRow", "import_bench", "read_ground_truth"]

BIT_RANGE = range(2, 9)


@dataclass(frozen=True)
class ImportedRow:
    """One configuration read from the file: bits per layer, measured values, split."""

    line: int  # CSV line or JSON index, for messages
    bits: dict[str, int]
    values: dict[str, float | None]
    split: str | None


def _number(text, where: str, column: str) -> float | None:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise TapqError(f"{where}: {column} value {text!r} is not a number") from None
    if not math.isfinite(value):
        raise TapqError(f"{where}: {column} value {text!r} is not finite")
    return value


def _bits(text, where: str, layer: str) -> int:
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = float("nan")
    if not (math.isfinite(value) and value == int(value) and int(value) in BIT_RANGE):
        raise TapqError(f"{where}: bits {text!r} of layer {layer} must be an integer in 2..8")
    return int(value)


def _row(record: dict, where: str, layers: list[str], line: int) -> ImportedRow:
    """One configuration from a flat mapping (CSV row, or JSON object with ``w`` merged)."""
    known = set(layers) | set(TARGETS) | {"split"}
    unknown = [k for k in record if k not in known]
    if unknown:
        raise TapqError(f"{where}: unknown column {unknown[0]!r}; expected the model's layer "
                        f"names, {', '.join(TARGETS)} or split")
    missing = [n for n in layers if n not in record or record[n] in (None, "")]
    if missing:
        raise TapqError(f"{where}: no bits for layer {missing[0]!r} (every layer of the model "
                        f"needs its weight bits; {len(missing)} missing)")
    values = {t: _number(record.get(t), where, t) for t in TARGETS}
    split = record.get("split") or None
    if split is not None and split not in SPLITS:
        raise TapqError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
    return ImportedRow(line, {n: _bits(record[n], where, n) for n in layers}, values, split)


def _read_csv(path: Path, layers: list[str]) -> list[ImportedRow]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise TapqError(f"{path} is empty; expected a header of layer names and values")
        header = [h.strip() for h in reader.fieldnames]
        if len(set(header)) != len(header):
            raise TapqError(f"{path}: the header names a column twice")
        unknown = [h for h in header if h not in {*layers, *TARGETS, "split"}]
        if unknown:
            raise TapqError(f"{path}: unknown column {unknown[0]!r}; expected the model's "
                            f"layer names, {', '.join(TARGETS)} or split")
        rows = []
        for line, raw in enumerate(reader, start=2):
            if None in raw:
                raise TapqError(f"{path} line {line}: more cells than header columns")
            record = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in raw.items()}
            rows.append(_row(record, f"{path} line {line}", layers, line))
    return rows


def _read_json(path: Path, layers: list[str]) -> list[ImportedRow]:
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TapqError(f"{path} is not JSON: {error}") from None
    records = document.get("configs") if isinstance(document, dict) else document
    if not isinstance(records, list):
        raise TapqError(f"{path}: expected a list of configurations (or {{\"configs\": [...]}})")
    rows = []
    for index, record in enumerate(records):
        where = f"{path} configuration {index}"
        if not isinstance(record, dict):
            raise TapqError(f"{where} is not an object")
        flat = {k: v for k, v in record.items() if k not in ("w", "a", "model", "pinned")}
        if "w" in record:
            if not isinstance(record["w"], dict):
                raise TapqError(f"{where}: 'w' must map layer names to bits")
            flat.update(record["w"])
        rows.append(_row(flat, where, layers, index))
    return rows


def read_ground_truth(path: str | Path, layers: list[str]) -> list[ImportedRow]:
    """The configurations of a CSV or JSON ground-truth file, checked against `layers`."""
    path = Path(path)
    if not path.is_file():
        raise TapqError(f"ground-truth file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise TapqError(f"{path}: give a .csv or .json file of configurations and values")
    rows = _read_csv(path, layers) if suffix == ".csv" else _read_json(path, layers)
    if not rows:
        raise TapqError(f"{path} holds no configurations")
    seen: dict[tuple, int] = {}
    for row in rows:
        key = tuple(row.bits[n] for n in layers)
        if key in seen:
            raise TapqError(f"{path}: configuration {row.line} repeats configuration "
                            f"{seen[key]} (average repeated measurements before importing)")
        seen[key] = row.line
    measured = [t for t in TARGETS if any(r.values[t] is not None for r in rows)]
    if not measured:
        raise TapqError(f"{path} has no measured values: add a column {', '.join(TARGETS)}")
    return rows


def import_bench(path: str | Path, out: str | Path, model: str, weights: str | None = None,
                 data: str | None = None, target: str | None = None,
                 splits: tuple[float, float, float] = DEFAULT_SHARES, a_bits: int = 8
                 ) -> BenchStore:
    """Write the ground truth in `path` as benchmark `out` of `model` (its statistics are
    computed on `data`, default the model's own). `target` defaults to accuracy when the
    file has it on every row, else the first target it has; rows without a ``split``
    are assigned as in a native build. `a_bits` only enters the stored costs (size, BitOps).
    Returns the open store."""
    check_output_file(out, "--out")
    if Path(out).exists():
        raise TapqError(f"--out {out} exists; an import writes a new benchmark file")
    check_bits(a_bits)
    data = data or default_data_for(model)
    if data is None:
        raise TapqError(f"--data is required for user model {model!r}")
    net = load_model(model, weights)
    splits_data = load_data(data)
    example = splits_data.calib.x[:1]
    layers = describe_layers(net, example).layers
    names = [layer.name for layer in layers]
    rows = read_ground_truth(path, names)
    complete = [t for t in TARGETS if all(r.values[t] is not None for r in rows)]
    chosen = check_target(target) if target else ("accuracy" if "accuracy" in complete
                                                  else (complete or ["accuracy"])[0])
    params = np.array([layer.num_params for layer in layers], dtype=float)
    costs = measure_costs(fold_batchnorm(net, example)[0], example)  # as a build measures
    configs, results = [], []
    for i, row in enumerate(rows):
        config = BitConfig(row.bits, dict.fromkeys(names, a_bits))
        avg = float(np.dot([row.bits[n] for n in names], params) / params.sum())
        configs.append(ConfigRow(i, "sample", row.split, config.w, config.a, avg,
                                 costs.size_mb(config), costs.bitops(config)))
    assigned = assign_splits(np.array([c.avg_bits for c in configs]), splits)
    configs = [c if c.split else replace(c, split=assigned[c.id]) for c in configs]
    for i, row in enumerate(rows):
        v = row.values
        results.append(ResultRow(i, 0, v["accuracy"], None, v["kl"], None, None, 0.0,
                                 agreement=v["agreement"]))
    bits = sorted({b for r in rows for b in r.bits.values()})
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    meta = {"spec": {"model": model, "weights": weights, "data": data, "configs": len(rows),
                     "bits": bits, "a_bits": a_bits, "ptq": "imported", "calib_size": None,
                     "seed": 0, "repeat": 0, "splits": list(splits), "target": chosen,
                     "layer_sensitivity": False},
            "data": data, "model_hash": model_hash(net), "layers": names,
            "num_params": params.astype(int).tolist(), "macs": [layer.macs for layer in layers],
            "fp_accuracy": None, "eval_size": None, "calib_seeds": [0], "sampled": len(rows),
            "imported": {"file": str(path), "sha256": digest}, "started": time.time(),
            "finished": time.time()}
    warn_small(configs, splits)
    with atomic_path(out) as partial:
        store = BenchStore(partial, create=True)
        try:
            store.set_meta(meta)
            store.add_configs(configs)
            for result in results:
                store.add_result(result)
            load_bench_data(store, chosen)  # the target must be on every configuration
        finally:
            store.close()
    return BenchStore(out)
