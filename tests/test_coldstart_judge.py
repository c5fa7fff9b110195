# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The blind leak judge of the cold start (``reczero_verl.coldstart.leak_judge``) on the loopback fake server.

The fake judge is scripted: these tests prove the plumbing (what a judge request holds and leaves out, how verdicts
are parsed, that no failure ever keeps a trace, resume, stats), not how well a real judge model catches paraphrases.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from reczero_verl.coldstart.journal import JOURNAL_NAME, Journal, read_journal
from reczero_verl.coldstart.leak_judge import (
    JUDGE_PROMPT_VERSION,
    JUDGE_SYSTEM_PROMPT,
    judge_messages,
    parse_verdict,
    reasoning_sections,
)
from reczero_verl.coldstart.leaks import find_leak
from reczero_verl.coldstart.traces import rationalization_instruction
from tests.fake_openai_server import Received, Reply, ScriptedChatServer, completion, error
from tests.test_coldstart import KEY, KEY_ENV, Teacher, is_judge_request, run_cli, sft_rows, write_train

TRUTH = 4
#: Rationalized reasoning per sample (none of it names the true rating 4): honest, a paraphrased give-away the
#: lexical rules miss, and one they catch.
HONEST = "They gave a similar cozy mystery five stars and praised the prequel"
SUBTLE = "Everything here lines up with the figure I was shown before writing this"
LEXICAL_LEAK = "Since the true rating is the one I was given, this fits"
NOTES = {0: HONEST, 1: SUBTLE, 2: LEXICAL_LEAK}


def trace(note: str, rate: str = "4") -> str:
    return (
        f"<analyze user>Reads cozy mysteries. {note}.</analyze user>\n"
        "<analyze item>A light mystery set in a bakery, praised for its humour.</analyze item>\n"
        "<match>The genre fits and the tone suits them.</match>\n"
        f"<rate>{rate}</rate>"
    )


def scripted_judge(text: str) -> Reply:
    """A judge that calls the two give-aways leaks (a real one would have to understand them)."""
    leaky = "figure I was shown" in text or "true rating" in text
    return Reply(200, completion("LEAK" if leaky else "HONEST", prompt_tokens=50, completion_tokens=1))


class Rationalizer(Teacher):
    """Every direct answer is wrong, so every sample is rationalized, with the reasoning of ``notes[index]``."""

    def __init__(self, notes: dict[int, str], judge_reply: Callable[[str], Reply] = scripted_judge) -> None:
        super().__init__([TRUTH] * len(notes), {i: "wrong" for i in notes}, judge_reply=judge_reply)
        self.notes = notes

    def __call__(self, received: Received, n: int) -> Reply:
        reply = super().__call__(received, n)
        index, stage = self.classify(received)
        if stage == "rationalize":
            return Reply(200, completion(trace(self.notes[index]), prompt_tokens=200, completion_tokens=20))
        return reply


def run(tmp_path: Path, teacher: Teacher, *extra: str, out: str = "out") -> tuple[int, Path, list[Received]]:
    """Run the command against ``teacher`` (which also answers the judge); return (exit code, folder, requests)."""
    train = tmp_path / "train.parquet"
    if not train.exists():
        write_train(train, [TRUTH] * len(teacher.ratings))
    with ScriptedChatServer(teacher) as server:
        rc = run_cli(tmp_path / out, train, server, *extra)
        return rc, tmp_path / out, server.received()


def stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)


# ------------------------------------------------------------------------------------------------- verdict parsing


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ("LEAK", "leak"),
        ("HONEST", "honest"),
        ("  leak.\n", "leak"),
        ("Honest", "honest"),
        ("<think>The text mentions a figure it was shown.</think>\nLEAK", "leak"),
        ('{"verdict": "leak"}', "leak"),
        ('{"verdict": " HONEST "}', "honest"),
    ],
)
def test_verdicts_that_parse(answer, verdict):
    assert parse_verdict(answer) == verdict


@pytest.mark.parametrize(
    "answer",
    [
        "",
        None,
        "LEAK HONEST",
        "Leak: the text says it was told",
        "The verdict is HONEST",
        "leaky",
        "yes",
        "LEAK!",
        '{"verdict": "maybe"}',
        '{"verdict": "leak", "reason": "told"}',
        '{"label": "leak"}',
        '```json\n{"verdict": "leak"}\n```',
        "<think>unfinished musing, no verdict",
        '["leak"]',
    ],
)
def test_anything_else_is_unparseable_never_honest(answer):
    with pytest.raises(ValueError, match="unparseable judge verdict"):
        parse_verdict(answer)


