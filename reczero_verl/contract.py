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
