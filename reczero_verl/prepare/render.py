# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The prepared-sample parquet contract: its arrow schema, text budgets, row rendering and deterministic writing.

Text is neutralised (:mod:`.sanitize`) and clipped with :func:`reczero_verl.template.clip_text` (whitespace collapsed,
cut on code-point boundaries, an ellipsis marking the cut) to the per-field budgets of :class:`TextBudgets`, and the
``prompt`` column is :func:`reczero_verl.template.build_messages` of the very row that is written, so prompt and
columns never disagree.

Two ways to the same bytes: :func:`build_row` renders one target record in Python (EXP3RT files, and the reference
of the tests); :func:`render_chunk` renders a chunk of targets column-wise with pyarrow from texts rendered once per
interaction and item (:func:`render_texts`, :func:`render_ids`), which is what ``prepare`` does at scale.
:func:`write_samples` writes either, in row groups of :data:`ROW_GROUP_ROWS` rows whatever the chunking.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reczero_verl.contract import (
    ABILITIES,
    CANDIDATES_TYPE,
    DEFAULT_TASK,
    EXTRA_INFO_TYPE,
    ITEM_FIELDS,
    ITEM_HISTORY_TYPE,
    PROMPT_TYPE,
    REWARD_TYPE,
    SAMPLE_SCHEMA,
    TARGET_ITEM_TYPE,
    USER_HISTORY_TYPE,
)
from reczero_verl.template import QUESTIONS, build_messages, clip_text, format_rating, system_prompt

from .sanitize import _SUSPECT, KINDS, TextCleaner, neutralise
from .tasks import TaskConfig, like_label

#: The default task: rating prediction, as every release before issue 12 wrote it.
RATING_TASK = TaskConfig()


@dataclass(frozen=True)
class TextBudgets:
    """Character budgets of the text fields (after whitespace is collapsed; ``…`` marks a cut).

    Defaults: a history review 300 (the public Reason4Rec/RecZero scripts keep 400 for the user's reviews; 300 keeps
    20 reviews near 1.5k tokens), a title 200, categories / brand 200 / 100, description, features and details 500
    each, an EXP3RT profile 2000 (those profiles are about 600-1,200 characters: effectively unclipped), and 100 for
    each text field of a ranking candidate but its title (the title budget applies): twenty candidates with their
    full descriptions would dwarf the user's history.
    """

    review: int = 300
    title: int = 200
    categories: int = 200
    brand: int = 100
    description: int = 500
    features: int = 500
    details: int = 500
    profile: int = 2000
    candidate: int = 100

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


def _item_texts(
    cleaner: TextCleaner, raw: Mapping[str, Any], budgets: TextBudgets, field_budget: int | None
) -> dict[str, str | None]:
    """An item's stored text fields (neutralised and clipped): each field's own budget, or ``field_budget`` for every
    field but the title (the candidates of a ranking prompt)."""
    out: dict[str, Any] = {}
    for name in ITEM_FIELDS:
        budget = budgets.item_field(name) if field_budget is None or name == "title" else field_budget
        out[name] = _text(cleaner, raw.get(name), name, budget)
    return out


