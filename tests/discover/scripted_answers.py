"""Scripted LLM answers for the discovery tests: good proxies and every kind of bad one.

`by_request` picks an answer from the request itself (its messages and seed), so two
runs that send the same requests get the same answers, in any order -- what the
kill-and-resume test needs.
"""
from __future__ import annotations

import hashlib
import json

GOOD = {
    "fisher": "Thought: Fisher-weighted rounding error.\n```python\nimport torch\n\n"
              "def sensitivity(layer, bits):\n"
              "    return float((layer.fisher * (layer.weight - layer.quant(bits)) ** 2).sum())\n```\n",
    "hawq": "Thought: Hessian trace times the squared error, per parameter.\n```python\n"
            "import torch\n\ndef sensitivity(layer, bits):\n"
            "    noise = (layer.weight - layer.quant(bits)).pow(2).sum()\n"
            "    return float(layer.hessian_trace_avg * noise)\n```\n",
    "gradient": "Thought: first and second order terms.\n```python\nimport torch\n\n"
                "def sensitivity(layer, bits):\n    delta = layer.quant(bits) - layer.weight\n"
                "    first = (layer.grad * delta).sum().abs()\n"
                "    second = (layer.fisher * delta ** 2).sum()\n"
                "    return float(first + 0.5 * second)\n```\n",
    "size": "Thought: fewer bits hurt bigger layers more.\n```python\nimport math\n\n"
            "def sensitivity(layer, bits):\n    return layer.num_params * 2.0 ** (-bits)\n```\n",
}

BAD = {
    "syntax": "Thought: broken.\n```python\ndef sensitivity(layer, bits)\n    return 1.0\n```\n",
    "raises": "Thought: divide.\n```python\ndef sensitivity(layer, bits):\n"
              "    return 1.0 / (bits - bits)\n```\n",
    "loops": "Thought: think long.\n```python\ndef sensitivity(layer, bits):\n"
             "    while True:\n        pass\n```\n",
    "memory": "Thought: remember everything.\n```python\ndef sensitivity(layer, bits):\n"
              "    hoard = []\n    while True:\n        hoard.append([1.0] * 10 ** 7)\n```\n",
    "os": "Thought: look around.\n```python\nimport os\n\ndef sensitivity(layer, bits):\n"
          "    return float(len(os.listdir('/')))\n```\n",
    "socket": "Thought: phone home.\n```python\nimport socket\n\ndef sensitivity(layer, bits):\n"
              "    socket.create_connection(('127.0.0.1', 9))\n    return 1.0\n```\n",
    "subprocess": "Thought: ask the shell.\n```python\nimport subprocess\n\n"
                  "def sensitivity(layer, bits):\n"
                  "    return float(subprocess.check_output(['echo', '1']))\n```\n",
    "no_code": "I would weight the Hessian trace by the quantization noise, but I cannot "
               "write the code.",
}

# The status each bad answer must end in, and a word its recorded reason must contain.
EXPECTED = {"syntax": ("rejected", "syntax"), "raises": ("error", "ZeroDivisionError"),
            "loops": ("timeout", "limit"), "memory": ("memory", "memory"),
            "os": ("rejected", "os"), "socket": ("rejected", "socket"),
            "subprocess": ("rejected", "subprocess"), "no_code": ("no-code", "sensitivity")}

ALL = {**GOOD, **BAD}


def in_order(names: list[str]):
    """A responder giving the named answers in call order, then good ones forever."""
    def respond(request: dict, call_index: int) -> str:
        if call_index < len(names):
            return ALL[names[call_index]]
        return list(GOOD.values())[call_index % len(GOOD)]
    return respond


def by_request(request: dict, call_index: int) -> str:
    """A deterministic function of the request: mostly good answers, some bad."""
    blob = json.dumps([request["messages"], request.get("seed")], sort_keys=True)
    h = int(hashlib.sha256(blob.encode()).hexdigest(), 16)
    pool = list(GOOD.values()) * 2 + [BAD["raises"], BAD["syntax"], BAD["no_code"]]
    return pool[h % len(pool)]
