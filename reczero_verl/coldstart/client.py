# Copyright 2026 The reczero-verl Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""A small async client for the OpenAI chat-completions protocol, with the retry rules a long paid run needs.

It speaks ``POST {base_url}/chat/completions`` to any compatible server (OpenAI, DeepSeek, a local ``vllm serve``)
with ``httpx``, so no vendor SDK is needed. ``timeout`` bounds a whole request, from sending it to the last byte of the
answer (a server that trickles its answer a byte at a time is timed out too), and the body read is capped at
``max_body_bytes``. Transient failures are retried with exponential backoff and jitter: HTTP 408, 409, 429 and 5xx,
timeouts, connection errors and unreadable or oversized 200 bodies; a ``Retry-After`` header (seconds or an HTTP
date) sets the wait instead, up to ``RetryPolicy.max_retry_after`` (the log says when a wait was cut).

HTTP 401, 403 and 404 mean a bad key, a forbidden model or a wrong URL/model name, and a 429 whose error code is
``insufficient_quota`` means the credit is gone: they raise :class:`FatalAPIError` at once, so a misconfigured run
stops after its first response instead of after thousands. Other 4xx (a prompt too long for the model, say) raise
:class:`RejectedRequestError`, which concerns one request only.

The API key is sent in the ``Authorization`` header and nowhere else: it is never logged, never part of an error
message, never returned.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

logger = logging.getLogger(__name__)

__all__ = [
    "FATAL_STATUSES",
    "RETRY_STATUSES",
    "APIError",
    "FatalAPIError",
    "RejectedRequestError",
    "RetriesExhaustedError",
    "RetryPolicy",
    "ChatResult",
    "ChatClient",
    "parse_retry_after",
    "backoff_delay",
    "DEFAULT_MAX_BODY_BYTES",
]

#: Statuses that stop the whole run: bad key (401), forbidden (403), wrong URL or model (404).
FATAL_STATUSES = frozenset({401, 403, 404})
#: Statuses worth retrying besides every 5xx.
RETRY_STATUSES = frozenset({408, 409, 429})
#: Largest response body read (bytes); a longer one is an error, retried like an unreadable body.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
_MAX_ERROR_CHARS = 300


class APIError(RuntimeError):
    """A request that did not produce a completion; ``status`` is the HTTP status (None for transport errors)."""

    def __init__(self, message: str, status: int | None = None, requests: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.requests = requests  #: HTTP requests sent before giving up


class FatalAPIError(APIError):
    """401/403/404: the configuration is wrong; nothing else should be sent."""


class RejectedRequestError(APIError):
    """Another 4xx: the server refuses this request (for example a prompt longer than the model's context)."""


class RetriesExhaustedError(APIError):
    """A transient failure persisted through every retry."""


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: up to ``max_retries`` times, waiting
    ``uniform(0.5, 1) * min(max_delay, base_delay * 2**attempt)`` or the server's ``Retry-After`` (capped at
    ``max_retry_after``)."""

    max_retries: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 300.0


@dataclass
class ChatResult:
    """One completed chat completion, reduced to what the cold start records."""

    content: str
    reasoning_content: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    requests: int  #: HTTP requests sent for it (1 + retries)
    retries: int
    latency_s: float
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date; None when absent/invalid."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Exponential backoff with jitter for retry number ``attempt`` (0-based)."""
    ceiling = min(policy.max_delay, policy.base_delay * (2.0**attempt))
    return ceiling * (0.5 + 0.5 * rng.random())


class _Reply(NamedTuple):
    """What was read of one HTTP response: status, headers and the (capped) body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` when it is not)."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _BodyTooLarge(Exception):
    """The response body exceeded the client's ``max_body_bytes``."""


def _error_text(response: _Reply) -> str:
    """The server's error message (OpenAI ``{"error": {"message": ...}}`` or the raw body), shortened."""
    try:
        body = response.json()
        message = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(message, dict):
            message = message.get("message", message)
        text = str(message)
    except ValueError:
        text = response.text
    text = " ".join(text.split())
    return text[:_MAX_ERROR_CHARS] + ("…" if len(text) > _MAX_ERROR_CHARS else "")


def _is_quota_error(response: _Reply) -> bool:
    """True for OpenAI's 429 ``insufficient_quota`` (the credit is gone), as opposed to a rate limit."""
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and "insufficient_quota" in (str(error.get("code")), str(error.get("type")))


def _fatal_hint(status: int, api_key_env: str | None) -> str:
    if status == 401:
        return f"the API key was refused: check the environment variable {api_key_env or '(none given)'}"
    if status == 403:
        return "access denied: the key may not be allowed to use this model"
    return "not found: check --base-url (it usually ends in /v1) and --model"


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def parse_completion(body: Any) -> tuple[str, str, str | None, int, int, int, str | None]:
    """Extract ``(content, reasoning_content, finish_reason, prompt_tokens, completion_tokens, reasoning_tokens,
    model)`` from a chat-completions body; ``ValueError`` when it has no ``choices[0].message``."""
    if not isinstance(body, Mapping):
        raise ValueError("the response body is not a JSON object")
    choices = body.get("choices")
    if not isinstance(choices, Sequence) or not choices or not isinstance(choices[0], Mapping):
        raise ValueError("the response has no choices")
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        raise ValueError("the response's first choice has no message")
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    usage = body.get("usage") if isinstance(body.get("usage"), Mapping) else {}
    details = (
        usage.get("completion_tokens_details") if isinstance(usage.get("completion_tokens_details"), Mapping) else {}
    )
    return (
        str(content),
        str(reasoning),
        choices[0].get("finish_reason"),
        _int(usage.get("prompt_tokens")),
        _int(usage.get("completion_tokens")),
        _int(details.get("reasoning_tokens")),
        body.get("model") if isinstance(body.get("model"), str) else None,
    )


