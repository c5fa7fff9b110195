# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The prepared-sample contract, written and read one way everywhere.

``reczero-verl prepare`` writes verl's five fields (``data_source``, ``prompt``, ``ability``, ``reward_model``,
``extra_info``) plus the structured columns prompts are rendered from, with :data:`SAMPLE_SCHEMA` for every source and
task (verl concatenates the files of a multi-task run, which needs one schema). This module owns that schema, the
tasks and their naming, the item text fields, text flattening, and the readers of a row's task, scale and prompt:
the writer, the reward, the dataset, generation, the cold start and the evaluation all import them from here.

Import-light on purpose (the reward imports it inside verl's training loop): pyarrow is imported only when
:data:`SAMPLE_SCHEMA` or one of its types is first used.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from functools import cache
from typing import Any, NamedTuple

__all__ = [
    "TASKS",
    "DEFAULT_TASK",
    "ABILITIES",
    "ITEM_FIELDS",
    "DEFAULT_SCALE",
    "SAMPLE_SCHEMA",  # noqa: F822 (built on first use, see __getattr__)
    "PromptSpec",
    "data_source",
    "flatten_text",
    "prompt_messages",
    "row_task",
    "rating_scale",
    "prompt_spec",
    "parse_ground_truth",
    "check_in_scale",
    "like_label",
    "target_position",
    "RowTruth",
    "row_truth",
]

#: The tasks: rating prediction (the paper's), candidate ranking for the next interaction, like probability.
TASKS: tuple[str, ...] = ("rating", "ranking", "like")
DEFAULT_TASK = "rating"
#: verl's ``ability`` column, by task.
ABILITIES: dict[str, str] = {"rating": "rating_prediction", "ranking": "ranking", "like": "like_prediction"}
#: The item text fields of a prepared sample (``target_item``, ``candidates``), in the order they are stored.
ITEM_FIELDS: tuple[str, ...] = ("title", "categories", "brand", "description", "features", "details")
#: The scale of a sample whose ``extra_info`` states none.
DEFAULT_SCALE: tuple[float, float] = (1.0, 5.0)


class PromptSpec(NamedTuple):
    """What a row's prompt is rendered for, beside its structured columns."""

    task: str
    rating_min: float
    rating_max: float
    like_threshold: float | None


def data_source(name: str, task: str = DEFAULT_TASK) -> str:
    """verl's ``data_source`` of a prepared file: ``reczero/<name>`` for rating, ``reczero/<name>/<task>`` otherwise
    (verl keys its validation metrics by it, so each task gets its own)."""
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {TASKS}")
    return f"reczero/{name}" if task == DEFAULT_TASK else f"reczero/{name}/{task}"


@cache
def _schema_types() -> dict[str, Any]:
    """The arrow types of the contract (built on first use: pyarrow stays out of the reward's imports)."""
    import pyarrow as pa

    s = pa.string()
    types: dict[str, Any] = {
        "PROMPT_TYPE": pa.list_(pa.struct([("role", s), ("content", s)])),
        "REWARD_TYPE": pa.struct([("style", s), ("ground_truth", pa.float64())]),
        "EXTRA_INFO_TYPE": pa.struct(
            [
                ("split", s),
                ("index", pa.int64()),
                ("user_id", s),
                ("item_id", s),
                ("timestamp", pa.int64()),
                ("rating_min", pa.float64()),
                ("rating_max", pa.float64()),
                ("task", s),
                ("candidates", pa.list_(s)),
                ("like_threshold", pa.float64()),
            ]
        ),
        "USER_HISTORY_TYPE": pa.list_(
            pa.struct(
                [("item_id", s), ("rating", pa.float64()), ("timestamp", pa.int64()), ("title", s), ("review", s)]
            )
        ),
        "ITEM_HISTORY_TYPE": pa.list_(
            pa.struct([("user_id", s), ("rating", pa.float64()), ("timestamp", pa.int64()), ("review", s)])
        ),
        "TARGET_ITEM_TYPE": pa.struct([("item_id", s)] + [(f, s) for f in ITEM_FIELDS]),
        "CANDIDATES_TYPE": pa.list_(
            pa.struct([("item_id", s)] + [(f, s) for f in ITEM_FIELDS] + [("avg_rating", pa.float64())])
        ),
    }
    types["SAMPLE_SCHEMA"] = pa.schema(
        [
            ("data_source", s),
            ("ability", s),
            ("prompt", types["PROMPT_TYPE"]),
            ("reward_model", types["REWARD_TYPE"]),
            ("extra_info", types["EXTRA_INFO_TYPE"]),
            ("user_history", types["USER_HISTORY_TYPE"]),
            ("item_history", types["ITEM_HISTORY_TYPE"]),
            ("target_item", types["TARGET_ITEM_TYPE"]),
            ("user_avg_rating", pa.float64()),
            ("item_avg_rating", pa.float64()),
            ("user_profile", s),
            ("item_profile", s),
            ("candidates", types["CANDIDATES_TYPE"]),
        ]
    )
    return types


def __getattr__(name: str) -> Any:
    """:data:`SAMPLE_SCHEMA` and its column types (``PROMPT_TYPE``, ``EXTRA_INFO_TYPE``, ...), built on first use."""
    if name.isupper():  # not for the dunder lookups every ``from contract import x`` makes
        types = _schema_types()
        if name in types:
            return types[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def flatten_text(value: Any, sep: str = ", ") -> str | None:
    """One line of text from a text field that may be a list (categories) or a mapping (details): lists joined with
    ``sep`` (nested too, duplicates removed), mappings as ``key: value; ...``; ``None`` when nothing is left."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, Mapping):
        parts = [f"{str(k).strip().rstrip(':')}: {t}" for k, v in value.items() if (t := flatten_text(v, sep))]
        return "; ".join(parts) or None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and not isinstance(value, (bytes, bytearray))):
        parts = [t for v in value if (t := flatten_text(v, sep))]
        return sep.join(dict.fromkeys(parts)) or None
    return str(value)


def prompt_messages(value: Any) -> list[dict[str, str]]:
    """The chat messages of a row's ``prompt`` cell (a list of ``{role, content}``, as parquet or JSON gives it),
    ending with the user turn. Raises ``ValueError`` saying what is wrong."""
    if value is None or isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
        raise ValueError("prompt is not a list of messages")
    messages = []
    for n, message in enumerate(value):
        if not isinstance(message, Mapping):
            raise ValueError(f"prompt[{n}] is not a {{role, content}} struct")
        role, content = message.get("role"), message.get("content")
        if not isinstance(role, str) or not isinstance(content, str):
            raise ValueError(f"prompt[{n}] has no string role/content")
        messages.append({"role": role, "content": content})
    if not messages or messages[-1]["role"] != "user":
        raise ValueError("prompt must end with a user message")
    return messages


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


# ---- a row's truth -------------------------------------------------------------------------------------------------


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


def check_in_scale(rating: float, lo: float, hi: float, what: str = "ground_truth") -> float:
    """Return ``rating`` when it lies in ``[lo, hi]``; raise ``ValueError`` naming it otherwise (a data error)."""
    if not lo <= rating <= hi:
        raise ValueError(
            f"{what} {rating:g} is outside the rating scale [{lo:g}, {hi:g}]: a data error (a file without "
            "extra_info.rating_min / rating_max is read as 1-5; state its scale there, or for the reward with the "
            "rating_min / rating_max reward options)"
        )
    return rating


def _unwrap(ground_truth: Any) -> Any:
    if isinstance(ground_truth, Mapping):
        if "ground_truth" not in ground_truth:
            raise ValueError(f"ground_truth dict has no 'ground_truth' key: {ground_truth!r}")
        return ground_truth["ground_truth"]
    return ground_truth


def like_label(ground_truth: Any) -> float:
    """The like task's truth: 0 or 1 (a number, a boolean, ``"0"``/``"1"`` or ``{"ground_truth": ...}``)."""
    value = _unwrap(ground_truth)
    try:
        label = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"like ground_truth is not 0 or 1: {ground_truth!r}") from None
    if label not in (0.0, 1.0):
        raise ValueError(f"like ground_truth is not 0 or 1: {ground_truth!r}")
    return label


def target_position(ground_truth: Any, extra_info: Mapping[str, Any]) -> tuple[int, int]:
    """The ranking task's truth: ``(the target's candidate number (1-based), number of candidates)``.

    ``ground_truth`` is the target's candidate number (what ``prepare`` writes: one float64 schema for every task) or
    its item id, looked up in ``extra_info["candidates"]`` (the ids in the order shown).
    """
    candidates = extra_info.get("candidates")
    if candidates is None or isinstance(candidates, str) or len(candidates) == 0:
        raise ValueError(f"a ranking row needs extra_info.candidates (the item ids shown), got {candidates!r:.80}")
    target = _unwrap(ground_truth)
    if isinstance(target, numbers.Real) and not isinstance(target, bool):
        if not (float(target).is_integer() and 1 <= target <= len(candidates)):
            raise ValueError(f"ranking ground_truth {target!r} is not a candidate number in 1..{len(candidates)}")
        return int(target), len(candidates)
    matches = [k for k, item in enumerate(candidates, start=1) if str(item) == str(target)]
    if len(matches) != 1:
        raise ValueError(f"the target {target!r} appears {len(matches)} times in extra_info.candidates, not once")
    return matches[0], len(candidates)


class RowTruth(NamedTuple):
    """A row's answer key, read one way for the reward, the cold start and the evaluation."""

    task: str
    #: The rating, the target's candidate number (ranking) or the 0/1 label (like).
    truth: float
    rating_min: float
    rating_max: float
    #: Ranking only: how many candidates the prompt shows, and their item ids in the order shown.
    n_candidates: int | None = None
    candidates: tuple[str, ...] | None = None
    #: Like only, for explicit ratings (``None`` for 0/1 logs).
    like_threshold: float | None = None


def row_truth(ground_truth: Any, extra_info: Mapping[str, Any] | None) -> RowTruth:
    """The truth of a row from its ``reward_model.ground_truth`` and ``extra_info``; ``ValueError`` naming what is
    wrong (a rating outside the row's scale, a candidate number out of range, a like label that is not 0/1)."""
    spec = prompt_spec(extra_info)
    scale = (spec.rating_min, spec.rating_max)
    if spec.task == "ranking":
        number, n = target_position(ground_truth, extra_info or {})
        ids = tuple(str(c) for c in (extra_info or {})["candidates"])
        return RowTruth(spec.task, float(number), *scale, n_candidates=n, candidates=ids)
    if spec.task == "like":
        return RowTruth(spec.task, like_label(ground_truth), *scale, like_threshold=spec.like_threshold)
    return RowTruth(spec.task, check_in_scale(parse_ground_truth(ground_truth), *scale), *scale)
