# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Strict readers for the two inputs of the evaluation: a prepared-sample parquet and a generations JSON-lines file.

Both are joined on ``extra_info.index``. Nothing here joins silently: an index in the generations that is not in the
data, a data row without generations, a duplicated ``(index, sample)`` pair, samples that are not ``0..K-1`` for every
row, or a generation whose ``user_id`` / ``item_id`` differ from its data row's (generations made for another file)
raise :class:`EvaluationInputError` naming the first offenders. A test set is recognised by
:func:`targets_fingerprint`, a hash of its ``(index, source, user, item, truth, scale)`` rows (plus the task, the
candidates or the like threshold of ranking and like rows).

A row's target is read through the contract (:mod:`reczero_verl.contract`, ``extra_info.task``; absent: rating) and
the reward's readers of each task's truth: a rating inside the row's scale, the target's candidate number among
``extra_info.candidates`` (ranking) or a 0/1 label (like).
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

from reczero_verl.contract import check_in_scale, row_truth
from reczero_verl.errors import BadInputError
from reczero_verl.template import TASKS

__all__ = [
    "EvaluationInputError",
    "TARGET_COLUMNS",
    "IDENTITY_COLUMNS",
    "TASK_IDENTITY_COLUMNS",
    "target_tasks",
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
    "load_events",
    "first_few",
]

#: Columns of the frame :func:`load_targets` returns (one row per target interaction). ``truth`` is the task's ground
#: truth (the rating, the target's 1-based candidate number, the 0/1 like label); ``rating`` is the same number on
#: rating rows and NaN on the others (their ground truth is no rating). ``n_candidates`` and ``candidates`` (a tuple of
#: item ids in the order shown) are set on ranking rows, ``like_threshold`` on like rows of explicit ratings;
#: ``history_length`` is the number of entries of the row's ``user_history`` (None when the file has no such column).
TARGET_COLUMNS: tuple[str, ...] = (
    "index",
    "data_source",
    "user_id",
    "item_id",
    "timestamp",
    "rating",
    "rating_min",
    "rating_max",
    "task",
    "truth",
    "n_candidates",
    "candidates",
    "like_threshold",
    "history_length",
)

#: The columns that identify a rating test set: two files with the same rows here hold the same targets.
IDENTITY_COLUMNS: tuple[str, ...] = ("index", "data_source", "user_id", "item_id", "rating", "rating_min", "rating_max")
#: What else identifies the targets of a file with ranking or like rows.
TASK_IDENTITY_COLUMNS: tuple[str, ...] = ("task", "truth", "candidates", "like_threshold")

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


def _history_length(value: Any) -> int:
    """The number of entries of one ``user_history`` cell (0 for a null one)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0
    return len(value)


def targets_from_frame(frame: pd.DataFrame, path: str = "<frame>") -> pd.DataFrame:
    """Extract the target of every prepared sample (see :data:`TARGET_COLUMNS`).

    ``frame`` has the columns of the prepared-sample contract (``data_source``, ``reward_model``, ``extra_info``;
    ``history_length``, or ``user_history`` to count, when present gives ``history_length``). Raises
    :class:`EvaluationInputError` naming ``path`` and the row for a missing column, an unknown task, a ground truth
    that is not a truth of its task (a rating outside the row's scale, a candidate number out of range, a like label
    other than 0/1), an invalid scale or a duplicated
    ``extra_info.index``.
    """
    for column in ("data_source", "reward_model", "extra_info"):
        if column not in frame.columns:
            raise EvaluationInputError(f"{path}: missing column {column!r} (is it a `reczero-verl prepare` output?)")
    if "history_length" in frame.columns:
        lengths = [int(n) for n in frame["history_length"]]
    elif "user_history" in frame.columns:
        lengths = [_history_length(h) for h in frame["user_history"]]
    else:
        lengths = [None] * len(frame)
    records = []
    for row, (source, reward_model, extra, history_length) in enumerate(
        zip(frame["data_source"], frame["reward_model"], frame["extra_info"], lengths, strict=True)
    ):
        reward_model = _as_mapping(reward_model, "reward_model", row, path)
        extra = _as_mapping(extra, "extra_info", row, path)
        index = extra.get("index")
        if not _is_integer(index):
            raise EvaluationInputError(f"{path}: row {row}: extra_info.index is not an integer: {index!r}")
        try:
            t = row_truth(reward_model.get("ground_truth"), extra)
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
                t.truth if t.task == "rating" else math.nan,
                t.rating_min,
                t.rating_max,
                t.task,
                t.truth,
                t.n_candidates,
                t.candidates,
                t.like_threshold,
                history_length,
            )
        )
    targets = pd.DataFrame.from_records(records, columns=list(TARGET_COLUMNS))
    duplicated = targets.loc[targets["index"].duplicated(keep=False), "index"].unique()
    if len(duplicated):
        raise EvaluationInputError(f"{path}: duplicated extra_info.index values: {first_few(sorted(duplicated))}")
    return targets


def target_tasks(targets: pd.DataFrame) -> list[str]:
    """The tasks of ``targets`` in the order of :data:`reczero_verl.template.TASKS`."""
    present = set(targets["task"]) if "task" in targets.columns else {"rating"}
    return [task for task in TASKS if task in present]


def _is_integer(value: Any) -> bool:
    """True for an int or an integral float (parquet may store an index as a float), never for a bool."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | np.integer):
        return True
    return isinstance(value, float | np.floating) and math.isfinite(value) and float(value).is_integer()


