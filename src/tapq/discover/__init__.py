"""Discover (TAP): an LLM writes sensitivity proxies; tapq scores, evolves and keeps them.

Public entry: ``discover(DiscoverConfig(...))`` -> DiscoveryResult. The pieces, one job
each: config.py (settings, grouped), assembly.py (opening a run: store, LLM, controller,
statistics), evolution.py (the loop), prompting.py and strategies.py (prompts from text
files), llm.py / embedded.py / llm_cache.py (backends and the replay cache), candidate.py
(parsing answers), seeds.py (baselines and hint bodies scored first), scoring.py and
novelty.py (outcome; copies by ranking), credit.py (what the controller learns from),
controller.py (DPO over prompt strategies), diagnosis.py and teaching.py (what teaching
prompts show), population.py (survival and parents), store.py (the run database),
results.py (outputs), final_check.py (the best novel proxy against the baselines),
benches.py (searching several benchmarks: fitness mean or min), transfer.py (the transfer
check on the shipped benchmarks a run did not search) and run.py (all of it in one call). gp/ is the symbolic baseline (``--search gp``): genetic
programming over the same statistics, its candidates judged and stored like the LLM's.
Candidates run in tapq.sandbox.
"""
from tapq.discover.assembly import (RUN_DB, check_bench, check_benches, check_resumable,
                                    check_run_folder, open_discovery)
from tapq.discover.config import (FITNESS_RULES, DiscoverConfig, ExecutionConfig, LLMConfig,
                                  SearchConfig)
from tapq.discover.controller import CONTROLLERS, ControllerConfig
from tapq.discover.final_check import compare_at_budget, fitness_check, human_to_beat
from tapq.discover.gp import GPConfig
from tapq.discover.gp.search import GP_LLM_NAME, open_gp_search
from tapq.discover.llm import LLMBackend, LLMError, make_backend
from tapq.discover.results import (BEST_PROXY, LEADERBOARD, RunSummary, kind_of, leaderboard,
                                   summarize)
from tapq.discover.seeds import seed_name
from tapq.discover.run import DiscoveryResult, discover
from tapq.discover.store import CandidateRecord, GenerationRecord, RunStore, Status
from tapq.discover.transfer import key_rows, run_transfer_check, transfer_targets

__all__ = ["BEST_PROXY", "CONTROLLERS", "FITNESS_RULES", "CandidateRecord", "ControllerConfig",
           "DiscoverConfig", "DiscoveryResult", "ExecutionConfig", "GPConfig", "GP_LLM_NAME",
           "GenerationRecord", "LEADERBOARD", "LLMBackend", "LLMConfig", "LLMError", "RUN_DB",
           "RunStore", "RunSummary", "SearchConfig", "Status", "check_bench", "check_benches",
           "check_resumable", "check_run_folder", "compare_at_budget", "discover",
           "fitness_check", "human_to_beat", "key_rows", "kind_of", "leaderboard",
           "make_backend", "open_discovery", "open_gp_search", "run_transfer_check",
           "seed_name", "summarize", "transfer_targets"]
