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
"""Strict readers for the two inputs of the evaluation: a prepared-sample parquet and a generations JSON-lines file.

Both are joined on ``extra_info.index``. Nothing here joins silently: an index in the generations that is not in the
data, a data row without generations, a duplicated ``(index, sample)`` pair or samples that are not ``0..K-1`` for every
row raise :class:`EvaluationInputError` naming the first offenders.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reczero_verl.reward import parse_ground_truth, rating_scale

__all__ = [
    "EvaluationInputError",
    "TARGET_COLUMNS",
    "load_targets",
    "targets_from_frame",
    "read_generations",
    "check_alignment",
    "load_interactions",
    "first_few",
]

#: Columns of the frame :func:`load_targets` returns (one row per target interaction).
TARGET_COLUMNS: tuple[str, ...] = (
    "index",
    "data_source",
    "user_id",
    "item_id",
    "timestamp",
    "rating",
    "rating_min",
    "rating_max",
)

_SHOW = 5


class EvaluationInputError(ValueError):
    """An input file does not match what the evaluation needs (missing, extra, duplicated or malformed rows)."""


def first_few(values: Iterable[Any], n: int = _SHOW) -> str:
    """``"a, b, c (and 7 more)"``: the first ``n`` of ``values``, for error messages."""
    values = list(values)
    head = ", ".join(str(v) for v in values[:n])
    return head + (f" (and {len(values) - n} more)" if len(values) > n else "")


def _as_mapping(value: Any, field: str, row: int, path: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise EvaluationInputError(f"{path}: row {row}: field {field!r} is not a struct (got {type(value).__name__})")


def targets_from_frame(frame: pd.DataFrame, path: str = "<frame>") -> pd.DataFrame:
    """Extract the target of every prepared sample: index, data source, user, item, time, true rating and scale.

    ``frame`` has the columns of the prepared-sample contract (``data_source``, ``reward_model``, ``extra_info``).
    Raises :class:`EvaluationInputError` naming ``path`` and the row for a missing column, a non-numeric ground
    truth, an invalid scale or a duplicated ``extra_info.index``.
    """
    for column in ("data_source", "reward_model", "extra_info"):
        if column not in frame.columns:
            raise EvaluationInputError(f"{path}: missing column {column!r} (is it a `reczero-verl prepare` output?)")
    records = []
    for row, (source, reward_model, extra) in enumerate(
        zip(frame["data_source"], frame["reward_model"], frame["extra_info"], strict=True)
    ):
        reward_model = _as_mapping(reward_model, "reward_model", row, path)
        extra = _as_mapping(extra, "extra_info", row, path)
        try:
            rating = parse_ground_truth(reward_model.get("ground_truth"))
            lo, hi = rating_scale(extra)
        except ValueError as err:
            raise EvaluationInputError(f"{path}: row {row}: {err}") from None
        index = extra.get("index")
        if index is None or isinstance(index, bool) or int(index) != index:
            raise EvaluationInputError(f"{path}: row {row}: extra_info.index is not an integer: {index!r}")
        timestamp = extra.get("timestamp")
        records.append(
            (
                int(index),
                str(source),
                None if extra.get("user_id") is None else str(extra["user_id"]),
                None if extra.get("item_id") is None else str(extra["item_id"]),
                None if timestamp is None else int(timestamp),
                rating,
                lo,
                hi,
            )
        )
    targets = pd.DataFrame.from_records(records, columns=list(TARGET_COLUMNS))
    duplicated = targets.loc[targets["index"].duplicated(keep=False), "index"].unique()
    if len(duplicated):
        raise EvaluationInputError(f"{path}: duplicated extra_info.index values: {first_few(sorted(duplicated))}")
    return targets


def load_targets(path: str | Path) -> pd.DataFrame:
    """Read the targets of a prepared-sample parquet (see :func:`targets_from_frame`), sorted by index."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationInputError(f"{path}: no such file")
    frame = pd.read_parquet(path, columns=["data_source", "reward_model", "extra_info"])
    return targets_from_frame(frame, str(path)).sort_values("index", kind="stable").reset_index(drop=True)


