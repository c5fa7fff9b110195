# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""RecOne cold start against a real chat-completions server on loopback (tests/fake_openai_server.py).

The scripted server answers per sample: correct ratings, wrong ones (forcing a rationalization), malformed answers,
429 with Retry-After, 500s, replies slower than the client's timeout, ``reasoning_content`` and ``<think>`` blocks,
a leaking rationalization, a 4xx rejection, 401/403/404. Expected outcomes are derived by hand from that script.
A subprocess run is killed with SIGKILL and resumed; verl's MultiTurnSFTDataset loads the SFT parquet.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reczero_verl.cli import main as cli_main
from reczero_verl.coldstart.config import ColdstartConfig
from reczero_verl.coldstart.journal import JOURNAL_NAME, Journal, read_journal
from reczero_verl.coldstart.leak_judge import JUDGE_SYSTEM_PROMPT
from reczero_verl.coldstart.pipeline import SamplesPendingError, run_coldstart
from reczero_verl.coldstart.samples import load_samples, stratified_order
from reczero_verl.coldstart.traces import rationalization_instruction, rationalization_messages
from reczero_verl.errors import BadInputError
from reczero_verl.template import build_messages
from tests.builders import CONTRACT_SCHEMA
from tests.fake_openai_server import Received, Reply, ScriptedChatServer, completion, error

KEY_ENV = "RECZERO_TEST_TEACHER_KEY"
KEY = "sk-test-DO-NOT-LEAK-4f9c2e"
SECRET_THOUGHT = "HIDDEN-THOUGHT-7731"
_ITEM = re.compile(r"ITEM-(\d{4})")

# ---------------------------------------------------------------------------------------------------------------
# Input fixture: a train.parquet that follows the prepared-sample contract (common brief)
# ---------------------------------------------------------------------------------------------------------------


def contract_row(index: int, rating: float) -> dict:
    """One prepared sample whose target item title carries its index (the fake teacher reads it back)."""
    user_history = [
        {
            "item_id": f"h{index}-{k}",
            "rating": float(1 + (index + k) % 5),
            "timestamp": 1_000 + k,
            "title": f"Past book {k}",
            "review": f"Review {k}: pleasant, café-style prose 😀",
        }
        for k in range(3)
    ]
    item_history = [
        {"user_id": f"o{k}", "rating": float(1 + (index * 3 + k) % 5), "timestamp": 2_000 + k, "review": "solid"}
        for k in range(2)
    ]
    target = {
        "item_id": f"i{index}",
        "title": f"ITEM-{index:04d}",
        "categories": "Books, Fiction",
        "brand": None,
        "description": "A novel.",
        "features": None,
        "details": None,
    }
    row = {
        "user_history": user_history,
        "item_history": item_history,
        "target_item": target,
        "user_avg_rating": 3.5,
        "item_avg_rating": 4.0,
        "user_profile": None,
        "item_profile": None,
    }
    return {
        "data_source": "reczero/test",
        "ability": "rating_prediction",
        "prompt": build_messages(row, variant="tbr", rating_min=1.0, rating_max=5.0),
        "reward_model": {"style": "rule", "ground_truth": float(rating)},
        "extra_info": {
            "split": "train",
            "index": index,
            "user_id": f"u{index}",
            "item_id": f"i{index}",
            "timestamp": 3_000 + index,
            "rating_min": 1.0,
            "rating_max": 5.0,
        },
        **row,
    }


def write_train(path: Path, ratings: list[float]) -> Path:
    rows = [contract_row(i, r) for i, r in enumerate(ratings)]
    pq.write_table(pa.Table.from_pylist(rows, schema=CONTRACT_SCHEMA), path)
    return path


def tbr(rating: str, note: str = "") -> str:
    """A well-formed TbR answer with the given <rate> text."""
    return (
        f"<analyze user>Likes calm literary fiction{note}.</analyze user>\n"
        "<analyze item>A quiet novel with strong reviews.</analyze item>\n"
        "<match>Good fit overall.</match>\n"
        f"<rate>{rating}</rate>"
    )


# ---------------------------------------------------------------------------------------------------------------
# The scripted teacher
# ---------------------------------------------------------------------------------------------------------------


def is_judge_request(received: Received) -> bool:
    """True for a request of the blind leak judge (it carries the judge's fixed instructions)."""
    return received.body["messages"][0]["content"] == JUDGE_SYSTEM_PROMPT


