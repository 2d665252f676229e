"""The transfer check: does a run's discovery hold on networks it never searched?

Every finished run judges its best novel proxy on each benchmark shipped with the package
(``tapq bench list``) that it did not search, on that benchmark's *test* split only, with
the same intervals as ``tapq proxy eval``: the proxy's iso-budget rho with its 95%
bootstrap interval, and its paired difference to that benchmark's best human proxy
(chosen on the benchmark's search split, without looking at test) with the verdict
"beats" / "indistinguishable from" / "loses to". The run's best seed and every human
baseline are judged beside it, for reference. The proxy is generated code: it runs in the
sandbox, as every candidate did (tapq.proxies loads it as a proxy file).

Nothing to check -- no other shipped benchmark, or no novel proxy -- is said in one line,
as is a benchmark that cannot judge (too few test configurations): never an exception.
"""
from __future__ import annotations

import filecmp
import logging
import math
from pathlib import Path

from tapq.bench import shipped_benches
from tapq.device import DeviceLike
from tapq.discover.results import BEST_PROXY, summarize
from tapq.discover.seeds import BASELINE_PREFIX, seed_name
from tapq.discover.store import CandidateRecord, RunStore
from tapq.errors import TapqError
from tapq.outputs import write_text_atomic
from tapq.proxies import BASELINE_PROXIES, Fitness, StatsConfig, evaluate_proxies

__all__ = ["SEED_PROXY", "key_rows", "named_benches", "run_transfer_check",
           "transfer_targets"]

SEED_PROXY = "best_seed.py"  # the run's best seed, when it is a hint body, as a proxy file
log = logging.getLogger("tapq.discover")


def _same(a: Path, b: Path) -> bool:
    """The same benchmark: the same file, or a byte-identical copy of it."""
    if a.resolve() == b.resolve():
        return True
    return (a.is_file() and b.is_file() and a.stat().st_size == b.stat().st_size
            and filecmp.cmp(a, b, shallow=False))


def named_benches(paths: tuple[Path, ...] | None) -> dict[str, Path] | None:
    """Benchmark files by name: a shipped one by its shipped name, any other by its stem
    (None stays None: every shipped benchmark)."""
    if paths is None:
        return None
    shipped = {path.resolve(): name for name, path in shipped_benches().items()}
    return {shipped.get(Path(p).resolve(), Path(p).stem): Path(p) for p in paths}


def transfer_targets(searched: list[Path], shipped: dict[str, Path] | None = None
                     ) -> dict[str, Path]:
    """The shipped benchmarks (or `shipped`), by name, that the run did not search."""
    shipped = shipped_benches() if shipped is None else shipped
    return {name: path for name, path in shipped.items()
            if not any(_same(Path(path), Path(s)) for s in searched)}


def _seed_spec(seed: CandidateRecord | None, out: Path) -> str | None:
    """How the run's best seed is named to proxy evaluation: a baseline's name, or its
    hint body written as a proxy file."""
    if seed is None:
        return None
    if seed.hint.startswith(BASELINE_PREFIX):
        return seed.hint[len(BASELINE_PREFIX):]
    path = out / SEED_PROXY
    write_text_atomic(path, f'"""{seed_name(seed)}: the run\'s best seed."""\n{seed.code}')
    return str(path)


def _row(bench: str, path: Path, role: str, shown: str, f: Fitness) -> dict:
    """One proxy on one benchmark, as stored (None where a figure is undefined)."""
    def finite(x: float) -> float | None:
        return float(x) if math.isfinite(x) else None

    return {"bench": bench, "path": str(path), "role": role, "proxy": shown, "name": f.proxy,
            "is_reference": f.proxy == f.reference, "target": f.target, "spearman_iso_test": finite(f.spearman_iso_test),
            "spearman_iso_ci": [finite(x) for x in f.spearman_iso_ci],
            "reference": f.reference, "delta_iso": finite(f.delta_iso),
            "delta_iso_ci": [finite(x) for x in f.delta_iso_ci], "verdict": f.verdict,
            "error": f.error}


def _judge(path: Path, label: str, novel: str, seed: str | None, names: dict[str, str],
           device: DeviceLike, stats: StatsConfig | None) -> list[dict]:
    """The rows of one benchmark: novel proxy, best seed, every baseline (test split)."""
    specs = [novel, *([seed] if seed and seed not in BASELINE_PROXIES else []),
             *BASELINE_PROXIES]
    found = evaluate_proxies(path, specs, device, stats, split="test")
    rows = []
    for spec, f in zip(specs, found):
        role = "novel" if spec == novel else "seed" if spec == seed else "baseline"
        rows.append(_row(label, path, role, names.get(spec, f.proxy), f))
    return rows


def run_transfer_check(store: RunStore, out: Path, searched: list[Path],
                       device: DeviceLike = None, shipped: dict[str, Path] | None = None,
                       stats: StatsConfig | None = None) -> tuple[list[dict], list[str]]:
    """Judge the run's best novel proxy (and best seed, and the baselines) on every
    shipped benchmark it did not search, on statistics computed with `stats` (the run's,
    so a proxy reading an opt-in statistic finds it); store and return (rows, notes)."""
    summary = summarize(store)
    targets = transfer_targets(searched, shipped)
    rows: list[dict] = []
    notes: list[str] = []
    candidates = shipped_benches() if shipped is None else shipped
    if not candidates:
        notes.append("transfer check: skipped (no benchmark named to judge on)")
    elif not targets:
        notes.append(f"transfer check: no other benchmark to judge on (the run searched "
                     f"every one of: {', '.join(candidates)})")
    elif summary.best is None or not (out / BEST_PROXY).is_file():
        notes.append("transfer check: no novel proxy to transfer (nothing was discovered)")
    else:
        seed = _seed_spec(summary.best_seed, out)
        novel = str(out / BEST_PROXY)
        names = {novel: f"best novel (#{summary.best.id})"}
        if seed is not None:
            names[seed] = f"best seed: {seed_name(summary.best_seed)}"
        for label, path in targets.items():
            try:
                rows += _judge(path, label, novel, seed, names, device, stats)
            except Exception as error:  # noqa: BLE001 -- one benchmark never ends the run
                why = str(error) if isinstance(error, TapqError) else \
                    f"{type(error).__name__}: {error}"
                notes.append(f"transfer check on {label}: not judged ({why})")
    store.set_transfer(rows, notes)
    for note in notes:
        log.info("%s", note)
    return rows, notes


def key_rows(rows: list[dict]) -> list[dict]:
    """The rows people read, per benchmark: the best novel proxy, the run's best seed
    and that benchmark's best human proxy (the reference of the paired intervals), each
    once, in that order."""
    shown: list[dict] = []
    for bench in dict.fromkeys(r["bench"] for r in rows):
        mine = [r for r in rows if r["bench"] == bench]
        picked = [r for r in mine if r["role"] == "novel"] + \
                 [r for r in mine if r["role"] == "seed"] + \
                 [r for r in mine if r["is_reference"]]
        shown += [r for i, r in enumerate(picked) if all(r is not p for p in picked[:i])]
    return shown