def _check_record(obj: Any, line_no: int, path: str) -> str | None:
    """Why a parsed generation line is malformed, or None when it is fine."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    for key in ("index", "sample"):
        value = obj.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{key!r} is not an integer"
    if obj["sample"] < 0:
        return "'sample' is negative"
    if not isinstance(obj.get("response"), str):
        return "'response' is not a string"
    if not isinstance(obj.get("prefix", ""), str):
        return "'prefix' is not a string"
    return None


def read_generations(path: str | Path) -> list[dict[str, Any]]:
    """Read a generations JSON-lines file: one object per sample with ``index``, ``sample``, ``response``.

    Optional keys: ``prefix`` (text the chat template pre-filled, prepended before scoring),
    ``rating_logits_expected`` and ``rating_logits_probs`` (written by ``generate --rating-logits``). Blank lines are
    skipped; any malformed line raises :class:`EvaluationInputError` naming its line numbers (a malformed line is a
    sample whose answer we cannot know, so it can be neither scored nor dropped).
    """
    path = Path(path)
    if not path.is_file():
        raise EvaluationInputError(f"{path}: no such file")
    records: list[dict[str, Any]] = []
    bad: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                bad.append(f"line {line_no} ({err.msg})")
                continue
            problem = _check_record(obj, line_no, str(path))
            if problem:
                bad.append(f"line {line_no} ({problem})")
                continue
            records.append(obj)
    if bad:
        raise EvaluationInputError(f"{path}: {len(bad)} malformed line(s): {first_few(bad)}")
    return records


def check_alignment(target_index: Sequence[int], pairs: Sequence[tuple[int, int]], where: str = "generations") -> int:
    """Check that ``pairs`` (``(index, sample)``) cover every target exactly with samples ``0..K-1``; return K.

    Raises :class:`EvaluationInputError` naming the first offenders for: an empty file, duplicated pairs, indices not
    in the data, data rows without any sample, and rows whose samples are not exactly ``0..K-1`` with the same K.
    """
    if not pairs:
        raise EvaluationInputError(f"{where}: no generations")
    pair_series = pd.Series(list(pairs))
    duplicated = pair_series[pair_series.duplicated()].unique().tolist()
    if duplicated:
        raise EvaluationInputError(
            f"{where}: {len(duplicated)} duplicated (index, sample) pair(s): {first_few(sorted(duplicated))}"
        )
    known = set(int(i) for i in target_index)
    by_index: dict[int, list[int]] = {}
    for index, sample in pairs:
        by_index.setdefault(int(index), []).append(int(sample))
    extra = sorted(set(by_index) - known)
    if extra:
        raise EvaluationInputError(
            f"{where}: {len(extra)} index value(s) not in the data: {first_few(extra)} (wrong --data file?)"
        )
    missing = sorted(known - set(by_index))
    if missing:
        raise EvaluationInputError(
            f"{where}: {len(missing)} data row(s) without any generation, extra_info.index: {first_few(missing)} "
            "(rerun `reczero-verl generate` with the same --output to complete it)"
        )
    k = max(len(s) for s in by_index.values())
    ragged = sorted(i for i, s in by_index.items() if sorted(s) != list(range(k)))
    if ragged:
        examples = [f"{i}: samples {sorted(by_index[i])}" for i in ragged]
        raise EvaluationInputError(
            f"{where}: {len(ragged)} row(s) do not have exactly samples 0..{k - 1}: {first_few(examples)} "
            "(rerun `reczero-verl generate` with the same --output and --n to complete it)"
        )
    return k


def _history_records(entries: Any) -> list[dict[str, Any]]:
    if entries is None or (isinstance(entries, float) and math.isnan(entries)):
        return []
    return [e for e in entries if isinstance(e, dict)]


def load_interactions(path: str | Path, *, include_targets: bool, include_histories: bool) -> pd.DataFrame:
    """Every (user, item, rating, timestamp) interaction visible in a prepared parquet, one row each, de-duplicated.

    ``include_targets`` adds each row's target (``extra_info`` + ``reward_model.ground_truth``); ``include_histories``
    adds the entries of ``user_history`` (the row's user with the entry's item) and ``item_history`` (the entry's user
    with the row's item). The same interaction appears in the histories of many rows, so rows are de-duplicated on
    ``(data_source, user_id, item_id, timestamp, rating)``. Columns: ``data_source, user_id, item_id, timestamp,
    rating``.
    """
    path = Path(path)
    columns = ["data_source", "reward_model", "extra_info"]
    if include_histories:
        columns += ["user_history", "item_history"]
    frame = pd.read_parquet(path, columns=columns)
    targets = targets_from_frame(frame, str(path))
    rows: list[tuple[str, str | None, str | None, int | None, float]] = []
    for pos, target in enumerate(targets.itertuples(index=False)):
        if include_targets:
            rows.append((target.data_source, target.user_id, target.item_id, target.timestamp, target.rating))
        if include_histories:
            for entry in _history_records(frame["user_history"].iat[pos]):
                rows.append(
                    (target.data_source, target.user_id, entry.get("item_id"), entry.get("timestamp"), entry["rating"])
                )
            for entry in _history_records(frame["item_history"].iat[pos]):
                rows.append(
                    (target.data_source, entry.get("user_id"), target.item_id, entry.get("timestamp"), entry["rating"])
                )
    out = pd.DataFrame.from_records(rows, columns=["data_source", "user_id", "item_id", "timestamp", "rating"])
    bad = out["user_id"].isna() | out["item_id"].isna() | ~np.isfinite(out["rating"].astype(float))
    if bad.any():
        raise EvaluationInputError(
            f"{path}: {int(bad.sum())} interaction(s) without a user id, an item id or a finite rating"
        )
    out["rating"] = out["rating"].astype(float)
    out["timestamp"] = out["timestamp"].astype("Int64")
    return out.drop_duplicates(ignore_index=True)