def load_targets(path: str | Path) -> pd.DataFrame:
    """Read the targets of a prepared-sample parquet (see :func:`targets_from_frame`), sorted by index."""
    import pyarrow.parquet as pq

    frame = read_parquet(path, ["data_source", "reward_model", "extra_info"])
    if "user_history" in pq.read_schema(path).names:
        frame["history_length"] = _history_lengths(path)
    return targets_from_frame(frame, str(path)).sort_values("index", kind="stable").reset_index(drop=True)


def _history_lengths(path: str | Path) -> np.ndarray:
    """The number of ``user_history`` entries of every row (0 for a null history), counted by Arrow: the histories
    themselves are never converted to Python objects."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    column = pq.read_table(path, columns=["user_history"]).column("user_history")
    return pc.fill_null(pc.list_value_length(column), 0).to_numpy().astype(np.int64)


def _identity(row: Any) -> list[Any]:
    """The identity of one target (see :func:`targets_fingerprint`)."""
    task = getattr(row, "task", "rating")
    truth = row.rating if task == "rating" else row.truth
    out = [int(row.index), str(row.data_source), row.user_id, row.item_id, float(truth)]
    out += [float(row.rating_min), float(row.rating_max)]
    if task == "ranking":
        out += [task, [str(c) for c in row.candidates]]
    elif task == "like":
        out += [task, None if _missing(row.like_threshold) else float(row.like_threshold)]
    return out


def _missing(value: Any) -> bool:
    """None or NaN: a nullable field left empty."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def targets_fingerprint(targets: pd.DataFrame) -> str:
    """SHA-256 of the targets in index order: equal iff the test sets are equal.

    A rating row counts by its :data:`IDENTITY_COLUMNS` (the fingerprint of a rating test set is the one of earlier
    versions); a ranking row adds its task and candidates (in the order shown), a like row its task and threshold.
    """
    rows = targets.sort_values("index", kind="stable")
    canonical = json.dumps(
        [_identity(r) for r in rows.itertuples(index=False)], separators=(",", ":"), ensure_ascii=True
    )
    return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 of a file's bytes: the same content under any path has the same fingerprint."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _plain(value: Any) -> Any:
    """A cell as a plain Python value: numpy scalars unwrapped, sequences (candidates) as tuples of strings."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple | np.ndarray):
        return tuple(str(v) for v in value)
    return value


def first_target_difference(ours: pd.DataFrame, theirs: pd.DataFrame, ours_name: str, theirs_name: str) -> str:
    """Describe the first ``extra_info.index`` at which two target frames differ (their :data:`IDENTITY_COLUMNS`,
    and the :data:`TASK_IDENTITY_COLUMNS` both have)."""
    a = ours.set_index("index")
    b = theirs.set_index("index")
    columns = [*IDENTITY_COLUMNS[1:], *(c for c in TASK_IDENTITY_COLUMNS if c in a.columns and c in b.columns)]
    for index in sorted(set(a.index) | set(b.index)):
        if index not in b.index:
            return f"extra_info.index {index} is in {ours_name} only"
        if index not in a.index:
            return f"extra_info.index {index} is in {theirs_name} only"
        for column in columns:
            x, y = (_plain(v) for v in (a.at[index, column], b.at[index, column]))
            if x != y and not (_missing(x) and _missing(y)):
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


_INTERACTION_COLUMNS = ["data_source", "user_id", "item_id", "timestamp", "rating", "liked"]


def _like_of(rating: float, threshold: float | None) -> float:
    """The like label of a history entry of a like row: ``rating >= threshold``, or the rating itself when the row has
    no threshold (a 0/1 log); ``ValueError`` for a rating that is then not 0 or 1."""
    if threshold is not None:
        return 1.0 if rating >= threshold else 0.0
    if rating not in (0.0, 1.0):
        raise ValueError(f"history rating {rating:g} of a like row without like_threshold is not a 0/1 label")
    return float(rating)


def _visible(path: Path, include_targets: bool, include_histories: bool) -> pd.DataFrame:
    """Every interaction of a prepared parquet as ``data_source, user_id, item_id, timestamp, rating, liked`` (not yet
    de-duplicated). ``rating`` is NaN where the row states none (the target of a ranking or like row); ``liked`` is
    the 0/1 label of a like row's target and history entries, NaN elsewhere."""
    columns = ["data_source", "reward_model", "extra_info"]
    if include_histories:
        columns += ["user_history", "item_history"]
    frame = read_parquet(path, columns)
    targets = targets_from_frame(frame, str(path))
    if include_histories:
        _check_history_scales(frame, targets, path)
    rows: list[tuple[str, str | None, str | None, int | None, float, float]] = []
    for pos, target in enumerate(targets.itertuples(index=False)):
        is_like = target.task == "like"
        threshold = None if _missing(target.like_threshold) else float(target.like_threshold)
        if include_targets:
            liked = target.truth if is_like else math.nan
            rows.append((target.data_source, target.user_id, target.item_id, target.timestamp, target.rating, liked))
        if not include_histories:
            continue
        entries = [
            (target.user_id, entry.get("item_id"), entry) for entry in _history_records(frame["user_history"].iat[pos])
        ]
        entries += [
            (entry.get("user_id"), target.item_id, entry) for entry in _history_records(frame["item_history"].iat[pos])
        ]
        for user, item, entry in entries:
            rating = float(entry["rating"])
            try:
                liked = _like_of(rating, threshold) if is_like else math.nan
            except ValueError as err:
                raise EvaluationInputError(f"{path}: row {pos} (extra_info.index {target.index}): {err}") from None
            rows.append((target.data_source, user, item, entry.get("timestamp"), rating, liked))
    out = pd.DataFrame.from_records(rows, columns=_INTERACTION_COLUMNS)
    if (out["user_id"].isna() | out["item_id"].isna()).any():
        n = int((out["user_id"].isna() | out["item_id"].isna()).sum())
        raise EvaluationInputError(f"{path}: {n} interaction(s) without a user id or an item id")
    out["rating"] = out["rating"].astype(float)
    out["liked"] = out["liked"].astype(float)
    out["timestamp"] = out["timestamp"].astype("Int64")
    return out