# ------------------------------------------------------------------------------------------- the request is blind


def test_judge_messages_hold_the_three_reasoning_sections_only():
    answer = trace(HONEST, rate="4")
    system, user = judge_messages(answer)
    assert system == {"role": "system", "content": JUDGE_SYSTEM_PROMPT}
    sections = reasoning_sections(answer)
    assert list(sections) == ["analyze user", "analyze item", "match"]
    for text in sections.values():
        assert text and text in user["content"]
    assert "<" not in user["content"] and "rate" not in user["content"].lower()
    assert not re.search(r"\d", JUDGE_SYSTEM_PROMPT)  # the instructions name no rating and no scale


def test_what_a_judge_request_contains_and_leaves_out(tmp_path):
    teacher = Rationalizer({0: HONEST})
    rc, out, log = run(tmp_path, teacher)
    assert rc == 0
    (request,) = [r for r in log if is_judge_request(r)]
    answer = trace(HONEST)
    assert request.body["messages"] == judge_messages(answer)
    assert request.body["model"] == "teacher-x" and request.body["temperature"] == 0.0  # default: the teacher
    dumped = json.dumps(request.body, ensure_ascii=False)
    texts = "\n".join(m["content"] for m in request.body["messages"])
    for where in (dumped, texts):
        assert not re.search(r"(?<![\d.])4(?![\d.])", where), "the true rating appears in the judge request"
        assert "four" not in where.lower() and "<rate>" not in where and "</rate>" not in where
    hint = rationalization_instruction(TRUTH, 1.0, 5.0)
    for fragment in ("Note for this answer only", "actually rated", "Do not mention this note", hint.strip()):
        assert fragment not in texts
    teacher_prompt = [r for r in log if teacher.classify(r)[1] == "direct"][0].body["messages"]
    for message in teacher_prompt:  # nothing of the training prompt either (system, history, target item)
        assert message["content"] not in texts
    assert "ITEM-0000" not in texts and "Past book" not in texts
    assert request.headers["authorization"] == f"Bearer {KEY}"  # same endpoint: same key
    assert read_journal(out / JOURNAL_NAME).finals[0]["outcome"] == "kept_rationalized"


# ------------------------------------------------------------------------------------------------------- verdicts


def test_both_drops_lexical_leaks_without_asking_and_judge_leaks_after_asking(tmp_path):
    teacher = Rationalizer(NOTES)
    rc, out, log = run(tmp_path, teacher)
    assert rc == 0
    # the lexical leak (sample 2) never reached the judge
    assert sorted(teacher.judge_texts) == sorted(judge_messages(trace(NOTES[i]))[1]["content"] for i in (0, 1))
    finals = read_journal(out / JOURNAL_NAME).finals
    assert finals[0]["outcome"] == "kept_rationalized"
    assert (finals[1]["reason"], finals[1]["leak_rule"], finals[1]["leak_by"]) == ("leak", "llm_judge", "judge")
    assert (finals[2]["reason"], finals[2]["leak_by"]) == ("leak", "lexical") and finals[2]["leak_rule"] != "llm_judge"
    s = stats(out)
    assert s["dropped_as_leak"] == 2 and s["dropped_as_leak_by"] == {"lexical": 1, "judge": 1}
    assert s["dropped_leaks_by_rule"] == {finals[2]["leak_rule"]: 1, "llm_judge": 1}
    assert (s["judge_calls"], s["judge_requests"], s["judge_failures"], s["judge_unparseable"]) == (2, 2, 0, 0)
    assert s["judge_verdicts"] == {"honest": 1, "leak": 1}
    assert s["this_run"]["judge_requests"] == 2 and s["requests"] == len(log) == 3 + 3 + 2
    assert s["settings"]["leak_judge"] == "both" and s["settings"]["judge_prompt"] == JUDGE_PROMPT_VERSION
    assert [r["extra_info"]["index"] for r in sft_rows(out)] == [0]


def test_llm_only_sends_every_passing_rationalization_to_the_judge(tmp_path):
    teacher = Rationalizer(NOTES)
    rc, out, _ = run(tmp_path, teacher, "--leak-judge", "llm")
    assert rc == 0 and len(teacher.judge_texts) == 3
    s = stats(out)
    assert s["dropped_as_leak_by"] == {"lexical": 0, "judge": 2} and s["kept_rationalized"] == 1


