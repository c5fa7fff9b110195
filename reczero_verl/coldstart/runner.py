# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The asynchronous loop of the cold start: direct request, rationalization when needed, the leak check, one journal
record per step.

A fixed pool of ``concurrency`` workers takes samples from a queue, so at most that many samples (hence teacher
requests, each possibly followed by one judge request) are in flight. Each sample goes through
:func:`process_sample`:

1. the TbR prompt exactly as in ``train.parquet``;
2. kept as ``kept_direct`` when :func:`~reczero_verl.coldstart.traces.judge` says ``match``;
3. otherwise the rationalization request; ``dropped`` with the verdict as the reason (``format``, ``truncated``,
   ``too_long``, ``empty``, ``wrong_rating``, ``leak`` when the lexical rules fire) or ``rejected`` (the server
   refused the request with a 4xx; the next run sends it again, see
   :data:`~reczero_verl.coldstart.journal.RETRYABLE_REASONS`);
4. a rationalization that passes is shown to the blind leak judge (:mod:`~reczero_verl.coldstart.leak_judge`) unless
   the leak check is lexical only: ``kept_rationalized`` on ``honest``, ``dropped`` (reason ``leak``, rule
   ``llm_judge``) on ``leak``. With ``--leak-judge both`` a trace the lexical rules flag is dropped without asking
   the judge; with ``llm`` the rules are not applied.

