# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The reward's ranking and like tasks: table tests worked out by hand, fuzzing (never raises on a response, same keys
for every task), and a mixed-task batch through verl's own validation metrics."""

from __future__ import annotations

import json
import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reczero_verl.reward import REWARD_KEYS, TASK_KEYS, compute_score, ndcg_at_position, parse_like, parse_ranking
from reczero_verl.template import REASONING_SECTIONS, close_tag, open_tag, section_names
from tests.test_reward import assert_contract

CANDIDATES = ["i7", "i3", "i9", "i1", "i4"]  # shown as [1] .. [5]; the target "i9" is candidate 3
RANKING = {"task": "ranking", "candidates": CANDIDATES}
LIKE = {"task": "like"}


def answer(final: str, tag: str, reasoning=("likes trail shoes", "light, narrow", "good fit")) -> str:
    parts = [f"{open_tag(n)}{t}{close_tag(n)}" for n, t in zip(REASONING_SECTIONS, reasoning, strict=True)]
    return "\n".join([*parts, f"{open_tag(tag)}{final}{close_tag(tag)}"])


# (answer, ground truth position 3): format_ok, parsed, ndcg, rank, pred
RANKING_CASES = [
    (answer("3, 1, 2", "rank"), True, True, 1.0, 1.0, "3"),
    (answer("1,3", "rank"), True, True, 1 / math.log2(3), 2.0, "1"),
    (answer(" 2 , 5 ,4, 3 ", "rank"), True, True, 1 / math.log2(5), 4.0, "2"),
    (answer("1, 2", "rank"), True, True, 0.0, 5.0, "1"),  # a prefix without the target: ranked last
    (answer("3, 3", "rank"), False, False, 0.0, 5.0, "none"),  # a repeat
    (answer("3, 6", "rank"), False, False, 0.0, 5.0, "none"),  # no candidate 6
    (answer("0, 3", "rank"), False, False, 0.0, 5.0, "none"),
    (answer("[3], [1]", "rank"), False, False, 0.0, 5.0, "none"),
    (answer("3.", "rank"), False, False, 0.0, 5.0, "none"),
    (answer("", "rank"), False, False, 0.0, 5.0, "none"),
    (answer("3,", "rank"), False, False, 0.0, 5.0, "none"),  # an empty item
    (answer("3", "rate"), False, False, 0.0, 5.0, "none"),  # another task's tag
    ("<rank>3, 1</rank>", False, True, 1.0, 1.0, "3"),  # parsed, but without the reasoning sections
    (answer("3, 1", "rank", ("x", "", "z")), False, True, 1.0, 1.0, "3"),  # an empty section
]


@pytest.mark.parametrize(("response", "format_ok", "parsed", "ndcg", "rank", "pred"), RANKING_CASES)
def test_ranking_cases(response, format_ok, parsed, ndcg, rank, pred):
    out = compute_score(solution_str=response, ground_truth="i9", extra_info=RANKING)
    assert_contract(out, "ranking")
    assert (out["format_ok"], out["parsed"]) == (float(format_ok), float(parsed))
    assert out["ndcg"] == pytest.approx(ndcg) and out["acc"] == pytest.approx(ndcg)
    assert out["rank"] == rank and out["hit@1"] == (1.0 if rank == 1 else 0.0) and out["pred"] == pred
    assert out["score"] == pytest.approx((0.5 + ndcg) if format_ok else -0.5)


# (answer, truth): format_ok, parsed, prob (0.5 when unparsed), brier
LIKE_CASES = [
    (answer("0.8", "like"), 1, True, True, 0.8, 0.04),
    (answer("0.8", "like"), 0, True, True, 0.8, 0.64),
    (answer("1", "like"), 1, True, True, 1.0, 0.0),
    (answer(" .25 ", "like"), 0, True, True, 0.25, 0.0625),
    (answer("1.2", "like"), 1, False, False, 0.5, 0.25),
    (answer("-0.1", "like"), 0, False, False, 0.5, 0.25),
    (answer("80%", "like"), 1, False, False, 0.5, 0.25),
    (answer("yes", "like"), 1, False, False, 0.5, 0.25),
    ("<like>0.9</like>", 1, False, True, 0.9, 0.01),
]


