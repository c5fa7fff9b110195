# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The chat-completions client of the cold start: the ``openai`` SDK for the protocol, ``tenacity`` for the retries.

It speaks to any OpenAI-compatible server (OpenAI, DeepSeek, a local ``vllm serve``) through ``openai.AsyncOpenAI``
with the SDK's own retries off (``max_retries=0``), so the project's policy below is the only one:

* ``timeout`` bounds a whole request, from sending it to the last byte of the answer (the SDK's timeout is per read,
  so a server that trickles its answer a byte at a time would never be timed out by it), and the body read is capped
  at ``max_body_bytes`` (the answer is read through ``with_streaming_response`` and parsed into the SDK's
  ``ChatCompletion``).
* Transient failures are retried by ``tenacity`` with exponential backoff and full jitter: HTTP 408, 409, 429 and
  5xx, timeouts, connection errors, unreadable or oversized bodies, and answers the caller's ``validate`` refuses. A
  ``Retry-After`` header (seconds or an HTTP date) sets the wait instead, up to ``RetryPolicy.max_retry_after`` (the
  log says when a wait was cut). When the retries run out the request raises :class:`RetriesExhaustedError`.
* The SDK's typed errors map to the project's: 401 (``AuthenticationError``), 403 (``PermissionDeniedError``) and 404
  (``NotFoundError``) mean a bad key, a forbidden model or a wrong URL/model name, and a 429 (``RateLimitError``) whose
  error code is ``insufficient_quota`` means the credit is gone: they raise :class:`FatalAPIError` at once, so a
  misconfigured run stops after its first response instead of after thousands. Other 4xx (a prompt too long for the
  model, say) raise :class:`RejectedRequestError`, which concerns one request only.
* ``reasoning_content`` (DeepSeek) or ``reasoning`` (vLLM) is read from the message's ``model_extra``.

The API key is given to the SDK explicitly (never read by it from ``OPENAI_API_KEY``, so a key meant for one endpoint
is never sent to another) and travels only in the ``Authorization`` header: it is never logged, never part of an
error message, never returned. Without a key no ``Authorization`` header is sent.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tenacity
from tenacity.wait import wait_base

logger = logging.getLogger(__name__)

__all__ = [
    "FATAL_STATUSES",
    "RETRY_STATUSES",
    "APIError",
    "FatalAPIError",
    "RejectedRequestError",
    "RetriesExhaustedError",
    "TransientError",
    "RetryPolicy",
    "RetryWait",
    "ChatResult",
    "ChatClient",
    "parse_retry_after",
    "parse_completion",
    "DEFAULT_MAX_BODY_BYTES",
    "RESERVED_PARAMS",
]

#: Statuses that stop the whole run: bad key (401), forbidden (403), wrong URL or model (404).
FATAL_STATUSES = frozenset({401, 403, 404})
#: Statuses worth retrying besides every 5xx.
RETRY_STATUSES = frozenset({408, 409, 429})
#: Largest response body read (bytes); a longer one is an error, retried like an unreadable body.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
_MAX_ERROR_CHARS = 300
#: Stands in for a missing key: the SDK insists on one, and the header carrying it is removed from every request.
_NO_KEY = "no-key"
#: Keys of the request body the client sets itself; ``params`` may not override them.
RESERVED_PARAMS = frozenset({"model", "messages", "stream"})