class Teacher:
    """Script of the fake endpoint: per sample index a scenario, per (index, stage) a request counter.

    It also answers the leak judge (same endpoint by default): ``HONEST`` unless ``judge_reply`` says otherwise. A
    judge request holds no sample index (it is blind), so judge requests are kept apart, in ``judge_texts``."""

    def __init__(
        self,
        ratings: list[float],
        scenarios: dict[int, str],
        delay: float = 0.0,
        judge_reply: Callable[[str], Reply] | None = None,
    ) -> None:
        self.ratings = ratings
        self.scenarios = scenarios
        self.delay = delay
        self.calls: dict[tuple[int, str], int] = {}
        self.judge_texts: list[str] = []
        self.judge_reply = judge_reply or (lambda text: Reply(200, completion("HONEST", prompt_tokens=7)))

    def classify(self, received: Received) -> tuple[int, str]:
        """``(sample index, stage)`` of a teacher request; ``(-1, "judge")`` for a judge request."""
        if is_judge_request(received):
            return -1, "judge"
        user = received.body["messages"][-1]["content"]
        index = int(_ITEM.search(user).group(1))
        stage = "rationalize" if user.endswith(rationalization_instruction(self.ratings[index], 1.0, 5.0)) else "direct"
        return index, stage

    def __call__(self, received: Received, n: int) -> Reply:
        index, stage = self.classify(received)
        if stage == "judge":
            text = received.body["messages"][-1]["content"]
            self.judge_texts.append(text)
            return self.judge_reply(text)
        k = self.calls.get((index, stage), 0)
        self.calls[(index, stage)] = k + 1
        y = self.ratings[index]
        good, wrong = f"{y:g}", f"{(y % 5) + 1:g}"  # wrong: always another in-scale rating
        scenario = self.scenarios.get(index, "correct")
        usage = {"prompt_tokens": 100 + index, "completion_tokens": 10 + index}
        if stage == "rationalize":
            usage = {"prompt_tokens": 200 + index, "completion_tokens": 20 + index}

        def ok(content: str, **kw) -> Reply:
            return Reply(200, completion(content, **usage, **kw), delay=self.delay)

        if stage == "direct":
            if scenario == "429" and k == 0:
                return error(429, "slow down", {"Retry-After": "0.3"})
            if scenario == "500" and k < 2:
                return error(500, "boom")
            if scenario == "slow" and k == 0:
                return Reply(200, completion(tbr(good), **usage), delay=2.0, tag="slow")
            if scenario == "reasoning":
                return ok(
                    tbr(good), reasoning_content=f"{SECRET_THOUGHT} the true rating must be {good}", reasoning_tokens=77
                )
            if scenario == "think":
                return ok(f"<think>{SECRET_THOUGHT} long musing</think>\n\n{tbr(good)}")
            if scenario == "half_up":
                return ok(tbr(f"{y - 0.5:g}"))  # rounds half up to y: kept at tolerance 0
            if scenario == "reject":
                return error(400, "This model's maximum context length is 10 tokens")
            if scenario in ("malformed", "malformed_twice"):
                return ok("I think they would give it " + good + " stars.")
            if scenario == "truncated":
                return ok("<analyze user>The user reads a lot of", finish_reason="length")
            if scenario in ("wrong", "wrong_twice", "leak", "think_leak"):
                return ok(tbr(wrong))
            return ok(tbr(good))
        # rationalization
        if scenario == "wrong_twice":
            return ok(tbr(wrong))
        if scenario == "malformed_twice":
            return ok("<rate>" + good + "</rate>")
        if scenario == "leak":
            return ok(tbr(good, note=", and since the true rating is " + good + " this fits"))
        if scenario == "think_leak":
            return ok(f"<think>I was told the rating is {good}. {SECRET_THOUGHT}</think>{tbr(good, ' (second take)')}")
        return ok(tbr(good, " (second take)"))


def run_cli(out: Path, train: Path, server: ScriptedChatServer, *extra: str) -> int:
    argv = [
        "--log-level", "DEBUG", "coldstart", "--input", str(train), "--output-dir", str(out),
        "--base-url", server.base_url, "--model", "teacher-x", "--api-key-env", KEY_ENV,
        "--backoff-base", "0.01", "--backoff-max", "0.05", "--timeout", "1.0", "--no-progress", *extra,
    ]  # fmt: skip
    return cli_main(argv)


