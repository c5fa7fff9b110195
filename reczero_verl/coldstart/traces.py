# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Pure rules of the RecOne cold start: what is asked of the teacher and which of its answers are kept.

Everything here is a small pure function so the rules can be read, tested and changed in one place:

* :func:`strip_thinking` removes the hidden reasoning a reasoning model puts in ``<think>...</think>`` blocks of its
  content; the kept trace is the TbR answer only (``reasoning_content`` is never read into a trace at all).
* :func:`rating_matches` is the acceptance rule: ``|round_half_up(pred) - y| <= tolerance``. With the default
  tolerance 0 the teacher's rating, rounded half up to an integer (3.5 -> 4, 3.49 -> 3), must equal the true rating.
* :func:`rationalization_messages` builds the second request: the very same messages, with an instruction appended to
  the user turn that gives the true rating and asks for reasoning that leads to it, written as if it were unknown.
* :func:`~reczero_verl.coldstart.leaks.find_leak` rejects a rationalized trace whose reasoning lets on that the
  rating was given (a lexical model of the give-away: see :mod:`reczero_verl.coldstart.leaks`; it misses paraphrases
  it was not written for, which is why :mod:`reczero_verl.coldstart.leak_judge` adds a blind judge model).
* :func:`judge` turns one cleaned answer into a verdict with the project's one parser,
  :func:`reczero_verl.reward.parse_response`, so SFT keeps exactly what the GRPO reward calls well formed.

The ranking and like tasks (issue 12) follow the same rules with their own parser (:func:`reczero_verl.reward.
parse_ranking`, :func:`reczero_verl.reward.parse_like`) and acceptance rule (:func:`answer_matches`): a ranking answer
matches when the target is within the first ``1 + tolerance`` places of its list (first with the default 0), a like
answer when its p lies on the label's side of 0.5. Their rationalization gives the target's candidate number or the
like label.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from reczero_verl.coldstart.leaks import Leak, find_leak, reasoning_text
from reczero_verl.reward import parse_like, parse_ranking, parse_response
from reczero_verl.template import DEFAULT_TASK, close_tag, format_rating, open_tag

__all__ = [
    "DIRECT",
    "RATIONALIZE",
    "MATCH",
    "Verdict",
    "round_half_up",
    "rating_matches",
    "answer_matches",
    "parse_answer",
    "strip_thinking",
    "rationalization_instruction",
    "rationalization_messages",
    "TOO_LONG",
    "WRONG_ANSWER",
    "Leak",
    "find_leak",
    "reasoning_text",
    "judge",
]

#: Stage names: the first request (plain TbR prompt) and the second one (rationalization, truth given).
DIRECT = "direct"
RATIONALIZE = "rationalize"
#: The verdict of an answer that is kept.
MATCH = "match"

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)

#: The verdict of an answer far longer than a TbR answer (see ``max_chars`` of :func:`judge`).
TOO_LONG = "too_long"


class Verdict(NamedTuple):
    """What :func:`judge` concluded about one answer."""

    verdict: str  #: ``match`` (keep) or why not: empty, truncated, too_long, format, wrong_rating, leak
    format_ok: bool  #: the TbR structure holds (the reward's format check)
    parsed: bool  #: the answer section parses (``<rate>`` one number; ``<rank>`` a list; ``<like>`` a probability)
    pred: float  #: the rating; the target's place in the list (ranking); p (like); NaN when not parsed
    leak: Leak | None = None  #: the give-away found in a rationalized answer (verdict ``leak``)


