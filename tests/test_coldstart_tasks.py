# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""RecOne cold start for the ranking and like tasks (issue 12): each answer judged by its task's parser, the
rationalization gives the target's candidate number or the like label, the leak checks still apply; end to end
against the scripted chat server on loopback."""

from __future__ import annotations

import json
import math
import re

import pyarrow.parquet as pq
import pytest

from reczero_verl.cli import main as cli_main
from reczero_verl.coldstart.journal import JOURNAL_NAME, read_journal
from reczero_verl.coldstart.leak_judge import JUDGE_SYSTEM_PROMPT, judge_messages, judge_system_prompt
from reczero_verl.coldstart.leaks import find_leak, reasoning_text
from reczero_verl.coldstart.samples import load_samples, stratified_order
from reczero_verl.coldstart.traces import (
    RATIONALIZE,
    answer_matches,
    judge,
    rationalization_instruction,
    rationalization_messages,
)
from tests.builders import like_row, liked, prepared_row, ranked, ranking_row, tbr, write_prepared
from tests.fake_openai_server import Received, Reply, ScriptedChatServer, completion

KEY_ENV = "RECZERO_TEST_TEACHER_KEY"
R, L = "reczero/t/ranking", "reczero/t/like"

# ---------------------------------------------------------------------------------------------------------------------
# The pure rules


@pytest.mark.parametrize(
    ("answer", "tolerance", "stage", "verdict", "pred"),
    [
        (ranked("3, 1, 2"), 0.0, "direct", "match", 1.0),
        (ranked("1, 3"), 0.0, "direct", "wrong_answer", 2.0),
        (ranked("1, 3"), 1.0, "direct", "match", 2.0),  # within the first 1 + T places
        (ranked("1, 3"), 1.0, RATIONALIZE, "wrong_answer", 2.0),  # a rationalization must put it first
        (ranked("1, 2"), 5.0, "direct", "wrong_answer", math.nan),  # not listed
        (ranked("3, 3"), 0.0, "direct", "format", math.nan),  # a repeat: no valid list
        (ranked("3, 9"), 0.0, "direct", "format", math.nan),  # no candidate 9 of 4
        ("<rank>3</rank>", 0.0, "direct", "format", 1.0),  # parsed, but not the four sections
    ],
)
def test_judge_ranking(answer, tolerance, stage, verdict, pred):
    got = judge(answer, 3.0, 1.0, 5.0, task="ranking", n_candidates=4, tolerance=tolerance, stage=stage)
    assert got.verdict == verdict
    assert (math.isnan(got.pred) and math.isnan(pred)) or got.pred == pred


@pytest.mark.parametrize(
    ("answer", "truth", "verdict"),
    [
        (liked("0.8"), 1.0, "match"),
        (liked("0.2"), 0.0, "match"),
        (liked("0.5"), 1.0, "wrong_answer"),  # no decision is never kept
        (liked("0.5"), 0.0, "wrong_answer"),
        (liked("0.3"), 1.0, "wrong_answer"),
        (liked("1.4"), 1.0, "format"),
        (tbr("4"), 1.0, "format"),  # a rating answer to a like prompt
    ],
)
def test_judge_like(answer, truth, verdict):
    assert judge(answer, truth, 1.0, 5.0, task="like").verdict == verdict


def test_answer_matches_leaves_rating_unchanged():
    assert answer_matches("rating", 3.5, 4.0) and not answer_matches("rating", 3.49, 4.0)
    assert answer_matches("ranking", 1.0, 7.0) and not answer_matches("ranking", math.nan, 7.0)
    assert answer_matches("like", 0.51, 1.0) and not answer_matches("like", 0.51, 0.0)


def test_rationalization_gives_the_candidate_number_or_the_label():
    ranking = rationalization_instruction(3.0, 1.0, 5.0, task="ranking")
    assert "candidate [3]" in ranking and "<rank>3, ...</rank>" in ranking
    yes = rationalization_instruction(1.0, 1.0, 5.0, task="like", like_threshold=4.0)
    assert "actually liked the target item (a rating of 4 or more on the 1 to 5 scale)" in yes
    assert "<like>p</like> where p is a probability above 0.5" in yes
    no = rationalization_instruction(0.0, 0.0, 1.0, task="like")
    assert "did not like the target item." in no and "below 0.5" in no
    messages = rationalization_messages([{"role": "user", "content": "U"}], 3.0, 1.0, 5.0, task="ranking")
    assert messages == [{"role": "user", "content": "U" + ranking}]
    # echoed back, each instruction is a leak of its task
    for text, task in ((ranking, "ranking"), (yes, "like"), (no, "like")):
        assert find_leak(text, task=task) is not None


LEAKY = {
    "ranking": [
        "The user chose candidate 3, which fits their love of thrillers.",
        "The one they picked next was candidate 7.",
        "Candidate 2 is the item the user actually bought.",
        "The target candidate is a thriller, so it goes first.",
        "As the hint says, the thriller comes first.",
    ],
    "like": [
        "They actually liked this book, as it matches their taste.",
        "The user disliked the item, which explains the low score.",
        "The true label here is positive.",
        "Per the instructions, the answer is yes.",
    ],
}
HONEST = {
    "ranking": [
        "Candidate 3 fits best: the user reads thrillers.",
        "They bought 3 novels by this author before.",
        "The user will probably choose candidate 2 next.",
        "Their past ratings average 4.1 and they rated the prequel 4.",
    ],
    "like": [
        "The user will probably like this book.",
        "They liked the previous book in the series.",
        "Other readers rated this book 4 and 5.",
        "Given the user's high ratings for the genre, it fits.",
    ],
}


@pytest.mark.parametrize(("task", "sentence"), [(t, s) for t, ss in LEAKY.items() for s in ss])
def test_task_giveaways_are_caught(task, sentence):
    assert find_leak(sentence, task=task) is not None


@pytest.mark.parametrize(("task", "sentence"), [(t, s) for t, ss in HONEST.items() for s in ss])
def test_honest_task_reasoning_is_kept(task, sentence):
    assert find_leak(sentence, task=task) is None


def test_rating_rules_are_unchanged_by_the_task_rules():
    assert find_leak("The user chose candidate 3.") is None  # a rating trace has no candidates to leak


def test_a_rationalized_leak_is_dropped_for_every_task():
    leak = ranked("3, 1", analysis="the user chose candidate 3 next, a thriller fan")
    got = judge(leak, 3.0, 1.0, 5.0, task="ranking", n_candidates=4, stage=RATIONALIZE)
    assert got.verdict == "leak" and got.leak.rule == "chosen_candidate_as_fact"
    assert judge(leak, 3.0, 1.0, 5.0, task="ranking", n_candidates=4).verdict == "match"  # direct: no leak check
    leak = liked("0.9", analysis="they actually liked this item")
    assert judge(leak, 1.0, 1.0, 5.0, task="like", stage=RATIONALIZE).verdict == "leak"


def test_reasoning_and_judge_request_leave_out_the_answer_section():
    answer = ranked("3, 1", analysis="likes thrillers")
    assert "3, 1" not in reasoning_text(answer) and "likes thrillers" in reasoning_text(answer)
    assert "0.93" not in reasoning_text(liked("0.93"))
    messages = judge_messages(answer, "ranking")
    assert messages[0]["content"] == judge_system_prompt("ranking") != JUDGE_SYSTEM_PROMPT
    assert "3, 1" not in messages[1]["content"] and "likes thrillers" in messages[1]["content"]
    assert judge_messages(answer)[0]["content"] == JUDGE_SYSTEM_PROMPT


# ---------------------------------------------------------------------------------------------------------------------
# Input: a train file mixing the tasks

HISTORY = [{"item_id": "h1", "rating": 5.0, "timestamp": 1}]


def _candidates(index: int, target: int, m: int = 4) -> tuple[str, list[str]]:
    """Candidate ids that carry the sample's index (the fake teacher reads it back); the target is number ``target``."""
    items = [f"s{index}x{k}" for k in range(1, m + 1)]
    return items[target - 1], items