@pytest.mark.parametrize(("response", "truth", "format_ok", "parsed", "prob", "brier"), LIKE_CASES)
def test_like_cases(response, truth, format_ok, parsed, prob, brier):
    out = compute_score(solution_str=response, ground_truth=truth, extra_info=LIKE)
    assert_contract(out, "like")
    assert (out["format_ok"], out["parsed"]) == (float(format_ok), float(parsed))
    assert out["prob"] == pytest.approx(prob) and out["brier"] == pytest.approx(brier)
    assert out["acc"] == pytest.approx(1 - brier)
    assert out["score"] == pytest.approx((0.5 + 1 - brier) if format_ok else -0.5)
    assert out["pred"] == ("none" if not parsed else out["pred"])


def test_like_rewards_calibration_not_only_the_side_of_one_half():
    """Brier is a proper scoring rule: for a truth that is 1 with probability q, reporting q maximises the reward."""
    q = 0.7

    def expected(p: float) -> float:
        return sum(
            weight * compute_score(solution_str=answer(f"{p:g}", "like"), ground_truth=y, extra_info=LIKE)["score"]
            for y, weight in ((1, q), (0, 1 - q))
        )

    grid = [k / 20 for k in range(21)]
    assert max(grid, key=expected) == pytest.approx(q)


def test_modes_and_variants_apply_to_every_task():
    rank_plain = compute_score(solution_str="<rank>3</rank>", ground_truth="i9", extra_info=RANKING, variant="plain")
    assert rank_plain["format_ok"] == 1.0 and rank_plain["score"] == pytest.approx(1.5)
    like_plain = compute_score(solution_str=" <like>1</like>\n", ground_truth=1, extra_info=LIKE, variant="plain")
    assert like_plain["format_ok"] == 1.0 and like_plain["score"] == pytest.approx(1.5)
    fmt = compute_score(solution_str=answer("1", "rank"), ground_truth="i9", extra_info=RANKING, mode="format_only")
    assert fmt["score"] == 0.5 and fmt["ndcg"] == 0.0
    acc = compute_score(solution_str="<like>0.5</like>", ground_truth=1, extra_info=LIKE, mode="accuracy_only")
    assert acc["score"] == pytest.approx(0.75) and acc["format_reward"] == 0.0
    prefilled = compute_score(
        solution_str=answer("3", "rank")[len(open_tag("analyze user")) :],
        ground_truth="i9",
        extra_info=RANKING,
        prefilled_prefix=open_tag("analyze user"),
    )
    assert prefilled["format_ok"] == 1.0


@pytest.mark.parametrize(
    ("truth", "extra_info", "message"),
    [
        ("i8", RANKING, "appears 0 times"),
        ("i9", {"task": "ranking", "candidates": [*CANDIDATES, "i9"]}, "appears 2 times"),
        ("i9", {"task": "ranking"}, "needs extra_info.candidates"),
        ("i9", {"task": "ranking", "candidates": []}, "needs extra_info.candidates"),
        (0.5, LIKE, "not 0 or 1"),
        ("yes", LIKE, "not 0 or 1"),
        (1, {"task": "ctr"}, "is not a task"),
    ],
)
def test_bad_truths_are_data_errors(truth, extra_info, message):
    with pytest.raises(ValueError, match=message):
        compute_score(solution_str="<rank>1</rank>", ground_truth=truth, extra_info=extra_info)


def test_ranking_truth_is_the_candidate_number_or_the_item_id():
    by_number = compute_score(solution_str=answer("3", "rank"), ground_truth=3.0, extra_info=RANKING)
    by_id = compute_score(solution_str=answer("3", "rank"), ground_truth="i9", extra_info=RANKING)
    assert by_number == by_id and by_number["ndcg"] == 1.0
    for bad in (0, 6, 2.5, -1):
        with pytest.raises(ValueError, match="not a candidate number"):
            compute_score(solution_str="", ground_truth=bad, extra_info=RANKING)


