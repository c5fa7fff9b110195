# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Rule-based reward of RecZero / RecOne, in the signature verl 0.9.1 calls, for each task.

verl's reward managers call ``compute_score(data_source=, solution_str=, ground_truth=, extra_info=, **reward_kwargs)``
once per response, with ``solution_str`` the decoded RESPONSE only (no prompt, no chat header, special tokens
stripped). The reward is ``format_reward + answer_reward``:

* ``format_reward`` is ``+format_weight`` when the response is exactly the four TbR sections in order (each tag once,
  only whitespace between and around them, the first three non-blank, ``<rate>`` holding one number inside the rating
  scale) and ``-format_weight`` otherwise;
* ``answer_reward`` is ``acc = 1 - |pred - y| / (rating_max - rating_min)``.

The error metrics (``pred``, ``abs_error``, ``sq_error``, ``acc``, ``parsed``) are computed the same way in every
``mode``, so ablations report comparable MAE/RMSE. An unparseable answer is never replaced by the ground truth: it
counts at the maximum error of the scale.

The other tasks (``extra_info["task"]``; absent means rating) keep the same structure and modes with their own answer:
``ranking`` -> ``<rank>i, j, ...</rank>`` scored by the NDCG of the target's position (``1 / log2(1 + pos)``, 0 when
absent); ``like`` -> ``<like>p</like>`` scored by ``1 - (p - y)^2`` (a proper scoring rule: calibrated probabilities
win). Every task returns every key of :data:`REWARD_KEYS`, the ones that mean nothing for it as ``None`` (verl skips
``None`` in its validation means), so one batch can mix the tasks.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from reczero_verl.contract import (
    DEFAULT_SCALE,
    check_in_scale,
    like_label,
    parse_ground_truth,
    rating_scale,
    row_task,
    target_position,
)
from reczero_verl.template import (
    DEFAULT_VARIANT,
    TASKS,
    VARIANTS,
    close_tag,
    open_tag,
    section_names,
)

__all__ = [
    "REWARD_KEYS",
    "TASK_KEYS",
    "MODES",
    "ParsedResponse",
    "parse_response",
    "ParsedRanking",
    "parse_ranking",
    "ParsedLike",
    "parse_like",
    "ndcg_at_position",
    "parse_ground_truth",
    "check_in_scale",
    "pred_label",
    "compute_score",
]

#: The keys of every dict :func:`compute_score` returns, always all of them: floats, except ``pred`` (a string), and
#: ``None`` for what a task has not (``abs_error``, ``sq_error`` for ranking and like; ``ndcg``, ``hit@1``, ``rank``
#: outside ranking; ``prob``, ``brier`` outside like).
REWARD_KEYS: tuple[str, ...] = (
    "score",
    "format_reward",
    "answer_reward",
    "acc",
    "format_ok",
    "parsed",
    "pred",
    "abs_error",
    "sq_error",
    "ndcg",
    "hit@1",
    "rank",
    "prob",
    "brier",
)
#: The keys only some tasks fill, with ``None`` elsewhere.
TASK_KEYS: dict[str, tuple[str, ...]] = {
    "rating": ("abs_error", "sq_error"),
    "ranking": ("ndcg", "hit@1", "rank"),
    "like": ("prob", "brier"),
}
MODES: tuple[str, ...] = ("full", "format_only", "accuracy_only")

#: The parsed value when nothing parsed: NaN, so it can never be mistaken for a rating (use ``parsed`` to filter).
UNPARSED_PRED = math.nan
#: The reward's ``pred`` when nothing parsed. ``pred`` is a string so that verl votes on it (``maj@N``) but never
#: averages it (verl skips string keys in its means): logged metrics and verl's JSON-lines dumps stay finite and
#: valid, and an unparsed answer is a vote of its own that no rating can equal.
UNPARSED_PRED_LABEL = "none"


# One number, integer or decimal, optionally signed (a signed or out-of-scale number parses but fails the format
# check through the scale test). No exponents, fractions ("4/5") or units ("4 stars").
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
# Every tag of every task, found in one left-to-right scan; a response is well-formed iff this scan yields exactly its
# task's eight tags in order (which also rules out repeated, nested, reordered and other tasks' tags).
_TAG = re.compile(
    "|".join(
        re.escape(t)
        for name in dict.fromkeys(n for task in TASKS for n in section_names(task))
        for t in (open_tag(name), close_tag(name))
    )
)
_EXPECTED_TAGS: dict[str, tuple[str, ...]] = {
    task: tuple(t for name in section_names(task) for t in (open_tag(name), close_tag(name))) for task in TASKS
}


class ParsedResponse(NamedTuple):
    """What :func:`parse_response` found in one response."""

    format_ok: bool  #: the full TbR structure holds and the rating is inside the scale
    parsed: bool  #: the last ``<rate>`` section holds exactly one number
    value: float  #: that number, unclipped (NaN when not parsed)


