# Copyright 2026 The reczero-verl Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""The prepared-sample parquet contract: its arrow schema, text budgets, row rendering and deterministic writing.

Only the sampled targets reach this module (at most ``--max-train + --max-val + --max-test`` rows), so plain Python
is fine here. Text is clipped with :func:`reczero_verl.template.clip_text` (whitespace collapsed, cut on code-point
boundaries, an ellipsis marking the cut) to the per-field budgets of :class:`TextBudgets`, and the ``prompt`` column
is :func:`reczero_verl.template.build_messages` of the very row that is written, so prompt and columns never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from reczero_verl.template import build_messages, clip_text

from .sanitize import TextCleaner
from .sources import ITEM_FIELDS

_STR = pa.string()

PROMPT_TYPE = pa.list_(pa.struct([("role", _STR), ("content", _STR)]))
REWARD_TYPE = pa.struct([("style", _STR), ("ground_truth", pa.float64())])
EXTRA_INFO_TYPE = pa.struct(
    [
        ("split", _STR),
        ("index", pa.int64()),
        ("user_id", _STR),
        ("item_id", _STR),
        ("timestamp", pa.int64()),
        ("rating_min", pa.float64()),
        ("rating_max", pa.float64()),
    ]
)
USER_HISTORY_TYPE = pa.list_(
    pa.struct(
        [("item_id", _STR), ("rating", pa.float64()), ("timestamp", pa.int64()), ("title", _STR), ("review", _STR)]
    )
)
ITEM_HISTORY_TYPE = pa.list_(
    pa.struct([("user_id", _STR), ("rating", pa.float64()), ("timestamp", pa.int64()), ("review", _STR)])
)
TARGET_ITEM_TYPE = pa.struct([("item_id", _STR)] + [(f, _STR) for f in ITEM_FIELDS])

#: The schema of every prepared parquet file, whatever the source (so verl can concatenate datasets).
SAMPLE_SCHEMA = pa.schema(
    [
        ("data_source", _STR),
        ("ability", _STR),
        ("prompt", PROMPT_TYPE),
        ("reward_model", REWARD_TYPE),
        ("extra_info", EXTRA_INFO_TYPE),
        ("user_history", USER_HISTORY_TYPE),
        ("item_history", ITEM_HISTORY_TYPE),
        ("target_item", TARGET_ITEM_TYPE),
        ("user_avg_rating", pa.float64()),
        ("item_avg_rating", pa.float64()),
        ("user_profile", _STR),
        ("item_profile", _STR),
    ]
)

ABILITY = "rating_prediction"


@dataclass(frozen=True)
class TextBudgets:
    """Character budgets of the text fields (after whitespace is collapsed; ``…`` marks a cut).

    Defaults: a history review 300 (the public Reason4Rec/RecZero scripts keep 400 for the user's reviews; 300 keeps
    20 reviews near 1.5k tokens), a title 200, categories / brand 200 / 100, description, features and details 500
    each, an EXP3RT profile 2000 (those profiles are about 600-1,200 characters: effectively unclipped).
    """

    review: int = 300
    title: int = 200
    categories: int = 200
    brand: int = 100
    description: int = 500
    features: int = 500
    details: int = 500
    profile: int = 2000

    def item_field(self, name: str) -> int:
        return int(getattr(self, name))

    def as_dict(self) -> dict[str, int]:
        return {k: int(getattr(self, k)) for k in self.__dataclass_fields__}


def clip_or_none(text: Any, budget: int) -> str | None:
    """``clip_text(text, budget)``, or ``None`` when nothing is left."""
    out = clip_text(text, budget)
    return out or None


def _text(cleaner: TextCleaner, value: Any, kind: str, budget: int) -> str | None:
    """A stored text: neutralised (special tokens, TbR tags, control characters), then clipped to ``budget``."""
    return clip_or_none(cleaner.clean(value, kind), budget)


def _id(cleaner: TextCleaner, value: Any) -> str:
    """A stored id (prompts show an item id when the item has no title): neutralised when needed, never clipped."""
    return cleaner.clean_id(value)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value != value else value


def build_row(
    target: Mapping[str, Any],
    *,
    data_source: str,
    split: str,
    index: int,
    rating_min: float,
    rating_max: float,
    budgets: TextBudgets,
    cleaner: TextCleaner | None = None,
) -> dict[str, Any]:
    """One contract row from a target record.

    ``target`` has ``user_id, item_id, rating, timestamp`` (seconds or ``None``), ``user_history`` (oldest first:
    ``item_id, rating, timestamp, title, review``), ``item_history`` (``user_id, rating, timestamp, review``),
    ``target_item`` (item fields; missing ones ``None``), ``user_avg_rating``, ``item_avg_rating``, ``user_profile``,
    ``item_profile``. Every text and id is neutralised here (:mod:`.sanitize`; ``cleaner`` counts the rewrites),
    then clipped: the stored columns are what ``RecZeroDataset`` renders prompts from, so they must be clean.
    """
    cleaner = cleaner if cleaner is not None else TextCleaner()
    user_history = [
        {
            "item_id": _id(cleaner, h["item_id"]),
            "rating": float(h["rating"]),
            "timestamp": None if h.get("timestamp") is None else int(h["timestamp"]),
            "title": _text(cleaner, h.get("title"), "title", budgets.title),
            "review": _text(cleaner, h.get("review"), "review", budgets.review),
        }
        for h in (target.get("user_history") or [])
    ]
    item_history = [
        {
            "user_id": _id(cleaner, h["user_id"]),
            "rating": float(h["rating"]),
            "timestamp": None if h.get("timestamp") is None else int(h["timestamp"]),
            "review": _text(cleaner, h.get("review"), "review", budgets.review),
        }
        for h in (target.get("item_history") or [])
    ]
    raw_item = target.get("target_item") or {}
    user_id, item_id = _id(cleaner, target["user_id"]), _id(cleaner, target["item_id"])
    target_item = {"item_id": item_id}
    for name in ITEM_FIELDS:
        target_item[name] = _text(cleaner, raw_item.get(name), name, budgets.item_field(name))
    row: dict[str, Any] = {
        "data_source": data_source,
        "ability": ABILITY,
        "prompt": None,
        "reward_model": {"style": "rule", "ground_truth": float(target["rating"])},
        "extra_info": {
            "split": split,
            "index": int(index),
            "user_id": user_id,
            "item_id": item_id,
            "timestamp": None if target.get("timestamp") is None else int(target["timestamp"]),
            "rating_min": float(rating_min),
            "rating_max": float(rating_max),
        },
        "user_history": user_history,
        "item_history": item_history,
        "target_item": target_item,
        "user_avg_rating": _num(target.get("user_avg_rating")),
        "item_avg_rating": _num(target.get("item_avg_rating")),
        "user_profile": _text(cleaner, target.get("user_profile"), "profile", budgets.profile),
        "item_profile": _text(cleaner, target.get("item_profile"), "profile", budgets.profile),
    }
    row["prompt"] = build_messages(row, variant="tbr", rating_min=rating_min, rating_max=rating_max)
    return row


def write_samples(rows: Iterable[Mapping[str, Any]], path: Path) -> int:
    """Write rows with :data:`SAMPLE_SCHEMA` (byte-identical for identical rows); returns the row count."""
    table = pa.Table.from_pylist(list(rows), schema=SAMPLE_SCHEMA)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)
    return table.num_rows