class APIError(RuntimeError):
    """A request that did not produce a completion; ``status`` is the HTTP status (None for transport errors)."""

    def __init__(self, message: str, status: int | None = None, requests: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.requests = requests  #: HTTP requests sent before giving up


class FatalAPIError(APIError):
    """401/403/404 or an exhausted quota: the configuration is wrong; nothing else should be sent."""


class RejectedRequestError(APIError):
    """Another 4xx: the server refuses this request (for example a prompt longer than the model's context)."""


class RetriesExhaustedError(APIError):
    """A transient failure persisted through every retry."""


class TransientError(APIError):
    """One failed try worth retrying; ``retry_after`` is the wait the server asked for (seconds), if any."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: up to ``max_retries`` times, retry ``k`` (1-based) waiting
    ``uniform(0, min(max_delay, base_delay * 2**(k-1)))`` (full jitter), or the server's ``Retry-After`` capped at
    ``max_retry_after``."""

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


class RetryWait(wait_base):
    """tenacity wait strategy of :class:`RetryPolicy`: the server's ``Retry-After`` (capped) when the failed try
    carried one, else ``tenacity.wait_random_exponential`` (exponential backoff with full jitter)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.backoff = tenacity.wait_random_exponential(multiplier=policy.base_delay, max=policy.max_delay)
        self.max_retry_after = policy.max_retry_after

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        retry_after = _retry_after(retry_state)
        if retry_after is None:
            return self.backoff(retry_state)
        return min(retry_after, self.max_retry_after)


def _retry_after(retry_state: tenacity.RetryCallState) -> float | None:
    outcome = retry_state.outcome
    error = outcome.exception() if outcome is not None else None
    return error.retry_after if isinstance(error, TransientError) else None


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def parse_completion(body: Any) -> tuple[str, str, str | None, int, int, int, str | None]:
    """Extract ``(content, reasoning_content, finish_reason, prompt_tokens, completion_tokens, reasoning_tokens,
    model)`` from a decoded chat-completions body, through the SDK's ``ChatCompletion`` (built leniently, as the SDK
    itself does); ``ValueError`` when it has no ``choices[0].message``."""
    from openai.types.chat import ChatCompletion
    from openai.types.chat.chat_completion import Choice
    from openai.types.chat.chat_completion_message import ChatCompletionMessage

    if not isinstance(body, Mapping):
        raise ValueError("the response body is not a JSON object")
    completion = ChatCompletion.model_construct(**{str(k): v for k, v in body.items()})
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Choice):
        raise ValueError("the response has no choices")
    message = getattr(choices[0], "message", None)
    if not isinstance(message, ChatCompletionMessage):
        raise ValueError("the response's first choice has no message")
    extra = message.model_extra or {}
    reasoning = extra.get("reasoning_content") or extra.get("reasoning") or ""
    usage = getattr(completion, "usage", None)
    details = getattr(usage, "completion_tokens_details", None)
    model = getattr(completion, "model", None)
    return (
        str(getattr(message, "content", None) or ""),
        str(reasoning),
        getattr(choices[0], "finish_reason", None),
        _int(getattr(usage, "prompt_tokens", 0)),
        _int(getattr(usage, "completion_tokens", 0)),
        _int(getattr(details, "reasoning_tokens", 0)),
        model if isinstance(model, str) else None,
    )


def _server_said(error: Any) -> str:
    """The server's error message (the SDK's decoded ``error`` object or raw body), on one shortened line."""
    body = getattr(error, "body", None)
    message = body.get("message", body) if isinstance(body, Mapping) else body
    text = " ".join(str(message if message is not None else "").split())
    return text[:_MAX_ERROR_CHARS] + ("…" if len(text) > _MAX_ERROR_CHARS else "")


def _is_quota_error(error: Any) -> bool:
    """True for OpenAI's 429 ``insufficient_quota`` (the credit is gone), as opposed to a rate limit."""
    return "insufficient_quota" in (str(getattr(error, "code", None)), str(getattr(error, "type", None)))


def _cause(error: BaseException) -> str:
    cause = error.__cause__ or error.__context__
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(error)