Every step reuses what the journal already holds for the sample (its direct answer, its rationalized answer, the
judge's verdict on it), judged again under the current settings, so a rerun never pays twice for an answer. An
answer longer than ``max_answer_chars`` is dropped as ``too_long`` and journaled cut to that length, so a runaway
answer never bloats the journal.

A request whose retries run out leaves its sample without a final record: the next run redoes it. So does a judge
that fails, is rejected or keeps answering something that is neither ``LEAK`` nor ``HONEST`` (each unparseable
verdict is counted and retried like a failed request): a trace is never kept without a verdict. A
:class:`~reczero_verl.coldstart.client.FatalAPIError` (401/403/404, exhausted quota) and an
:class:`EndpointDownError` (the teacher or the judge unreachable or unusable: see there) cancel every worker at once.
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
from reczero_verl.coldstart.journal import JournalState
from reczero_verl.coldstart.leak_judge import (
    BOTH,
    JUDGE_LEAK_RULE,
    JUDGE_PROMPT_VERSION,
    LEAK,
    LEAK_JUDGE_MODES,
    LEXICAL,
    LLM,
    judge_messages,
    parse_verdict,
)
from reczero_verl.coldstart.samples import Sample
from reczero_verl.coldstart.traces import DIRECT, MATCH, RATIONALIZE, judge, rationalization_messages, strip_thinking

logger = logging.getLogger(__name__)

__all__ = [
    "RunCounters",
    "Completer",
    "Recorder",
    "LeakCheck",
    "EndpointDownError",
    "process_sample",
    "run_samples",
    "MAX_REJECTIONS_BEFORE_SUCCESS",
    "DEFAULT_MAX_ANSWER_CHARS",
    "JUDGE",
    "now_utc",
]

#: When this many requests were rejected (4xx other than 401/403/404) before any succeeded, the settings are wrong
#: (an unsupported parameter, say) rather than one prompt: stop like a fatal error.
MAX_REJECTIONS_BEFORE_SUCCESS = 5
#: Default cap on a journaled answer (characters after removing hidden thinking); a TbR answer is a few thousand.
DEFAULT_MAX_ANSWER_CHARS = 32_000
#: Stage name of the leak judge's attempts in the journal.
JUDGE = "judge"
#: Characters of the judge's answer kept in the journal (a verdict is one word).
_JUDGE_ANSWER_CHARS = 200


class EndpointDownError(APIError):
    """Requests keep failing after every retry (the server is down or unreachable): stop and resume later.

    Raised at the first such failure before any request of the run succeeded (a wrong port, a server still
    loading), and after ``max_failures_in_a_row`` consecutive ones later (an outage), so an outage costs minutes,
    not one full retry cycle per remaining sample. The leak judge is counted apart from the teacher, and a judge
    that is rejected or never answers ``LEAK`` / ``HONEST`` counts as failing too.
    """


class Completer(Protocol):
    """What the loop needs from a client (``ChatClient`` implements it)."""

    model: str

    async def complete(
        self, messages: Sequence[Mapping[str, str]], validate: Callable[[ChatResult], None] | None = None
    ) -> ChatResult: ...


class Recorder(Protocol):
    """What the loop needs from a journal (``Journal`` implements it)."""

    def append(self, record: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class LeakCheck:
    """How rationalized traces are checked for leaks: ``mode`` is one of
    :data:`~reczero_verl.coldstart.leak_judge.LEAK_JUDGE_MODES`; ``judge`` the judge's client (unused when lexical)."""

    mode: str = LEXICAL
    judge: Completer | None = None

    def __post_init__(self) -> None:
        if self.mode not in LEAK_JUDGE_MODES:
            raise ValueError(f"unknown leak check mode {self.mode!r}; expected one of {LEAK_JUDGE_MODES}")
        if self.mode != LEXICAL and self.judge is None:
            raise ValueError(f"the leak check mode {self.mode!r} needs a judge client")

    @property
    def lexical(self) -> bool:
        """The lexical rules are applied."""
        return self.mode in (LEXICAL, BOTH)

    @property
    def llm(self) -> bool:
        """The judge model is asked."""
        return self.mode in (LLM, BOTH)


@dataclass
class RunCounters:
    """Figures of this invocation only (the journal holds the cumulative ones)."""

    requests: int = 0  #: every HTTP request, teacher and judge
    retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    succeeded: int = 0  #: teacher requests that produced an answer
    rejected: int = 0
    failed: int = 0  #: teacher requests whose retries ran out (their samples stay pending)
    failed_in_a_row: int = 0  #: such failures since the last success
    judge_requests: int = 0
    judge_succeeded: int = 0
    judge_failures: int = 0  #: judge calls that gave no verdict (retries run out, rejected): samples stay pending
    judge_failed_in_a_row: int = 0
    judge_unparseable: int = 0  #: judge answers that were neither LEAK nor HONEST (each one retried)
    judge_verdicts: Counter = field(default_factory=Counter)
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
            "judge_requests": self.judge_requests,
            "judge_failures": self.judge_failures,
            "judge_unparseable": self.judge_unparseable,
            "judge_verdicts": dict(sorted(self.judge_verdicts.items())),
            "kept_direct": self.outcomes.get(KEPT_DIRECT, 0),
            "kept_rationalized": self.outcomes.get(KEPT_RATIONALIZED, 0),
            "dropped": self.outcomes.get(DROPPED, 0),
            "dropped_by_reason": dict(sorted(self.dropped_by_reason.items())),
        }

    def count_result(self, result: ChatResult) -> None:
        """Add one answered request's figures."""
        self.requests += result.requests
        self.retries += result.retries
        self.tokens_in += result.prompt_tokens
        self.tokens_out += result.completion_tokens


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
    leak_check: LeakCheck = field(default_factory=LeakCheck)


def _failure_record(base: Mapping[str, Any], status: str, exc: APIError) -> dict[str, Any]:
    """The attempt record of a request that gave no answer."""
    return {
        **base,
        "status": status,
        "error": str(exc),
        "http_status": exc.status,
        "requests": exc.requests,
        "retries": max(0, exc.requests - 1),
    }


def _verdict(ctx: _Context, sample: Sample, stage: str, answer: str, finish_reason: str | None) -> dict[str, Any]:
    """The fields of an attempt record that :func:`~reczero_verl.coldstart.traces.judge` decides."""
    verdict = judge(
        answer,
        sample.truth,
        sample.rating_min,
        sample.rating_max,
        tolerance=ctx.tolerance,
        stage=stage,
        finish_reason=finish_reason,
        max_chars=ctx.max_answer_chars,
        leak_rules=ctx.leak_check.lexical,
        task=sample.task,
        n_candidates=sample.n_candidates,
    )
    fields: dict[str, Any] = {"verdict": verdict.verdict, "format_ok": verdict.format_ok, "pred": verdict.pred}
    if verdict.leak is not None:
        fields.update(leak_rule=verdict.leak.rule, leak_excerpt=verdict.leak.excerpt, leak_by=LEXICAL)
    return fields


def _teacher_failed(ctx: _Context, sample: Sample, stage: str, exc: APIError) -> dict[str, Any] | None:
    """Count a teacher request that gave no answer; ``{"status": "rejected"}`` for a rejection, None when pending."""
    ctx.counters.requests += exc.requests
    ctx.counters.retries += max(0, exc.requests - 1)
    if isinstance(exc, RejectedRequestError):
        ctx.counters.rejected += 1
        logger.warning("sample %d (%s) rejected: %s", sample.index, stage, exc)
        if ctx.counters.succeeded == 0 and ctx.counters.rejected >= MAX_REJECTIONS_BEFORE_SUCCESS:
            raise FatalAPIError(
                f"the first {ctx.counters.rejected} requests were all rejected; last: {exc}", exc.status
            ) from None
        return {"status": "rejected"}
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


async def _attempt(ctx: _Context, sample: Sample, stage: str, messages: list[dict[str, str]]) -> dict[str, Any] | None:
    """Send one teacher request, journal its outcome, return the attempt record (None when its retries ran out)."""
    base = {"type": "attempt", "index": sample.index, "stage": stage, "time": now_utc()}
    try:
        result = await ctx.client.complete(messages)
    except FatalAPIError as exc:
        ctx.counters.requests += exc.requests
        ctx.counters.retries += max(0, exc.requests - 1)
        ctx.journal.append(_failure_record(base, "fatal", exc))
        raise
    except (RejectedRequestError, RetriesExhaustedError) as exc:
        status = "rejected" if isinstance(exc, RejectedRequestError) else "error"
        ctx.journal.append(_failure_record(base, status, exc))
        outcome = _teacher_failed(ctx, sample, stage, exc)
        return None if outcome is None else {**base, **outcome}
    ctx.counters.succeeded += 1
    ctx.counters.failed_in_a_row = 0
    ctx.counters.count_result(result)
    answer, removed = strip_thinking(result.content)
    record = {
        **base,
        "status": "ok",
        **_verdict(ctx, sample, stage, answer, result.finish_reason),
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
    ctx.journal.append(record)
    return record


def _judge_failed(ctx: _Context, sample: Sample, exc: APIError) -> None:
    """Count a judge call that gave no verdict; stop the run when the judge looks unavailable or unusable."""
    counters = ctx.counters
    counters.requests += exc.requests
    counters.retries += max(0, exc.requests - 1)
    counters.judge_requests += exc.requests
    counters.judge_failures += 1
    counters.judge_failed_in_a_row += 1
    logger.warning(
        "sample %d: no verdict from the leak judge (%s); it stays pending for the next run", sample.index, exc
    )
    if counters.judge_succeeded == 0 or counters.judge_failed_in_a_row >= ctx.max_failures_in_a_row:
        raise EndpointDownError(
            f"the leak judge is unavailable or unusable ({counters.judge_failed_in_a_row} call(s) in a row gave no "
            f"verdict; {counters.judge_succeeded} did in this run); last: {exc}",
            exc.status,
            exc.requests,
        ) from None


async def _ask_judge(ctx: _Context, sample: Sample, answer: str) -> str | None:
    """Ask the blind judge about a rationalized answer; journal and return its verdict (None: no verdict, pending)."""
    client = ctx.leak_check.judge
    assert client is not None  # LeakCheck guarantees it when the judge is asked
    base = {
        "type": "attempt",
        "index": sample.index,
        "stage": JUDGE,
        "time": now_utc(),
        "judge_model": client.model,
        "judge_prompt": JUDGE_PROMPT_VERSION,
    }
    unparseable = 0

    def validate(result: ChatResult) -> None:
        nonlocal unparseable
        try:
            parse_verdict(result.content)
        except ValueError:
            unparseable += 1
            ctx.counters.judge_unparseable += 1
            raise

    try:
        result = await client.complete(judge_messages(answer, sample.task), validate)
    except FatalAPIError as exc:
        ctx.counters.requests += exc.requests
        ctx.counters.retries += max(0, exc.requests - 1)
        ctx.counters.judge_requests += exc.requests
        ctx.journal.append({**_failure_record(base, "fatal", exc), "unparseable": unparseable})
        raise
    except (RejectedRequestError, RetriesExhaustedError) as exc:
        status = "rejected" if isinstance(exc, RejectedRequestError) else "error"
        ctx.journal.append({**_failure_record(base, status, exc), "unparseable": unparseable})
        _judge_failed(ctx, sample, exc)
        return None
    verdict = parse_verdict(result.content)
    ctx.counters.count_result(result)
    ctx.counters.judge_requests += result.requests
    ctx.counters.judge_succeeded += 1
    ctx.counters.judge_failed_in_a_row = 0
    ctx.counters.judge_verdicts[verdict] += 1
    ctx.journal.append(_judge_record(base, result, verdict, unparseable))
    return verdict


def _judge_record(base: Mapping[str, Any], result: ChatResult, verdict: str, unparseable: int) -> dict[str, Any]:
    """The journal record of a judge call that gave ``verdict`` (after ``unparseable`` answers that gave none)."""
    return {
        **base,
        "status": "ok",
        "verdict": verdict,
        "answer": result.content[:_JUDGE_ANSWER_CHARS],
        "unparseable": unparseable,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "reasoning_tokens": result.reasoning_tokens,
        "requests": result.requests,
        "retries": result.retries,
        "latency_s": round(result.latency_s, 3),
        "model": result.model,
    }


def _truth_fields(sample: Sample) -> dict[str, Any]:
    """The truth of a final record: ``rating`` for a rating sample (the journal of earlier versions); ``task`` and
    ``truth`` (the target's candidate number, the like label) for the others, whose ``rating`` is None."""
    if sample.task == "rating":
        return {"rating": sample.truth}
    return {"rating": None, "task": sample.task, "truth": sample.truth}


def _final(ctx: _Context, sample: Sample, outcome: str, reason: str | None, attempt: Mapping[str, Any]) -> None:
    record = {
        "type": "sample",
        "index": sample.index,
        "outcome": outcome,
        "reason": reason,
        **_truth_fields(sample),
        "pred": attempt.get("pred"),
        "assistant": attempt.get("content") if outcome != DROPPED else None,
        "leak_rule": attempt.get("leak_rule"),
        "leak_by": attempt.get("leak_by"),
        "prompt_sha1": sample.digest,
        "teacher": ctx.client.model,
        "time": now_utc(),
    }
    ctx.journal.append(record)
    ctx.counters.outcomes[outcome] += 1
    if outcome == DROPPED:
        ctx.counters.dropped_by_reason[reason or "unknown"] += 1
    ctx.on_final(record)


def _rejudged(ctx: _Context, sample: Sample, stage: str, journaled: Mapping[str, Any]) -> dict[str, Any]:
    """A journaled answer judged again under the current settings (the journal keeps the answer, not the decision)."""
    record = {k: v for k, v in journaled.items() if k not in ("leak_rule", "leak_excerpt", "leak_by")}
    record.update(_verdict(ctx, sample, stage, record.get("content") or "", record.get("finish_reason")))
    return record


async def _answer(
    ctx: _Context, sample: Sample, stage: str, messages: list[dict[str, str]], journaled: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The ``stage`` answer of ``sample``: the journaled one judged again, or a new request."""
    if journaled is not None:
        return _rejudged(ctx, sample, stage, journaled)
    return await _attempt(ctx, sample, stage, messages)


async def _leak_verdict(
    ctx: _Context, sample: Sample, answer: Mapping[str, Any], journaled: Mapping[str, Any] | None
) -> str | None:
    """The judge's verdict on a rationalized answer: the journaled one when it was given under this prompt version,
    else a new judge call (None: no verdict yet)."""
    if journaled is not None and journaled.get("judge_prompt") == JUDGE_PROMPT_VERSION:
        return str(journaled["verdict"])
    return await _ask_judge(ctx, sample, str(answer.get("content") or ""))


async def process_sample(ctx: _Context, sample: Sample, journaled: JournalState | None = None) -> None:
    """Take one sample to its final record (or leave it pending when a request gave no answer or verdict)."""
    state = journaled if journaled is not None else JournalState()
    index = sample.index
    direct = await _answer(ctx, sample, DIRECT, sample.messages, state.pending_direct.get(index))
    if direct is None:
        return
    if direct["status"] == "rejected":
        _final(ctx, sample, DROPPED, "rejected", direct)
        return
    if direct["verdict"] == MATCH:
        _final(ctx, sample, KEPT_DIRECT, None, direct)
        return
    messages = rationalization_messages(
        sample.messages,
        sample.truth,
        sample.rating_min,
        sample.rating_max,
        task=sample.task,
        like_threshold=sample.like_threshold,
    )
    second = await _answer(ctx, sample, RATIONALIZE, messages, state.pending_rationalized.get(index))
    if second is None:
        return
    if second["status"] == "rejected":
        _final(ctx, sample, DROPPED, "rejected", second)
        return
    if second["verdict"] != MATCH:
        _final(ctx, sample, DROPPED, second["verdict"], second)
        return
    if ctx.leak_check.llm:
        verdict = await _leak_verdict(ctx, sample, second, state.pending_verdicts.get(index))
        if verdict is None:
            return
        if verdict == LEAK:
            _final(ctx, sample, DROPPED, "leak", {**second, "leak_rule": JUDGE_LEAK_RULE, "leak_by": JUDGE})
            return
    _final(ctx, sample, KEPT_RATIONALIZED, None, second)


async def run_samples(
    samples: Sequence[Sample],
    client: Completer,
    journal: Recorder,
    *,
    tolerance: float = 0.0,
    concurrency: int = 8,
    journaled: JournalState | None = None,
    on_final: Callable[[dict[str, Any]], None] | None = None,
    counters: RunCounters | None = None,
    max_failures_in_a_row: int | None = None,
    max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
    leak_check: LeakCheck | None = None,
) -> RunCounters:
    """Process ``samples`` with at most ``concurrency`` in flight; return this run's counters.

    ``journaled`` is what the journal already holds (reused, see the module docstring); ``on_final`` is called with
    each final record (progress display); ``counters`` may be passed to watch the figures grow. Raises
    :class:`FatalAPIError` (after cancelling every worker) when an endpoint refuses the configuration,
    :class:`EndpointDownError` when the teacher or the judge is unreachable (``max_failures_in_a_row`` calls in a row
    gave nothing; default ``max(3, concurrency)``). ``max_answer_chars`` caps an answer (see the module docstring);
    ``leak_check`` says how rationalized traces are checked (default: the lexical rules only).
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
        leak_check or LeakCheck(),
    )
    queue: asyncio.Queue[Sample] = asyncio.Queue()
    for sample in samples:
        queue.put_nowait(sample)

    async def worker() -> None:
        while True:
            try:
                sample = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await process_sample(ctx, sample, journaled)

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
