"""Proxies: what a proxy sees (LayerStats), the human baselines, fitness, and proxies judged
on a benchmark (built-ins in process, files in the sandbox)."""
from tapq.proxies.baselines import BASELINE_PROXIES, Proxy, proxy_table
from tapq.proxies.evaluation import (STATS_BATCH, STATS_SEED, bench_for_scoring, bench_stats,
                                     best_human, evaluate_proxies, human_scores, model_stats,
                                     same_ranking, score_proxy, with_intervals)
from tapq.proxies.fitness import (Fitness, config_scores, fitness, iso_budget_spearman,
                                  iso_undefined)
from tapq.proxies.loading import ProxyFile, load_proxy, table_of
from tapq.proxies.stats import LayerStats, collect_stats
from tapq.proxies.stats_cache import collect_stats_cached
from tapq.proxies.stats_config import (ALL_STATISTICS, StatsConfig, canonical_stats,
                                       parse_statistics, parse_stats_option)
from tapq.proxies.stats_ptq_view import PTQView

__all__ = ["ALL_STATISTICS", "BASELINE_PROXIES", "Fitness", "LayerStats", "PTQView", "Proxy", "ProxyFile",
           "STATS_BATCH", "StatsConfig", "canonical_stats", "parse_statistics",
           "parse_stats_option",
           "STATS_SEED", "bench_for_scoring", "bench_stats", "best_human", "collect_stats",
           "collect_stats_cached", "config_scores", "evaluate_proxies", "fitness", "human_scores",
           "iso_budget_spearman", "iso_undefined", "load_proxy", "model_stats", "proxy_table", "same_ranking",
           "score_proxy", "table_of", "with_intervals"]
