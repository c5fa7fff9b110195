# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The cold start's pure rules and building blocks, table by table: rounding and acceptance, thinking removal, leak
detection, verdicts, the rationalization request, Retry-After and backoff, the journal and the val split."""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
import tenacity

from reczero_verl.coldstart.client import (
    ChatClient,
    FatalAPIError,
    RetriesExhaustedError,
    RetryPolicy,
    RetryWait,
    TransientError,
    parse_completion,
    parse_retry_after,
)
from reczero_verl.coldstart.export import split_train_val
from reczero_verl.coldstart.journal import Journal, JournalError, exclusive_lock, read_journal, to_json
from reczero_verl.coldstart.traces import (
    DIRECT,
    RATIONALIZE,
    find_leak,
    judge,
    rating_matches,
    rationalization_instruction,
    rationalization_messages,
    round_half_up,
    strip_thinking,
)
from tests.fake_openai_server import Reply, ScriptedChatServer, completion


def tbr(rate: str, user: str = "Likes thrillers.") -> str:
    return (
        f"<analyze user>{user}</analyze user><analyze item>A thriller.</analyze item>"
        f"<match>Fits.</match><rate>{rate}</rate>"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3.5, 4), (2.5, 3), (4.5, 5), (0.5, 1), (3.49, 3), (3.4999999, 3), (4.999, 5), (1.0, 1), (-0.5, -1)],
)
def test_round_half_up(value, expected):
    assert round_half_up(value) == expected


@pytest.mark.parametrize(
    ("pred", "truth", "tolerance", "keep"),
    [
        (4, 4, 0, True),
        (3.5, 4, 0, True),  # rounds half up to 4
        (4.49, 4, 0, True),
        (4.5, 4, 0, False),  # rounds to 5
        (3.4, 4, 0, False),
        (3, 4, 1, True),
        (2.5, 4, 1, True),  # rounds to 3, one off
        (2.4, 4, 1, False),
        (math.nan, 4, 0, False),
    ],
)
def test_rating_matches(pred, truth, tolerance, keep):
    assert rating_matches(pred, truth, tolerance) is keep


@pytest.mark.parametrize(
    ("content", "answer"),
    [
        ("<think>hidden</think>ANSWER", "ANSWER"),
        ("<think>a</think>\n<think>b</think>  ANSWER \n", "ANSWER"),
        ("<THINK>a\nb</THINK>ANSWER", "ANSWER"),
        ("thinking pre-filled by the template </think>\n\nANSWER", "ANSWER"),
        ("<think>never closed ANSWER", "<think>never closed ANSWER"),
        ("  ANSWER  ", "ANSWER"),
        ("", ""),
        (None, ""),
    ],
)
def test_strip_thinking(content, answer):
    got, removed = strip_thinking(content)
    assert got == answer
    assert removed == len(content or "") - len(answer)


@pytest.mark.parametrize(
    "text",
    [
        "Given the true rating of 4, the match is good.",
        "The ground truth is 3.",
        "I was told the user gave 5.",
        "As instructed, the rating is 2.",
        "The actual rating confirms it.",
        "We were given the score in advance.",
        "Per this note, 4 it is.",
        "Rationalizing the rating: 4.",
    ],
)
def test_find_leak_catches_giveaways(text):
    assert find_leak(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "The user rated similar thrillers 4 and 5.",
        "The item is given high praise by other readers.",
        "There is a hint of romance the user may dislike.",
        "My final rating reflects a good but imperfect match.",
        "Readers who were given early copies loved it.",
    ],
)
def test_find_leak_leaves_ordinary_reasoning_alone(text):
    assert find_leak(text) is None


@pytest.mark.parametrize(
    ("answer", "truth", "tolerance", "stage", "finish", "verdict"),
    [
        (tbr("4"), 4, 0, DIRECT, "stop", "match"),
        (tbr("3.5"), 4, 0, DIRECT, "stop", "match"),
        (tbr("3"), 4, 0, DIRECT, "stop", "wrong_rating"),
        (tbr("3"), 4, 1, DIRECT, "stop", "match"),
        (tbr("3"), 4, 1, RATIONALIZE, "stop", "wrong_rating"),  # a rationalization must give the truth itself
        (tbr("6"), 5, 1, DIRECT, "stop", "format"),  # outside the 1-5 scale
        (tbr("4") + " extra", 4, 0, DIRECT, "stop", "format"),
        ("four stars", 4, 0, DIRECT, "stop", "format"),
        ("<analyze user>The user", 4, 0, DIRECT, "length", "truncated"),
        (tbr("4"), 4, 0, DIRECT, "length", "match"),  # complete despite the limit: kept
        ("   ", 4, 0, DIRECT, "stop", "empty"),
        ("", 4, 0, DIRECT, "length", "truncated"),  # all max_tokens spent thinking
        (tbr("4", "Given the true rating, likes it."), 4, 0, RATIONALIZE, "stop", "leak"),
        (tbr("4", "Given the true rating, likes it."), 4, 0, DIRECT, "stop", "match"),  # not told: no leak possible
    ],
)
def test_judge(answer, truth, tolerance, stage, finish, verdict):
    assert judge(answer, truth, 1, 5, tolerance=tolerance, stage=stage, finish_reason=finish).verdict == verdict


def test_rationalization_messages_append_to_the_user_turn_only():
    messages = [{"role": "system", "content": "SYS"}, {"role": "user", "content": "USER"}]
    out = rationalization_messages(messages, 4.0, 1.0, 5.0)
    assert messages == [{"role": "system", "content": "SYS"}, {"role": "user", "content": "USER"}]  # untouched
    assert out[0] == messages[0]
    assert out[1]["content"] == "USER" + rationalization_instruction(4.0, 1.0, 5.0)
    assert "<rate>4</rate>" in out[1]["content"] and "1 to 5" in out[1]["content"]
    with pytest.raises(ValueError, match="no user message"):
        rationalization_messages([{"role": "system", "content": "S"}], 4.0, 1.0, 5.0)


def test_an_echoed_instruction_is_a_leak():
    assert find_leak(rationalization_instruction(7.0, 1.0, 10.0)) is not None


def test_parse_retry_after():
    now = 1_700_000_000.0
    date = format_datetime(datetime.fromtimestamp(now + 10, tz=timezone.utc), usegmt=True)
    past = format_datetime(datetime.fromtimestamp(now - 10, tz=timezone.utc), usegmt=True)
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(date, now=now) == pytest.approx(10.0)
    assert parse_retry_after(past, now=now) == 0.0
    for bad in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(bad) is None


def _failed_try(attempt: int, error: BaseException) -> tenacity.RetryCallState:
    """tenacity's state after try number ``attempt`` (1-based) failed with ``error``."""
    state = tenacity.RetryCallState(tenacity.AsyncRetrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    state.set_exception((type(error), error, None))
    return state


def test_backoff_grows_with_full_jitter_and_a_cap():
    wait = RetryWait(RetryPolicy(base_delay=1.0, max_delay=8.0))
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (11, 8.0)]:
        delays = [wait(_failed_try(attempt, TransientError("HTTP 503: busy", 503))) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.5 * ceiling and len(set(delays)) > 1


def test_retry_after_replaces_the_backoff_up_to_the_cap():
    wait = RetryWait(RetryPolicy(base_delay=1.0, max_delay=8.0, max_retry_after=30.0))
    for asked, waited in [(12.5, 12.5), (100.0, 30.0), (0.0, 0.0)]:
        assert wait(_failed_try(1, TransientError("HTTP 429: slow down", 429, retry_after=asked))) == waited


def test_parse_completion():
    body = completion("A", reasoning_content="R", prompt_tokens=3, completion_tokens=5, reasoning_tokens=2)
    assert parse_completion(body) == ("A", "R", "stop", 3, 5, 2, "teacher")
    vllm = {"choices": [{"message": {"content": None, "reasoning": "R"}, "finish_reason": "length"}]}
    assert parse_completion(vllm) == ("", "R", "length", 0, 0, 0, None)
    for bad in ({}, {"choices": []}, {"choices": [{}]}, []):
        with pytest.raises(ValueError):
            parse_completion(bad)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_errors_are_retried_then_reported():
    async def go():
        policy = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.002)
        async with ChatClient(f"http://127.0.0.1:{_free_port()}/v1", "m", policy=policy, timeout=2) as client:
            await client.complete([{"role": "user", "content": "hi"}])

    with pytest.raises(RetriesExhaustedError, match="connection error") as exc:
        asyncio.run(go())
    assert exc.value.requests == 3


