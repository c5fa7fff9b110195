# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The prepared-sample contract, read one way everywhere: what a row's ``extra_info`` says about its task and prompt.

``reczero-verl prepare`` writes verl's five fields (``data_source``, ``prompt``, ``ability``, ``reward_model``,
``extra_info``) plus the structured columns prompts are rendered from. The reward, the dataset, the cold start and
the evaluation all need the same few facts of a row (its task, its rating scale, the like threshold, the candidates):
they read them here. Pure Python, no pandas or verl: the reward imports it inside verl's training loop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from reczero_verl.template import DEFAULT_TASK, TASKS

__all__ = ["DEFAULT_SCALE", "PromptSpec", "row_task", "rating_scale", "prompt_spec"]

#: The scale of a sample whose ``extra_info`` states none.
DEFAULT_SCALE: tuple[float, float] = (1.0, 5.0)


class PromptSpec(NamedTuple):
    """What a row's prompt is rendered for, beside its structured columns."""

    task: str
    rating_min: float
    rating_max: float
    like_threshold: float | None


def _mapping(extra_info: Any) -> Mapping[str, Any] | None:
    if extra_info is None or isinstance(extra_info, Mapping):
        return extra_info
    raise TypeError(
        f"extra_info must be a mapping (the row's extra_info struct), got {type(extra_info).__name__}: "
        f"{extra_info!r:.80}"
    )


def row_task(extra_info: Mapping[str, Any] | None) -> str:
    """The row's task from ``extra_info["task"]`` (absent: rating).

    Raises ``TypeError`` for an ``extra_info`` that is not a mapping (verl passes the row's struct: anything else is a
    configuration error) and ``ValueError`` for an unknown task (a data error).
    """
    extra_info = _mapping(extra_info)
    task = None if extra_info is None else extra_info.get("task")
    if task is None:
        return DEFAULT_TASK
    if task not in TASKS:
        raise ValueError(f"extra_info.task {task!r} is not a task; expected one of {TASKS}")
    return task


def _number(extra_info: Mapping[str, Any], key: str, default: float | None) -> float | None:
    value = extra_info.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"extra_info.{key} is not a number: {value!r}") from None


def rating_scale(
    extra_info: Mapping[str, Any] | None, default: tuple[float, float] = DEFAULT_SCALE
) -> tuple[float, float]:
    """The rating scale from ``extra_info["rating_min"]`` / ``["rating_max"]``, ``default`` for a missing bound.

    Raises ``TypeError`` when ``extra_info`` is not a mapping and ``ValueError`` for a bound that is not a number or
    an empty scale (a data error).
    """
    lo, hi = default
    extra_info = _mapping(extra_info)
    if extra_info is not None:
        lo = _number(extra_info, "rating_min", lo)
        hi = _number(extra_info, "rating_max", hi)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"extra_info has an invalid rating scale [{lo}, {hi}]")
    return lo, hi


def prompt_spec(extra_info: Mapping[str, Any] | None) -> PromptSpec:
    """Task, scale and like threshold of a row: everything its prompt depends on besides the structured columns."""
    lo, hi = rating_scale(extra_info)
    threshold = None if extra_info is None else _number(extra_info, "like_threshold", None)
    return PromptSpec(row_task(extra_info), lo, hi, threshold)
