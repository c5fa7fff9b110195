# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Table-driven tests of the TbR reward: every format rule, every mode, the metrics, robustness and picklability."""

from __future__ import annotations

import math
import pickle
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reczero_verl.reward import REWARD_KEYS, TASK_KEYS, compute_score, parse_ground_truth, parse_response


def tbr(user="Likes sturdy boots.", item="A light sneaker.", match="Weak fit.", rate="3", sep="\n") -> str:
    """A response in the TbR structure with the given section contents."""
    return sep.join(
        [
            f"<analyze user>{user}</analyze user>",
            f"<analyze item>{item}</analyze item>",
            f"<match>{match}</match>",
            f"<rate>{rate}</rate>",
        ]
    )


VALID = [
    ("integer", tbr(rate="4"), 4.0),
    ("decimal", tbr(rate="3.75"), 3.75),
    ("spaces inside rate", tbr(rate="  2.5 "), 2.5),
    ("trailing dot", tbr(rate="4."), 4.0),
    ("scale bounds low", tbr(rate="1"), 1.0),
    ("scale bounds high", tbr(rate="5.0"), 5.0),
    ("no separators", tbr(sep=""), 3.0),
    ("surrounding whitespace", "\n\n  " + tbr(rate="2") + "  \n", 2.0),
    ("multi-line sections", tbr(user="line one\nline two", match="a\n\nb"), 3.0),
    ("unicode content", tbr(user="Aime les films 日本 😀", item="Ça va"), 3.0),
]


@pytest.mark.parametrize("name,response,expected", VALID)
def test_valid_responses_pass_the_format_check(name, response, expected):
    result = parse_response(response)
    assert result.format_ok, name
    assert result.parsed
    assert result.value == expected


INVALID = [
    ("empty", ""),
    ("only rate", "<rate>4</rate>"),
    ("missing match", "<analyze user>u</analyze user><analyze item>i</analyze item><rate>4</rate>"),
    (
        "reordered",
        "<analyze item>i</analyze item><analyze user>u</analyze user><match>m</match><rate>4</rate>",
    ),
    ("repeated rate", tbr(rate="4") + "<rate>4</rate>"),
    ("repeated section", tbr().replace("<match>", "<match><match>", 1)),
    ("text after rate", tbr(rate="4") + " I hope this helps."),
    ("text before first section", "Sure! " + tbr(rate="4")),
    ("text between sections", tbr(rate="4", sep="\nthen\n")),
    ("empty user section", tbr(user="   ")),
    ("empty item section", tbr(item="")),
    ("empty match section", tbr(match="\n")),
    ("fraction", tbr(rate="4/5")),
    ("units", tbr(rate="4 stars")),
    ("two numbers", tbr(rate="4 5")),
    ("word", tbr(rate="four")),
    ("empty rate", tbr(rate="")),
    ("exponent", tbr(rate="4e0")),
    ("above scale", tbr(rate="6")),
    ("below scale", tbr(rate="0.5")),
    ("negative", tbr(rate="-3")),
    ("unclosed rate", tbr().replace("</rate>", "")),
    ("nested tag in section", tbr(user="I think <rate>5</rate> is likely")),
    ("think block before", "<think>hmm</think>" + tbr()),
]


@pytest.mark.parametrize("name,response", INVALID)
def test_invalid_responses_fail_the_format_check(name, response):
    assert not parse_response(response).format_ok, name


@pytest.mark.parametrize(
    "response,parsed,value",
    [
        (tbr(rate="4/5"), False, None),
        (tbr(rate="4 stars"), False, None),
        ("no tags at all, rating 4", False, None),
        ("<rate>2</rate> then <rate>4.5</rate>", True, 4.5),  # the LAST rate section counts
        ("<rate>4.5</rate> then <rate>x</rate>", False, None),
        (tbr(rate="6"), True, 6.0),  # parses (then clipped), but fails the format check
        ("<rate> 3 </rate> trailing text", True, 3.0),
    ],
)
def test_parsed_follows_the_last_rate_section(response, parsed, value):
    result = parse_response(response)
    assert result.parsed is parsed
    if parsed:
        assert result.value == value
    else:
        assert math.isnan(result.value)


def test_full_mode_correct_format():
    out = compute_score(solution_str=tbr(rate="4.5"), ground_truth=4)
    assert out["format_reward"] == 0.5
    assert out["acc"] == pytest.approx(1 - 0.5 / 4)
    assert out["answer_reward"] == out["acc"]
    assert out["score"] == pytest.approx(0.5 + 1 - 0.5 / 4)
    assert (out["format_ok"], out["parsed"], out["pred"]) == (1.0, 1.0, "4.5")
    assert out["abs_error"] == 0.5 and out["sq_error"] == 0.25