def test_lexical_only_asks_no_judge_and_keeps_what_the_rules_miss(tmp_path):
    assert find_leak(SUBTLE) is None  # why the judge exists
    teacher = Rationalizer(NOTES)
    rc, out, _ = run(tmp_path, teacher, "--leak-judge", "lexical")
    assert rc == 0 and teacher.judge_texts == []
    finals = read_journal(out / JOURNAL_NAME).finals
    assert finals[1]["outcome"] == "kept_rationalized" and finals[2]["reason"] == "leak"
    s = stats(out)
    assert s["judge_calls"] == 0 and s["settings"]["judge_model"] is None


def test_a_garbage_verdict_is_retried_and_then_counted_once_parsed(tmp_path):
    answers = iter(["I think this is fine.", "LEAK"])
    teacher = Rationalizer({0: HONEST}, judge_reply=lambda text: Reply(200, completion(next(answers))))
    rc, out, _ = run(tmp_path, teacher)
    assert rc == 0 and len(teacher.judge_texts) == 2
    state = read_journal(out / JOURNAL_NAME)
    (attempt,) = [a for a in state.attempts if a["stage"] == "judge"]
    assert (attempt["verdict"], attempt["unparseable"], attempt["requests"]) == ("leak", 1, 2)
    assert state.finals[0]["reason"] == "leak"
    assert stats(out)["judge_unparseable"] == 1 and stats(out)["judge_requests"] == 2


def test_a_judge_that_never_answers_a_verdict_keeps_nothing_and_a_rerun_finishes(tmp_path, caplog):
    garbage = Rationalizer({0: HONEST, 1: HONEST}, judge_reply=lambda text: Reply(200, completion("Sure! Happy to.")))
    rc, out, _ = run(tmp_path, garbage, "--max-retries", "2", "--concurrency", "1")
    assert rc == 1  # the judge gave no verdict before any it gave: stop, samples pending
    assert len(garbage.judge_texts) == 3 and garbage.calls == {(0, "direct"): 1, (0, "rationalize"): 1}
    assert read_journal(out / JOURNAL_NAME).finals == {}
    s = stats(out)
    assert (s["pending"], s["judge_failures"], s["judge_unparseable"], s["kept_rationalized"]) == (2, 1, 3, 0)
    assert s["sft_train_rows"] + s["sft_val_rows"] == 0
    assert "leak judge is unavailable or unusable" in caplog.text and "unparseable judge verdict" in caplog.text

    good = Rationalizer({0: HONEST, 1: HONEST})
    rc, out, _ = run(tmp_path, good)
    assert rc == 0
    assert good.calls == {(1, "direct"): 1, (1, "rationalize"): 1}  # sample 0's answers were reused, not re-bought
    assert len(good.judge_texts) == 2
    assert {i: r["outcome"] for i, r in read_journal(out / JOURNAL_NAME).finals.items()} == {
        0: "kept_rationalized",
        1: "kept_rationalized",
    }


def test_a_judge_failure_after_verdicts_defers_that_sample_only(tmp_path, caplog):
    """Once the judge has answered, one call without a verdict leaves its sample pending and the run goes on."""
    replies = iter(["HONEST", "not a verdict", "still not one", "HONEST"])
    teacher = Rationalizer(
        {0: HONEST, 1: HONEST, 2: HONEST}, judge_reply=lambda t: Reply(200, completion(next(replies)))
    )
    rc, out, _ = run(tmp_path, teacher, "--max-retries", "1", "--concurrency", "1")
    assert rc == 1  # pending samples: rerun
    finals = read_journal(out / JOURNAL_NAME).finals
    (pending,) = {0, 1, 2} - set(finals)  # the second sample judged (the order is the stratified one)
    assert len(finals) == 2 and all(r["outcome"] == "kept_rationalized" for r in finals.values())
    s = stats(out)
    assert (s["pending"], s["judge_failures"], s["judge_unparseable"], s["judge_calls"]) == (1, 1, 2, 3)
    assert sorted(r["extra_info"]["index"] for r in sft_rows(out)) == sorted(finals)
    assert "no verdict from the leak judge" in caplog.text

    again = Rationalizer({0: HONEST, 1: HONEST, 2: HONEST})
    rc, out, log = run(tmp_path, again)
    assert rc == 0 and again.calls == {} and len(log) == 1  # only the pending sample's verdict was missing
    assert read_journal(out / JOURNAL_NAME).finals[pending]["outcome"] == "kept_rationalized"