def finals(out: Path) -> dict[int, dict]:
    state = read_journal(out / JOURNAL_NAME)
    return state.finals


def sft_rows(out: Path) -> list[dict]:
    rows = []
    for name in ("sft_train.parquet", "sft_val.parquet"):
        if (out / name).exists():
            rows += pq.read_table(out / name).to_pylist()
    return rows


# ---------------------------------------------------------------------------------------------------------------
# End to end: every scripted behaviour in one run
# ---------------------------------------------------------------------------------------------------------------

RATINGS = [5, 2, 4, 1, 3, 4, 5, 3, 2, 1, 4, 4, 3, 2, 5]
SCENARIOS = {
    0: "correct",
    1: "wrong",
    2: "malformed",
    3: "wrong_twice",
    4: "leak",
    5: "malformed_twice",
    6: "429",
    7: "500",
    8: "slow",
    9: "reasoning",
    10: "think",
    11: "half_up",
    12: "truncated",
    13: "reject",
    14: "think_leak",
}
# Derived by hand from the script above.
EXPECTED = {
    0: ("kept_direct", None),
    1: ("kept_rationalized", None),
    2: ("kept_rationalized", None),
    3: ("dropped", "wrong_rating"),
    4: ("dropped", "leak"),
    5: ("dropped", "format"),
    6: ("kept_direct", None),
    7: ("kept_direct", None),
    8: ("kept_direct", None),
    9: ("kept_direct", None),
    10: ("kept_direct", None),
    11: ("kept_direct", None),
    12: ("kept_rationalized", None),
    13: ("dropped", "rejected"),
    14: ("kept_rationalized", None),
}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """One run of the command over the 15 scripted samples; returns (out dir, train path, server log, log text)."""
    tmp = tmp_path_factory.mktemp("coldstart")
    train = write_train(tmp / "train.parquet", RATINGS)
    out = tmp / "out"
    teacher = Teacher(RATINGS, SCENARIOS)
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    mp = pytest.MonkeyPatch()
    mp.setenv(KEY_ENV, KEY)
    try:
        with ScriptedChatServer(teacher) as server:
            rc = run_cli(out, train, server, "--concurrency", "4", "--val-ratio", "0.2", "--max-samples", "100")
            log = server.received()
    finally:
        mp.undo()
        root.removeHandler(handler)
        root.setLevel(old_level)
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in records)
    return {"rc": rc, "out": out, "train": train, "log": log, "teacher": teacher, "logtext": text}


def test_outcomes_match_the_script(full_run):
    assert full_run["rc"] == 0
    got = {i: (r["outcome"], r["reason"]) for i, r in finals(full_run["out"]).items()}
    assert got == EXPECTED


def test_requests_and_retries_match_the_script(full_run):
    log = full_run["log"]
    teacher = full_run["teacher"]
    # direct: 15 + 1 (429) + 2 (500s) + 1 (slow); rationalize: samples 1, 2, 3, 4, 5, 12, 14; the leak judge (default
    # --leak-judge both): the rationalizations that pass the format, rating and lexical checks, samples 1, 2, 12, 14
    assert len(log) == 15 + 1 + 2 + 1 + 7 + 4
    assert sum(n for (i, stage), n in teacher.calls.items() if stage == "rationalize") == 7
    assert len(teacher.judge_texts) == 4
    stats = json.loads((full_run["out"] / "stats.json").read_text())
    assert stats["requests"] == len(log) and stats["this_run"]["requests"] == len(log)
    assert stats["judge_requests"] == stats["judge_calls"] == 4 and stats["judge_verdicts"] == {"honest": 4}
    assert stats["dropped_as_leak_by"] == {"lexical": 1, "judge": 0}
    assert stats["retries"] == 4
    served = [r for r in log if r.reply.status == 200 and r.reply.tag != "slow"]
    assert stats["tokens_in"] == sum(r.reply.body["usage"]["prompt_tokens"] for r in served)
    assert stats["tokens_out"] == sum(r.reply.body["usage"]["completion_tokens"] for r in served)
    assert stats["reasoning_tokens"] == 77
    assert (stats["kept_direct"], stats["kept_rationalized"], stats["dropped"]) == (7, 4, 4)
    assert stats["dropped_by_reason"] == {"format": 1, "leak": 1, "rejected": 1, "wrong_rating": 1}
    assert stats["selected"] == 15 and stats["pending"] == 0
    assert stats["sft_train_rows"] + stats["sft_val_rows"] == 11


