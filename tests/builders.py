# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Builders of test inputs in the project's own formats: prepared-sample parquet (the contract every command reads),
generation JSON lines and TbR responses. One definition of the contract schema for all tests.

:data:`CONTRACT_SCHEMA` is the one schema of every task (issue 12 contract: ``extra_info.task``,
``extra_info.candidates``, ``extra_info.like_threshold`` and a ``candidates`` column, null where they do not apply);
:func:`ranking_row` and :func:`like_row` build rows of the new tasks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from reczero_verl.template import REASONING_SECTIONS, build_messages, close_tag, open_tag

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
CONTRACT_SCHEMA = pa.schema(
    [
        ("data_source", pa.string()),
        ("ability", pa.string()),
        ("prompt", pa.list_(MESSAGE)),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.float64())])),
        (
            "extra_info",
            pa.struct(
                [
                    ("split", pa.string()),
                    ("index", pa.int64()),
                    ("user_id", pa.string()),
                    ("item_id", pa.string()),
                    ("timestamp", pa.int64()),
                    ("rating_min", pa.float64()),
                    ("rating_max", pa.float64()),
                    ("task", pa.string()),
                    ("candidates", pa.list_(pa.string())),
                    ("like_threshold", pa.float64()),
                ]
            ),
        ),
        (
            "user_history",
            pa.list_(
                pa.struct(
                    [
                        ("item_id", pa.string()),
                        ("rating", pa.float64()),
                        ("timestamp", pa.int64()),
                        ("title", pa.string()),
                        ("review", pa.string()),
                    ]
                )
            ),
        ),
        (
            "item_history",
            pa.list_(
                pa.struct(
                    [
                        ("user_id", pa.string()),
                        ("rating", pa.float64()),
                        ("timestamp", pa.int64()),
                        ("review", pa.string()),
                    ]
                )
            ),
        ),
        (
            "target_item",
            pa.struct(
                [
                    (k, pa.string())
                    for k in ("item_id", "title", "categories", "brand", "description", "features", "details")
                ]
            ),
        ),
        ("user_avg_rating", pa.float64()),
        ("item_avg_rating", pa.float64()),
        ("user_profile", pa.string()),
        ("item_profile", pa.string()),
        (
            "candidates",
            pa.list_(
                pa.struct(
                    [
                        (k, pa.string())
                        for k in ("item_id", "title", "categories", "brand", "description", "features", "details")
                    ]
                    + [("avg_rating", pa.float64())]
                )
            ),
        ),
    ]
)