def test_unreadable_200_is_retried():
    def script(received, n):
        return Reply(200, "not json at all") if n == 0 else Reply(200, completion("OK", prompt_tokens=1))

    async def go():
        policy = RetryPolicy(max_retries=2, base_delay=0.001)
        async with ChatClient(server.base_url, "m", policy=policy, params={"temperature": 0.1}) as client:
            return await client.complete([{"role": "user", "content": "hi"}])

    with ScriptedChatServer(script) as server:
        result = asyncio.run(go())
        bodies = [r.body for r in server.received()]
    assert (result.content, result.requests, result.retries) == ("OK", 2, 1)
    assert bodies[1] == {
        "temperature": 0.1,
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }
    assert "authorization" not in {k for r in server.received() for k in r.headers}  # no key: no header


def test_only_the_given_key_is_sent_never_the_sdks_environment_variables(monkeypatch, caplog):
    """The SDK would read OPENAI_API_KEY / OPENAI_ORG_ID / OPENAI_PROJECT_ID by itself: a key meant for another
    endpoint must never reach this one, and the key given is never logged, even with the SDK's debug log on."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-ambient-should-not-be-sent")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-ambient")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-ambient")

    async def go(api_key):
        async with ChatClient(server.base_url, "m", api_key=api_key) as client:
            return await client.complete([{"role": "user", "content": "hi"}])

    with ScriptedChatServer(lambda received, n: Reply(200, completion("OK"))) as server:
        with caplog.at_level(logging.DEBUG):
            asyncio.run(go(None))
            asyncio.run(go("sk-given-7c1d"))
        first, second = (r.headers for r in server.received())
    assert "authorization" not in first and second["authorization"] == "Bearer sk-given-7c1d"
    for headers in (first, second):
        assert "openai-organization" not in headers and "openai-project" not in headers
    assert caplog.records, "nothing was logged: the check below would be empty"
    assert "sk-given-7c1d" not in caplog.text and "sk-ambient" not in caplog.text


def test_exhausted_quota_is_fatal_but_a_rate_limit_is_retried():
    def script(received, n):
        if n == 0:
            return Reply(429, {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}})
        return Reply(429, {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}})

    async def go():
        async with ChatClient(server.base_url, "m", policy=RetryPolicy(base_delay=0.001)) as client:
            await client.complete([{"role": "user", "content": "hi"}])

    with ScriptedChatServer(script) as server:
        with pytest.raises(FatalAPIError, match="quota is exhausted") as exc:
            asyncio.run(go())
        assert len(server.received()) == 2
    assert exc.value.status == 429 and exc.value.requests == 2


def test_journal_names_a_corrupt_line_and_repairs_a_cut_tail(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.append({"type": "sample", "index": 1, "pred": math.nan})
    assert read_journal(path).finals[1]["pred"] is None  # NaN is written as null
    path.write_text(path.read_text() + '{"type": "sample", "ind')
    assert read_journal(path).truncated_tail
    with Journal(path) as journal:
        journal.append({"type": "sample", "index": 2})
    assert sorted(read_journal(path).finals) == [1, 2]
    clean = path.read_text()
    path.write_text(clean + "garbage\n" + to_json({"type": "sample", "index": 3}) + "\n")
    with pytest.raises(JournalError, match="line 3"):
        read_journal(path)
    path.write_text(clean + to_json({"type": "sample", "outcome": "dropped"}) + "\n")  # no index
    with pytest.raises(JournalError, match="line 3"):
        read_journal(path)


def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    with exclusive_lock(tmp_path):
        with pytest.raises(JournalError, match="another coldstart run"):
            with exclusive_lock(tmp_path):
                pass


@pytest.mark.parametrize(
    ("n", "ratio", "n_val"),
    [(0, 0.05, 0), (1, 0.05, 0), (2, 0.05, 1), (100, 0.05, 5), (100, 0.0, 0), (10, 0.5, 5), (3, 0.9, 2)],
)
def test_val_split_sizes(n, ratio, n_val):
    rows = [{"messages": [], "extra_info": {"index": i}} for i in range(n)]
    train, val = split_train_val(rows, ratio, seed=0)
    assert len(val) == n_val and len(train) == n - n_val
    assert sorted(r["extra_info"]["index"] for r in train + val) == list(range(n))
    assert all(r["extra_info"]["split"] == "val" for r in val)
    assert split_train_val(rows, ratio, seed=0) == (train, val)