def _parse_number(text: str) -> float | None:
    text = text.strip()
    if _NUMBER.fullmatch(text) is None:
        return None
    return float(text)


def _last_section(response: str, name: str) -> str | None:
    """The text inside the LAST ``<name>...</name>`` pair, or None."""
    opening, closing = open_tag(name), close_tag(name)
    start = response.rfind(opening)
    if start < 0:
        return None
    start += len(opening)
    end = response.find(closing, start)
    return None if end < 0 else response[start:end]


def _answer_alone(response: str, name: str) -> bool:
    """The plain variant's format: the response is exactly one ``<name>...</name>`` up to surrounding whitespace."""
    stripped = response.strip()
    opening, closing = open_tag(name), close_tag(name)
    return (
        stripped.startswith(opening)
        and stripped.endswith(closing)
        and stripped.count(opening) == 1
        and stripped.count(closing) == 1
    )


def _last_rate_value(response: str) -> float | None:
    """The number inside the LAST ``<rate>...</rate>`` pair, or None when absent or not exactly one number."""
    text = _last_section(response, "rate")
    return None if text is None else _parse_number(text)


def parse_response(
    response: str, rating_min: float = 1.0, rating_max: float = 5.0, variant: str = DEFAULT_VARIANT
) -> ParsedResponse:
    """Check the structure of ``response`` for template ``variant`` and extract its rating.

    This is the one parser of the project: the reward, the cold-start filter and the evaluation all call it.
    ``tbr`` expects the four sections (see the module docstring); ``plain`` (the no-structure ablation, whose prompt
    asks for the rating only) expects the response to be exactly ``<rate>X</rate>`` up to surrounding whitespace.
    In both, the rating must be inside the scale. ``value`` is the unclipped number of the last ``<rate>`` section
    (NaN when ``parsed`` is False).
    """
    value = _last_rate_value(response)
    parsed = value is not None
    if not parsed:
        return ParsedResponse(False, False, UNPARSED_PRED)
    if variant == "plain":
        return ParsedResponse(_plain_ok(response, value, rating_min, rating_max), True, value)
    return ParsedResponse(_structure_ok(response, value, rating_min, rating_max), True, value)


def _plain_ok(response: str, value: float, rating_min: float, rating_max: float) -> bool:
    return rating_min <= value <= rating_max and _answer_alone(response, "rate")


def _blank(text: str) -> bool:
    return not text or text.isspace()


def _structure_ok(response: str, value: float, rating_min: float, rating_max: float) -> bool:
    return rating_min <= value <= rating_max and _sections_ok(response, "rating")


def _sections_ok(response: str, task: str) -> bool:
    """The response is exactly ``task``'s four sections in order, the first three non-blank (the answer is checked by
    the task's parser)."""
    expected = _EXPECTED_TAGS[task]
    tags = list(_TAG.finditer(response))
    if len(tags) != len(expected) or any(m.group() != t for m, t in zip(tags, expected, strict=True)):
        return False
    # Only whitespace before the first tag, after the last one, and between a section's close and the next open.
    if not (_blank(response[: tags[0].start()]) and _blank(response[tags[-1].end() :])):
        return False
    for k in range(1, len(tags) - 1, 2):
        if not _blank(response[tags[k].end() : tags[k + 1].start()]):
            return False
    # The first three sections must say something; the fourth is checked by the task's parser.
    return all(not _blank(response[tags[k].end() : tags[k + 1].start()]) for k in (0, 2, 4))


class ParsedRanking(NamedTuple):
    """What :func:`parse_ranking` found in one response."""

    format_ok: bool  #: the full structure holds (tbr) or the answer is the tag alone (plain), and the list is valid
    parsed: bool  #: the last ``<rank>`` section is a valid list: candidate numbers in 1..M, comma-separated, no repeat
    order: tuple[int, ...]  #: those numbers, best first (empty when not parsed)


class ParsedLike(NamedTuple):
    """What :func:`parse_like` found in one response."""

    format_ok: bool  #: the full structure holds (tbr) or the answer is the tag alone (plain), and p is in [0, 1]
    parsed: bool  #: the last ``<like>`` section holds one number in [0, 1]
    prob: float  #: that number (NaN when not parsed)


_INTEGER = re.compile(r"\d+")


