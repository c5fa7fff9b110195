# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Strict readers for the two inputs of the evaluation: a prepared-sample parquet and a generations JSON-lines file.

Both are joined on ``extra_info.index``. Nothing here joins silently: an index in the generations that is not in the
data, a data row without generations, a duplicated ``(index, sample)`` pair, samples that are not ``0..K-1`` for every
row, or a generation whose ``user_id`` / ``item_id`` differ from its data row's (generations made for another file)
raise :class:`EvaluationInputError` naming the first offenders. A test set is recognised by
:func:`targets_fingerprint`, a hash of its ``(index, source, user, item, rating, scale)`` rows.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reczero_verl.contract import rating_scale
from reczero_verl.errors import BadInputError
from reczero_verl.reward import check_in_scale, parse_ground_truth

__all__ = [
    "EvaluationInputError",
    "TARGET_COLUMNS",
    "IDENTITY_COLUMNS",
    "read_parquet",
    "load_targets",
    "targets_from_frame",
    "targets_fingerprint",
    "file_fingerprint",
    "first_target_difference",
    "read_generations",
    "check_record",
    "check_identity",
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

#: The columns that identify a test set: two files with the same rows here hold the same targets.
IDENTITY_COLUMNS: tuple[str, ...] = ("index", "data_source", "user_id", "item_id", "rating", "rating_min", "rating_max")

_SHOW = 5
_PREPARED_HINT = "pass a parquet file written by `reczero-verl prepare`"


class EvaluationInputError(BadInputError):
    """An input file does not match what the evaluation needs (missing, extra, duplicated, foreign or malformed
    rows, a file that is not parquet); the command exits with code 2 and this one-line message."""


def _short(err: BaseException) -> str:
    """The first line of an exception's message (pyarrow's messages run over several lines)."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def read_parquet(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read ``columns`` of the parquet file ``path``; :class:`EvaluationInputError` naming the file and the fix for a
    missing file, a folder, a file that is not parquet, or missing columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise EvaluationInputError(f"{path}: no such file; {_PREPARED_HINT}")
    if not path.is_file():
        raise EvaluationInputError(f"{path} is a folder, not a parquet file; {_PREPARED_HINT}")
    try:
        names = set(pq.read_schema(path).names)
    except (OSError, pa.ArrowException) as err:
        raise EvaluationInputError(f"{path} is not a parquet file ({_short(err)}); {_PREPARED_HINT}") from None
    missing = [c for c in columns or () if c not in names]
    if missing:
        raise EvaluationInputError(f"{path}: missing column(s) {missing}; {_PREPARED_HINT}")
    try:
        return pd.read_parquet(path, columns=None if columns is None else list(columns))
    except (OSError, pa.ArrowException) as err:
        raise EvaluationInputError(f"{path} cannot be read as parquet ({_short(err)}); {_PREPARED_HINT}") from None


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
    truth, a ground truth outside the row's scale, an invalid scale or a duplicated ``extra_info.index``.
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
        index = extra.get("index")
        if not _is_integer(index):
            raise EvaluationInputError(f"{path}: row {row}: extra_info.index is not an integer: {index!r}")
        try:
            lo, hi = rating_scale(extra)
            rating = check_in_scale(parse_ground_truth(reward_model.get("ground_truth")), lo, hi)
        except ValueError as err:
            raise EvaluationInputError(f"{path}: row {row} (extra_info.index {int(index)}): {err}") from None
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


def _is_integer(value: Any) -> bool:
    """True for an int or an integral float (parquet may store an index as a float), never for a bool."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | np.integer):
        return True
    return isinstance(value, float | np.floating) and math.isfinite(value) and float(value).is_integer()


def load_targets(path: str | Path) -> pd.DataFrame:
    """Read the targets of a prepared-sample parquet (see :func:`targets_from_frame`), sorted by index."""
    frame = read_parquet(path, ["data_source", "reward_model", "extra_info"])
    return targets_from_frame(frame, str(path)).sort_values("index", kind="stable").reset_index(drop=True)


def targets_fingerprint(targets: pd.DataFrame) -> str:
    """SHA-256 of the :data:`IDENTITY_COLUMNS` of ``targets`` in index order: equal iff the test sets are equal."""
    rows = targets.sort_values("index", kind="stable")[list(IDENTITY_COLUMNS)]
    canonical = json.dumps(
        [[int(r[0]), str(r[1]), r[2], r[3], float(r[4]), float(r[5]), float(r[6])] for r in rows.itertuples(False)],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 of a file's bytes: the same content under any path has the same fingerprint."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def first_target_difference(ours: pd.DataFrame, theirs: pd.DataFrame, ours_name: str, theirs_name: str) -> str:
    """Describe the first ``extra_info.index`` at which two target frames (:data:`IDENTITY_COLUMNS`) differ."""
    a = ours.set_index("index")
    b = theirs.set_index("index")
    for index in sorted(set(a.index) | set(b.index)):
        if index not in b.index:
            return f"extra_info.index {index} is in {ours_name} only"
        if index not in a.index:
            return f"extra_info.index {index} is in {theirs_name} only"
        for column in IDENTITY_COLUMNS[1:]:
            x, y = (v.item() if isinstance(v, np.generic) else v for v in (a.at[index, column], b.at[index, column]))
            if x != y and not (pd.isna(x) and pd.isna(y)):
                return f"extra_info.index {index}: {column} {x!r} in {ours_name}, {y!r} in {theirs_name}"
    return "no row differs"


_ID_KEYS = ("user_id", "item_id")


def _finite_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def check_record(obj: Any) -> str | None:
    """Why a parsed generation line is malformed, or None when it is fine.

    Required: ``index`` and ``sample`` (integers, ``sample >= 0``) and ``response`` (a string). Optional, checked
    when present: ``user_id`` / ``item_id`` (string or null), ``prefix`` (string), ``rating_logits_expected`` (a
    finite number or null) and ``rating_logits_probs`` (an object of finite numbers).
    """
    if not isinstance(obj, dict):
        return "not a JSON object"
    for key in ("index", "sample"):
        value = obj.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{key!r} is not an integer: {value!r:.40}"
    if obj["sample"] < 0:
        return "'sample' is negative"
    if not isinstance(obj.get("response"), str):
        return "'response' is not a string"
    if not isinstance(obj.get("prefix", ""), str):
        return "'prefix' is not a string"
    for key in _ID_KEYS:
        if key in obj and obj[key] is not None and not isinstance(obj[key], str):
            return f"{key!r} is not a string: {obj[key]!r:.40}"
    expected = obj.get("rating_logits_expected")
    if expected is not None and not _finite_number(expected):
        return f"'rating_logits_expected' is not a finite number: {expected!r:.40}"
    probs = obj.get("rating_logits_probs")
    if probs is not None and not (isinstance(probs, dict) and all(_finite_number(v) for v in probs.values())):
        return "'rating_logits_probs' is not an object of finite numbers"
    return None


def read_generations(path: str | Path) -> list[dict[str, Any]]:
    """Read a generations JSON-lines file: one object per sample with ``index``, ``sample``, ``response``.

    Optional keys: ``user_id`` / ``item_id`` (the data row the sample was generated for, see :func:`check_identity`),
    ``prefix`` (text the chat template pre-filled, prepended before scoring), ``rating_logits_expected`` and
    ``rating_logits_probs`` (written by ``generate --rating-logits``). Blank lines are skipped; any malformed line
    (see :func:`check_record`) raises :class:`EvaluationInputError` naming its line numbers (a malformed line is a
    sample whose answer we cannot know, so it can be neither scored nor dropped).
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "no such file"
        raise EvaluationInputError(f"{path}: {what}; pass the JSON lines written by `reczero-verl generate`")
    records: list[dict[str, Any]] = []
    bad: list[str] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line, parse_constant=_reject_constant)
            except (json.JSONDecodeError, ValueError) as err:
                bad.append(f"line {line_no} ({getattr(err, 'msg', err)})")
                continue
            problem = check_record(obj)
            if problem:
                bad.append(f"line {line_no} ({problem})")
                continue
            records.append(obj)
    if bad:
        raise EvaluationInputError(f"{path}: {len(bad)} malformed line(s): {first_few(bad)}")
    return records


def _reject_constant(name: str) -> Any:
    """``json.loads`` hook: NaN and Infinity are not JSON numbers."""
    raise ValueError(f"{name} is not a JSON number")


def check_identity(
    targets: pd.DataFrame, records: Sequence[dict[str, Any]], where: str, data: str, *, index_only: bool = False
) -> int:
    """Check that every generation was made for its data row: same ``user_id`` and ``item_id`` at its index.

    Records without the two keys (files of an older ``generate``) are refused unless ``index_only``; returns how
    many were accepted that way. A record whose ids differ from its row's raises :class:`EvaluationInputError`
    naming the first differing index: the generations were made for another data file.
    """
    by_index = targets.set_index("index")[list(_ID_KEYS)]
    expected_ids = dict(zip(by_index.index, zip(by_index["user_id"], by_index["item_id"], strict=True), strict=True))
    with_ids = [r for r in records if all(k in r for k in _ID_KEYS)]
    legacy = len(records) - len(with_ids)
    if legacy and not index_only:
        raise EvaluationInputError(
            f"{where}: {legacy} generation line(s) carry no user_id / item_id (written by an older "
            f"`reczero-verl generate`), so they cannot be checked against {data}: regenerate them into a new "
            "--output, or pass --index-only if you are sure they were made for this --data file"
        )
    mismatched = []
    for record in with_ids:
        expected = expected_ids.get(record["index"])
        got = (record["user_id"], record["item_id"])
        if expected is not None and got != expected:
            mismatched.append((record["index"], record["sample"], got, expected))
    if mismatched:
        index, sample, got, expected = min(mismatched)
        raise EvaluationInputError(
            f"{where} was made for another data file than {data}: {len(mismatched)} sample(s) name another "
            f"user/item than their data row; first at extra_info.index {index} (sample {sample}): generations "
            f"user_id={got[0]!r} item_id={got[1]!r}, data user_id={expected[0]!r} item_id={expected[1]!r}. "
            "Evaluate against the --data file the generations were made for"
        )
    return legacy


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


def _check_history_scales(frame: pd.DataFrame, targets: pd.DataFrame, path: Path) -> None:
    """Refuse a history entry whose rating is not a number inside its row's scale (a data error), naming the row."""
    for pos, target in enumerate(targets.itertuples(index=False)):
        for column in ("user_history", "item_history"):
            for entry in _history_records(frame[column].iat[pos]):
                rating = entry.get("rating")
                if not _finite_number(rating):
                    problem = f"rating is not a finite number: {rating!r}"
                else:
                    try:
                        check_in_scale(float(rating), target.rating_min, target.rating_max, "rating")
                        continue
                    except ValueError as err:
                        problem = str(err)
                raise EvaluationInputError(
                    f"{path}: row {pos} (extra_info.index {target.index}): {column} entry {problem}"
                )


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
    frame = read_parquet(path, columns)
    targets = targets_from_frame(frame, str(path))
    if include_histories:
        _check_history_scales(frame, targets, path)
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