def load_interactions(path: str | Path, *, include_targets: bool, include_histories: bool) -> pd.DataFrame:
    """Every (user, item, rating, timestamp) interaction visible in a prepared parquet, one row each, de-duplicated.

    ``include_targets`` adds each rating row's target (``extra_info`` + ``reward_model.ground_truth``; the target of a
    ranking or like row carries no rating); ``include_histories`` adds the entries of ``user_history`` (the row's user
    with the entry's item) and ``item_history`` (the entry's user with the row's item). The same interaction appears in
    the histories of many rows, so rows are de-duplicated on ``(data_source, user_id, item_id, timestamp, rating)``.
    Columns: ``data_source, user_id, item_id, timestamp, rating``.
    """
    out = _visible(Path(path), include_targets, include_histories)
    out = out.loc[np.isfinite(out["rating"].to_numpy()), _INTERACTION_COLUMNS[:5]]
    return out.drop_duplicates(ignore_index=True)


def load_events(path: str | Path, *, include_targets: bool, include_histories: bool) -> pd.DataFrame:
    """Every (user, item, timestamp) event visible in a prepared parquet, whatever its task, one row per event.

    The implicit-feedback view of :func:`load_interactions` (same ``include_*`` choices) for the ranking and like
    baselines: the targets of every row (ranking and like targets included) and the history entries. Events are
    de-duplicated on ``(data_source, user_id, item_id, timestamp)``; ``liked`` is the event's 0/1 label where a like
    row states it (its target's label; ``rating >= like_threshold`` for its history entries), NaN elsewhere.
    Columns: ``data_source, user_id, item_id, timestamp, liked``.
    """
    out = _visible(Path(path), include_targets, include_histories)
    key = ["data_source", "user_id", "item_id", "timestamp"]
    # groupby's "first" takes the first known label of an event seen several times (NaN only when none is known).
    events = out.groupby(key, sort=False, dropna=False, as_index=False)["liked"].first()
    return events[[*key, "liked"]]