def test_full_mode_bad_format_gets_no_answer_reward_but_keeps_metrics():
    out = compute_score(solution_str="<rate>4</rate>", ground_truth=4)
    assert out["score"] == -0.5 and out["answer_reward"] == 0.0
    # Metrics stay comparable across modes: the rating parsed, so the error is real.
    assert out["parsed"] == 1.0 and out["abs_error"] == 0.0 and out["acc"] == 1.0


def test_unparsed_counts_at_max_error_never_at_ground_truth():
    out = compute_score(solution_str="I would say four.", ground_truth="4")
    assert out["parsed"] == 0.0 and out["pred"] == "none"
    assert out["abs_error"] == 4.0 and out["sq_error"] == 16.0 and out["acc"] == 0.0


def test_out_of_scale_prediction_is_clipped_for_metrics():
    out = compute_score(solution_str=tbr(rate="9"), ground_truth=4)
    assert out["format_ok"] == 0.0 and out["pred"] == "5" and out["abs_error"] == 1.0


def test_ten_point_scale_from_extra_info():
    info = {"rating_min": 1, "rating_max": 10}
    out = compute_score(solution_str=tbr(rate="8"), ground_truth=10, extra_info=info)
    assert out["format_ok"] == 1.0
    assert out["acc"] == pytest.approx(1 - 2 / 9)
    bad = compute_score(solution_str="nothing", ground_truth=10, extra_info=info)
    assert bad["abs_error"] == 9.0


@pytest.mark.parametrize(
    "mode,response,format_reward,answer_reward",
    [
        ("format_only", tbr(rate="2"), 0.5, 0.0),
        ("format_only", "<rate>2</rate>", -0.5, 0.0),
        ("accuracy_only", tbr(rate="2"), 0.0, 0.75),
        ("accuracy_only", "<rate>2</rate>", 0.0, 0.75),  # accuracy only needs a parsed rating
        ("accuracy_only", "no rating", 0.0, 0.0),
        ("full", "<rate>2</rate>", -0.5, 0.0),
    ],
)
def test_modes(mode, response, format_reward, answer_reward):
    out = compute_score(solution_str=response, ground_truth=3, mode=mode)
    assert out["format_reward"] == format_reward
    assert out["answer_reward"] == pytest.approx(answer_reward)
    assert out["score"] == pytest.approx(format_reward + answer_reward)
    # Metrics do not depend on the mode.
    full = compute_score(solution_str=response, ground_truth=3)
    for key in ("acc", "parsed", "abs_error", "sq_error", "format_ok"):
        assert out[key] == full[key]


def test_format_weight_and_prefilled_prefix():
    body = tbr(rate="3")[len("<analyze user>") :]
    assert compute_score(solution_str=body, ground_truth=3)["format_ok"] == 0.0
    out = compute_score(solution_str=body, ground_truth=3, prefilled_prefix="<analyze user>", format_weight=0.2)
    assert out["format_ok"] == 1.0 and out["format_reward"] == 0.2 and out["score"] == pytest.approx(1.2)


@pytest.mark.parametrize(
    "ground_truth,expected",
    [(4, 4.0), (4.5, 4.5), ("4", 4.0), (" 3.5 ", 3.5), ({"ground_truth": "5"}, 5.0), ({"ground_truth": 2}, 2.0)],
)
def test_ground_truth_layouts(ground_truth, expected):
    assert parse_ground_truth(ground_truth) == expected


@pytest.mark.parametrize("ground_truth", [None, "four", "", {"rating": 4}, True, float("nan"), [4]])
def test_bad_ground_truth_is_a_clear_data_error(ground_truth):
    with pytest.raises(ValueError, match="ground_truth"):
        compute_score(solution_str=tbr(), ground_truth=ground_truth)


def test_unknown_mode_and_bad_scale_are_configuration_errors():
    with pytest.raises(ValueError, match="mode"):
        compute_score(solution_str=tbr(), ground_truth=3, mode="both")
    with pytest.raises(ValueError, match="scale"):
        compute_score(solution_str=tbr(), ground_truth=3, extra_info={"rating_min": 5, "rating_max": 1})


def test_verl_extra_kwargs_are_accepted():
    out = compute_score(
        data_source="reczero/x",
        solution_str=tbr(),
        ground_truth=3,
        extra_info={"num_turns": 2, "rollout_reward_scores": {}},
        reward_router_address=None,
    )
    assert out["score"] == pytest.approx(1.5)


def assert_contract(out: dict, task: str) -> None:
    """Every key, in order; floats (finite) for the task's own keys and the common ones, None for other tasks'."""
    assert tuple(out) == REWARD_KEYS
    others = {k for t, keys in TASK_KEYS.items() if t != task for k in keys}
    assert all(out[k] is None for k in others)
    assert all(type(v) is float and math.isfinite(v) for k, v in out.items() if k != "pred" and k not in others)
    assert type(out["pred"]) is str


