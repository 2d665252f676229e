"""Discover (TAP): an LLM writes sensitivity proxies; tapq scores, evolves and keeps them.

Public entry: ``discover(DiscoverConfig(...))`` -> DiscoveryResult. The pieces, one job
each: prompting.py (prompts from text files), llm.py / embedded.py / llm_cache.py
(backends and the replay cache), candidate.py (parsing answers), controller.py (DPO over
prompt strategies), population.py (survival and parents), store.py (the run database),
evolution.py (the loop), results.py and run.py (outputs and the final check). Candidates
run in tapq.sandbox.
"""
from tapq.discover.evolution import DiscoverConfig
from tapq.discover.run import DiscoveryResult, discover

__all__ = ["DiscoverConfig", "DiscoveryResult", "discover"]
