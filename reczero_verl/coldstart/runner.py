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
"""The asynchronous loop of the cold start: direct request, rationalization when needed, one journal record per step.

A fixed pool of ``concurrency`` workers takes samples from a queue, so at most that many samples (hence requests)
are in flight. Each sample goes through :func:`process_sample`:

1. the TbR prompt exactly as in ``train.parquet`` (skipped when the journal already holds this sample's direct
   answer from an interrupted run);
2. kept as ``kept_direct`` when :func:`~reczero_verl.coldstart.traces.judge` says ``match``;
3. otherwise the rationalization request; ``kept_rationalized`` on ``match``, else ``dropped`` with the verdict as
   the reason (``format``, ``truncated``, ``too_long``, ``empty``, ``wrong_rating``, ``leak``) or ``rejected`` (the
   server refused the request with a 4xx; the next run sends it again, see
   :data:`~reczero_verl.coldstart.journal.RETRYABLE_REASONS`).

An answer longer than ``max_answer_chars`` is dropped as ``too_long`` and journaled cut to that length, so a runaway
answer never bloats the journal.

A request whose retries run out leaves its sample without a final record: the next run redoes it. A
:class:`~reczero_verl.coldstart.client.FatalAPIError` (401/403/404) and an :class:`EndpointDownError` (the server
unreachable: see there) cancel every worker at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from reczero_verl.coldstart.client import (
    APIError,
    ChatResult,
    FatalAPIError,
    RejectedRequestError,
    RetriesExhaustedError,
)
from reczero_verl.coldstart.export import DROPPED, KEPT_DIRECT, KEPT_RATIONALIZED
from reczero_verl.coldstart.samples import Sample
from reczero_verl.coldstart.traces import DIRECT, MATCH, RATIONALIZE, judge, rationalization_messages, strip_thinking

logger = logging.getLogger(__name__)

__all__ = [
    "RunCounters",
    "Completer",
    "Recorder",
    "EndpointDownError",
    "process_sample",
    "run_samples",
    "MAX_REJECTIONS_BEFORE_SUCCESS",
    "DEFAULT_MAX_ANSWER_CHARS",
    "now_utc",
]

#: When this many requests were rejected (4xx other than 401/403/404) before any succeeded, the settings are wrong
#: (an unsupported parameter, say) rather than one prompt: stop like a fatal error.
MAX_REJECTIONS_BEFORE_SUCCESS = 5
#: Default cap on a journaled answer (characters after removing hidden thinking); a TbR answer is a few thousand.
DEFAULT_MAX_ANSWER_CHARS = 32_000


class EndpointDownError(APIError):
    """Requests keep failing after every retry (the server is down or unreachable): stop and resume later.

    Raised at the first such failure before any request of the run succeeded (a wrong port, a server still
    loading), and after ``max_failures_in_a_row`` consecutive ones later (an outage), so an outage costs minutes,
    not one full retry cycle per remaining sample.
    """


class Completer(Protocol):
    """What the loop needs from a client (``ChatClient`` implements it)."""

    model: str

    async def complete(self, messages: Sequence[Mapping[str, str]]) -> ChatResult: ...


class Recorder(Protocol):
    """What the loop needs from a journal (``Journal`` implements it)."""

    def append(self, record: Mapping[str, Any]) -> None: ...


@dataclass
class RunCounters:
    """Figures of this invocation only (the journal holds the cumulative ones)."""

    requests: int = 0
    retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    succeeded: int = 0
    rejected: int = 0
    failed: int = 0  #: requests whose retries ran out (their samples stay pending)
    failed_in_a_row: int = 0  #: such failures since the last success
    outcomes: Counter = field(default_factory=Counter)
    dropped_by_reason: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict form for stats.json and the summary."""
        return {
            "requests": self.requests,
            "retries": self.retries,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "failed_requests": self.failed,
            "rejected_requests": self.rejected,
            "kept_direct": self.outcomes.get(KEPT_DIRECT, 0),
            "kept_rationalized": self.outcomes.get(KEPT_RATIONALIZED, 0),
            "dropped": self.outcomes.get(DROPPED, 0),
            "dropped_by_reason": dict(sorted(self.dropped_by_reason.items())),
        }