@settings(max_examples=400, deadline=None)
@given(
    text=st.one_of(
        st.text(),
        st.lists(
            st.sampled_from(
                ["<analyze user>", "</analyze user>", "<analyze item>", "</analyze item>", "<match>", "</match>"]
                + ["<rate>", "</rate>", " ", "\n", "4", "3.5", "-", ".", "x", "1e9", "9" * 400, "日本", "\x00"]
            ),
            max_size=40,
        ).map("".join),
    ),
    truth=st.floats(min_value=1, max_value=5),
    mode=st.sampled_from(["full", "format_only", "accuracy_only"]),
)
def test_never_raises_and_always_same_keys_and_types(text, truth, mode):
    out = compute_score(solution_str=text, ground_truth=truth, mode=mode)
    assert_contract(out, "rating")
    assert 0.0 <= out["abs_error"] <= 4.0
    assert -0.5 <= out["score"] <= 1.5
    if out["parsed"]:
        assert 1.0 <= float(out["pred"]) <= 5.0
    else:
        assert out["pred"] == "none" and out["abs_error"] == 4.0
    assert out["format_ok"] <= out["parsed"]


def test_pred_votes_in_verl_but_is_never_averaged_and_dumps_are_valid_json():
    """verl's validation metrics: maj@N votes on pred, no pred/mean (a string), every value finite, strict JSON."""
    import json

    from verl.trainer.ppo.metric_utils import calc_maj_val, process_validation_metrics

    responses = [tbr(rate="4"), tbr(rate="4"), "no answer", tbr(rate="2")]
    outs = [compute_score(solution_str=r, ground_truth=4) for r in responses]
    infos = {key: [o[key] for o in outs] for key in REWARD_KEYS}
    metrics = process_validation_metrics(["src"] * 4, ["u"] * 4, infos)["src"]
    assert "pred" not in metrics
    assert 0.0 <= metrics["acc"]["maj@4/mean"] <= 1.0  # bootstrapped over subsets: only its presence is exact
    votes = [{"pred": o["pred"], "val": o["acc"]} for o in outs]
    assert calc_maj_val(votes, vote_key="pred", val_key="val") == 1.0  # "4" wins 2:1:1
    assert metrics["abs_error"]["mean@4"] == pytest.approx((0 + 0 + 4 + 2) / 4)  # unparsed: the maximum error
    assert all(math.isfinite(v) for per_key in metrics.values() for v in per_key.values())
    for out in outs:
        json.loads(json.dumps(out, allow_nan=False))


def test_non_string_solution_does_not_raise():
    for value in (None, 4, b"<rate>4</rate>"):
        assert compute_score(solution_str=value, ground_truth=4)["format_ok"] == 0.0


def test_picklable_and_thread_safe():
    fn = pickle.loads(pickle.dumps(compute_score))
    assert fn is compute_score
    responses = [tbr(rate=str(r)) for r in (1, 2, 3, 4, 5)] * 40
    expected = [compute_score(solution_str=r, ground_truth=3) for r in responses]
    results: list = [None] * len(responses)

    def work(offset: int) -> None:
        for i in range(offset, len(responses), 4):
            results[i] = compute_score(solution_str=responses[i], ground_truth=3)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected


@pytest.mark.parametrize(
    "response,format_ok",
    [
        ("<rate>4</rate>", True),
        ("  <rate> 3.5 </rate>\n", True),
        ("<rate>6</rate>", False),
        ("The user likes it. <rate>4</rate>", False),
        ("<rate>4</rate> done", False),
        ("<rate>4</rate><rate>4</rate>", False),
        (tbr(rate="4"), False),
    ],
)
def test_plain_variant_format_is_the_rating_alone(response, format_ok):
    out = compute_score(solution_str=response, ground_truth=4, variant="plain")
    assert out["format_ok"] == float(format_ok)
    assert out["format_reward"] == (0.5 if format_ok else -0.5)
    # The error metrics do not depend on the variant either.
    assert out["abs_error"] == compute_score(solution_str=response, ground_truth=4)["abs_error"]


def test_unknown_variant_is_a_configuration_error():
    with pytest.raises(ValueError, match="variant"):
        compute_score(solution_str="<rate>4</rate>", ground_truth=4, variant="json")


@pytest.mark.parametrize(
    "ground_truth,extra_info",
    [
        (100, None),
        (6, None),
        (0, None),
        (0.999, None),
        (5.0001, {"rating_min": 1, "rating_max": 5}),
        (1e308, None),
        (-1e308, None),
        ("7", None),
        ({"ground_truth": 11}, {"rating_min": 1, "rating_max": 10}),
        (-1, {"rating_min": 0, "rating_max": 9}),
        (float("inf"), None),
        (float("-inf"), None),
        ("-inf", None),
    ],
)
def test_ground_truth_outside_the_scale_is_a_data_error(ground_truth, extra_info):
    with pytest.raises(ValueError, match="ground_truth"):
        compute_score(solution_str=tbr(), ground_truth=ground_truth, extra_info=extra_info)


