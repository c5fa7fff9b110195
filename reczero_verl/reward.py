# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Rule-based reward of RecZero / RecOne, in the signature verl 0.9.1 calls.

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
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from reczero_verl.template import DEFAULT_VARIANT, SECTION_NAMES, VARIANTS, close_tag, open_tag

__all__ = [
    "REWARD_KEYS",
    "MODES",
    "ParsedResponse",
    "parse_response",
    "parse_ground_truth",
    "rating_scale",
    "check_in_scale",
    "DEFAULT_SCALE",
    "pred_label",
    "compute_score",
]

#: The keys of every dict :func:`compute_score` returns, always all of them: floats, except ``pred`` (a string).
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
)
MODES: tuple[str, ...] = ("full", "format_only", "accuracy_only")

#: The parsed value when nothing parsed: NaN, so it can never be mistaken for a rating (use ``parsed`` to filter).
UNPARSED_PRED = math.nan
#: The reward's ``pred`` when nothing parsed. ``pred`` is a string so that verl votes on it (``maj@N``) but never
#: averages it (verl skips string keys in its means): logged metrics and verl's JSON-lines dumps stay finite and
#: valid, and an unparsed answer is a vote of its own that no rating can equal.
UNPARSED_PRED_LABEL = "none"

_OPEN = tuple(open_tag(n) for n in SECTION_NAMES)
_CLOSE = tuple(close_tag(n) for n in SECTION_NAMES)
_RATE_OPEN = open_tag("rate")
_RATE_CLOSE = close_tag("rate")

# One number, integer or decimal, optionally signed (a signed or out-of-scale number parses but fails the format
# check through the scale test). No exponents, fractions ("4/5") or units ("4 stars").
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
# Every TbR tag, found in one left-to-right scan; the response is well-formed iff this scan yields exactly the eight
# tags in order (which also rules out repeated, nested and reordered tags).
_TAG = re.compile("|".join(re.escape(t) for t in _OPEN + _CLOSE))
_EXPECTED_TAGS = tuple(t for pair in zip(_OPEN, _CLOSE, strict=True) for t in pair)


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


def _last_rate_value(response: str) -> float | None:
    """The number inside the LAST ``<rate>...</rate>`` pair, or None when absent or not exactly one number."""
    start = response.rfind(_RATE_OPEN)
    if start < 0:
        return None
    start += len(_RATE_OPEN)
    end = response.find(_RATE_CLOSE, start)
    if end < 0:
        return None
    return _parse_number(response[start:end])


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
    stripped = response.strip()
    return (
        rating_min <= value <= rating_max
        and stripped.startswith(_RATE_OPEN)
        and stripped.endswith(_RATE_CLOSE)
        and stripped.count(_RATE_OPEN) == 1
        and stripped.count(_RATE_CLOSE) == 1
    )


def _blank(text: str) -> bool:
    return not text or text.isspace()


def _structure_ok(response: str, value: float, rating_min: float, rating_max: float) -> bool:
    if not rating_min <= value <= rating_max:
        return False
    tags = list(_TAG.finditer(response))
    if len(tags) != len(_EXPECTED_TAGS) or any(m.group() != t for m, t in zip(tags, _EXPECTED_TAGS, strict=True)):
        return False
    # Only whitespace before the first tag, after the last one, and between a section's close and the next open.
    if not (_blank(response[: tags[0].start()]) and _blank(response[tags[-1].end() :])):
        return False
    for k in range(1, len(tags) - 1, 2):
        if not _blank(response[tags[k].end() : tags[k + 1].start()]):
            return False
    # The first three sections must say something; the fourth was checked to be one number.
    return all(not _blank(response[tags[k].end() : tags[k + 1].start()]) for k in (0, 2, 4))


def parse_ground_truth(ground_truth: Any) -> float:
    """Return the rating in ``ground_truth``: a number, a numeric string or ``{"ground_truth": ...}``.

    The dict form is the layout of the public RecZero fork's parquet files. Anything else is an error of the data,
    not of the policy, so it raises ``ValueError`` naming the value (verl then stops at the first batch).
    """
    value = ground_truth
    if isinstance(value, Mapping):
        if "ground_truth" not in value:
            raise ValueError(f"ground_truth dict has no 'ground_truth' key: {ground_truth!r}")
        value = value["ground_truth"]
    if isinstance(value, bool):
        raise ValueError(f"ground_truth must be a rating, got the boolean {ground_truth!r}")
    try:
        rating = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"ground_truth is not a number: {ground_truth!r}") from None
    if not math.isfinite(rating):
        raise ValueError(f"ground_truth is not a finite number: {ground_truth!r}")
    return rating


#: The scale of a sample whose ``extra_info`` states none (and no ``rating_min`` / ``rating_max`` option is set).
DEFAULT_SCALE: tuple[float, float] = (1.0, 5.0)


def _scale_bound(extra_info: Mapping[str, Any], key: str, default: float) -> float:
    value = extra_info.get(key)
    if value is None:
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"extra_info.{key} is not a number: {value!r}") from None