def _ground_truth(target: Mapping[str, Any], task: TaskConfig, candidate_ids: Sequence[str] | None) -> float:
    """The ``reward_model.ground_truth`` of a target: the rating, the like label (``target["label"]`` from a 0/1
    column, else rating >= threshold), or the target's 1-based candidate number."""
    if task.name == "like":
        if task.label_column:
            return float(target["label"])
        assert task.like_threshold is not None
        return like_label(target["rating"], task.like_threshold)
    if task.name == "ranking":
        assert candidate_ids is not None
        hits = [n for n, item in enumerate(candidate_ids, start=1) if item == str(target["item_id"])]
        if len(hits) != 1:
            raise ValueError(f"the target {target['item_id']!r} is {len(hits)} times among its candidates, not once")
        return float(hits[0])
    return float(target["rating"])


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
    task: TaskConfig = RATING_TASK,
) -> dict[str, Any]:
    """One contract row from a target record.

    ``target`` has ``user_id, item_id, rating, timestamp`` (seconds or ``None``), ``user_history`` (oldest first:
    ``item_id, rating, timestamp, title, review``), ``item_history`` (``user_id, rating, timestamp, review``),
    ``target_item`` (item fields; missing ones ``None``), ``user_avg_rating``, ``item_avg_rating``, ``user_profile``,
    ``item_profile``; for ``like`` with a label column, ``label`` (0 or 1); for ``ranking``, ``candidates`` (item
    fields, ``item_id`` and ``avg_rating``, in the order shown, the target among them; its ``target_item``,
    ``item_history`` and ``item_avg_rating`` are not written: the prompt must not single out the target). Every text
    and id is neutralised here (:mod:`.sanitize`; ``cleaner`` counts the rewrites), then clipped: the stored columns
    are what ``RecZeroDataset`` renders prompts from, so they must be clean.
    """
    cleaner = cleaner if cleaner is not None else TextCleaner()
    ranking = task.name == "ranking"
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
        for h in ([] if ranking else (target.get("item_history") or []))
    ]
    user_id, item_id = _id(cleaner, target["user_id"]), _id(cleaner, target["item_id"])
    target_item = None
    if not ranking:
        target_item = {"item_id": item_id, **_item_texts(cleaner, target.get("target_item") or {}, budgets, None)}
    candidates = None
    if ranking:
        candidates = [
            {
                "item_id": _id(cleaner, c["item_id"]),
                **_item_texts(cleaner, c, budgets, budgets.candidate),
                "avg_rating": _num(c.get("avg_rating")),
            }
            for c in target["candidates"]
        ]
    raw_ids = [str(c["item_id"]) for c in target["candidates"]] if ranking else None
    row: dict[str, Any] = {
        "data_source": data_source,
        "ability": ABILITIES[task.name],
        "prompt": None,
        "reward_model": {"style": "rule", "ground_truth": _ground_truth(target, task, raw_ids)},
        "extra_info": {
            "split": split,
            "index": int(index),
            "user_id": user_id,
            "item_id": item_id,
            "timestamp": None if target.get("timestamp") is None else int(target["timestamp"]),
            "rating_min": float(rating_min),
            "rating_max": float(rating_max),
            "task": None if task.name == DEFAULT_TASK else task.name,
            "candidates": None if candidates is None else [c["item_id"] for c in candidates],
            "like_threshold": None if task.like_threshold is None else float(task.like_threshold),
        },
        "user_history": user_history,
        "item_history": item_history,
        "target_item": target_item,
        "user_avg_rating": _num(target.get("user_avg_rating")),
        "item_avg_rating": None if ranking else _num(target.get("item_avg_rating")),
        "user_profile": _text(cleaner, target.get("user_profile"), "profile", budgets.profile),
        "item_profile": None if ranking else _text(cleaner, target.get("item_profile"), "profile", budgets.profile),
        "candidates": candidates,
    }
    row["prompt"] = build_messages(
        row,
        variant="tbr",
        rating_min=rating_min,
        rating_max=rating_max,
        task=task.name,
        like_threshold=task.like_threshold,
    )
    return row


#: Rows per parquet row group. A file of at most this many rows is one row group, byte for byte what writing the whole
#: table at once gives; a longer file is cut here, whatever the chunks it was rendered in, so the bytes depend on the
#: rows only. About 100-250 MB of rendered rows are buffered for one group (history reviews of 300 characters).
ROW_GROUP_ROWS = 16_384


