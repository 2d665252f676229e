"""The sandbox: the only place where proxy code written by an LLM (or a user) runs.

Below the proxies, the allocation, discovery and the report, which all run proxy files
through it; it knows nothing of them but the statistics file format. The parts:
``screen`` and ``policy`` (a fast static check of the AST and the language-level rules,
with reasons an LLM can act on), ``isolation`` with ``jail``, ``landlock`` and
``seccomp`` (the OS boundary each worker builds and verifies), ``boundary`` (the parent's
probe and refusal), ``stats_file`` (statistics sealed in memory and verified by hash),
``worker`` (the process that runs one candidate), ``runner`` (the parent side: start,
watch, kill, read the result) and ``job`` (a candidate evaluation any executor can run).
"""
from tapq.sandbox.boundary import (Isolation, allow_unisolated, probe_isolation,
                                   require_isolation, unisolated_allowed)
from tapq.sandbox.job import SandboxJob
from tapq.sandbox.runner import Sandbox, SandboxLimits, SandboxResult, sandboxed_proxy_table
from tapq.sandbox.screen import screen
from tapq.sandbox.stats_file import SealedStats, save_stats_for_sandbox

__all__ = ["Isolation", "Sandbox", "SandboxJob", "SandboxLimits", "SandboxResult",
           "SealedStats", "allow_unisolated", "probe_isolation", "require_isolation",
           "sandboxed_proxy_table", "save_stats_for_sandbox", "screen", "unisolated_allowed"]
