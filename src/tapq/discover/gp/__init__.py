"""The symbolic baseline (``tapq discover --search gp``): genetic programming over the
statistics and primitives an LLM's proxy sees, rendered to proxy programs judged exactly
like the LLM's candidates.

settings.py (GPConfig), primitives.py (what an expression may read and do), trees.py
(expression trees, growth and variation), render.py (a tree as a proxy file) and
search.py (the loop; imported as ``tapq.discover.gp.search`` because it builds on the
discovery run's assembly, which itself reads GPConfig from here).
"""
from tapq.discover.gp.render import program
from tapq.discover.gp.settings import GPConfig
from tapq.discover.gp.trees import Node, parse, random_tree

__all__ = ["GPConfig", "Node", "parse", "program", "random_tree"]