def _train(tmp_path):
    rows = []
    for index, target in ((0, 2), (1, 4), (2, 1), (3, 3)):
        item, items = _candidates(index, target)
        rows.append(ranking_row(index, f"u{index}", item, items, split="train", source=R, user_history=HISTORY))
    for index, label in ((4, 1), (5, 0), (6, 1), (7, 0)):
        rows.append(like_row(index, f"u{index}", f"s{index}x1", label, split="train", source=L, user_history=HISTORY))
    rows.append(prepared_row(8, "u8", "s8x1", 4.0, split="train"))
    return write_prepared(tmp_path / "train.parquet", rows)


def test_samples_read_each_task_s_truth(tmp_path):
    samples, problems = load_samples(_train(tmp_path))
    assert problems == []
    by_index = {s.index: s for s in samples}
    assert [(by_index[i].task, by_index[i].truth, by_index[i].n_candidates) for i in (0, 1, 4, 5, 8)] == [
        ("ranking", 2.0, 4),
        ("ranking", 4.0, 4),
        ("like", 1.0, None),
        ("like", 0.0, None),
        ("rating", 4.0, None),
    ]
    assert by_index[4].like_threshold == 4.0
    order = stratified_order(samples, seed=0)
    first_round = [samples[p] for p in order[: len({(s.task, s.truth) for s in samples})]]
    assert {(s.task, s.truth) for s in first_round} == {(s.task, s.truth) for s in samples}  # one of each first


def test_a_bad_ranking_truth_is_a_problem_of_its_row(tmp_path):
    item, items = _candidates(0, 2)
    row = ranking_row(0, "u", item, items, split="train", source=R)
    row["reward_model"]["ground_truth"] = 9.0
    path = write_prepared(tmp_path / "train.parquet", [row, like_row(1, "v", "s1x1", 1, split="train", source=L)])
    samples, problems = load_samples(path)
    assert [s.index for s in samples] == [1]
    assert len(problems) == 1 and "row 0" in problems[0] and "candidate number in 1..4" in problems[0]