def write_samples(
    rows: Iterable[Mapping[str, Any]] | Iterable[pa.Table], path: Path, row_group_rows: int = ROW_GROUP_ROWS
) -> int:
    """Write rows with :data:`SAMPLE_SCHEMA` into ``path``, deterministically; returns the row count.

    ``rows`` holds row dicts (:func:`build_row`) or tables of rows (:func:`render_chunk`), consumed lazily: at most
    one row group of rows is held. The file appears under its name only when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    writer = _RowGroupWriter(tmp, row_group_rows)
    try:
        for table in _tables(rows, row_group_rows):
            writer.add(table)
        total = writer.close()
    except BaseException:
        writer.abort()
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return total


def _tables(rows: Iterable[Mapping[str, Any]] | Iterable[pa.Table], batch: int) -> Iterator[pa.Table]:
    """``rows`` as tables: tables pass through, row dicts are converted ``batch`` at a time."""
    iterator = iter(rows)
    while True:
        head = list(islice(iterator, 1))
        if not head:
            return
        if isinstance(head[0], pa.Table):
            yield head[0]
            continue
        block = head + list(islice(iterator, batch - 1))
        yield pa.Table.from_pylist(block, schema=SAMPLE_SCHEMA)


class _RowGroupWriter:
    """A zstd parquet writer that emits row groups of exactly ``rows`` rows (the last one shorter), each from one
    contiguous table, so that the bytes never depend on how the input was chunked.

    A row group is encoded and compressed in a background thread (pyarrow releases the GIL) while the caller renders
    the next rows; at most one group is in flight, so memory stays at about two groups."""

    def __init__(self, path: Path, rows: int) -> None:
        if rows < 1:
            raise ValueError(f"row groups need at least one row, got {rows}")
        self.path, self.rows = path, rows
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reczero-parquet")
        self._in_flight: Future[None] | None = None
        self.total = 0
        self.groups = 0

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= self.rows:
            whole = pa.concat_tables(self._pending)
            self._write(whole.slice(0, self.rows))
            rest = whole.slice(self.rows)
            self._pending = [rest] if rest.num_rows else []
            self._pending_rows = rest.num_rows

    def _write(self, table: pa.Table) -> None:
        table = table.combine_chunks()
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, SAMPLE_SCHEMA, compression="zstd")
        self._wait()
        self._in_flight = self._pool.submit(self._writer.write_table, table, row_group_size=self.rows)
        self.total += table.num_rows
        self.groups += 1

    def _wait(self) -> None:
        """Wait for the row group in flight (raising what its write raised)."""
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            in_flight.result()

    def close(self) -> int:
        if self._pending_rows:
            self._write(pa.concat_tables(self._pending))
        elif self._writer is None:  # no row at all: what writing an empty table at once gives
            self._write(pa.Table.from_pylist([], schema=SAMPLE_SCHEMA))
        self._pending = []
        self._wait()
        self._pool.shutdown()
        assert self._writer is not None
        self._writer.close()
        return self.total

    def abort(self) -> None:
        try:
            self._wait()
        except Exception:  # the error being handled is the one to report
            pass
        finally:
            self._pool.shutdown()
            if self._writer is not None:
                self._writer.close()


# ----------------------------------------------------------------------------------------------------------------
# Column-wise rendering of a chunk of targets
# ----------------------------------------------------------------------------------------------------------------

#: The rewrite counts of one rendered text: a row of three ints in :data:`KINDS` order (what :class:`TextCleaner`
#: would have counted for it), stored beside the text so that each written occurrence can be counted.
COUNT_DTYPE = ("i4", (len(KINDS),))


def _rewrites(changes: Counter[str]) -> tuple[int, ...]:
    return tuple(int(changes.get(k, 0)) for k in KINDS)


def render_texts(values: Sequence[Any], budget: int) -> tuple[list[str | None], np.ndarray]:
    """Each value as :func:`build_row` stores a text field (neutralised, then clipped to ``budget``; ``None`` when
    nothing is left), and its rewrite counts (``(n, 3)``, :data:`KINDS` order)."""
    out: list[str | None] = []
    counts = np.zeros((len(values), len(KINDS)), dtype=np.int32)
    for i, value in enumerate(values):
        if value is None:
            out.append(None)
            continue
        text = str(value)
        if _SUSPECT.search(text):
            text, changes = neutralise(text)
            if changes:
                counts[i] = _rewrites(changes)
        out.append(clip_or_none(text, budget))
    return out, counts


def render_ids(values: Sequence[Any]) -> tuple[list[str], np.ndarray]:
    """Each value as :func:`build_row` stores an id (:meth:`TextCleaner.clean_id`), and its rewrite counts."""
    out: list[str] = []
    counts = np.zeros((len(values), len(KINDS)), dtype=np.int32)
    for i, value in enumerate(values):
        raw = str(value)
        if _SUSPECT.search(raw):
            text, changes = neutralise(raw)
            if changes:
                counts[i] = _rewrites(changes)
                raw = text
        out.append(raw)
    return out, counts


def count_rewrites(cleaner: TextCleaner, kind: str, counts: np.ndarray) -> None:
    """Add to ``cleaner`` the rewrites of the written texts of ``kind`` whose counts are the rows of ``counts``
    (one row per written occurrence), as if each had been neutralised by ``cleaner`` itself."""
    changed = counts.any(axis=1)
    n = int(changed.sum())
    if not n:
        return
    per_kind = cleaner.counts.setdefault(kind, Counter())
    per_kind.update({k: int(v) for k, v in zip(KINDS, counts.sum(axis=0), strict=True) if v})
    per_kind["values"] += n


@dataclass(frozen=True)
class Gathered:
    """Rows gathered for a chunk: ``fixed`` (a numpy record array: ``rating``, ``ts`` and ``c_<text>`` rewrite
    counts) and ``texts`` (string arrays), both in the order of the chunk's targets, oldest first per target."""

    fixed: np.ndarray
    texts: Mapping[str, pa.Array]


