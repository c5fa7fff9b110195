# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The cold start against hostile endpoints and bad input, on the loopback fake server (tests/fake_openai_server.py).

A server that trickles its answer a byte at a time is timed out by ``--timeout``; ``Retry-After`` is honoured up to
``--max-retry-after`` and the log says so; an endpoint that rejects every request (HTTP 400) does not finish samples
for good; oversized bodies and answers are capped; an input that is not parquet or an unusable ``--output-dir`` is one
line and exit code 2, before any request.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time

import pytest

from reczero_verl.coldstart.client import ChatClient, RetriesExhaustedError, RetryPolicy
from reczero_verl.coldstart.journal import JOURNAL_NAME, read_journal
from tests.fake_openai_server import Reply, ScriptedChatServer, completion, error
from tests.test_coldstart import KEY, KEY_ENV, Teacher, run_cli, sft_rows, tbr, write_train

MESSAGES = [{"role": "user", "content": "hi"}]


def _complete(server: ScriptedChatServer, timeout: float, policy: RetryPolicy, **kwargs) -> object:
    async def go():
        async with ChatClient(server.base_url, "m", timeout=timeout, policy=policy, **kwargs) as client:
            return await client.complete(MESSAGES)

    return asyncio.run(go())


def _errors(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# ------------------------------------------------------------------------------------------------ whole-request timeout


@pytest.mark.parametrize(("trickle", "delay"), [(1.0, 0.0), (0.3, 0.0), (0.05, 0.8)])
def test_timeout_bounds_a_whole_request_even_when_bytes_keep_coming(trickle, delay):
    """One byte a second (or faster, after a pause): each read is quick, the whole answer is not."""
    body = completion(tbr("4"))  # some 400 bytes: minutes at one byte a second

    with ScriptedChatServer(lambda received, n: Reply(200, body, trickle=trickle, delay=delay)) as server:
        start = time.monotonic()
        with pytest.raises(RetriesExhaustedError, match=r"no complete answer within 1s \(--timeout\)"):
            _complete(server, 1.0, RetryPolicy(max_retries=1, base_delay=0.01))
        elapsed = time.monotonic() - start
    assert 2.0 <= elapsed < 4.5  # two requests of one second each, plus a short backoff


def test_the_trickling_server_really_defeats_the_sdks_own_timeout():
    """Control: the openai SDK's timeout (per read) lets the same trickle through; only the whole-request bound stops
    it."""
    import openai

    payload = json.dumps(completion("x"))

    async def raw():
        async with openai.AsyncOpenAI(api_key="k", base_url=server.base_url, timeout=0.5, max_retries=0) as client:
            return await client.chat.completions.create(model="m", messages=MESSAGES)

    with ScriptedChatServer(lambda received, n: Reply(200, payload, trickle=0.01)) as server:
        start = time.monotonic()
        body = asyncio.run(raw())
        assert time.monotonic() - start > 0.5 * len(payload) * 0.01 > 0.5  # longer than the 0.5 s read timeout
    assert body.choices[0].message.content == "x"


def test_coldstart_times_out_a_trickling_answer_and_retries_it(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, KEY)
    ratings = [4, 2, 5]
    train = write_train(tmp_path / "train.parquet", ratings)
    teacher = Teacher(ratings, {})

    def script(received, n):
        reply = teacher(received, n)
        if teacher.classify(received) == (1, "direct") and teacher.calls[(1, "direct")] == 1:
            return Reply(200, reply.body, trickle=1.0, tag="trickle")  # one byte a second
        return reply

    start = time.monotonic()
    with ScriptedChatServer(script) as server, caplog.at_level(logging.WARNING):
        assert run_cli(tmp_path / "out", train, server, "--concurrency", "1") == 0  # run_cli passes --timeout 1.0
    assert time.monotonic() - start < 10
    assert teacher.calls[(1, "direct")] == 2
    state = read_journal(tmp_path / "out" / JOURNAL_NAME)
    assert sorted(r["outcome"] for r in state.finals.values()) == ["kept_direct"] * 3
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["retries"] == 1


# ------------------------------------------------------------------------------------------------ Retry-After, capped


@pytest.mark.parametrize("header", ["100", "3600.5", "Wed, 21 Oct 2099 07:28:00 GMT"])
def test_retry_after_is_capped_and_the_log_says_so(header, caplog):
    def script(received, n):
        return error(429, "slow down", {"Retry-After": header}) if n == 0 else Reply(200, completion("OK"))

    with ScriptedChatServer(script) as server, caplog.at_level(logging.INFO):
        result = _complete(server, 5.0, RetryPolicy(max_retries=2, max_retry_after=0.3))
        arrivals = [r.arrived for r in server.received()]
    assert result.content == "OK" and result.retries == 1
    assert 0.3 <= arrivals[1] - arrivals[0] < 2.0
    (line,) = [r.getMessage() for r in caplog.records if "Retry-After" in r.getMessage()]
    assert "HTTP 429" in line and "waiting 0.3s (--max-retry-after)" in line and "asks to wait" in line


def test_retry_after_under_the_cap_is_honoured_and_logged(caplog):
    def script(received, n):
        return error(503, "busy", {"Retry-After": "0.4"}) if n == 0 else Reply(200, completion("OK"))

    with ScriptedChatServer(script) as server, caplog.at_level(logging.INFO):
        _complete(server, 5.0, RetryPolicy(max_retries=2, max_retry_after=30))
        arrivals = [r.arrived for r in server.received()]
    assert arrivals[1] - arrivals[0] >= 0.4
    assert any(
        "waiting 0.4s as the server asks" in r.getMessage() and "cap 30.0s" in r.getMessage() for r in caplog.records
    )


def test_max_retry_after_is_a_command_line_option(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, KEY)
    ratings = [3, 4]
    train = write_train(tmp_path / "train.parquet", ratings)
    teacher = Teacher(ratings, {})

    def script(received, n):
        return error(429, "rate limited", {"Retry-After": "120"}) if n == 0 else teacher(received, n)

    start = time.monotonic()
    with ScriptedChatServer(script) as server, caplog.at_level(logging.INFO):
        rc = run_cli(tmp_path / "out", train, server, "--concurrency", "1", "--max-retry-after", "0.2")
    assert rc == 0 and time.monotonic() - start < 10
    assert any("asks to wait 120.0s" in r.getMessage() for r in caplog.records)
    caplog.clear()
    assert run_cli(tmp_path / "out2", train, server, "--max-retry-after", "-1") == 2
    assert any("--max-retry-after" in m for m in _errors(caplog))


# --------------------------------------------------------------------------------------- rejections are not forever


def test_an_endpoint_rejecting_everything_does_not_finish_samples_for_good(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, KEY)
    ratings = [1, 2, 3, 4, 5, 3, 2, 4]
    train = write_train(tmp_path / "train.parquet", ratings)
    out = tmp_path / "out"
    with ScriptedChatServer(lambda received, n: error(400, "unknown parameter 'temperature'")) as server:
        assert run_cli(out, train, server, "--concurrency", "1") == 2
        assert len(server.received()) == 5
    finals = read_journal(out / JOURNAL_NAME).finals
    assert len(finals) == 4 and all(r["reason"] == "rejected" for r in finals.values())  # the 5th stopped the run
    assert json.loads((out / "stats.json").read_text())["rejected_to_retry"] == 4
    teacher = Teacher(ratings, {1: "wrong"})
    with ScriptedChatServer(teacher) as server:
        assert run_cli(out, train, server) == 0
    assert {i for (i, stage) in teacher.calls if stage == "direct"} == set(range(8))  # the 5 rejected ones too
    state = read_journal(out / JOURNAL_NAME)
    assert state.duplicates == 0
    assert {i: r["outcome"] for i, r in state.finals.items()} == {
        i: ("kept_rationalized" if i == 1 else "kept_direct") for i in range(8)
    }
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rejected_to_retry"] == 0 and stats["dropped"] == 0 and len(sft_rows(out)) == 8


def test_a_rejected_rationalization_is_retried_from_the_rationalization(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    ratings = [2, 4, 5]
    train = write_train(tmp_path / "train.parquet", ratings)
    out = tmp_path / "out"
    first = Teacher(ratings, {0: "wrong"})

    def script(received, n):
        if first.classify(received) == (0, "rationalize"):
            first.calls[(0, "rationalize")] = first.calls.get((0, "rationalize"), 0) + 1
            return error(400, "prompt too long")
        return first(received, n)

    with ScriptedChatServer(script) as server:
        assert run_cli(out, train, server) == 0
    assert read_journal(out / JOURNAL_NAME).finals[0]["reason"] == "rejected"
    second = Teacher(ratings, {0: "wrong"})
    with ScriptedChatServer(second) as server:
        assert run_cli(out, train, server) == 0
    assert second.calls == {(0, "rationalize"): 1}  # its direct answer was journaled: not asked again
    assert read_journal(out / JOURNAL_NAME).finals[0]["outcome"] == "kept_rationalized"


# ------------------------------------------------------------------------------------------------- size caps


def test_an_oversized_body_is_not_read_whole():
    big = completion("<analyze user>" + "x" * 50_000 + "</analyze user>")

    with ScriptedChatServer(lambda received, n: Reply(200, big)) as server:
        with pytest.raises(RetriesExhaustedError, match="larger than 10000 bytes"):
            _complete(server, 5.0, RetryPolicy(max_retries=1, base_delay=0.01), max_body_bytes=10_000)
        assert len(server.received()) == 2


@pytest.mark.parametrize("extra", [20_000, 200_000])
def test_an_overlong_answer_is_dropped_and_journaled_cut(tmp_path, monkeypatch, extra):
    monkeypatch.setenv(KEY_ENV, KEY)
    ratings = [4, 3]
    train = write_train(tmp_path / "train.parquet", ratings)
    teacher = Teacher(ratings, {})

    def script(received, n):
        index, _ = teacher.classify(received)
        if index == 0:
            return Reply(200, completion(tbr("4", note=" and " + "very " * (extra // 5))))
        return teacher(received, n)

    out = tmp_path / "out"
    with ScriptedChatServer(script) as server:
        assert run_cli(out, train, server, "--max-answer-chars", "5000") == 0
    state = read_journal(out / JOURNAL_NAME)
    assert state.finals[0]["outcome"] == "dropped" and state.finals[0]["reason"] == "too_long"
    direct = [a for a in state.attempts if a["index"] == 0 and a["stage"] == "direct"]
    assert all(len(a["content"]) == 5000 and a["content_chars"] > extra for a in direct)
    assert (out / JOURNAL_NAME).stat().st_size < 5 * 5000 + 10_000
    assert state.finals[1]["outcome"] == "kept_direct"


# ---------------------------------------------------------------------------------------------------- bad input


def test_input_that_is_not_parquet_is_one_line_before_any_request(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, KEY)
    good = write_train(tmp_path / "good.parquet", [4, 2])
    (tmp_path / "folder.parquet").mkdir()
    (tmp_path / "empty.parquet").write_bytes(b"")
    (tmp_path / "rows.csv").write_text("user,item,rating\nu,i,4\n")
    with gzip.open(tmp_path / "train.parquet.gz", "wb") as handle:
        handle.write(good.read_bytes())
    (tmp_path / "cut.parquet").write_bytes(good.read_bytes()[:200])
    cases = {
        "missing.parquet": "no such file",
        "folder.parquet": "is a folder",
        "empty.parquet": "is not a parquet file",
        "rows.csv": "is not a parquet file",
        "train.parquet.gz": "is not a parquet file",
        "cut.parquet": "is not a parquet file",
    }
    with ScriptedChatServer(Teacher([4, 2], {})) as server:
        for name, needle in cases.items():
            caplog.clear()
            assert run_cli(tmp_path / f"out_{name}", tmp_path / name, server) == 2, name
            (message,) = _errors(caplog)
            assert f"--input {tmp_path / name}" in message and needle in message and "reczero-verl prepare" in message
        assert server.received() == []


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (("--max-answer-chars", "0"), "--max-answer-chars"),
        (("--extra-body", "[1, 2]"), "--extra-body must be a JSON object"),
        (("--extra-body", "{oops"), "--extra-body is not JSON"),
        (("--extra-body", '{"model": "other", "stream": true}'), "--extra-body may not set ['model', 'stream']"),
        (("--concurrency", "0"), "--concurrency"),
        (("--timeout", "0"), "--timeout > 0"),
    ],
)
def test_bad_options_are_one_line(tmp_path, monkeypatch, caplog, extra, needle):
    monkeypatch.setenv(KEY_ENV, KEY)
    train = write_train(tmp_path / "train.parquet", [4])
    with ScriptedChatServer(Teacher([4], {})) as server:
        assert run_cli(tmp_path / "out", train, server, *extra) == 2
        assert server.received() == []
    (message,) = _errors(caplog)
    assert needle in message


def test_unusable_output_folders_are_refused_before_any_request(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, KEY)
    train = write_train(tmp_path / "train.parquet", [4])
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with ScriptedChatServer(Teacher([4], {})) as server:
        for out, needle in ((a_file, "is a file"), (a_file / "sub", "a parent of it is a file")):
            caplog.clear()
            assert run_cli(out, train, server) == 2
            (message,) = _errors(caplog)
            assert f"--output-dir {out}" in message and needle in message
        assert server.received() == []