@pytest.mark.parametrize("status", [500, 503, 429, 408])
def test_transient_judge_errors_are_retried(tmp_path, status):
    replies = iter([error(status, "busy", {"Retry-After": "0"}), Reply(200, completion("HONEST"))])
    teacher = Rationalizer({0: HONEST}, judge_reply=lambda text: next(replies))
    rc, out, _ = run(tmp_path, teacher)
    assert rc == 0 and read_journal(out / JOURNAL_NAME).finals[0]["outcome"] == "kept_rationalized"
    s = stats(out)
    assert s["judge_requests"] == 2 and s["judge_calls"] == 1 and s["judge_failures"] == 0 and s["retries"] == 1


@pytest.mark.parametrize(("status", "needle"), [(401, KEY_ENV), (403, "access denied"), (404, "--judge-base-url")])
def test_a_fatal_judge_error_stops_the_run_without_keeping_the_trace(tmp_path, caplog, status, needle):
    teacher = Rationalizer({0: HONEST, 1: HONEST}, judge_reply=lambda text: error(status, "judge says no"))
    rc, out, _ = run(tmp_path, teacher, "--concurrency", "1")
    assert rc == 2 and len(teacher.judge_texts) == 1
    assert f"HTTP {status}" in caplog.text and needle in caplog.text and KEY not in caplog.text
    assert read_journal(out / JOURNAL_NAME).finals == {} and stats(out)["pending"] == 2


def test_a_rejected_judge_request_defers_the_sample(tmp_path, caplog):
    teacher = Rationalizer({0: HONEST}, judge_reply=lambda text: error(400, "context too long"))
    rc, out, _ = run(tmp_path, teacher)
    assert rc == 1 and len(teacher.judge_texts) == 1
    assert read_journal(out / JOURNAL_NAME).finals == {}
    s = stats(out)
    assert s["pending"] == 1 and s["judge_failures"] == 1 and s["rejected_to_retry"] == 0
    assert "context too long" in caplog.text


def test_a_judge_slower_than_the_timeout_is_retried_then_deferred(tmp_path):
    slow = Rationalizer({0: HONEST}, judge_reply=lambda text: Reply(200, completion("HONEST"), delay=1.5))
    rc, out, _ = run(tmp_path, slow, "--max-retries", "1")  # run_cli passes --timeout 1.0
    assert rc == 1 and len(slow.judge_texts) == 2
    s = stats(out)
    assert s["pending"] == 1 and s["judge_failures"] == 1 and s["judge_requests"] == 2
    (attempt,) = [a for a in read_journal(out / JOURNAL_NAME).attempts if a["stage"] == "judge"]
    assert attempt["status"] == "error" and "--timeout" in attempt["error"]

    once = iter([Reply(200, completion("LEAK"), delay=1.5), Reply(200, completion("LEAK"))])
    flaky = Rationalizer({0: HONEST}, judge_reply=lambda text: next(once))
    rc, out, _ = run(tmp_path, flaky, out="out2")
    assert rc == 0 and read_journal(out / JOURNAL_NAME).finals[0]["leak_rule"] == "llm_judge"


# ---------------------------------------------------------------------------------------------------------- resume


def _journal_until(out: Path, *, verdict: str | None) -> None:
    """A journal cut by a kill: sample 0's direct and rationalized answers, and (optionally) the judge's verdict."""
    out.mkdir()
    run_record = {
        "type": "run",
        "model": "teacher-x",
        "tolerance": 0.0,
        "seed": 0,
        "leak_judge": "both",
        "judge_model": "teacher-x",
        "judge_prompt": JUDGE_PROMPT_VERSION,
    }
    with Journal(out / JOURNAL_NAME) as journal:
        journal.append(run_record)
        base = {"type": "attempt", "index": 0, "status": "ok", "finish_reason": "stop", "requests": 1, "retries": 0}
        journal.append({**base, "stage": "direct", "content": trace(HONEST, rate="2"), "verdict": "wrong_rating"})
        journal.append({**base, "stage": "rationalize", "content": trace(SUBTLE), "verdict": "match"})
        if verdict is not None:
            journal.append(
                {**base, "stage": "judge", "verdict": verdict, "judge_prompt": JUDGE_PROMPT_VERSION, "unparseable": 0}
            )


