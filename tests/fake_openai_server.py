# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""A real HTTP server on loopback speaking the OpenAI chat-completions protocol, with scripted replies.

Tests start it on ``127.0.0.1`` and a free port, point a client (or the ``reczero-verl coldstart`` command in a
subprocess) at ``server.base_url`` and script each reply with a function of the request: a completion, an HTTP error
with headers (``Retry-After``), a reply delayed past the client's timeout or trickled a byte at a time. Every request
is logged (body, headers, arrival time, status sent) so tests can assert what the client really sent. Standard library
only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Reply", "Received", "ScriptedChatServer", "completion", "error"]


@dataclass
class Reply:
    """What the server answers to one request."""

    status: int = 200
    body: Any = None  #: JSON-serialisable body, or a str sent verbatim
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  #: seconds to wait before answering (a slow server)
    tag: str = ""  #: free label kept in the log (e.g. "slow") for the test's bookkeeping
    trickle: float = 0.0  #: seconds between the body's bytes, sent one at a time after the headers (0: all at once)


@dataclass
class Received:
    """One request as the server saw it, and what it answered."""

    path: str
    body: Any
    headers: dict[str, str]
    arrived: float
    reply: Reply | None = None


def completion(
    content: str,
    *,
    reasoning_content: str | None = None,
    finish_reason: str = "stop",
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    reasoning_tokens: int | None = None,
    model: str = "teacher",
) -> dict[str, Any]:
    """A chat-completions response body."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning_content is not None:
        message["reasoning_content"] = reasoning_content
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage,
    }


def error(status: int, message: str, headers: dict[str, str] | None = None, delay: float = 0.0) -> Reply:
    """An OpenAI-style error reply."""
    return Reply(status, {"error": {"message": message, "type": "test"}}, dict(headers or {}), delay)


class ScriptedChatServer:
    """``with ScriptedChatServer(script) as server: ...``; ``script(received, n)`` returns the :class:`Reply` to the
    ``n``-th request (0-based, all paths)."""

    def __init__(self, script: Callable[[Received, int], Reply]) -> None:
        self.script = script
        self.log: list[Received] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr log
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                received = Received(self.path, body, {k.lower(): v for k, v in self.headers.items()}, time.time())
                with server._lock:
                    n = len(server.log)
                    server.log.append(received)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    reply = error(404, f"no route {self.path}")
                else:
                    reply = server.script(received, n)
                received.reply = reply
                if reply.delay:
                    time.sleep(reply.delay)
                data = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                payload = data.encode("utf-8")
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    if reply.trickle:
                        self.wfile.flush()
                        for k in range(len(payload)):
                            self.wfile.write(payload[k : k + 1])
                            self.wfile.flush()
                            time.sleep(reply.trickle)
                    else:
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer to

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-openai", daemon=True)

    @property
    def base_url(self) -> str:
        """The ``--base-url`` to give the client."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> ScriptedChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def received(self) -> list[Received]:
        """A snapshot of the request log."""
        with self._lock:
            return list(self.log)