_NULL_STR = pa.scalar(None, pa.string())


def _const(value: str, n: int) -> pa.Array:
    return pa.array([value] * n, pa.string()) if n else pa.array([], pa.string())


def _cat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation; null where any part is null."""
    return pc.binary_join_element_wise(*parts, "")


def _joined(pieces: Sequence[pa.Array], sep: str, nothing: str) -> list[pa.Array]:
    """Arguments of one concatenation that gives, per row, ``sep.join`` of the pieces that are not null, or
    ``nothing`` when all are null. (``binary_join_element_wise`` with ``null_handling='skip'`` would do the join, but
    in pyarrow 26 it drops the rows where every piece is null.)"""
    args: list[pa.Array] = []
    before = None
    for piece in pieces:
        present = pc.is_valid(piece)
        if before is not None:
            args.append(pc.if_else(pc.and_(before, present), sep, ""))
        args.append(pc.fill_null(piece, ""))
        before = present if before is None else pc.or_(before, present)
    if before is not None:
        args.append(pc.if_else(before, "", nothing))
    return args


def _formatted(values: np.ndarray) -> pa.Array:
    """:func:`format_rating` of each value (computed once per distinct value)."""
    if not len(values):
        return pa.array([], pa.string())
    distinct, inverse = np.unique(values, return_inverse=True)
    return pc.take(pa.array([format_rating(float(v)) for v in distinct], pa.string()), pa.array(inverse.ravel()))


def _optional_rating(prefix: str, values: pa.Array) -> pa.Array:
    """``prefix + format_rating(v)`` where ``v`` is a number, null where it is null or NaN."""
    present = pc.and_(pc.is_valid(values), pc.invert(pc.is_nan(pc.fill_null(values, 0.0))))
    filled = pc.fill_null(values, 0.0).to_numpy(zero_copy_only=False)
    return pc.if_else(present, _cat(prefix, _formatted(filled)), _NULL_STR)


def _history_lines(lengths: np.ndarray, rows: Gathered, label: pa.Array | None) -> tuple[pa.Array, np.ndarray]:
    """Per target, the prompt lines of its history (most recent first, numbered from 1) joined by newlines, and the
    list offsets of the history columns."""
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    m = int(offsets[-1])
    owner = np.repeat(np.arange(len(lengths)), lengths)
    position = np.arange(m) - offsets[:-1][owner]  # 0 = oldest
    number = pa.array(lengths[owner] - position).cast(pa.string())
    review = pc.fill_null(_cat(". Review: ", rows.texts["review"]), "")
    rated = _formatted(rows.fixed["rating"])
    if label is None:
        lines = _cat(number, ". rated ", rated, review)
    else:
        lines = _cat(number, ". ", label, ": rated ", rated, review)
    newest_first = offsets[1:][owner] - 1 - position
    reordered = pc.take(lines, pa.array(newest_first.astype(np.int64)))
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), reordered), "\n")
    return joined, offsets


@dataclass(frozen=True)
class CandidateRows:
    """The candidates of a chunk of ranking targets, target after target, each target's in the order shown: their
    items (texts ``item_id``, ``id_label`` and :data:`ITEM_FIELDS` rendered with the candidate budgets, and the
    ``c_<text>`` rewrite counts), their average ratings strictly before the target (NaN: none), how many each target
    has, and the target's 1-based candidate number."""

    items: Gathered
    avg: np.ndarray
    lengths: np.ndarray
    target_slot: np.ndarray