def prepared_row(
    index: int,
    user_id: str,
    item_id: str,
    rating: float,
    *,
    timestamp: int = 1_600_000_000,
    split: str = "test",
    source: str = "reczero/synthetic",
    scale: tuple[float, float] = (1.0, 5.0),
    user_history: Sequence[dict[str, Any]] = (),
    item_history: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """One prepared sample following the contract (prompt rendered with the real template)."""
    lo, hi = scale
    row: dict[str, Any] = {
        "data_source": source,
        "ability": "rating_prediction",
        "reward_model": {"style": "rule", "ground_truth": float(rating)},
        "extra_info": {
            "split": split,
            "index": index,
            "user_id": user_id,
            "item_id": item_id,
            "timestamp": timestamp,
            "rating_min": lo,
            "rating_max": hi,
        },
        "user_history": [{"title": f"item {h['item_id']}", "review": "fine", **h} for h in user_history],
        "item_history": [{"review": "ok", **h} for h in item_history],
        "target_item": {
            "item_id": item_id,
            "title": f"item {item_id}",
            "categories": "Clothing",
            "brand": None,
            "description": None,
            "features": None,
            "details": None,
        },
        "user_avg_rating": None,
        "item_avg_rating": None,
        "user_profile": None,
        "item_profile": None,
    }
    row["prompt"] = build_messages(row, variant="tbr", rating_min=lo, rating_max=hi)
    return row


def ranking_row(
    index: int,
    user_id: str,
    target: str,
    candidates: Sequence[str],
    *,
    timestamp: int = 1_600_000_000,
    split: str = "test",
    source: str = "reczero/synthetic/ranking",
    scale: tuple[float, float] = (1.0, 5.0),
    user_history: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """One ranking sample following the contract: ``candidates`` are shown as ``[1]`` .. ``[M]`` in this order, the
    ground truth is the target's candidate number (``target`` must be one of them)."""
    lo, hi = scale
    row = prepared_row(index, user_id, target, 1.0, timestamp=timestamp, split=split, source=source, scale=scale)
    row.update(
        ability="ranking",
        reward_model={"style": "rule", "ground_truth": float(list(candidates).index(target) + 1)},
        user_history=[{"title": f"item {h['item_id']}", "review": "fine", **h} for h in user_history],
        item_history=[],
        target_item=None,
        candidates=[{"item_id": c, "title": f"item {c}", "avg_rating": None} for c in candidates],
    )
    row["extra_info"].update(task="ranking", candidates=list(candidates))
    row["prompt"] = build_messages(row, variant="tbr", rating_min=lo, rating_max=hi, task="ranking")
    return row


def like_row(
    index: int,
    user_id: str,
    item_id: str,
    label: int,
    *,
    timestamp: int = 1_600_000_000,
    split: str = "test",
    source: str = "reczero/synthetic/like",
    scale: tuple[float, float] = (1.0, 5.0),
    like_threshold: float | None = 4.0,
    user_history: Sequence[dict[str, Any]] = (),
    item_history: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """One like sample following the contract: the ground truth is ``label`` (0 or 1)."""
    lo, hi = scale
    row = prepared_row(
        index,
        user_id,
        item_id,
        1.0,
        timestamp=timestamp,
        split=split,
        source=source,
        scale=scale,
        user_history=user_history,
        item_history=item_history,
    )
    row.update(ability="like_prediction", reward_model={"style": "rule", "ground_truth": float(label)})
    row["extra_info"].update(task="like", like_threshold=like_threshold)
    row["prompt"] = build_messages(
        row, variant="tbr", rating_min=lo, rating_max=hi, task="like", like_threshold=like_threshold
    )
    return row


def write_prepared(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``rows`` as a prepared-sample parquet with the contract's exact schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(list(rows), schema=CONTRACT_SCHEMA), path)
    return path


def write_generations(path: Path, records: Sequence[dict[str, Any]], data: Path | None = None) -> Path:
    """Write generation records as JSON lines; with ``data``, each record gets the ``user_id`` / ``item_id`` of its
    row in that prepared parquet (as ``reczero-verl generate`` writes them) unless it already has them."""
    if data is not None:
        extra = pq.read_table(data, columns=["extra_info"]).column(0).to_pylist()
        ids = {e["index"]: {"user_id": e["user_id"], "item_id": e["item_id"]} for e in extra}
        records = [{**ids.get(r["index"], {}), **r} for r in records]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def tbr(rating: str, *, analysis: str = "likes it") -> str:
    """A well-formed TbR response whose ``<rate>`` section holds ``rating`` verbatim."""
    return (
        f"<analyze user>{analysis}</analyze user>\n<analyze item>good item</analyze item>\n"
        f"<match>fits</match>\n<rate>{rating}</rate>"
    )


def _answer(tag: str, final: str, analysis: str) -> str:
    texts = (analysis, "good item", "fits")
    parts = [f"{open_tag(n)}{t}{close_tag(n)}" for n, t in zip(REASONING_SECTIONS, texts, strict=True)]
    return "\n".join([*parts, f"{open_tag(tag)}{final}{close_tag(tag)}"])


def ranked(order: str, *, analysis: str = "likes it") -> str:
    """A well-formed ranking answer whose ``<rank>`` section holds ``order`` verbatim (e.g. ``"3, 1, 2"``)."""
    return _answer("rank", order, analysis)


def liked(prob: str, *, analysis: str = "likes it") -> str:
    """A well-formed like answer whose ``<like>`` section holds ``prob`` verbatim."""
    return _answer("like", prob, analysis)