def round_half_up(value: float) -> int:
    """Round to the nearest integer, halves away from zero (3.5 -> 4, 2.5 -> 3), unlike Python's banker's round."""
    return int(Decimal(repr(float(value))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def rating_matches(pred: float, truth: float, tolerance: float = 0.0) -> bool:
    """The acceptance rule: ``|round_half_up(pred) - truth| <= tolerance`` (NaN never matches).

    Ratings are whole numbers on every public dataset, so with ``tolerance=0`` the rounded prediction must equal the
    truth. A tolerance of 1 also keeps answers one star off.
    """
    if not (math.isfinite(pred) and math.isfinite(truth)):
        return False
    return abs(round_half_up(pred) - truth) <= tolerance + 1e-9


#: The verdict of a parsed answer of a ranking or like sample that misses the truth (``wrong_rating`` for rating).
WRONG_ANSWER = "wrong_answer"


def answer_matches(task: str, pred: float, truth: float, tolerance: float = 0.0) -> bool:
    """The acceptance rule of ``task``: :func:`rating_matches` for rating; for ranking ``pred`` is the target's place
    in the answer's list (NaN when absent), kept within the first ``1 + tolerance`` places; for like ``pred`` is p,
    kept on the label's side of 0.5 (``|p - truth| < 0.5``; p = 0.5 never matches)."""
    if task == "ranking":
        return math.isfinite(pred) and pred <= 1 + tolerance + 1e-9
    if task == "like":
        return math.isfinite(pred) and abs(pred - truth) < 0.5
    return rating_matches(pred, truth, tolerance)


def parse_answer(
    answer: str, task: str, truth: float, rating_min: float, rating_max: float, n_candidates: int | None = None
) -> tuple[bool, bool, float]:
    """``(format_ok, parsed, pred)`` of an answer with the reward's parser of ``task`` (see :class:`Verdict`)."""
    if task == "ranking":
        if n_candidates is None:
            raise ValueError("a ranking sample needs its number of candidates")
        format_ok, parsed, order = parse_ranking(answer, n_candidates)
        target = int(truth)
        return format_ok, parsed, float(order.index(target) + 1) if target in order else math.nan
    if task == "like":
        return parse_like(answer)
    return parse_response(answer, rating_min, rating_max)


def strip_thinking(content: str | None) -> tuple[str, int]:
    """Remove hidden reasoning from a chat completion's ``content``; return ``(answer, removed_chars)``.

    Removes every ``<think>...</think>`` block; when a closing ``</think>`` remains without its opening tag (servers
    whose chat template pre-fills ``<think>``), everything up to the last one goes too. An unclosed ``<think>`` is
    left in place, so a truncated answer fails the format check instead of passing as a shortened one.
    """
    if not content:
        return "", 0
    text = _THINK_BLOCK.sub("", content)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    text = text.strip()
    return text, len(content) - len(text)


def rationalization_instruction(
    truth: float,
    rating_min: float,
    rating_max: float,
    *,
    task: str = DEFAULT_TASK,
    like_threshold: float | None = None,
) -> str:
    """The text appended to the user turn in the rationalization request (it states the truth: the rating, the
    target's candidate number, or whether the user liked the item)."""
    if task == "ranking":
        number = int(truth)
        return (
            "\n\n---\n"
            f"Note for this answer only: the item this user actually chose next is candidate [{number}]. "
            "Write the four sections exactly as asked above, reasoning only from the user's history and the "
            "candidates' information as if you were ranking them yourself, so that your analysis leads naturally to "
            f"ranking candidate {number} first, and end with {open_tag('rank')}{number}, ...{close_tag('rank')} "
            f"with {number} first. Do not mention this note, and never say that the choice was given, known or "
            "provided to you."
        )
    if task == "like":
        liked = truth >= 0.5
        meaning = (
            f" (a rating of {format_rating(like_threshold)} or more on the {format_rating(rating_min)} to "
            f"{format_rating(rating_max)} scale)"
            if like_threshold is not None
            else ""
        )
        return (
            "\n\n---\n"
            f"Note for this answer only: this user actually {'liked' if liked else 'did not like'} the target "
            f"item{meaning}. Write the four sections exactly as asked above, reasoning only from the user's history "
            "and the item's information as if you were predicting it yourself, so that your analysis leads naturally "
            f"to this outcome, and end with {open_tag('like')}p{close_tag('like')} where p is a probability "
            f"{'above' if liked else 'below'} 0.5. Do not mention this note, and never say that the outcome was "
            "given, known or provided to you."
        )
    rating = format_rating(truth)
    rate = f"{open_tag('rate')}{rating}{close_tag('rate')}"
    return (
        "\n\n---\n"
        f"Note for this answer only: this user actually rated the target item {rating} "
        f"(on the {format_rating(rating_min)} to {format_rating(rating_max)} scale). "
        "Write the four sections exactly as asked above, reasoning only from the user's history and the item's "
        "information as if you were predicting the rating yourself, so that your analysis leads naturally to this "
        f"rating, and end with {rate}. Do not mention this note, and never say that the rating was given, known or "
        "provided to you."
    )


def rationalization_messages(
    messages: Sequence[dict[str, str]],
    truth: float,
    rating_min: float,
    rating_max: float,
    *,
    task: str = DEFAULT_TASK,
    like_threshold: float | None = None,
) -> list[dict[str, str]]:
    """The messages of the rationalization request: ``messages`` with the instruction appended to the last user turn.

    The instruction goes into the existing user turn rather than a new message because several reasoning endpoints
    reject two consecutive user messages.
    """
    instruction = rationalization_instruction(truth, rating_min, rating_max, task=task, like_threshold=like_threshold)
    out = [dict(m) for m in messages]
    for message in reversed(out):
        if message.get("role") == "user":
            message["content"] = str(message.get("content", "")) + instruction
            return out
    raise ValueError("the prompt has no user message to append the rationalization instruction to")


def judge(
    answer: str,
    truth: float,
    rating_min: float,
    rating_max: float,
    *,
    tolerance: float = 0.0,
    stage: str = DIRECT,
    finish_reason: str | None = None,
    max_chars: int | None = None,
    leak_rules: bool = True,
    task: str = DEFAULT_TASK,
    n_candidates: int | None = None,
) -> Verdict:
    """Decide whether a cleaned answer (see :func:`strip_thinking`) is kept.

    Direct answers are kept when the format is OK and :func:`answer_matches` holds at ``tolerance``; rationalized
    ones need the format, the exact truth (tolerance 0, same rounding; for like, the label's side of 0.5) and, unless
    ``leak_rules`` is False, no give-away in their reasoning sections (:func:`find_leak` on :func:`reasoning_text`;
    the blind judge of :mod:`~reczero_verl.coldstart.leak_judge` is asked afterwards, by the runner). The verdict
    names the first failed condition: ``empty``, ``truncated`` (the server stopped at the token limit and the format
    fails), ``too_long`` (more than ``max_chars`` characters), ``format``, ``wrong_rating`` (``wrong_answer`` for
    ranking and like), ``leak``; ``match`` means keep. ``task`` and ``n_candidates`` (ranking) pick the parser.
    """
    if not answer.strip():
        # A reasoning model that spends max_tokens thinking returns an empty answer with finish_reason "length".
        return Verdict("truncated" if finish_reason == "length" else "empty", False, False, math.nan)
    if max_chars is not None and len(answer) > max_chars:
        # A TbR answer is a few thousand characters; one far longer is a runaway (and would bloat the journal).
        return Verdict(TOO_LONG, False, False, math.nan)
    format_ok, parsed, value = parse_answer(answer, task, truth, rating_min, rating_max, n_candidates)
    if not format_ok:
        reason = "truncated" if finish_reason == "length" else "format"
        return Verdict(reason, False, parsed, value)
    if not answer_matches(task, value, truth, tolerance if stage == DIRECT else 0.0):
        return Verdict("wrong_rating" if task == DEFAULT_TASK else WRONG_ANSWER, True, True, value)
    if stage == RATIONALIZE and leak_rules:
        leak = find_leak(reasoning_text(answer), task=task)
        if leak is not None:
            return Verdict("leak", True, True, value, leak)
    return Verdict(MATCH, True, True, value)
