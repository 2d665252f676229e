import pytest

from tapq.discover.candidate import HEADER, code_hash, normalized_code, parse_answer

GOOD = '''Thought: weight the rounding error by the Fisher information.
```python
import torch

def sensitivity(layer, bits):
    return float((layer.fisher * (layer.weight - layer.quant(bits)) ** 2).sum())
```
'''


def test_thought_and_code_are_split():
    parsed = parse_answer(GOOD)
    assert parsed.error is None
    assert parsed.thought == "weight the rounding error by the Fisher information."
    assert parsed.code.startswith("import torch\n\ndef sensitivity(layer, bits):")
    assert "```" not in parsed.code


def test_an_answer_cut_at_the_closing_fence_still_parses():
    parsed = parse_answer(GOOD.split("\n```\n")[0])
    assert parsed.error is None and "return float" in parsed.code


def test_missing_imports_get_the_prefilled_header():
    parsed = parse_answer("```python\ndef sensitivity(layer, bits):\n    return math.log(bits)\n```")
    assert parsed.code.startswith(HEADER) and parsed.error is None


def test_code_without_fences_is_found():
    parsed = parse_answer("Here it is.\ndef sensitivity(layer, bits):\n    return 1.0 / bits\n")
    assert parsed.error is None and parsed.thought == "Here it is."


@pytest.mark.parametrize("text", ["I think Hessian trace matters most.",
                                  "```python\nprint('hello')\n```"])
def test_answers_without_a_sensitivity_function_are_rejected(text):
    parsed = parse_answer(text)
    assert parsed.code is None and "no code defining sensitivity" in parsed.error


def test_syntax_errors_are_reported_with_their_line():
    parsed = parse_answer("```python\nimport torch\ndef sensitivity(layer, bits)\n    return 1\n```")
    assert parsed.code is not None and parsed.error.startswith("SyntaxError") and "line 2" in parsed.error


def test_cosmetic_differences_hash_equal_and_real_ones_do_not():
    a = "import torch\ndef sensitivity(layer, bits):\n    '''doc'''\n    return 1.0/bits  # c\n"
    b = "import torch\n\n\ndef sensitivity(layer, bits):\n    return 1.0 / bits\n"
    c = "import torch\ndef sensitivity(layer, bits):\n    return 2.0 / bits\n"
    assert code_hash(a) == code_hash(b) != code_hash(c)
    assert "doc" not in normalized_code(a)