def _profile_line(profiles: Gathered | None, name: str, n: int) -> pa.Array:
    """``Profile: ...`` of each target (null where it has none)."""
    return pa.nulls(n, pa.string()) if profiles is None else _cat("Profile: ", profiles.texts[name])


def _user_part(u_len: np.ndarray, user_rows: Gathered, u_avg: pa.Array, profile: pa.Array) -> list[pa.Array]:
    """Concatenation arguments of the ``## User`` section's body (what ``template._user_section`` renders)."""
    label = pc.coalesce(user_rows.texts["title"], user_rows.texts["id_label"])
    u_lines, _ = _history_lines(u_len, user_rows, label)
    return _joined(
        [
            profile,
            _shown(u_len, "Past ratings (most recent first, "),
            pc.if_else(pa.array(u_len > 0), u_lines, _NULL_STR),
            _optional_rating("Average rating given by this user: ", u_avg),
        ],
        "\n",
        "No information about this user.",
    )


def _shown(lengths: np.ndarray, text: str) -> pa.Array:
    return pc.if_else(pa.array(lengths > 0), _cat(text, pa.array(lengths).cast(pa.string()), " shown):"), _NULL_STR)


def _field_lines(texts: Mapping[str, pa.Array]) -> list[pa.Array]:
    """``Title: ...``, then the other item fields in sorted order (null where the field is null)."""
    return [
        _cat(f"{key.capitalize()}: ", texts[key]) for key in ["title", *sorted(f for f in ITEM_FIELDS if f != "title")]
    ]


def _item_part(
    i_len: np.ndarray, item_rows: Gathered, items: Gathered, i_avg: pa.Array, profile: pa.Array
) -> list[pa.Array]:
    """Concatenation arguments of the ``## Target item`` section's body (``template._item_section``)."""
    i_lines, _ = _history_lines(i_len, item_rows, None)
    return _joined(
        [
            *_field_lines(items.texts),
            profile,
            _shown(i_len, "Ratings by other users (most recent first, "),
            pc.if_else(pa.array(i_len > 0), i_lines, _NULL_STR),
            _optional_rating("Average rating of this item: ", i_avg),
        ],
        "\n",
        "No information about this item.",
    )


def _candidate_section(candidates: CandidateRows) -> pa.Array:
    """Per target, the body of the ``## Candidates`` section (``template._candidates_section``): ``[n] Title: ...;
    Brand: ...; average rating x`` a line, in the order shown."""
    texts, lengths = candidates.items.texts, candidates.lengths
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    number = pa.array(np.arange(int(offsets[-1])) - offsets[:-1][owner] + 1).cast(pa.string())
    body = _cat(*_joined(_field_lines(texts), "; ", _cat("Item ", texts["id_label"])))
    avg = pc.fill_null(_optional_rating("; average rating ", _nan_to_null(pa.array(candidates.avg))), "")
    lines = _cat("[", number, "] ", body, avg)
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), lines), "\n")
    return pc.if_else(pa.array(lengths > 0), joined, "No candidates.")


def _ground_truths(targets: pa.Table, task: TaskConfig, candidates: CandidateRows | None) -> pa.Array:
    """``reward_model.ground_truth`` of a chunk (see :func:`_ground_truth`)."""
    if task.name == "ranking":
        assert candidates is not None
        return pa.array(candidates.target_slot.astype(np.float64))
    rating = targets["rating"].combine_chunks().cast(pa.float64())
    if task.name == "like":
        if task.label_column:
            return targets["label"].combine_chunks().cast(pa.float64())
        assert task.like_threshold is not None
        return pc.if_else(pc.greater_equal(rating, float(task.like_threshold)), 1.0, 0.0)
    return rating