@pytest.mark.parametrize(
    "ground_truth,extra_info",
    [
        (1, None),
        (5, None),
        (0, {"rating_min": 0, "rating_max": 9}),
        (9, {"rating_min": 0, "rating_max": 9}),
        (2.5, None),
    ],
)
def test_ground_truth_on_the_scale_bounds_is_accepted(ground_truth, extra_info):
    assert compute_score(solution_str=tbr(rate="3"), ground_truth=ground_truth, extra_info=extra_info)["parsed"] == 1.0


@settings(max_examples=200, deadline=None)
@given(
    truth=st.one_of(
        st.floats(allow_nan=False).filter(lambda v: not 1.0 <= v <= 5.0),
        st.integers().filter(lambda v: not 1 <= v <= 5),
    ),
    text=st.text(max_size=60),
)
def test_any_out_of_scale_truth_raises_value_error_whatever_the_response(truth, text):
    with pytest.raises(ValueError, match="ground_truth"):
        compute_score(solution_str=text, ground_truth=truth)


def test_scale_options_state_the_scale_of_rows_without_one():
    """Public RecZero fork files carry no scale: reward_kwargs rating_min / rating_max state it; extra_info wins."""
    out = compute_score(solution_str=tbr(rate="8"), ground_truth=10, rating_min=1, rating_max=10)
    assert out["format_ok"] == 1.0 and out["abs_error"] == 2.0 and out["acc"] == pytest.approx(1 - 2 / 9)
    assert compute_score(solution_str=tbr(rate="0"), ground_truth=0, rating_min=0, rating_max=9)["format_ok"] == 1.0
    with pytest.raises(ValueError, match="outside the rating scale"):
        compute_score(solution_str=tbr(), ground_truth=10)  # without the options: 1-5
    with pytest.raises(ValueError, match="outside the rating scale"):  # the row's own scale wins over the options
        compute_score(solution_str=tbr(), ground_truth=10, extra_info={"rating_min": 1, "rating_max": 5}, rating_max=10)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"extra_info": [1, 5]}, "extra_info"),
        ({"extra_info": "rating_min=1"}, "extra_info"),
        ({"extra_info": 3}, "extra_info"),
        ({"format_weight": "abc"}, "format_weight"),
        ({"format_weight": "0.5"}, "format_weight"),
        ({"format_weight": None}, "format_weight"),
        ({"format_weight": [0.5]}, "format_weight"),
        ({"format_weight": True}, "format_weight"),
        ({"prefilled_prefix": 1}, "prefilled_prefix"),
        ({"prefilled_prefix": None}, "prefilled_prefix"),
        ({"prefilled_prefix": ["<analyze user>"]}, "prefilled_prefix"),
        ({"rating_max": "ten"}, "rating_max"),
        ({"rating_min": {"v": 1}}, "rating_min"),
    ],
)
def test_option_of_the_wrong_type_is_a_type_error_naming_it(kwargs, name):
    with pytest.raises(TypeError, match=name):
        compute_score(solution_str=tbr(), ground_truth=3, **kwargs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"format_weight": float("nan")}, "format_weight"),
        ({"format_weight": float("inf")}, "format_weight"),
        ({"extra_info": {"rating_min": "one", "rating_max": 5}}, "rating_min"),
        ({"extra_info": {"rating_min": 1, "rating_max": [5]}}, "rating_max"),
        ({"rating_min": 5, "rating_max": 1}, "scale"),
    ],
)
def test_option_or_scale_that_is_no_usable_number_is_a_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compute_score(solution_str=tbr(), ground_truth=3, **kwargs)


def test_numeric_options_of_other_real_types_are_accepted():
    import numpy as np

    out = compute_score(solution_str=tbr(rate="3"), ground_truth=3, format_weight=np.float32(0.25))
    assert out["format_reward"] == 0.25 and type(out["format_reward"]) is float
    assert compute_score(solution_str=tbr(rate="3"), ground_truth=3, format_weight=1)["score"] == 2.0


@pytest.mark.parametrize("rate", ["4", "3.5", "3.4695584434366", "1.0000001", "2.123456789", "4.99999999"])
def test_pred_label_is_exact(rate):
    out = compute_score(solution_str=tbr(rate=rate), ground_truth=3)
    assert float(out["pred"]) == float(rate)
    assert out["abs_error"] == pytest.approx(abs(float(rate) - 3), abs=0)
