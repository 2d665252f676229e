"""The OpenAI-compatible backend over real HTTP (a loopback fake server), and the cache."""
import sqlite3
import time

import pytest
from fake_openai import FakeOpenAI, Fault, echo

from tapq.discover.embedded import EmbeddedBackend
from tapq.discover.llm import Completion, LLMError, OpenAIBackend, make_backend
from tapq.discover.llm_cache import CachedBackend, ResponseCache
from tapq.errors import TapqError



@pytest.fixture
def fake_openai():
    """Start a `FakeOpenAI` server: ``server = fake_openai(responder)``; stopped after the
    test. (Here, not in a conftest.py: a second conftest module would shadow the root one
    for tests that import helpers from it.)"""
    servers = []

    def start(responder=echo, model: str = "fake-model") -> FakeOpenAI:
        server = FakeOpenAI(responder, model).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


MESSAGES = [{"role": "system", "content": "You write Python."},
            {"role": "user", "content": "Write def sensitivity(layer, bits)"}]


def backend_for(server, **kwargs) -> OpenAIBackend:
    options = {"timeout": 0.5, "max_retries": 3, "backoff_base": 0.01, "backoff_max": 0.05}
    return OpenAIBackend("fake-model", base_url=server.base_url, **(options | kwargs))


def ask(backend, seed=7, **kwargs) -> Completion:
    return backend.complete(MESSAGES, temperature=0.8, max_tokens=64, seed=seed, **kwargs)


def test_plain_answer_with_usage_and_all_parameters_sent(fake_openai):
    server = fake_openai(lambda request, i: "return 1.0 / bits")
    reply = ask(backend_for(server), stop=["```"])
    assert reply.text == "return 1.0 / bits" and not reply.cached
    assert (reply.prompt_tokens, reply.completion_tokens) == (7, 4)  # words, in the fake
    assert reply.model == "fake-model" and reply.seconds > 0
    (request,) = server.requests
    assert request["messages"] == MESSAGES and request["seed"] == 7
    assert (request["temperature"], request["max_tokens"], request["stop"]) == (0.8, 64, ["```"])


@pytest.mark.parametrize("fault", [
    Fault("timeout", 2.0), Fault("status", 429), Fault("status", 500), Fault("status", 503),
    Fault("close"), Fault("truncated"), Fault("empty_choices"), Fault("no_content")],
    ids=lambda f: f"{f.kind}-{f.value:g}")
def test_each_fault_is_retried_until_an_answer(fake_openai, fault):
    server = fake_openai(lambda request, i: fault if i == 0 else "ok")
    assert ask(backend_for(server)).text == "ok"
    assert len(server.requests) == 2


@pytest.mark.parametrize("fault", [Fault("status", 503), Fault("close"), Fault("truncated"),
                                   Fault("empty_choices"), Fault("timeout", 2.0)],
                         ids=lambda f: f.kind)
def test_persistent_faults_raise_a_one_line_llm_error_quickly(fake_openai, fault):
    server = fake_openai(lambda request, i: fault)
    start = time.perf_counter()
    with pytest.raises(LLMError) as info:
        ask(backend_for(server, max_retries=2, timeout=0.3))
    assert time.perf_counter() - start < 3
    assert len(server.requests) == 3 and "failed 3 times" in str(info.value)
    assert "\n" not in str(info.value) and isinstance(info.value, TapqError)


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_are_not_retried(fake_openai, status):
    server = fake_openai(lambda request, i: Fault("status", status))
    with pytest.raises(LLMError, match=f"HTTP {status}"):
        ask(backend_for(server))
    assert len(server.requests) == 1


def test_backoff_grows_exponentially_with_jitter_and_honours_the_cap():
    backend = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", backoff_base=1.0,
                            backoff_max=8.0)
    for attempt, step in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 8.0)]:
        delays = {backend._delay(attempt, None) for _ in range(50)}
        assert all(step / 2 <= d <= step for d in delays) and len(delays) > 1
    assert backend._delay(0, retry_after=5.0) == 5.0  # a server's Retry-After is respected


def test_missing_key_for_a_remote_server_names_the_variable(monkeypatch):
    monkeypatch.delenv("MY_LLM_KEY", raising=False)
    with pytest.raises(LLMError, match=r"\$MY_LLM_KEY") as info:
        OpenAIBackend("gpt-4o-mini", base_url="https://api.example.com/v1",
                      api_key_env="MY_LLM_KEY")
    assert "\n" not in str(info.value)


def test_a_local_server_needs_no_key(fake_openai, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = fake_openai()
    assert ask(backend_for(server)).text == f"echo: {MESSAGES[-1]['content']}"
    assert server.headers[0]["authorization"] == "Bearer not-needed"


def test_the_key_is_sent(fake_openai, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = fake_openai()
    ask(backend_for(server))
    assert server.headers[0]["authorization"] == "Bearer sk-test"


def test_cache_hit_replays_the_answer_without_a_request(fake_openai):
    server = fake_openai(lambda request, i: f"answer {i}")
    backend = CachedBackend(backend_for(server), ResponseCache(sqlite3.connect(":memory:")))
    first, again = ask(backend), ask(backend)
    assert len(server.requests) == 1 and not first.cached and again.cached
    assert again == Completion(first.text, first.prompt_tokens, first.completion_tokens,
                               first.seconds, first.model, cached=True)
    assert ask(backend, seed=8).text == "answer 1"  # another seed is another request
    assert ask(backend, stop=["```"]).text == "answer 2"
    assert len(backend.cache) == 3


def test_a_run_replays_from_its_database_without_the_server(fake_openai, tmp_path):
    server = fake_openai(lambda request, i: "def sensitivity(layer, bits): return 1.0")
    db = tmp_path / "run.db"
    original = ask(CachedBackend(backend_for(server), ResponseCache.open(db)))
    # Another process, another port: the model identity, not the address, keys the cache.
    other = OpenAIBackend("fake-model", base_url="http://127.0.0.1:9/v1")
    replay = CachedBackend(other, ResponseCache.open(db), replay_only=True)
    assert ask(replay).text == original.text
    with pytest.raises(LLMError, match="cannot be replayed without the LLM"):
        ask(replay, seed=99)


def test_make_backend_parses_specs():
    openai_backend = make_backend("openai:qwen-coder", base_url="http://localhost:8000/v1")
    assert isinstance(openai_backend, OpenAIBackend)
    assert openai_backend.name == "openai:qwen-coder@http://localhost:8000/v1"
    embedded = make_backend("embedded", threads=1)
    assert isinstance(embedded, EmbeddedBackend) and embedded.threads == 1
    assert embedded.name == "embedded:qwen2.5-coder-0.5b-q4_k_m"
    assert make_backend("embedded:/models/other.gguf").name == "embedded:other.gguf"
    for bad in ["gpt-4", "openai:", "ollama:llama3"]:
        with pytest.raises(LLMError):
            make_backend(bad)