def test_retry_after_is_honoured(full_run):
    times = [r.arrived for r in full_run["log"] if full_run["teacher"].classify(r) == (6, "direct")]
    assert len(times) == 2 and times[1] - times[0] >= 0.3


def test_requests_carry_the_prompt_exactly_and_the_key_only_in_the_header(full_run):
    samples = {s.index: s for s in load_samples(full_run["train"])[0]}
    teacher = full_run["teacher"]
    for received in full_run["log"]:
        index, stage = teacher.classify(received)
        if stage == "judge":  # same endpoint, same key; what the judge is sent is tested in test_coldstart_judge.py
            assert received.body["model"] == "teacher-x" and received.body["temperature"] == 0.0
            assert received.headers["authorization"] == f"Bearer {KEY}"
            continue
        sample = samples[index]
        expected = (
            sample.messages if stage == "direct" else rationalization_messages(sample.messages, sample.truth, 1, 5)
        )
        assert received.body["messages"] == expected
        assert received.body["model"] == "teacher-x" and received.body["temperature"] == 0.6
        assert received.headers["authorization"] == f"Bearer {KEY}"


def test_key_is_never_written_or_logged(full_run):
    assert full_run["logtext"], "the run logged nothing: the check below would be empty"
    assert KEY not in full_run["logtext"]
    for path in full_run["out"].rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_sft_rows_are_prompt_plus_tbr_answer_only(full_run):
    rows = sft_rows(full_run["out"])
    samples = {s.index: s for s in load_samples(full_run["train"])[0]}
    kept = {i for i, (outcome, _) in EXPECTED.items() if outcome != "dropped"}
    assert sorted(r["extra_info"]["index"] for r in rows) == sorted(kept)
    for row in rows:
        index = row["extra_info"]["index"]
        messages = row["messages"]
        assert messages[:2] == samples[index].messages
        assert [m["role"] for m in messages] == ["system", "user", "assistant"]
        answer = messages[2]["content"]
        y = f"{RATINGS[index]:g}"
        rationalized = EXPECTED[index][0] == "kept_rationalized"
        if index == 11:
            assert answer == tbr(f"{RATINGS[index] - 0.5:g}")
        else:
            assert answer == tbr(y, " (second take)" if rationalized else "")
        assert SECRET_THOUGHT not in answer and "Note for this answer" not in answer
        assert row["extra_info"]["origin"] == ("rationalized" if rationalized else "direct")
        assert row["extra_info"]["ground_truth"] == RATINGS[index]
        assert row["extra_info"]["teacher"] == "teacher-x"
    splits = [r["extra_info"]["split"] for r in rows]
    assert splits.count("val") == round(0.2 * 11)


def test_audit_journal_records_thinking_size_but_not_the_thinking(full_run):
    text = (full_run["out"] / JOURNAL_NAME).read_text()
    assert SECRET_THOUGHT not in text
    state = read_journal(full_run["out"] / JOURNAL_NAME)
    by_index = {a["index"]: a for a in state.attempts if a["stage"] == "direct" and a["status"] == "ok"}
    assert by_index[9]["thinking_chars"] == len(f"{SECRET_THOUGHT} the true rating must be 4")
    assert by_index[10]["thinking_chars"] == len(f"<think>{SECRET_THOUGHT} long musing</think>\n\n")
    assert by_index[12]["verdict"] == "truncated"


def test_rerun_sends_only_the_rejected_sample_and_duplicates_nothing(full_run, monkeypatch):
    """Finished samples are never sent again; the one the endpoint rejected (HTTP 400) is retried, once."""
    monkeypatch.setenv(KEY_ENV, KEY)
    before = (full_run["out"] / "sft_train.parquet").read_bytes()
    teacher = Teacher(RATINGS, SCENARIOS)
    with ScriptedChatServer(teacher) as server:
        assert run_cli(full_run["out"], full_run["train"], server, "--val-ratio", "0.2", "--max-samples", "100") == 0
        assert [teacher.classify(r) for r in server.received()] == [(13, "direct")]
    assert (full_run["out"] / "sft_train.parquet").read_bytes() == before
    state = read_journal(full_run["out"] / JOURNAL_NAME)
    assert state.duplicates == 0 and state.finals[13]["reason"] == "rejected"
    stats = json.loads((full_run["out"] / "stats.json").read_text())
    assert stats["rejected_to_retry"] == 1 and stats["dropped_by_reason"]["rejected"] == 1


