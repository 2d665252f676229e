"""Fixtures for the discovery tests."""
from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI, echo

# --- LLM backends: a loopback OpenAI-compatible server --------------------------------------


@pytest.fixture
def fake_openai():
    """Start a `FakeOpenAI` server: ``server = fake_openai(responder)``; stopped after the test."""
    servers = []

    def start(responder=echo, model: str = "fake-model") -> FakeOpenAI:
        server = FakeOpenAI(responder, model).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)