class ChatClient:
    """Async chat-completions client with retries; use as ``async with ChatClient(...) as client``."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str | None = None,
        timeout: float = 600.0,
        policy: RetryPolicy | None = None,
        max_connections: int = 8,
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.max_body_bytes = max_body_bytes
        self.model = model
        self.policy = policy or RetryPolicy()
        self.params = dict(params or {})
        self._api_key_env = api_key_env
        self._timeout = timeout
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._max_connections = max_connections
        self._rng = random.Random(seed)
        self._client: Any = None

    async def __aenter__(self) -> ChatClient:
        import httpx

        self._client = httpx.AsyncClient(
            headers=self._headers,
            timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 30.0)),
            limits=httpx.Limits(max_connections=self._max_connections, max_keepalive_connections=self._max_connections),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _post(self, payload: Mapping[str, Any]) -> _Reply:
        """Send one request and read its answer, all within ``timeout`` seconds and ``max_body_bytes``."""
        async with asyncio.timeout(self._timeout):
            async with self._client.stream("POST", self.url, json=payload) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise _BodyTooLarge(size)
                    chunks.append(chunk)
                return _Reply(response.status_code, response.headers, b"".join(chunks))

    def _retry_delay(self, attempt: int, retry_after: float | None, last_error: str) -> float:
        """Seconds to wait before retry ``attempt + 1``: the server's ``Retry-After`` (capped) or the backoff."""
        if retry_after is None:
            delay = backoff_delay(attempt, self.policy, self._rng)
            logger.debug("retry %d/%d in %.2fs after %s", attempt + 1, self.policy.max_retries, delay, last_error)
            return delay
        delay = min(retry_after, self.policy.max_retry_after)
        if delay < retry_after:
            logger.warning(
                "%s; the server asks to wait %.1fs (Retry-After), waiting %.1fs (--max-retry-after); retry %d/%d",
                last_error,
                retry_after,
                delay,
                attempt + 1,
                self.policy.max_retries,
            )
        else:
            logger.info(
                "%s; waiting %.1fs as the server asks (Retry-After, cap %.1fs --max-retry-after); retry %d/%d",
                last_error,
                delay,
                self.policy.max_retry_after,
                attempt + 1,
                self.policy.max_retries,
            )
        return delay

    async def complete(self, messages: Sequence[Mapping[str, str]]) -> ChatResult:
        """Send one chat completion, retrying transient failures; raise an :class:`APIError` subclass otherwise."""
        import httpx

        if self._client is None:
            raise RuntimeError("ChatClient must be used inside 'async with'")
        payload = {**self.params, "model": self.model, "messages": [dict(m) for m in messages], "stream": False}
        start = time.monotonic()
        requests = 0
        last_error = ""
        for attempt in range(self.policy.max_retries + 1):
            requests += 1
            retry_after: float | None = None
            try:
                response = await self._post(payload)
            except TimeoutError:
                last_error = f"timeout: no complete answer within {self._timeout:g}s (--timeout)"
            except httpx.TimeoutException as exc:
                last_error = f"timeout ({type(exc).__name__})"
            except _BodyTooLarge as exc:
                last_error = f"response body larger than {self.max_body_bytes} bytes ({exc} read)"
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise FatalAPIError(f"cannot send to {self.url}: {exc}", None, requests) from None
            except httpx.RequestError as exc:
                last_error = f"connection error ({type(exc).__name__}: {exc})"
            else:
                status = response.status
                if status == 200:
                    try:
                        fields = parse_completion(response.json())
                    except ValueError as exc:
                        last_error = f"unreadable 200 response: {exc}"
                    else:
                        content, reasoning, finish, p_tok, c_tok, r_tok, model = fields
                        return ChatResult(
                            content=content,
                            reasoning_content=reasoning,
                            finish_reason=finish,
                            prompt_tokens=p_tok,
                            completion_tokens=c_tok,
                            reasoning_tokens=r_tok,
                            requests=requests,
                            retries=requests - 1,
                            latency_s=time.monotonic() - start,
                            model=model,
                        )
                elif status in FATAL_STATUSES:
                    raise FatalAPIError(
                        f"HTTP {status} from {self.url}: {_fatal_hint(status, self._api_key_env)}. "
                        f"Server said: {_error_text(response)}",
                        status,
                        requests,
                    )
                elif status == 429 and _is_quota_error(response):
                    raise FatalAPIError(
                        f"HTTP 429 from {self.url}: the account's quota is exhausted (retrying will not help). "
                        f"Server said: {_error_text(response)}",
                        status,
                        requests,
                    )
                elif status in RETRY_STATUSES or status >= 500:
                    last_error = f"HTTP {status}: {_error_text(response)}"
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                else:
                    raise RejectedRequestError(
                        f"HTTP {status} from {self.url}: {_error_text(response)}", status, requests
                    )
            if attempt == self.policy.max_retries:
                break
            await asyncio.sleep(self._retry_delay(attempt, retry_after, last_error))
        raise RetriesExhaustedError(f"gave up after {requests} requests; last error: {last_error}", None, requests)