@pytest.mark.parametrize("verdict", ["leak", "honest"])
def test_a_journaled_verdict_is_never_asked_again(tmp_path, verdict):
    _journal_until(tmp_path / "out", verdict=verdict)
    teacher = Rationalizer({0: SUBTLE})
    rc, out, log = run(tmp_path, teacher)
    assert rc == 0 and log == []
    final = read_journal(out / JOURNAL_NAME).finals[0]
    assert final["outcome"] == ("dropped" if verdict == "leak" else "kept_rationalized")
    assert stats(out)["dropped_as_leak_by"]["judge"] == (1 if verdict == "leak" else 0)


def test_a_journaled_rationalization_without_a_verdict_asks_the_judge_only(tmp_path):
    _journal_until(tmp_path / "out", verdict=None)
    teacher = Rationalizer({0: SUBTLE})
    rc, out, _ = run(tmp_path, teacher)
    assert rc == 0 and teacher.calls == {} and len(teacher.judge_texts) == 1
    assert read_journal(out / JOURNAL_NAME).finals[0]["leak_rule"] == "llm_judge"


@pytest.mark.parametrize(
    ("extra", "key"),
    [(("--leak-judge", "lexical"), "leak_judge"), (("--judge-model", "another-judge"), "judge_model")],
)
def test_changing_the_judge_in_a_folder_is_refused(tmp_path, caplog, extra, key):
    _journal_until(tmp_path / "out", verdict=None)
    teacher = Rationalizer({0: SUBTLE})
    rc, _, log = run(tmp_path, teacher, *extra)
    assert rc == 2 and log == []
    assert key in caplog.text


# ------------------------------------------------------------------------------------------- a separate judge endpoint


def _two_servers(tmp_path: Path, judge_script: Callable[[Received, int], Reply], *extra: str) -> tuple[int, list, list]:
    teacher = Rationalizer({0: HONEST, 1: SUBTLE})
    train = write_train(tmp_path / "train.parquet", [TRUTH, TRUTH])
    with ScriptedChatServer(teacher) as teacher_server, ScriptedChatServer(judge_script) as judge_server:
        rc = run_cli(tmp_path / "out", train, teacher_server, "--judge-base-url", judge_server.base_url, *extra)
        return rc, teacher_server.received(), judge_server.received()


def test_a_separate_judge_endpoint_never_gets_the_teachers_key(tmp_path):
    rc, teacher_log, judge_log = _two_servers(
        tmp_path, lambda received, n: scripted_judge(received.body["messages"][-1]["content"]), "--judge-model", "j-1"
    )
    assert rc == 0
    assert not any(is_judge_request(r) for r in teacher_log) and len(judge_log) == 2
    assert all(r.body["model"] == "j-1" and "authorization" not in r.headers for r in judge_log)
    finals = read_journal(tmp_path / "out" / JOURNAL_NAME).finals
    assert finals[0]["outcome"] == "kept_rationalized" and finals[1]["leak_rule"] == "llm_judge"
    attempts = [a for a in read_journal(tmp_path / "out" / JOURNAL_NAME).attempts if a["stage"] == "judge"]
    assert {a["judge_model"] for a in attempts} == {"j-1"}


def test_a_separate_judge_endpoint_gets_its_own_key(tmp_path, monkeypatch):
    monkeypatch.setenv("RECZERO_TEST_JUDGE_KEY", "sk-judge-81aa")
    rc, _, judge_log = _two_servers(
        tmp_path,
        lambda received, n: scripted_judge(received.body["messages"][-1]["content"]),
        "--judge-api-key-env",
        "RECZERO_TEST_JUDGE_KEY",
    )
    assert rc == 0 and {r.headers.get("authorization") for r in judge_log} == {"Bearer sk-judge-81aa"}
    assert {r.body["model"] for r in judge_log} == {"teacher-x"}
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert b"sk-judge-81aa" not in path.read_bytes() and KEY.encode() not in path.read_bytes()


def test_an_unreachable_judge_stops_at_its_first_call(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    rc, _, judge_log = _two_servers(tmp_path, lambda received, n: error(503, "judge down"), "--max-retries", "1")
    assert rc == 1 and 1 <= len(judge_log) <= 4
    assert read_journal(tmp_path / "out" / JOURNAL_NAME).finals == {}
    assert "leak judge is unavailable" in caplog.text


def test_a_bad_judge_url_is_one_line(tmp_path, caplog):
    teacher = Rationalizer({0: HONEST})
    rc, _, log = run(tmp_path, teacher, "--judge-base-url", "localhost:9/v1")
    assert rc == 2 and log == []
    assert "--judge-base-url must start with http://" in caplog.text