def rating_scale(
    extra_info: Mapping[str, Any] | None, default: tuple[float, float] = DEFAULT_SCALE
) -> tuple[float, float]:
    """The rating scale from ``extra_info["rating_min"]`` / ``["rating_max"]``, ``default`` for a missing bound.

    Raises ``TypeError`` when ``extra_info`` is not a mapping (a configuration error: verl passes the row's
    ``extra_info`` struct) and ``ValueError`` for a bound that is not a number or an empty scale (a data error).
    """
    lo, hi = default
    if extra_info is not None:
        if not isinstance(extra_info, Mapping):
            raise TypeError(
                f"extra_info must be a mapping (the row's extra_info struct), got {type(extra_info).__name__}: "
                f"{extra_info!r:.80}"
            )
        lo = _scale_bound(extra_info, "rating_min", lo)
        hi = _scale_bound(extra_info, "rating_max", hi)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"extra_info has an invalid rating scale [{lo}, {hi}]")
    return lo, hi


def check_in_scale(rating: float, lo: float, hi: float, what: str = "ground_truth") -> float:
    """Return ``rating`` when it lies in ``[lo, hi]``; raise ``ValueError`` naming it otherwise (a data error)."""
    if not lo <= rating <= hi:
        raise ValueError(
            f"{what} {rating:g} is outside the rating scale [{lo:g}, {hi:g}]: a data error (a file without "
            "extra_info.rating_min / rating_max is read as 1-5; state its scale there, or for the reward with the "
            "rating_min / rating_max reward options)"
        )
    return rating


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
) -> dict[str, float | str]:
    """Score one response; verl's reward managers call this with keyword arguments.

    Args:
        data_source: the sample's ``data_source`` (unused: the scale comes from ``extra_info``).
        solution_str: the decoded response (response only, as verl passes it).
        ground_truth: the true rating (number, numeric string or ``{"ground_truth": ...}``).
        extra_info: the sample's ``extra_info``; ``rating_min`` / ``rating_max`` set the scale (default 1-5).
        mode: ``full`` (format + accuracy), ``format_only`` or ``accuracy_only``: the paper's reward ablations.
        format_weight: magnitude of the format reward (0.5 in the paper).
        prefilled_prefix: text the chat template pre-filled in the generation prompt (for example
            ``"<analyze user>"``); it is prepended to ``solution_str`` before checking.
        variant: the template variant the prompts were rendered with (``tbr`` or ``plain``); it sets what the
            format check expects (see :func:`parse_response`).
        rating_min, rating_max: the scale of rows whose ``extra_info`` states none (the public RecZero fork's
            parquet files); ``extra_info`` wins where it has one. Default 1 and 5.
        **kwargs: other keyword arguments verl may pass; ignored.

    Returns:
        A dict with the keys of :data:`REWARD_KEYS`. ``pred`` is the parsed rating clipped to the scale, as a string
        (:func:`pred_label`; ``"none"`` when nothing parsed); ``abs_error`` is ``|pred - y|``, or the maximum error
        of the scale when nothing parsed; ``acc = 1 - abs_error / max_error``; ``format_ok`` and ``parsed`` are 0.0
        or 1.0.

    Raises:
        ValueError: for a ground truth that is not a number or lies outside the rating scale, an invalid scale (data
            errors), or an unknown ``mode`` / ``variant``.
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
    default = DEFAULT_SCALE
    if rating_min is not None or rating_max is not None:
        default = (
            DEFAULT_SCALE[0] if rating_min is None else _number_option("rating_min", rating_min),
            DEFAULT_SCALE[1] if rating_max is None else _number_option("rating_max", rating_max),
        )
    lo, hi = rating_scale(extra_info, default)
    y = check_in_scale(parse_ground_truth(ground_truth), lo, hi)
    max_error = hi - lo

    response = solution_str if isinstance(solution_str, str) else ("" if solution_str is None else str(solution_str))
    if prefilled_prefix:
        response = prefilled_prefix + response
    format_ok, parsed, value = parse_response(response, lo, hi, variant)

    if parsed and math.isfinite(value):
        pred = min(max(value, lo), hi)
        abs_error = abs(pred - y)
    else:
        parsed = False
        pred = UNPARSED_PRED
        abs_error = max_error
    acc = 1.0 - abs_error / max_error

    if mode == "accuracy_only":
        format_reward = 0.0
        answer_reward = acc if parsed else 0.0
    else:
        format_reward = format_weight if format_ok else -format_weight
        answer_reward = acc if (mode == "full" and format_ok) else 0.0

    return {
        "score": format_reward + answer_reward,
        "format_reward": float(format_reward),
        "answer_reward": float(answer_reward),
        "acc": float(acc),
        "format_ok": 1.0 if format_ok else 0.0,
        "parsed": 1.0 if parsed else 0.0,
        "pred": pred_label(pred),
        "abs_error": float(abs_error),
        "sq_error": float(abs_error * abs_error),
    }
