"""Proxies: per-layer statistics (LayerStats), the human baseline proxies, and fitness."""
from tapq.proxies.baselines import BASELINE_PROXIES, proxy_table
from tapq.proxies.fitness import Fitness, config_scores, iso_budget_spearman
from tapq.proxies.stats import LayerStats, collect_stats, collect_stats_cached

__all__ = ["BASELINE_PROXIES", "Fitness", "LayerStats", "collect_stats", "collect_stats_cached",
           "config_scores", "iso_budget_spearman", "proxy_table"]