def test_like_truth_forms():
    for truth in (1, 1.0, True, "1", " 1 ", {"ground_truth": 1}):
        assert compute_score(solution_str="", ground_truth=truth, extra_info=LIKE)["brier"] == 0.25
    out = compute_score(solution_str=answer("2", "rank"), ground_truth={"ground_truth": "i3"}, extra_info=RANKING)
    assert out["ndcg"] == 1.0


def test_ndcg_at_position():
    assert [ndcg_at_position(p) for p in (1, 3, 7)] == pytest.approx([1.0, 0.5, 1 / 3])
    assert ndcg_at_position(None) == 0.0 and ndcg_at_position(0) == 0.0


def test_parsers_alone():
    assert parse_ranking(answer("2, 1", "rank"), 2).order == (2, 1)
    assert parse_ranking(answer("2, 1", "rank"), 1).parsed is False
    assert parse_like(answer("0.3", "like")).prob == 0.3
    assert math.isnan(parse_like(answer("x", "like")).prob)
    assert section_names("ranking")[-1] == "rank" and section_names("like")[-1] == "like"


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(),
        st.lists(
            st.sampled_from(
                ["<analyze user>", "</analyze user>", "<analyze item>", "</analyze item>", "<match>", "</match>"]
                + ["<rank>", "</rank>", "<like>", "</like>", "<rate>", "</rate>", ",", " ", "\n", "1", "3", "0.5"]
                + ["-", ".", "x", "9" * 300, "日本", "\x00"]
            ),
            max_size=40,
        ).map("".join),
    ),
    task=st.sampled_from(["ranking", "like"]),
    mode=st.sampled_from(["full", "format_only", "accuracy_only"]),
)
def test_never_raises_and_same_keys_for_every_task(text, task, mode):
    extra, truth = (RANKING, "i9") if task == "ranking" else (LIKE, 1)
    out = compute_score(solution_str=text, ground_truth=truth, extra_info=extra, mode=mode)
    assert_contract(out, task)
    assert -0.5 <= out["score"] <= 1.5 and 0.0 <= out["acc"] <= 1.0
    assert out["format_ok"] <= out["parsed"]


def test_a_mixed_task_batch_through_verls_validation_metrics():
    """One batch holding all three tasks: per-source metrics from verl, no key missing, no NaN, strict JSON."""
    from verl.trainer.ppo.metric_utils import process_validation_metrics

    outs = [
        ("reczero/b/rating", compute_score(solution_str=answer("4", "rate"), ground_truth=5)),
        (
            "reczero/b/ranking",
            compute_score(solution_str=answer("2, 3", "rank"), ground_truth="i9", extra_info=RANKING),
        ),
        ("reczero/b/like", compute_score(solution_str=answer("0.8", "like"), ground_truth=1, extra_info=LIKE)),
    ]
    assert all(tuple(out) == REWARD_KEYS for _, out in outs)
    infos = {key: [out[key] for _, out in outs] for key in REWARD_KEYS}
    metrics = process_validation_metrics([s for s, _ in outs], ["a", "b", "c"], infos)
    assert metrics["reczero/b/rating"]["abs_error"]["mean@1"] == pytest.approx(1.0)
    assert metrics["reczero/b/ranking"]["ndcg"]["mean@1"] == pytest.approx(1 / math.log2(3))
    assert metrics["reczero/b/like"]["brier"]["mean@1"] == pytest.approx(0.04)
    for source, task in (("reczero/b/rating", "rating"), ("reczero/b/ranking", "ranking"), ("reczero/b/like", "like")):
        others = {k for t, keys in TASK_KEYS.items() if t != task for k in keys}
        assert not others & set(metrics[source])  # None is skipped: no metric for what a task has not
        assert all(math.isfinite(v) for per_key in metrics[source].values() for v in per_key.values())
    for _, out in outs:
        json.loads(json.dumps(out, allow_nan=False))
        assert pickle.loads(pickle.dumps(out)) == out