def test_export_only_rebuilds_the_files_from_the_journal_without_a_server(full_run):
    out = full_run["out"]
    before = sft_rows(out)
    for name in ("sft_train.parquet", "sft_val.parquet", "stats.json"):
        (out / name).unlink()
    argv = ["coldstart", "--input", str(full_run["train"]), "--output-dir", str(out), "--export-only"]
    assert cli_main([*argv, "--val-ratio", "0.2", "--max-samples", "100"]) == 0
    assert sft_rows(out) == before
    assert json.loads((out / "stats.json").read_text())["kept_rationalized"] == 4


def test_verl_multiturn_sft_dataset_masks_exactly_the_assistant_turn(full_run, tiny_tokenizer_dir):
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    config = OmegaConf.create(
        {"messages_key": "messages", "pad_mode": "no_padding", "max_length": 16384, "truncation": "error"}
    )
    files = [str(full_run["out"] / "sft_train.parquet"), str(full_run["out"] / "sft_val.parquet")]
    dataset = MultiTurnSFTDataset(files, tokenizer, config)
    rows = sft_rows(full_run["out"])
    assert len(dataset) == len(rows) == 11
    header = tokenizer.encode("<|im_start|>assistant\n")
    for k in range(len(dataset)):
        item = dataset[k]
        messages = [dict(m) for m in dataset.messages[k]]
        prompt_ids = tokenizer.apply_chat_template(
            messages[:2], tokenize=True, add_generation_prompt=False, return_dict=False
        )
        assistant_ids = tokenizer.encode(messages[2]["content"] + "<|im_end|>\n")
        start = len(prompt_ids) + len(header)
        mask = item["loss_mask"].tolist()
        assert len(mask) == start + len(assistant_ids)
        assert mask == [0] * start + [1] * len(assistant_ids)
        assert item["input_ids"][start:].tolist() == assistant_ids


# ---------------------------------------------------------------------------------------------------------------
# Fatal configuration errors stop at once
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404])
def test_fatal_status_stops_after_the_first_responses(tmp_path, monkeypatch, caplog, status):
    monkeypatch.setenv(KEY_ENV, KEY)
    train = write_train(tmp_path / "train.parquet", [1, 2, 3, 4, 5] * 8)
    with ScriptedChatServer(lambda received, n: error(status, "no such thing")) as server:
        with caplog.at_level(logging.INFO):
            rc = run_cli(tmp_path / "out", train, server, "--concurrency", "4")
        sent = len(server.received())
    assert rc == 2
    assert 1 <= sent <= 4  # at most the requests already in flight
    assert f"HTTP {status}" in caplog.text and "no such thing" in caplog.text
    if status == 401:
        assert KEY_ENV in caplog.text
    assert KEY not in caplog.text
    assert finals(tmp_path / "out") == {}
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["pending"] == 40


def test_rejections_of_every_first_request_stop_the_run(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, KEY)
    train = write_train(tmp_path / "train.parquet", [1, 2, 3, 4, 5] * 4)
    with ScriptedChatServer(lambda received, n: error(400, "unknown parameter 'temperature'")) as server:
        rc = run_cli(tmp_path / "out", train, server, "--concurrency", "1")
        sent = len(server.received())
    assert rc == 2 and sent == 5
    assert "unknown parameter" in caplog.text


# ---------------------------------------------------------------------------------------------------------------
# Resume
# ---------------------------------------------------------------------------------------------------------------