def parse_ranking(response: str, n_candidates: int, variant: str = DEFAULT_VARIANT) -> ParsedRanking:
    """Check a ranking answer: ``<rank>i, j, k</rank>`` with candidate numbers ``1..n_candidates``, best first.

    Each number at most once; a prefix (top-K) is allowed; whitespace around numbers is fine, anything else
    (``3.``, ``#3``, ``[3]``, an empty item, a repeat, a number out of range) makes the list invalid.
    """
    text = _last_section(response, "rank")
    if text is None:
        return ParsedRanking(False, False, ())
    pieces = [piece.strip() for piece in text.split(",")]
    if not pieces or any(_INTEGER.fullmatch(piece) is None for piece in pieces):
        return ParsedRanking(False, False, ())
    order = tuple(int(piece) for piece in pieces)
    if len(set(order)) != len(order) or not all(1 <= n <= n_candidates for n in order):
        return ParsedRanking(False, False, ())
    shaped = _answer_alone(response, "rank") if variant == "plain" else _sections_ok(response, "ranking")
    return ParsedRanking(shaped, True, order)


def parse_like(response: str, variant: str = DEFAULT_VARIANT) -> ParsedLike:
    """Check a like answer: ``<like>p</like>`` with one number ``p`` in ``[0, 1]``."""
    text = _last_section(response, "like")
    value = None if text is None else _parse_number(text)
    if value is None or not 0.0 <= value <= 1.0:
        return ParsedLike(False, False, math.nan)
    shaped = _answer_alone(response, "like") if variant == "plain" else _sections_ok(response, "like")
    return ParsedLike(shaped, True, value)


def ndcg_at_position(position: int | None) -> float:
    """NDCG of a single relevant item at 1-based ``position`` (``1 / log2(1 + position)``); 0 when absent."""
    return 0.0 if not position else 1.0 / math.log2(1.0 + position)


def _number_option(name: str, value: Any) -> float:
    """A numeric keyword option of :func:`compute_score`: ``TypeError`` naming it when it is not a real number."""
    if type(value) is float or type(value) is int:  # the fast path: what Hydra passes
        number = float(value)
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    else:
        raise TypeError(f"reward option {name} must be a number, got {type(value).__name__} {value!r:.80}")
    if not math.isfinite(number):
        raise ValueError(f"reward option {name} must be finite, got {value!r}")
    return number


def pred_label(value: float) -> str:
    """``pred`` as the reward reports it: the rating in its shortest exact form (``"4"``, ``"3.5"``), or ``"none"``.

    ``float(pred_label(v)) == v`` for every parsed rating, so nothing downstream loses precision.
    """
    if math.isnan(value):
        return UNPARSED_PRED_LABEL
    text = format(value, "g")
    # "g" keeps 6 significant digits: fall back to the shortest exact form when that loses precision.
    return text if float(text) == value else repr(value)


class _Scored(NamedTuple):
    """One task's verdict on one response, before the mode turns it into a reward."""

    format_ok: bool
    parsed: bool
    acc: float
    pred: str
    extra: dict[str, float]


def _score_rating(response: str, ground_truth: Any, extra_info: Any, default: tuple[float, float], variant: str):
    lo, hi = rating_scale(extra_info, default)
    y = check_in_scale(parse_ground_truth(ground_truth), lo, hi)
    max_error = hi - lo
    format_ok, parsed, value = parse_response(response, lo, hi, variant)
    if parsed and math.isfinite(value):
        pred = min(max(value, lo), hi)
        abs_error = abs(pred - y)
    else:
        parsed, pred, abs_error = False, UNPARSED_PRED, max_error
    extra = {"abs_error": float(abs_error), "sq_error": float(abs_error * abs_error)}
    return _Scored(format_ok, parsed, 1.0 - abs_error / max_error, pred_label(pred), extra)


def _score_ranking(response: str, ground_truth: Any, extra_info: Mapping[str, Any], variant: str) -> _Scored:
    target, n_candidates = target_position(ground_truth, extra_info)
    format_ok, parsed, order = parse_ranking(response, n_candidates, variant)
    position = order.index(target) + 1 if target in order else None
    ndcg = ndcg_at_position(position)
    # Absent from the answer or unparsed: ranked last, as `evaluate` counts it.
    extra = {"ndcg": ndcg, "hit@1": 1.0 if position == 1 else 0.0, "rank": float(position or n_candidates)}
    return _Scored(format_ok, parsed, ndcg, str(order[0]) if parsed else UNPARSED_PRED_LABEL, extra)


#: The like probability an unparsed answer counts at in the metrics (its reward is 0 all the same).
UNPARSED_LIKE_PROB = 0.5


def _score_like(response: str, ground_truth: Any, variant: str) -> _Scored:
    y = like_label(ground_truth)
    format_ok, parsed, prob = parse_like(response, variant)
    p = prob if parsed else UNPARSED_LIKE_PROB
    brier = (p - y) ** 2
    extra = {"prob": float(p), "brier": float(brier)}
    return _Scored(format_ok, parsed, 1.0 - brier, pred_label(prob), extra)


