"""A loopback OpenAI-compatible server for tests, with scripted faults.

    def responder(request: dict, call_index: int) -> str | Fault:
        return Fault("status", 503) if call_index == 0 else "def sensitivity(...): ..."

    with FakeOpenAI(responder) as server:
        backend = OpenAIBackend("fake", base_url=server.base_url)
        ...
        server.requests      # every chat request's JSON body, in order

Faults: ``Fault("timeout", seconds)`` answers nothing for `seconds`; ``Fault("status", code)``
answers an HTTP error; ``Fault("close")`` drops the connection; ``Fault("truncated")`` sends
half of a JSON body; ``Fault("empty_choices")`` sends ``"choices": []``;
``Fault("no_content")`` sends a message whose content is null.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULT_KINDS = ("timeout", "status", "close", "truncated", "empty_choices", "no_content")


@dataclass(frozen=True)
class Fault:
    """A scripted failure; `value` is the seconds of a timeout or the HTTP status code."""

    kind: str
    value: float = 0

    def __post_init__(self):
        assert self.kind in FAULT_KINDS, self.kind


Responder = Callable[[dict, int], "str | Fault"]


def echo(request: dict, call_index: int) -> str:
    """Default responder: repeat the last message."""
    return f"echo: {request['messages'][-1]['content']}"


def _words(text) -> int:
    return len(str(text or "").split())


class FakeOpenAI:
    """A ThreadingHTTPServer on 127.0.0.1 (a free port) serving ``/v1/chat/completions``
    and ``/v1/models`` from `responder`; a context manager."""

    def __init__(self, responder: Responder = echo, model: str = "fake-model"):
        self.responder, self.model = responder, model
        self.requests: list[dict] = []
        self.headers: list[dict] = []  # lower-case names
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.handle_error = lambda request, address: None  # clients hang up on faults
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()  # wakes handlers sleeping in a timeout fault
        self._server.shutdown()
        self._server.server_close()

    def _record(self, body: dict, headers: dict) -> int:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            return len(self.requests) - 1

    def _completion(self, body: dict, text: str | None, choices: bool = True) -> dict:
        prompt = sum(_words(m.get("content")) for m in body.get("messages", []))
        message = {"role": "assistant", "content": text}
        return {
            "id": f"chatcmpl-fake-{len(self.requests)}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", self.model),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop",
                         "logprobs": None}] if choices else [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": _words(text),
                      "total_tokens": prompt + _words(text)},
        }


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers and httpx use
        timeout = 10  # an idle kept-alive connection frees its thread eventually

        def log_message(self, *args) -> None:
            pass

        def _send_json(self, status: int, payload: dict, cut: bool = False) -> None:
            data = json.dumps(payload).encode()
            if cut:
                data = data[: len(data) // 2]
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/v1/models":
                self._send_json(404, {"error": {"message": f"no route {self.path}"}})
                return
            self._send_json(200, {"object": "list", "data": [
                {"id": server.model, "object": "model", "created": 0, "owned_by": "tests"}]})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send_json(404, {"error": {"message": f"no route {self.path}"}})
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._send_json(400, {"error": {"message": "body is not JSON"}})
                return
            index = server._record(body, {k.lower(): v for k, v in self.headers.items()})
            answer = server.responder(body, index)
            if isinstance(answer, str):
                self._send_json(200, server._completion(body, answer))
            elif answer.kind == "timeout":
                server._closing.wait(answer.value)
                self.close_connection = True
            elif answer.kind == "status":
                code = int(answer.value)
                self._send_json(code, {"error": {"message": f"scripted HTTP {code}",
                                                 "type": "fake", "code": code}})
            elif answer.kind == "close":
                self.close_connection = True  # no response at all
            elif answer.kind == "truncated":
                self._send_json(200, server._completion(body, "lost"), cut=True)
            elif answer.kind == "empty_choices":
                self._send_json(200, server._completion(body, None, choices=False))
            elif answer.kind == "no_content":
                self._send_json(200, server._completion(body, None))

    return Handler