def test_unreachable_endpoint_stops_at_once_and_a_rerun_finishes(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, KEY)
    ratings = [1, 2, 3, 4, 5, 3]
    train = write_train(tmp_path / "train.parquet", ratings)
    out = tmp_path / "out"
    with ScriptedChatServer(lambda received, n: error(503, "overloaded")) as server:
        rc = run_cli(out, train, server, "--max-retries", "2", "--concurrency", "1")
        assert len(server.received()) == 3  # one request and its 2 retries; nothing succeeded: stop
    assert rc == 1 and finals(out) == {}
    assert "endpoint is unavailable" in caplog.text
    assert json.loads((out / "stats.json").read_text())["pending"] == 6
    with ScriptedChatServer(Teacher(ratings, {})) as server:
        assert run_cli(out, train, server, "--max-retries", "2") == 0
        assert len(server.received()) == 6
    assert sorted(finals(out)) == list(range(6))
    assert len(sft_rows(out)) == 6


def test_python_api_runs_without_argv_and_reports_the_outcome(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    ratings = [1, 2, 3, 4]
    train = write_train(tmp_path / "train.parquet", ratings)

    def config(server: ScriptedChatServer, **changes) -> ColdstartConfig:
        return ColdstartConfig(
            input=train,
            output_dir=tmp_path / "out",
            base_url=server.base_url,
            model="teacher-x",
            api_key_env=KEY_ENV,
            **{"max_retries": 1, "backoff_base": 0.01, "timeout": 1.0, "concurrency": 1, "progress": False, **changes},
        )

    with ScriptedChatServer(lambda received, n: error(503, "overloaded")) as server:
        down = run_coldstart(config(server))
        with pytest.raises(BadInputError, match="--concurrency must be at least 1, got 0"):
            config(server, concurrency=0)
    assert down.endpoint_down is not None and down.refused is None and down.pending == 4
    with pytest.raises(SamplesPendingError, match="endpoint is unavailable") as exc:
        down.raise_for_outcome()
    assert exc.value.exit_code == 1
    with ScriptedChatServer(Teacher(ratings, {})) as server:
        done = run_coldstart(config(server))
    assert done.pending == 0 and done.stats == json.loads((tmp_path / "out" / "stats.json").read_text())
    done.raise_for_outcome()  # every sample finished: nothing to raise


def test_an_outage_mid_run_stops_after_three_failed_samples(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    ratings = [1, 2, 3, 4, 5] * 2
    train = write_train(tmp_path / "train.parquet", ratings)
    out = tmp_path / "out"
    teacher = Teacher(ratings, {})

    def script(received: Received, n: int) -> Reply:
        return teacher(received, n) if n < 3 else error(502, "bad gateway")

    with ScriptedChatServer(script) as server:
        rc = run_cli(out, train, server, "--max-retries", "1", "--concurrency", "1")
        sent = len(server.received())
    assert rc == 1
    assert sent == 3 + 3 * 2  # three answers, then three samples of two requests each; the other four never sent
    assert len(finals(out)) == 3
    stats = json.loads((out / "stats.json").read_text())
    assert stats["pending"] == 7 and stats["this_run"]["failed_requests"] == 3


def test_journaled_direct_answer_is_not_asked_again(tmp_path, monkeypatch):
    """Killed between the direct answer and the rationalization: the rerun sends the rationalization only."""
    monkeypatch.setenv(KEY_ENV, KEY)
    ratings = [2, 4]
    train = write_train(tmp_path / "train.parquet", ratings)
    out = tmp_path / "out"
    out.mkdir()
    with Journal(out / JOURNAL_NAME) as journal:
        journal.append({"type": "run", "model": "teacher-x", "tolerance": 0.0, "seed": 0})
        journal.append(
            {
                "type": "attempt",
                "index": 0,
                "stage": "direct",
                "status": "ok",
                "content": tbr("5"),
                "finish_reason": "stop",
                "verdict": "wrong_rating",
                "requests": 1,
                "retries": 0,
            }
        )
    with open(out / JOURNAL_NAME, "a") as fh:
        fh.write('{"type": "sample", "index": 1, "outc')  # a record cut by a kill
    teacher = Teacher(ratings, {})
    with ScriptedChatServer(teacher) as server:
        assert run_cli(out, train, server) == 0
    assert teacher.calls == {(0, "rationalize"): 1, (1, "direct"): 1}
    got = {i: r["outcome"] for i, r in finals(out).items()}
    assert got == {0: "kept_rationalized", 1: "kept_direct"}
    assert all(line.startswith("{") and line.endswith("}") for line in (out / JOURNAL_NAME).read_text().splitlines())


def test_changed_settings_are_refused(full_run, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, KEY)
    with ScriptedChatServer(Teacher(RATINGS, {})) as server:
        assert run_cli(full_run["out"], full_run["train"], server, "--tolerance", "1") == 2
        assert server.received() == []
    assert "tolerance" in caplog.text


def _wait_for_finals(journal: Path, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count('"type":"sample"') >= n:
            return
        time.sleep(0.02)


def test_ctrl_c_then_kill_then_resume_in_a_subprocess(tmp_path):
    """Ctrl-C exits cleanly (130); SIGKILL mid-run loses only requests in flight; a rerun finishes each sample once."""
    ratings = [1 + (i * 7) % 5 for i in range(30)]
    train = write_train(tmp_path / "train.parquet", ratings)
    out = tmp_path / "out"
    journal = out / JOURNAL_NAME
    scenarios = {i: "wrong" for i in range(0, 30, 3)}
    # Slow enough that a whole run (about 40 requests, 2 at a time: 6 s) outlasts the signals below even when this
    # process polls the journal late on a loaded machine.
    teacher = Teacher(ratings, scenarios, delay=0.3)
    env = {**os.environ, KEY_ENV: KEY}
    with ScriptedChatServer(teacher) as server:
        cmd = [
            sys.executable, "-m", "reczero_verl.cli", "coldstart", "--input", str(train), "--output-dir", str(out),
            "--base-url", server.base_url, "--model", "teacher-x", "--api-key-env", KEY_ENV, "--concurrency", "2",
            "--backoff-base", "0.01", "--no-progress",
        ]  # fmt: skip
        # A Ctrl-C reaches the run as from a terminal even when the tests themselves run as a background job of a
        # shell (`.ci/run &`), whose children start with SIGINT ignored (Python then installs no handler for it).
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        _wait_for_finals(journal, 2)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 130, output
        assert "rerun the same command to resume" in output
        after_interrupt = len(read_journal(journal).finals)
        assert 2 <= after_interrupt < 30

        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_finals(journal, after_interrupt + 6)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        done_before = set(read_journal(journal).finals)
        assert after_interrupt + 6 <= len(done_before) < 30
        calls_before = dict(teacher.calls)

        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    state = read_journal(journal)
    assert sorted(state.finals) == list(range(30)) and state.duplicates == 0
    lines = journal.read_text().splitlines()
    sample_lines = [json.loads(x)["index"] for x in lines if '"type":"sample"' in x]
    assert sorted(sample_lines) == list(range(30))  # each sample's outcome exactly once
    for index in done_before:  # finished samples were never asked again
        for stage in ("direct", "rationalize"):
            assert teacher.calls.get((index, stage), 0) == calls_before.get((index, stage), 0)
    rows = sft_rows(out)
    assert sorted(r["extra_info"]["index"] for r in rows) == list(range(30))
    assert KEY not in output + rerun.stdout + rerun.stderr


# ---------------------------------------------------------------------------------------------------------------
# Input and selection
# ---------------------------------------------------------------------------------------------------------------


def test_stratified_order_balances_ratings_and_extends_by_prefix(tmp_path):
    ratings = [5] * 40 + [1] * 3 + [3] * 10 + [2] * 1
    samples, _ = load_samples(write_train(tmp_path / "t.parquet", ratings))
    order = stratified_order(samples, seed=7)
    assert sorted(order) == list(range(len(ratings)))
    # Groups 1 (3 rows), 2 (1), 3 (10), 5 (40) are read in turns: 1 2 3 5 | 1 3 5 | 1 3 5 | 3 5 | 3 5 ...
    assert [samples[p].truth for p in order[:14]] == [1, 2, 3, 5, 1, 3, 5, 1, 3, 5, 3, 5, 3, 5]
    assert order == stratified_order(samples, seed=7)
    assert order != stratified_order(samples, seed=8)


def test_malformed_rows_are_reported_and_rejected_under_strict(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, KEY)
    rows = [contract_row(i, r) for i, r in enumerate([1, 2, 3, 4])]
    rows[1]["reward_model"]["ground_truth"] = 9.0  # outside the 1-5 scale
    rows[2]["prompt"] = rows[2]["prompt"][:1]  # system turn only
    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=CONTRACT_SCHEMA), path)
    samples, problems = load_samples(path)
    assert [s.index for s in samples] == [0, 3]
    assert len(problems) == 2
    assert "row 1" in problems[0] and "outside the rating scale" in problems[0]
    assert "row 2" in problems[1] and "must end with a user message" in problems[1]
    with ScriptedChatServer(Teacher([1, 2, 3, 4], {})) as server:
        assert run_cli(tmp_path / "strict", path, server, "--strict") == 2
        assert server.received() == []
        assert run_cli(tmp_path / "lenient", path, server) == 0
        assert len(server.received()) == 2
    assert "2 malformed input rows" in caplog.text
    stats = json.loads((tmp_path / "lenient" / "stats.json").read_text())
    assert stats["malformed_input_rows"] == 2 and stats["selected"] == 2 and stats["kept_direct"] == 2


def test_duplicate_index_is_an_error(tmp_path, monkeypatch, caplog):
    rows = [contract_row(i, 3) for i in range(3)]
    rows[2]["extra_info"]["index"] = 0
    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=CONTRACT_SCHEMA), path)
    with ScriptedChatServer(Teacher([3, 3, 3], {})) as server:
        assert run_cli(tmp_path / "out", path, server) == 2
    assert "index 0 repeats row 0" in caplog.text