# ---------------------------------------------------------------------------------------------------------------------
# End to end against the scripted endpoint

_SAMPLE = re.compile(r"item s(\d+)x")
# index -> (direct answer, rationalized answer); truths: ranking 0:2, 1:4, 2:1, 3:3; like 4:1, 5:0, 6:1, 7:0
SCRIPT = {
    0: (ranked("2, 1"), None),  # kept direct
    1: (ranked("1, 4"), ranked("4, 1")),  # target second: rationalized
    2: ("the first one", ranked("1, 2", analysis="the user chose candidate 1 next")),  # leak: dropped
    3: (ranked("1, 2"), ranked("2, 1")),  # the rationalization still misses: dropped
    4: (liked("0.9"), None),
    5: (liked("0.5"), liked("0.2")),  # no decision, then rationalized
    6: (liked("0.3"), liked("0.7", analysis="they actually liked this item")),  # leak
    7: (liked("0.1"), None),
    8: (tbr("4"), None),  # the rating row goes the old way
}
EXPECTED = {
    0: ("kept_direct", None),
    1: ("kept_rationalized", None),
    2: ("dropped", "leak"),
    3: ("dropped", "wrong_answer"),
    4: ("kept_direct", None),
    5: ("kept_rationalized", None),
    6: ("dropped", "leak"),
    7: ("kept_direct", None),
    8: ("kept_direct", None),
}


_JUDGES = {judge_system_prompt(task): task for task in ("rating", "ranking", "like")}


class Teacher:
    """Answers each sample by the script and the leak judge with HONEST; records the rationalization requests and
    the tasks of the judge's instructions it saw."""

    def __init__(self) -> None:
        self.rationalizations: dict[int, str] = {}
        self.judged: list[str] = []

    def __call__(self, received: Received, n: int) -> Reply:
        system = received.body["messages"][0]["content"]
        if system in _JUDGES:
            self.judged.append(_JUDGES[system])
            return Reply(200, completion("HONEST", prompt_tokens=3, completion_tokens=1))
        user = received.body["messages"][-1]["content"]
        index = int(_SAMPLE.search(user).group(1))
        direct, second = SCRIPT[index]
        if "Note for this answer only" in user:
            self.rationalizations[index] = user
            return Reply(200, completion(second, prompt_tokens=5, completion_tokens=5))
        return Reply(200, completion(direct, prompt_tokens=5, completion_tokens=5))


def test_coldstart_runs_every_task(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")
    train = _train(tmp_path)
    out = tmp_path / "out"
    teacher = Teacher()
    argv = [
        "coldstart", "--input", str(train), "--output-dir", str(out), "--model", "teacher-x",
        "--api-key-env", KEY_ENV, "--backoff-base", "0.01", "--backoff-max", "0.05", "--timeout", "2.0",
        "--no-progress", "--val-ratio", "0", "--concurrency", "2",
    ]  # fmt: skip
    with ScriptedChatServer(teacher) as server:
        assert cli_main([*argv, "--base-url", server.base_url]) == 0
    finals = read_journal(out / JOURNAL_NAME).finals
    assert {i: (r["outcome"], r["reason"]) for i, r in finals.items()} == EXPECTED
    assert finals[1]["task"] == "ranking" and finals[1]["truth"] == 4.0 and finals[1]["rating"] is None
    assert finals[8]["rating"] == 4.0 and "task" not in finals[8]
    assert finals[2]["leak_rule"] == "chosen_candidate_as_fact"
    # the rationalization named the target's candidate number, or the label
    assert "candidate [4]" in teacher.rationalizations[1] and "<rank>4, ...</rank>" in teacher.rationalizations[1]
    assert "did not like the target item" in teacher.rationalizations[5]
    assert set(teacher.rationalizations) == {1, 2, 3, 5, 6}
    # the blind judge saw the two rationalizations the lexical rules passed, each with its task's instructions
    assert sorted(teacher.judged) == ["like", "ranking"]
    rows = pq.read_table(out / "sft_train.parquet").to_pylist()
    kept = {r["extra_info"]["index"]: r for r in rows}
    assert sorted(kept) == [0, 1, 4, 5, 7, 8]
    assert kept[1]["messages"][-1] == {"role": "assistant", "content": ranked("4, 1")}
    assert kept[1]["extra_info"]["task"] == "ranking" and kept[1]["extra_info"]["ground_truth"] == 4.0
    assert kept[5]["extra_info"]["task"] == "like" and kept[5]["extra_info"]["origin"] == "rationalized"
    assert kept[8]["extra_info"]["task"] == "rating"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept_by_task"] == {"like": 3, "ranking": 2, "rating": 1}
    assert stats["kept_by_rating"] == {"4": 1}