def compute_score(
    data_source: str | None = None,
    solution_str: str = "",
    ground_truth: Any = None,
    extra_info: Mapping[str, Any] | None = None,
    *,
    mode: str = "full",
    format_weight: float = 0.5,
    prefilled_prefix: str = "",
    variant: str = DEFAULT_VARIANT,
    rating_min: float | None = None,
    rating_max: float | None = None,
    **kwargs: Any,
) -> dict[str, float | str | None]:
    """Score one response; verl's reward managers call this with keyword arguments.

    Args:
        data_source: the sample's ``data_source`` (unused: the task and scale come from ``extra_info``).
        solution_str: the decoded response (response only, as verl passes it).
        ground_truth: the truth: a rating (number, numeric string or ``{"ground_truth": ...}``); for ``ranking``
            the target's item id; for ``like`` 0 or 1.
        extra_info: the sample's ``extra_info``: ``task`` (absent: rating), ``rating_min`` / ``rating_max`` (the
            scale, default 1-5), ``candidates`` (ranking: the item ids in the order shown).
        mode: ``full`` (format + accuracy), ``format_only`` or ``accuracy_only``: the paper's reward ablations.
        format_weight: magnitude of the format reward (0.5 in the paper).
        prefilled_prefix: text the chat template pre-filled in the generation prompt (for example
            ``"<analyze user>"``); it is prepended to ``solution_str`` before checking.
        variant: the template variant the prompts were rendered with (``tbr`` or ``plain``); it sets what the
            format check expects (see :func:`parse_response`).
        rating_min, rating_max: the scale of rating rows whose ``extra_info`` states none (the public RecZero fork's
            parquet files); ``extra_info`` wins where it has one. Default 1 and 5.
        **kwargs: other keyword arguments verl may pass; ignored.

    Returns:
        A dict with every key of :data:`REWARD_KEYS`. ``acc`` is the answer's quality in [0, 1] whatever the task:
        ``1 - abs_error / max_error`` (rating, an unparsed answer at the maximum error), the NDCG of the target's
        position (ranking, 0 when absent), ``1 - brier`` (like, an unparsed answer at p = 0.5). ``pred`` is a string
        (:func:`pred_label`: the rating, the top candidate's number, the probability; ``"none"`` when nothing
        parsed). ``format_ok`` and ``parsed`` are 0.0 or 1.0; the keys another task fills are ``None``.

    Raises:
        ValueError: for a ground truth that is not a truth of its task or lies outside the rating scale, an invalid
            scale or candidate list (data errors), or an unknown ``mode`` / ``variant`` / task.
        TypeError: for an ``extra_info`` that is not a mapping, a non-numeric ``format_weight`` / ``rating_min`` /
            ``rating_max`` or a ``prefilled_prefix`` that is not a string (configuration errors).
        Never for anything in ``solution_str``.
    """
    if mode not in MODES:
        raise ValueError(f"unknown reward mode {mode!r}; expected one of {MODES}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown template variant {variant!r}; expected one of {VARIANTS}")
    format_weight = _number_option("format_weight", format_weight)
    if not isinstance(prefilled_prefix, str):
        raise TypeError(
            f"reward option prefilled_prefix must be a string, got {type(prefilled_prefix).__name__} "
            f"{prefilled_prefix!r:.80}"
        )
    task = row_task(extra_info)
    response = solution_str if isinstance(solution_str, str) else ("" if solution_str is None else str(solution_str))
    if prefilled_prefix:
        response = prefilled_prefix + response
    if task == "rating":
        default = DEFAULT_SCALE
        if rating_min is not None or rating_max is not None:
            default = (
                DEFAULT_SCALE[0] if rating_min is None else _number_option("rating_min", rating_min),
                DEFAULT_SCALE[1] if rating_max is None else _number_option("rating_max", rating_max),
            )
        scored = _score_rating(response, ground_truth, extra_info, default, variant)
    elif task == "ranking":
        scored = _score_ranking(response, ground_truth, extra_info, variant)
    else:
        scored = _score_like(response, ground_truth, variant)

    if mode == "accuracy_only":
        format_reward = 0.0
        answer_reward = scored.acc if scored.parsed else 0.0
    else:
        format_reward = format_weight if scored.format_ok else -format_weight
        answer_reward = scored.acc if (mode == "full" and scored.format_ok) else 0.0
    result: dict[str, float | str | None] = dict.fromkeys(REWARD_KEYS)
    result.update(
        score=format_reward + answer_reward,
        format_reward=float(format_reward),
        answer_reward=float(answer_reward),
        acc=float(scored.acc),
        format_ok=1.0 if scored.format_ok else 0.0,
        parsed=1.0 if scored.parsed else 0.0,
        pred=scored.pred,
    )
    result.update(scored.extra)
    return result