class ChatClient:
    """Async chat-completions client with the project's retry policy; use as ``async with ChatClient(...) as c``.

    ``option_prefix`` names the command-line options in error hints (``""`` for ``--base-url``, ``"judge-"`` for
    ``--judge-base-url``).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str | None = None,
        timeout: float = 600.0,
        policy: RetryPolicy | None = None,
        params: Mapping[str, Any] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        option_prefix: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.model = model
        self.policy = policy or RetryPolicy()
        self.params = {k: v for k, v in (params or {}).items() if k not in RESERVED_PARAMS}
        self.max_body_bytes = max_body_bytes
        self._api_key = api_key
        self._api_key_env = api_key_env
        self._timeout = timeout
        self._prefix = option_prefix
        self._client: Any = None

    async def __aenter__(self) -> ChatClient:
        import openai

        self._client = openai.AsyncOpenAI(
            api_key=self._api_key or _NO_KEY,
            base_url=self.base_url,
            timeout=self._timeout,
            max_retries=0,  # the retries are tenacity's, below: one policy only
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _headers(self) -> dict[str, Any]:
        """Per-request headers: the organisation and project headers the SDK would fill from ``OPENAI_ORG_ID`` /
        ``OPENAI_PROJECT_ID`` are removed (they belong to another endpoint's account), and so is ``Authorization``
        when there is no key."""
        import openai

        headers = {"OpenAI-Organization": openai.Omit(), "OpenAI-Project": openai.Omit()}
        if not self._api_key:
            headers["Authorization"] = openai.Omit()
        return headers

    async def _send(self, messages: Sequence[Mapping[str, str]]) -> ChatResult:
        """One HTTP request; its body is read up to ``max_body_bytes`` and parsed (requests/latency set later)."""
        create = self._client.chat.completions.with_streaming_response.create
        async with create(
            model=self.model,
            messages=[dict(m) for m in messages],
            stream=False,
            extra_body=self.params,
            extra_headers=self._headers(),
        ) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise TransientError(f"response body larger than {self.max_body_bytes} bytes ({size} read)")
                chunks.append(chunk)
        try:
            fields = parse_completion(json.loads(b"".join(chunks)))
        except ValueError as exc:
            raise TransientError(f"unreadable 200 response: {exc}") from None
        content, reasoning, finish, p_tok, c_tok, r_tok, model = fields
        return ChatResult(
            content=content,
            reasoning_content=reasoning,
            finish_reason=finish,
            prompt_tokens=p_tok,
            completion_tokens=c_tok,
            reasoning_tokens=r_tok,
            requests=0,
            retries=0,
            latency_s=0.0,
            model=model,
        )

    def _fatal_hint(self, status: int) -> str:
        if status == 401:
            where = f"variable {self._api_key_env}" if self._api_key_env else "none given: no key was sent"
            return f"the API key was refused: check --{self._prefix}api-key-env ({where})"
        if status == 403:
            return "access denied: the key may not be allowed to use this model"
        return f"not found: check --{self._prefix}base-url (it usually ends in /v1) and --{self._prefix}model"

    def _status_error(self, error: Any, requests: int) -> APIError:
        """Map one of the SDK's ``APIStatusError`` to the project's errors."""
        import openai

        status = int(error.status_code)
        said = _server_said(error)
        fatal = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)
        if isinstance(error, fatal) or status in FATAL_STATUSES:
            message = f"HTTP {status} from {self.url}: {self._fatal_hint(status)}. Server said: {said}"
            return FatalAPIError(message, status, requests)
        if isinstance(error, openai.RateLimitError) and _is_quota_error(error):
            message = f"HTTP 429 from {self.url}: the account's quota is exhausted (retrying will not help). "
            return FatalAPIError(message + f"Server said: {said}", status, requests)
        if status in RETRY_STATUSES or status >= 500:
            retry_after = parse_retry_after(error.response.headers.get("retry-after"))
            return TransientError(f"HTTP {status}: {said}", status, retry_after)
        return RejectedRequestError(f"HTTP {status} from {self.url}: {said}", status, requests)

    async def _try(
        self, messages: Sequence[Mapping[str, str]], requests: int, validate: Callable[[ChatResult], None] | None
    ) -> ChatResult:
        """One try within ``timeout``; raise :class:`TransientError` for what the policy retries."""
        import openai

        try:
            result = await asyncio.wait_for(self._send(messages), self._timeout)
        except asyncio.TimeoutError:
            raise TransientError(f"timeout: no complete answer within {self._timeout:g}s (--timeout)") from None
        except openai.APIStatusError as exc:
            raise self._status_error(exc, requests) from None
        except openai.APITimeoutError as exc:
            raise TransientError(f"timeout ({_cause(exc)})") from None
        except openai.APIConnectionError as exc:
            raise TransientError(f"connection error ({_cause(exc)})") from None
        if validate is not None:
            try:
                validate(result)
            except ValueError as exc:
                raise TransientError(f"unusable answer: {exc}") from None
        return result

    def _log_retry(self, retry_state: tenacity.RetryCallState) -> None:
        """tenacity ``before_sleep``: say why and how long, and when a ``Retry-After`` was cut."""
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        delay = retry_state.next_action.sleep if retry_state.next_action is not None else 0.0
        attempt, total = retry_state.attempt_number, self.policy.max_retries
        retry_after = _retry_after(retry_state)
        if retry_after is None:
            logger.debug("retry %d/%d in %.2fs after %s", attempt, total, delay, error)
        elif delay < retry_after:
            logger.warning(
                "%s; the server asks to wait %.1fs (Retry-After), waiting %.1fs (--max-retry-after); retry %d/%d",
                error,
                retry_after,
                delay,
                attempt,
                total,
            )
        else:
            logger.info(
                "%s; waiting %.1fs as the server asks (Retry-After, cap %.1fs --max-retry-after); retry %d/%d",
                error,
                delay,
                self.policy.max_retry_after,
                attempt,
                total,
            )

    async def complete(
        self, messages: Sequence[Mapping[str, str]], validate: Callable[[ChatResult], None] | None = None
    ) -> ChatResult:
        """Send one chat completion, retrying transient failures; raise an :class:`APIError` subclass otherwise.

        ``validate`` (optional) is called with each completed answer; a ``ValueError`` from it makes the answer
        unusable, retried like an unreadable response.
        """
        if self._client is None:
            raise RuntimeError("ChatClient must be used inside 'async with'")
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.policy.max_retries + 1),
            wait=RetryWait(self.policy),
            retry=tenacity.retry_if_exception_type(TransientError),
            before_sleep=self._log_retry,
            reraise=True,
        )
        start = time.monotonic()
        requests = 0
        try:
            async for attempt in retrying:
                with attempt:
                    requests = attempt.retry_state.attempt_number
                    result = await self._try(messages, requests, validate)
        except TransientError as exc:
            message = f"gave up after {requests} requests; last error: {exc}"
            raise RetriesExhaustedError(message, exc.status, requests) from None
        result.requests, result.retries, result.latency_s = requests, requests - 1, time.monotonic() - start
        return result
