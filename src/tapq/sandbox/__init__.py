"""The sandbox: the only place where proxy code written by an LLM (or a user) runs.

Below the proxies, the allocation, discovery and the report, which all run proxy files
through it; it knows nothing of them but the statistics file format. The parts:
``screen`` (a fast static check of the AST, with reasons an LLM can act on),
``worker`` (the process that runs one candidate under limits), ``runner`` (the parent
side: start, watch, kill, read the result) and ``job`` (a candidate evaluation any
executor can run, here, in a pool process or on Ray).
"""
from tapq.sandbox.job import SandboxJob
from tapq.sandbox.runner import (Sandbox, SandboxLimits, SandboxResult, sandboxed_proxy_table,
                                 save_stats_for_sandbox)
from tapq.sandbox.screen import screen

__all__ = ["Sandbox", "SandboxJob", "SandboxLimits", "SandboxResult", "sandboxed_proxy_table",
           "save_stats_for_sandbox", "screen"]