def now_utc() -> str:
    """The current UTC time, ISO 8601 to the second (journal timestamps)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class _Context:
    client: Completer
    journal: Recorder
    counters: RunCounters
    tolerance: float
    on_final: Callable[[dict[str, Any]], None]
    max_failures_in_a_row: int
    max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS


async def _attempt(ctx: _Context, sample: Sample, stage: str, messages: list[dict[str, str]]) -> dict[str, Any] | None:
    """Send one request, journal its outcome, return the attempt record (None when its retries ran out)."""
    base = {"type": "attempt", "index": sample.index, "stage": stage, "time": now_utc()}
    try:
        result = await ctx.client.complete(messages)
    except FatalAPIError as exc:
        ctx.counters.requests += exc.requests
        ctx.journal.append(
            {**base, "status": "fatal", "error": str(exc), "http_status": exc.status, "requests": exc.requests}
        )
        raise
    except (RejectedRequestError, RetriesExhaustedError) as exc:
        ctx.counters.requests += exc.requests
        ctx.counters.retries += max(0, exc.requests - 1)
        rejected = isinstance(exc, RejectedRequestError)
        status = "rejected" if rejected else "error"
        ctx.journal.append(
            {
                **base,
                "status": status,
                "error": str(exc),
                "http_status": exc.status,
                "requests": exc.requests,
                "retries": max(0, exc.requests - 1),
            }
        )
        if not rejected:
            ctx.counters.failed += 1
            ctx.counters.failed_in_a_row += 1
            logger.warning("sample %d (%s): %s; it stays pending for the next run", sample.index, stage, exc)
            if ctx.counters.succeeded == 0 or ctx.counters.failed_in_a_row >= ctx.max_failures_in_a_row:
                raise EndpointDownError(
                    f"the endpoint is unavailable ({ctx.counters.failed_in_a_row} request(s) in a row failed after "
                    f"every retry; {ctx.counters.succeeded} succeeded in this run); last: {exc}",
                    exc.status,
                    exc.requests,
                ) from None
            return None
        ctx.counters.rejected += 1
        logger.warning("sample %d (%s) rejected: %s", sample.index, stage, exc)
        if ctx.counters.succeeded == 0 and ctx.counters.rejected >= MAX_REJECTIONS_BEFORE_SUCCESS:
            raise FatalAPIError(
                f"the first {ctx.counters.rejected} requests were all rejected; last: {exc}", exc.status
            ) from None
        return {**base, "status": status}
    ctx.counters.succeeded += 1
    ctx.counters.failed_in_a_row = 0
    ctx.counters.requests += result.requests
    ctx.counters.retries += result.retries
    ctx.counters.tokens_in += result.prompt_tokens
    ctx.counters.tokens_out += result.completion_tokens
    answer, removed = strip_thinking(result.content)
    verdict = judge(
        answer,
        sample.truth,
        sample.rating_min,
        sample.rating_max,
        tolerance=ctx.tolerance,
        stage=stage,
        finish_reason=result.finish_reason,
        max_chars=ctx.max_answer_chars,
    )
    record = {
        **base,
        "status": "ok",
        "verdict": verdict.verdict,
        "format_ok": verdict.format_ok,
        "pred": verdict.pred,
        "truth": sample.truth,
        "content": answer[: ctx.max_answer_chars],
        "finish_reason": result.finish_reason,
        "thinking_chars": removed + len(result.reasoning_content),
        "reasoning_tokens": result.reasoning_tokens,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "requests": result.requests,
        "retries": result.retries,
        "latency_s": round(result.latency_s, 3),
        "model": result.model,
    }
    if len(answer) > ctx.max_answer_chars:
        record["content_chars"] = len(answer)  # the journal keeps only the first max_answer_chars
    if verdict.leak is not None:
        record["leak_rule"], record["leak_excerpt"] = verdict.leak
    ctx.journal.append(record)
    return record


def _final(ctx: _Context, sample: Sample, outcome: str, reason: str | None, attempt: Mapping[str, Any]) -> None:
    record = {
        "type": "sample",
        "index": sample.index,
        "outcome": outcome,
        "reason": reason,
        "rating": sample.truth,
        "pred": attempt.get("pred"),
        "assistant": attempt.get("content") if outcome != DROPPED else None,
        "leak_rule": attempt.get("leak_rule"),
        "prompt_sha1": sample.digest,
        "teacher": ctx.client.model,
        "time": now_utc(),
    }
    ctx.journal.append(record)
    ctx.counters.outcomes[outcome] += 1
    if outcome == DROPPED:
        ctx.counters.dropped_by_reason[reason or "unknown"] += 1
    ctx.on_final(record)


async def process_sample(ctx: _Context, sample: Sample, journaled_direct: Mapping[str, Any] | None) -> None:
    """Take one sample to its final record (or leave it pending when a request's retries ran out)."""
    direct = dict(journaled_direct) if journaled_direct is not None else None
    if direct is not None:
        # Judge again under the current settings: the journal keeps the cleaned answer, not the decision.
        verdict = judge(
            direct.get("content") or "",
            sample.truth,
            sample.rating_min,
            sample.rating_max,
            tolerance=ctx.tolerance,
            stage=DIRECT,
            finish_reason=direct.get("finish_reason"),
            max_chars=ctx.max_answer_chars,
        )
        direct["verdict"] = verdict.verdict
    else:
        direct = await _attempt(ctx, sample, DIRECT, sample.messages)
        if direct is None:
            return
    if direct["status"] == "rejected":
        _final(ctx, sample, DROPPED, "rejected", direct)
        return
    if direct["verdict"] == MATCH:
        _final(ctx, sample, KEPT_DIRECT, None, direct)
        return
    messages = rationalization_messages(sample.messages, sample.truth, sample.rating_min, sample.rating_max)
    second = await _attempt(ctx, sample, RATIONALIZE, messages)
    if second is None:
        return
    if second["status"] == "rejected":
        _final(ctx, sample, DROPPED, "rejected", second)
    elif second["verdict"] == MATCH:
        _final(ctx, sample, KEPT_RATIONALIZED, None, second)
    else:
        _final(ctx, sample, DROPPED, second["verdict"], second)


async def run_samples(
    samples: Sequence[Sample],
    client: Completer,
    journal: Recorder,
    *,
    tolerance: float = 0.0,
    concurrency: int = 8,
    journaled_direct: Mapping[int, Mapping[str, Any]] | None = None,
    on_final: Callable[[dict[str, Any]], None] | None = None,
    counters: RunCounters | None = None,
    max_failures_in_a_row: int | None = None,
    max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
) -> RunCounters:
    """Process ``samples`` with at most ``concurrency`` in flight; return this run's counters.

    ``on_final`` is called with each final record (progress display); ``counters`` may be passed to watch the
    figures grow. Raises :class:`FatalAPIError` (after cancelling every worker) when the endpoint refuses the
    configuration, :class:`EndpointDownError` when it is unreachable (``max_failures_in_a_row`` requests in a row
    exhausted their retries; default ``max(3, concurrency)``). ``max_answer_chars`` caps an answer (see the module
    docstring).
    """
    counters = counters if counters is not None else RunCounters()
    ctx = _Context(
        client,
        journal,
        counters,
        tolerance,
        on_final or (lambda record: None),
        max_failures_in_a_row or max(3, concurrency),
        max_answer_chars,
    )
    journaled_direct = journaled_direct or {}
    queue: asyncio.Queue[Sample] = asyncio.Queue()
    for sample in samples:
        queue.put_nowait(sample)

    async def worker() -> None:
        while True:
            try:
                sample = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await process_sample(ctx, sample, journaled_direct.get(sample.index))

    started = time.monotonic()
    tasks = [asyncio.create_task(worker()) for _ in range(max(1, min(concurrency, len(samples))))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    logger.debug("processed %d samples in %.1fs", len(samples), time.monotonic() - started)
    return counters