def _count_chunk_rewrites(
    cleaner: TextCleaner,
    user_counts: np.ndarray,
    user_rows: Gathered,
    item_rows: Gathered,
    items: Gathered | None,
    candidates: CandidateRows | None,
    profiles: Gathered | None,
) -> None:
    """Add the rewrites of every text a chunk writes to ``cleaner`` (as :func:`build_row` counts them: a ranking
    target's id once as the target and once as a candidate)."""
    written = [
        ("id", user_counts),
        ("id", user_rows.fixed["c_item_id"]),
        ("title", user_rows.fixed["c_title"]),
        ("review", user_rows.fixed["c_review"]),
        ("id", item_rows.fixed["c_user_id"]),
        ("review", item_rows.fixed["c_review"]),
    ]
    for shown in (items, None if candidates is None else candidates.items):
        if shown is not None:
            written += [("id", shown.fixed["c_item_id"]), *((f, shown.fixed[f"c_{f}"]) for f in ITEM_FIELDS)]
    if candidates is not None:
        first = np.concatenate(([0], np.cumsum(candidates.lengths)[:-1])).astype(np.int64)
        written.append(("id", candidates.items.fixed["c_item_id"][first + candidates.target_slot - 1]))
    if profiles is not None:
        written += [("profile", profiles.fixed["c_user_profile"]), ("profile", profiles.fixed["c_item_profile"])]
    for kind, counts in written:
        count_rewrites(cleaner, kind, counts)


def _list_column(lengths: np.ndarray, values: pa.Array, list_type: pa.DataType) -> pa.Array:
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=list_type)