# ---------------------------------------------------------------------------------------------------------------
# Real data: `prepare` output of the Amazon 2018 fashion dump goes through the cold start into verl's SFT dataset
# ---------------------------------------------------------------------------------------------------------------


def test_real_prepare_output_to_verl_sft_dataset(shared_data, tmp_path, monkeypatch, tiny_tokenizer_dir):
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    reviews = shared_data / "amazon2018_fashion_5core" / "AMAZON_FASHION_5.json"
    if not reviews.is_file():
        pytest.skip(f"{reviews} is absent")
    prep = tmp_path / "prep"
    assert cli_main(["prepare", "amazon", "--reviews", str(reviews), "--output-dir", str(prep)]) == 0
    train = prep / "train.parquet"
    rows = pq.read_table(train).to_pylist()
    truth = {r["prompt"][-1]["content"]: r["reward_model"]["ground_truth"] for r in rows}
    wrong_first = {content for n, content in enumerate(sorted(truth)) if n % 2}
    chosen = min(12, len(rows))  # the 5-core file keeps few targets once cross-item copies are merged

    def script(received: Received, n: int) -> Reply:
        if is_judge_request(received):
            return Reply(200, completion("HONEST"))
        user = received.body["messages"][-1]["content"]
        if user in truth:  # direct request: half of the prompts get a wrong rating first
            y = truth[user]
            return Reply(200, completion(tbr(f"{(y % 5) + 1 if user in wrong_first else y:g}")))
        original = next(c for c in truth if user.startswith(c))
        return Reply(200, completion(tbr(f"{truth[original]:g}", " (second take)")))

    monkeypatch.setenv(KEY_ENV, KEY)
    out = tmp_path / "coldstart"
    with ScriptedChatServer(script) as server:
        assert run_cli(out, train, server, "--max-samples", str(chosen)) == 0
        sent = len(server.received())
    state = read_journal(out / JOURNAL_NAME)
    n_wrong = sum(1 for a in state.attempts if a["stage"] == "direct" and a["verdict"] == "wrong_rating")
    assert len(state.finals) == chosen and sent == chosen + 2 * n_wrong  # each rationalization is judged once
    sft = sft_rows(out)
    assert len(sft) == chosen
    prompts = {r["extra_info"]["index"]: r["prompt"] for r in rows}
    for row in sft:
        assert row["messages"][:2] == prompts[row["extra_info"]["index"]]
    # The chosen take rating values in turn (stratified), so every value present in the file is represented.
    values = {r["reward_model"]["ground_truth"] for r in rows}
    assert {row["extra_info"]["ground_truth"] for row in sft} == values
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    config = OmegaConf.create({"messages_key": "messages", "pad_mode": "no_padding", "max_length": 65536})
    dataset = MultiTurnSFTDataset([str(out / "sft_train.parquet"), str(out / "sft_val.parquet")], tokenizer, config)
    assert len(dataset) == chosen
    for k in range(len(dataset)):
        item = dataset[k]
        answer_ids = tokenizer.encode(dataset.messages[k][2]["content"] + "<|im_end|>\n")
        mask = item["loss_mask"].tolist()
        assert sum(mask) == len(answer_ids) and mask[-len(answer_ids) :] == [1] * len(answer_ids)