def render_chunk(
    targets: pa.Table,
    user_rows: Gathered,
    item_rows: Gathered,
    items: Gathered | None,
    *,
    data_source: str,
    split: str,
    rating_min: float,
    rating_max: float,
    cleaner: TextCleaner,
    task: TaskConfig = RATING_TASK,
    candidates: CandidateRows | None = None,
    profiles: Gathered | None = None,
) -> pa.Table:
    """The contract rows of a chunk of targets (what :func:`build_row` gives for each, column-wise).

    ``targets`` has ``idx, user_id, rating, ts, u_len, i_len, u_avg, i_avg`` (raw user id; ``u_len`` / ``i_len``:
    history lengths; ``label`` for a like task with a label column); ``user_rows`` / ``item_rows`` hold the
    histories' rows (texts ``item_id, title, id_label, review`` / ``user_id, review``, rendered; ``id_label``: the
    item id as a prompt shows it, where the item has no title) and ``items`` each target's item (texts ``item_id``
    and :data:`ITEM_FIELDS`, rendered); a ranking chunk has ``candidates`` instead of ``items`` (and no item
    history). Rewrites of every written text are added to ``cleaner``."""
    ranking = task.name == "ranking"
    if ranking != (candidates is not None) or (items is None) != ranking:
        raise ValueError("a ranking chunk needs candidates and no target items; other tasks the reverse")
    n = targets.num_rows
    u_len = targets["u_len"].to_numpy().astype(np.int64)
    i_len = targets["i_len"].to_numpy().astype(np.int64)
    user_ids, user_counts = render_ids(targets["user_id"].to_pylist())
    _count_chunk_rewrites(cleaner, user_counts, user_rows, item_rows, items, candidates, profiles)

    user_id = pa.array(user_ids, pa.string())
    u_avg, i_avg = targets["u_avg"].combine_chunks(), targets["i_avg"].combine_chunks()
    scale = f"Rating scale: {format_rating(rating_min)} to {format_rating(rating_max)}."
    if candidates is not None:
        c_ids = candidates.items.texts["item_id"]
        first = np.concatenate(([0], np.cumsum(candidates.lengths)[:-1])).astype(np.int64)
        item_id = pc.take(c_ids, pa.array(first + candidates.target_slot - 1))
        middle = ["\n\n## Candidates\n", _candidate_section(candidates)]
    else:
        assert items is not None
        item_id = items.texts["item_id"]
        item_profile = _profile_line(profiles, "item_profile", n)
        middle = ["\n\n## Target item\n", *_item_part(i_len, item_rows, items, i_avg, item_profile)]
    user_part = _user_part(u_len, user_rows, u_avg, _profile_line(profiles, "user_profile", n))
    content = _cat(f"{scale}\n\n## User\n", *user_part, *middle, f"\n\n{QUESTIONS[task.name]}")
    system = system_prompt("tbr", rating_min, rating_max, task=task.name, like_threshold=task.like_threshold)
    interleave = np.stack([np.zeros(n, np.int64), np.arange(1, n + 1, dtype=np.int64)], axis=1).ravel()
    messages = pa.StructArray.from_arrays(
        [
            pa.array(["system", "user"] * n, pa.string()),
            pc.take(pa.concat_arrays([pa.array([system], pa.string()), content]), pa.array(interleave)),
        ],
        fields=list(PROMPT_TYPE.value_type),
    )
    prompt = pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)), messages, type=PROMPT_TYPE)

    timestamp = targets["ts"].combine_chunks().cast(pa.int64())
    extra_candidates = pa.nulls(n, EXTRA_INFO_TYPE.field("candidates").type)
    candidate_column = pa.nulls(n, CANDIDATES_TYPE)
    target_item = None
    if candidates is not None:
        c_texts = candidates.items.texts
        extra_candidates = _list_column(candidates.lengths, c_ids, EXTRA_INFO_TYPE.field("candidates").type)
        candidate_column = _list_column(
            candidates.lengths,
            pa.StructArray.from_arrays(
                [c_ids] + [c_texts[f] for f in ITEM_FIELDS] + [_nan_to_null(pa.array(candidates.avg))],
                fields=list(CANDIDATES_TYPE.value_type),
            ),
            CANDIDATES_TYPE,
        )
        target_item = pa.nulls(n, TARGET_ITEM_TYPE)
    else:
        assert items is not None
        target_item = pa.StructArray.from_arrays(
            [item_id] + [items.texts[f] for f in ITEM_FIELDS], fields=list(TARGET_ITEM_TYPE)
        )
    threshold = task.like_threshold
    columns = {
        "data_source": _const(data_source, n),
        "ability": _const(ABILITIES[task.name], n),
        "prompt": prompt,
        "reward_model": pa.StructArray.from_arrays(
            [_const("rule", n), _ground_truths(targets, task, candidates)], fields=list(REWARD_TYPE)
        ),
        "extra_info": pa.StructArray.from_arrays(
            [
                _const(split, n),
                targets["idx"].combine_chunks().cast(pa.int64()),
                user_id,
                item_id,
                timestamp,
                pa.array(np.full(n, float(rating_min))),
                pa.array(np.full(n, float(rating_max))),
                pa.nulls(n, pa.string()) if task.name == DEFAULT_TASK else _const(task.name, n),
                extra_candidates,
                pa.nulls(n, pa.float64()) if threshold is None else pa.array(np.full(n, float(threshold))),
            ],
            fields=list(EXTRA_INFO_TYPE),
        ),
        "user_history": _list_column(
            u_len,
            pa.StructArray.from_arrays(
                [
                    user_rows.texts["item_id"],
                    pa.array(user_rows.fixed["rating"].astype(np.float64)),
                    pa.array(user_rows.fixed["ts"].astype(np.int64)),
                    user_rows.texts["title"],
                    user_rows.texts["review"],
                ],
                fields=list(USER_HISTORY_TYPE.value_type),
            ),
            USER_HISTORY_TYPE,
        ),
        "item_history": _list_column(
            i_len,
            pa.StructArray.from_arrays(
                [
                    item_rows.texts["user_id"],
                    pa.array(item_rows.fixed["rating"].astype(np.float64)),
                    pa.array(item_rows.fixed["ts"].astype(np.int64)),
                    item_rows.texts["review"],
                ],
                fields=list(ITEM_HISTORY_TYPE.value_type),
            ),
            ITEM_HISTORY_TYPE,
        ),
        "target_item": target_item,
        "user_avg_rating": _nan_to_null(u_avg),
        "item_avg_rating": pa.nulls(n, pa.float64()) if ranking else _nan_to_null(i_avg),
        "user_profile": pa.nulls(n, pa.string()) if profiles is None else profiles.texts["user_profile"],
        "item_profile": pa.nulls(n, pa.string()) if profiles is None else profiles.texts["item_profile"],
        "candidates": candidate_column,
    }
    return pa.Table.from_arrays([columns[f.name] for f in SAMPLE_SCHEMA], schema=SAMPLE_SCHEMA)


def _nan_to_null(values: pa.Array) -> pa.Array:
    values = values.cast(pa.float64())
    return pc.if_else(pc.is_nan(pc.fill_null(values, 0.0)), pa.scalar(None, pa.float64()), values)
