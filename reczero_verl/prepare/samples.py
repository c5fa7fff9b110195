# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Stage 3 of ``prepare``: the histories, averages and item texts of the sampled targets, rendered and written chunk
by chunk, so that memory is set by the DuckDB memory limit and the chunk size, never by the number of samples.

How, given the timelines of :func:`.pipeline.timeline_positions` (``evu`` / ``evi``: every interaction of a user /
item with its position ``u_pos`` / ``i_pos`` in the timeline ordered by (ts, line)) and the targets' positions
``tgp`` (``u_prev`` / ``i_prev``: how many interactions of the user / item are strictly earlier):

1. DuckDB numbers the interactions that some target shows in its user history, by (user, position): a target's
   history, the ``K`` latest strictly earlier interactions of its user, is then a RANGE of consecutive numbers. An
   ASOF join gives each interaction the next target of its user (the smallest ``u_prev`` above its position): it is
   shown when it is among that target's ``K``. Items likewise. Each target gets its two ranges, its averages (a
   running-sum lookup) and its place in the output.
2. The shown interactions are streamed out of DuckDB in number order, their texts rendered ONCE (neutralised and
   clipped, with their rewrite counts) into row stores on disk (:mod:`.store`); the targets' items likewise (for
   ranking, the candidates' items). So a review shown in twenty histories is cleaned once, not twenty times.
3. The targets are streamed in output order, :data:`CHUNK_ROWS` at a time: a chunk reads its ranges from the stores
   and is rendered column-wise (:func:`.render.render_chunk`) into the parquet writer, which cuts row groups of a
   fixed size (:data:`.render.ROW_GROUP_ROWS`), so the bytes do not depend on the chunk size.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reczero_verl.contract import ITEM_FIELDS

from .render import COUNT_DTYPE, RATING_TASK, CandidateRows, Gathered, render_chunk, render_ids, render_texts
from .sanitize import TextCleaner
from .schema import ItemLoader
from .sql import sql_ident, sql_str, stream_batches
from .store import RowStore, StoreWriter
from .tasks import TaskConfig

logger = logging.getLogger(__name__)

#: Targets rendered at a time (one DuckDB query, one read of the stores, one column-wise rendering).
CHUNK_ROWS = 4_096
#: Shown interactions (items) rendered into a store at a time.
STORE_BATCH = 16_384
#: Seconds between two progress lines of a long stage.
PROGRESS_EVERY_S = 15.0


class Progress:
    """Logs ``done / total`` with the rate and the time left, every :data:`PROGRESS_EVERY_S` seconds and at the end."""

    def __init__(self, what: str, total: int, every_s: float | None = None) -> None:
        self.what, self.total = what, total
        self.every_s = PROGRESS_EVERY_S if every_s is None else every_s
        self.done = 0
        self.began = self.last = time.perf_counter()

    def advance(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= self.every_s or self.done >= self.total:
            self.last = now
            self.log(now)

    def log(self, now: float | None = None) -> None:
        elapsed = max((now or time.perf_counter()) - self.began, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        rss = current_rss_bytes()
        logger.info(
            "%s: %d / %d (%.1f%%), %.0f/s, %s elapsed, ETA %s%s",
            self.what,
            self.done,
            self.total,
            100.0 * self.done / max(self.total, 1),
            rate,
            _duration(elapsed),
            _duration(left),
            "" if rss is None else f", RSS {rss / 1024**3:.2f} GiB",
        )


@contextmanager
def sql_progress(con: Any, what: str, every_s: float | None = None) -> Iterator[None]:
    """While the block runs, log every :data:`PROGRESS_EVERY_S` seconds how far DuckDB is in its current statement
    (``query_progress``, asked from a thread; DuckDB 1.x has none: then nothing is logged)."""
    ask = getattr(con, "query_progress", None)
    if ask is None:
        yield
        return
    every = max(PROGRESS_EVERY_S if every_s is None else every_s, 0.1)
    stop = threading.Event()
    began = time.perf_counter()

    def watch() -> None:
        while not stop.wait(every):
            try:
                percent = float(ask())
            except Exception:  # a progress line is never worth failing the run
                continue
            if percent >= 0:
                rss = current_rss_bytes()
                logger.info(
                    "%s: DuckDB statement at %.0f%%, %s into the stage%s",
                    what,
                    percent,
                    _duration(time.perf_counter() - began),
                    "" if rss is None else f", RSS {rss / 1024**3:.2f} GiB",
                )

    thread = threading.Thread(target=watch, name="reczero-sql-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def current_rss_bytes() -> int | None:
    """The resident memory of this process now (Linux), else ``None``."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


# ----------------------------------------------------------------------------------------------------------------
# 1. ranges, averages and output order (DuckDB)
# ----------------------------------------------------------------------------------------------------------------


def shown_rows(con: duckdb.DuckDBPyConnection, k: int, k_item: int | None = None) -> None:
    """Create ``sh_u`` / ``sh_i``: the interactions shown in some target's user (item) history, numbered ``g``
    from 0 by (user, position) (item, position). The rows of one target's history have consecutive numbers.
    ``k_item`` (default ``k``): the item history's length (0 for ranking, whose prompt shows no target item)."""
    for s, key, depth in (("u", "user_id", k), ("i", "item_id", k if k_item is None else k_item)):
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE sh_{s} AS
            SELECT h.line, h.user_id, h.item_id, h.rating, h.ts, h.{s}_pos, h.{s}_sum,
                   row_number() OVER (ORDER BY h.{key}, h.{s}_pos) - 1 AS g
            FROM ev{s} h ASOF JOIN (SELECT DISTINCT {key}, {s}_prev FROM tgp) t
                ON h.{key} = t.{key} AND t.{s}_prev > h.{s}_pos
            WHERE h.{s}_pos >= t.{s}_prev - {int(depth)}
        """)


def target_ranges(con: duckdb.DuckDBPyConnection, k: int, k_item: int | None = None, lists: str | None = None) -> None:
    """Create ``titems`` (the targets' items, numbered ``t_row`` by item id: their rows in the target-item store)
    and ``tgo``: per sampled target, its history ranges in ``sh_u`` / ``sh_i`` (``u_start``, ``u_len``: the last
    row of the range is the interaction at position ``u_prev - 1``), its averages over ALL strictly earlier
    interactions (the running sum there divided by ``u_prev``, as before), its item's ``t_row`` and its ``label``;
    ``k_item`` as for :func:`shown_rows`. ``lists``: a table ``(line, ...)`` whose other columns join ``tgo`` (a
    ranking target's candidates)."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE titems AS
        SELECT item_id, row_number() OVER (ORDER BY item_id) - 1 AS t_row FROM (SELECT DISTINCT item_id FROM tg)
    """)
    sides = []
    for s, key, shown, depth in (
        ("u", "user_id", "sh_u", k),
        ("i", "item_id", "sh_i", k if k_item is None else k_item),
    ):
        depth = int(depth)
        # the interaction just before the target: the last row of its history, and the running sum there
        last = shown if depth > 0 else f"ev{s}"
        start = f"coalesce(l{s}.g - least(p.{s}_prev, {depth}) + 1, 0)" if depth > 0 else "0"
        sides.append(
            (
                f"least(p.{s}_prev, {depth}) AS {s}_len, {start} AS {s}_start, l{s}.{s}_sum / p.{s}_prev AS {s}_avg",
                f"LEFT JOIN {last} l{s} ON l{s}.{key} = t.{key} AND l{s}.{s}_pos = p.{s}_prev - 1",
            )
        )
    extra = ("", "") if lists is None else (", x.* EXCLUDE (line)", f" LEFT JOIN {lists} x ON x.line = t.line")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE tgo AS
        SELECT t.split, t.line, t.user_id, t.item_id, t.rating, t.ts, t.label, {sides[0][0]}, {sides[1][0]}, ti.t_row
               {extra[0]}
        FROM tg t JOIN tgp p USING (line) JOIN titems ti ON ti.item_id = t.item_id {sides[0][1]} {sides[1][1]}
        {extra[1]}
    """)


def item_texts(
    con: duckdb.DuckDBPyConnection,
    items_loader: ItemLoader | None,
    attrs: Sequence[str],
    report: int,
    shown: str = "tg",
) -> dict[str, Any] | None:
    """Create ``needed(item_id, target)`` (the items shown whole: those of table ``shown``, the targets' by default,
    the candidates' for ranking; and of the user-history rows, which show only a title) and ``itm``: their text
    fields, the loader's (metadata file) first, else the item columns of the interactions (``attr_*``: per item, the
    first non-empty value in file order). Returns the loader's stats."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE needed AS SELECT item_id, bool_or(target) AS target FROM "
        f"(SELECT item_id, true AS target FROM {shown} UNION ALL SELECT item_id, false AS target FROM sh_u) "
        "GROUP BY item_id"
    )
    sources = []
    if attrs:
        cols = ", ".join(
            f"min_by({sql_ident('attr_' + a)}, line) FILTER (WHERE nullif(trim({sql_ident('attr_' + a)}), '') "
            f"IS NOT NULL) AS {sql_ident(a)}"
            for a in attrs
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE attr_items AS SELECT item_id, {cols} FROM ev_all "
            "WHERE coalesce(reason, '') <> 'malformed' AND item_id IN (SELECT item_id FROM needed) GROUP BY item_id"
        )
    meta_stats = None
    if items_loader is not None:
        meta_stats = items_loader.load_into(con, "needed", "meta_items", report).as_dict()
        sources.append(("m", ITEM_FIELDS))
    if attrs:
        sources.append(("a", tuple(attrs)))
    fields = []
    for f in ITEM_FIELDS:
        values = [f"{alias}.{sql_ident(f)}" for alias, names in sources if f in names]
        fields.append(f"{'coalesce(' + ', '.join(values) + ')' if values else 'NULL::VARCHAR'} AS {sql_ident(f)}")
    joins = "".join(
        f" LEFT JOIN {table} {alias} USING (item_id)"
        for alias, table in (("m", "meta_items"), ("a", "attr_items"))
        if any(alias == s for s, _ in sources)
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE itm AS SELECT n.item_id, {', '.join(fields)} FROM needed n{joins}")
    for table in ("meta_items", "attr_items"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return meta_stats


def targets_with_title(con: duckdb.DuckDBPyConnection) -> int:
    """How many sampled targets have an item title."""
    return int(
        con.execute(
            "SELECT count(*) FROM tg JOIN itm USING (item_id) WHERE itm.title IS NOT NULL AND itm.title <> ''"
        ).fetchone()[0]
    )


# ----------------------------------------------------------------------------------------------------------------
# 2. the row stores (texts rendered once)
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Stores:
    """The row stores of a run: user-history rows, item-history rows, and the targets' items (rating, like) or the
    candidates' items (ranking)."""

    user: RowStore
    item: RowStore
    target_item: RowStore | None
    candidate_item: RowStore | None = None

    def close(self) -> None:
        for store in (self.user, self.item, self.target_item, self.candidate_item):
            if store is not None:
                store.close()


def _counts(name: str) -> tuple[str, Any]:
    return f"c_{name}", COUNT_DTYPE


def _fill(
    con: duckdb.DuckDBPyConnection, sql: str, writer: StoreWriter, render: Any, what: str, total: int
) -> RowStore:
    """Stream ``sql`` (ordered by the store's row number ``g``) through ``render(batch) -> (fixed, texts)`` into
    ``writer``."""
    progress = Progress(what, total)
    for batch in stream_batches(con, sql, STORE_BATCH):
        g = batch.column("g").to_numpy()
        if len(g) and (g[0] != writer.rows or g[-1] != writer.rows + len(g) - 1):
            raise RuntimeError(f"{what}: rows out of order at {writer.rows}")
        fixed, texts = render(batch)
        writer.append(fixed, texts)
        progress.advance(len(g))
    store = writer.close()
    if store.rows != total:
        raise RuntimeError(f"{what}: wrote {store.rows} rows of {total}")
    return store


def _review_sql(prefix: int) -> str:
    """SQL over ``ev_all`` aliased ``e``: the review shown for an interaction (its text, else the summary / review
    title), raw, cut to ``prefix`` characters (twice the budget and more: clipping collapses whitespace first)."""
    return f"left(coalesce(nullif(trim(e.review), ''), nullif(trim(e.review_alt), '')), {int(prefix)})"


Rendered = tuple[dict[str, np.ndarray], dict[str, Any]]

#: Fixed-width columns and text columns of each store.
HISTORY_FIXED = {"rating": np.float64, "ts": np.int64}
USER_HISTORY_STORE = (
    {**HISTORY_FIXED, **dict(map(_counts, ("item_id", "title", "review")))},
    ("item_id", "title", "id_label", "review"),
)
ITEM_HISTORY_STORE = ({**HISTORY_FIXED, **dict(map(_counts, ("user_id", "review")))}, ("user_id", "review"))
TARGET_ITEM_STORE = (dict(map(_counts, ("item_id", *ITEM_FIELDS))), ("item_id", *ITEM_FIELDS))
CANDIDATE_ITEM_STORE = (dict(map(_counts, ("item_id", *ITEM_FIELDS))), ("item_id", "id_label", *ITEM_FIELDS))


def user_history_rows(batch: pa.RecordBatch | pa.Table, budgets: Any) -> Rendered:
    """Store columns of user-history rows from raw ``item_id, rating, ts, title, review``: the texts as
    :func:`.render.build_row` stores them, ``id_label`` (the item id as the prompt shows it when there is no title)
    and the rewrite counts."""
    ids, c_id = render_ids(batch.column("item_id").to_pylist())
    titles, c_title = render_texts(batch.column("title").to_pylist(), budgets.title)
    reviews, c_review = render_texts(batch.column("review").to_pylist(), budgets.review)
    labels = [None if t is not None else " ".join(i.split()) for t, i in zip(titles, ids, strict=True)]
    fixed = {
        "rating": batch.column("rating").to_numpy(),
        "ts": batch.column("ts").to_numpy(),
        "c_item_id": c_id,
        "c_title": c_title,
        "c_review": c_review,
    }
    return fixed, {"item_id": ids, "title": titles, "id_label": labels, "review": reviews}


def item_history_rows(batch: pa.RecordBatch | pa.Table, budgets: Any) -> Rendered:
    """Store columns of item-history rows from raw ``user_id, rating, ts, review``."""
    ids, c_id = render_ids(batch.column("user_id").to_pylist())
    reviews, c_review = render_texts(batch.column("review").to_pylist(), budgets.review)
    fixed = {
        "rating": batch.column("rating").to_numpy(),
        "ts": batch.column("ts").to_numpy(),
        "c_user_id": c_id,
        "c_review": c_review,
    }
    return fixed, {"user_id": ids, "review": reviews}


def target_item_rows(batch: pa.RecordBatch | pa.Table, budgets: Any) -> Rendered:
    """Store columns of target items from raw ``item_id`` and :data:`ITEM_FIELDS`."""
    ids, c_id = render_ids(batch.column("item_id").to_pylist())
    fixed, texts = {"c_item_id": c_id}, {"item_id": ids}
    for name in ITEM_FIELDS:
        texts[name], fixed[f"c_{name}"] = render_texts(batch.column(name).to_pylist(), budgets.item_field(name))
    return fixed, texts


def candidate_item_rows(batch: pa.RecordBatch | pa.Table, budgets: Any) -> Rendered:
    """Store columns of ranking candidates from raw ``item_id`` and :data:`ITEM_FIELDS`: the title within its
    budget, every other field within the candidate budget, and ``id_label`` (the id as the prompt shows it when the
    candidate has no text at all)."""
    ids, c_id = render_ids(batch.column("item_id").to_pylist())
    fixed, texts = {"c_item_id": c_id}, {"item_id": ids, "id_label": [" ".join(i.split()) for i in ids]}
    for name in ITEM_FIELDS:
        budget = budgets.title if name == "title" else budgets.candidate
        texts[name], fixed[f"c_{name}"] = render_texts(batch.column(name).to_pylist(), budget)
    return fixed, texts


def _chunk_gathered(rendered: Rendered) -> Gathered:
    """Rendered columns of a chunk (not stored) as the :class:`Gathered` that :func:`.render.render_chunk` reads."""
    fixed, texts = rendered
    n = len(next(iter(texts.values())))
    rec = np.zeros(n, np.dtype([(name, COUNT_DTYPE) for name in fixed]))
    for name, counts in fixed.items():
        rec[name] = counts
    return Gathered(rec, {k: v if isinstance(v, pa.Array) else pa.array(v, pa.string()) for k, v in texts.items()})


def record_rows(targets: pa.Table, budgets: Any) -> tuple[Gathered, Gathered]:
    """The texts a profile source's targets bring themselves, rendered per chunk (each target has its own): the
    target item (``item_id`` and :data:`ITEM_FIELDS` as ``attr_<field>``, as :func:`target_item_rows` renders them)
    and the profiles (``user_profile``, ``item_profile``), with their rewrite counts."""
    item = target_item_rows(
        pa.table({"item_id": targets["item_id"], **{f: targets[f"attr_{f}"] for f in ITEM_FIELDS}}), budgets
    )
    profiles: Rendered = ({}, {})
    for name in ("user_profile", "item_profile"):
        profiles[1][name], profiles[0][f"c_{name}"] = render_texts(targets[name].to_pylist(), budgets.profile)
    return _chunk_gathered(item), _chunk_gathered(profiles)


def build_stores(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    budgets: Any,
    prefix: int,
    ranking: bool = False,
    target_items: bool = True,
) -> Stores:
    """Write the user-history, item-history and target-item stores into ``folder`` (see the module docstring); for
    ``ranking`` the candidate-item store (rows ``c_row`` of ``rk_citems``) instead of the target-item one; no item
    store without ``target_items`` (a profile source's targets bring their own item texts: :func:`record_rows`)."""
    review = _review_sql(prefix)

    def count(table: str) -> int:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])

    user = _fill(
        con,
        f"SELECT s.g, s.item_id, s.rating, s.ts, m.title, {review} AS review FROM sh_u s "
        "LEFT JOIN itm m USING (item_id) LEFT JOIN ev_all e ON e.line = s.line ORDER BY s.g",
        StoreWriter(folder, "user_history", *USER_HISTORY_STORE),
        lambda batch: user_history_rows(batch, budgets),
        "rendered user-history rows",
        count("sh_u"),
    )
    item = _fill(
        con,
        f"SELECT s.g, s.user_id, s.rating, s.ts, {review} AS review FROM sh_i s "
        "LEFT JOIN ev_all e ON e.line = s.line ORDER BY s.g",
        StoreWriter(folder, "item_history", *ITEM_HISTORY_STORE),
        lambda batch: item_history_rows(batch, budgets),
        "rendered item-history rows",
        count("sh_i"),
    )
    cols = ", ".join(f"m.{sql_ident(f)}" for f in ITEM_FIELDS)
    target_item = candidate_item = None
    if ranking:
        candidate_item = _fill(
            con,
            f"SELECT c.c_row AS g, c.item_id, {cols} FROM rk_citems c LEFT JOIN itm m USING (item_id) ORDER BY c.c_row",
            StoreWriter(folder, "candidate_item", *CANDIDATE_ITEM_STORE),
            lambda batch: candidate_item_rows(batch, budgets),
            "rendered candidate items",
            count("rk_citems"),
        )
    elif target_items:
        target_item = _fill(
            con,
            f"SELECT ti.t_row AS g, ti.item_id, {cols} FROM titems ti LEFT JOIN itm m USING (item_id) "
            "ORDER BY ti.t_row",
            StoreWriter(folder, "target_item", *TARGET_ITEM_STORE),
            lambda batch: target_item_rows(batch, budgets),
            "rendered target items",
            count("titems"),
        )
    sizes = {f.name: f.stat().st_size for f in Path(folder).iterdir()}
    logger.info("row stores: %.1f MB on disk in %s", sum(sizes.values()) / 1e6, folder)
    return Stores(user, item, target_item, candidate_item)


# ----------------------------------------------------------------------------------------------------------------
# 3. chunks of targets, in output order
# ----------------------------------------------------------------------------------------------------------------


def _gather(store: RowStore, starts: np.ndarray, lengths: np.ndarray) -> Gathered:
    fixed, texts = store.read_ranges(starts, lengths)
    return Gathered(fixed, texts)


@dataclass
class RenderTimes:
    """Where the rendering stage spends its time (seconds): DuckDB sorting and handing out the targets, reading the
    history ranges from the row stores, rendering the chunks column-wise; the rest of the stage is parquet writing."""

    duckdb_targets: float = 0.0
    store_reads: float = 0.0
    render: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in vars(self).items()}


def _candidate_rows(stores: Stores, targets: pa.Table) -> CandidateRows:
    """The candidates of a chunk of ranking targets: their rows of the candidate-item store (``c_rows`` lists, in the
    order shown), averages (``c_avg``, NaN where none) and the target's place (``gt``)."""
    assert stores.candidate_item is not None
    rows = pc.list_flatten(targets["c_rows"]).to_numpy().astype(np.int64)
    avg = pc.list_flatten(targets["c_avg"]).cast(pa.float64()).fill_null(float("nan")).to_numpy(zero_copy_only=False)
    lengths = pc.list_value_length(targets["c_rows"]).to_numpy().astype(np.int64)
    items = _gather(stores.candidate_item, rows, np.ones(len(rows), np.int64))
    return CandidateRows(items, avg, lengths, targets["gt"].to_numpy().astype(np.int64))


def _chunk_columns(task: TaskConfig, profiles: bool) -> str:
    """The columns of ``tgo`` a chunk of ``task`` reads; with ``profiles`` the targets' own texts and averages (a
    profile source has no earlier interactions to average)."""
    averages = "user_avg AS u_avg, item_avg AS i_avg" if profiles else "u_avg, i_avg"
    columns = f"user_id, rating, ts, u_start, u_len, i_start, i_len, {averages}, t_row"
    if profiles:
        columns += ", item_id, user_profile, item_profile, " + ", ".join(sql_ident(f"attr_{f}") for f in ITEM_FIELDS)
    if task.name == "ranking":
        columns += ", c_rows, c_avg, gt"
    if task.label_column:
        columns += ", label"
    return columns


def split_chunks(
    con: duckdb.DuckDBPyConnection,
    stores: Stores,
    split: str,
    *,
    data_source: str,
    rating_min: float,
    rating_max: float,
    cleaner: TextCleaner,
    progress: Progress,
    chunk_rows: int = CHUNK_ROWS,
    times: RenderTimes | None = None,
    task: TaskConfig = RATING_TASK,
    timed: bool = True,
    record_budgets: Any = None,
) -> Iterator[pa.Table]:
    """The rendered rows of the targets of ``split`` in output order (time, user, item, line; file order when the
    source is not ``timed``; ``index`` counts from 0), ``chunk_rows`` at a time: DuckDB sorts ``tgo`` once and
    streams it. ``record_budgets``: the targets bring their own item texts and profiles (a profile source,
    :func:`record_rows`), rendered with these budgets."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    times = times if times is not None else RenderTimes()
    ranking = task.name == "ranking"
    index = 0
    columns = _chunk_columns(task, record_budgets is not None)
    order = "ts, user_id, item_id, line" if timed else "line"
    sql = f"SELECT {columns} FROM tgo WHERE split = {sql_str(split)} ORDER BY {order}"
    batches = stream_batches(con, sql, chunk_rows)
    while True:
        began = time.perf_counter()
        batch = next(batches, None)
        times.duckdb_targets += time.perf_counter() - began
        if batch is None:
            return
        for a in range(0, batch.num_rows, chunk_rows):  # the reader may hand out longer batches than asked for
            part = batch.slice(a, chunk_rows)
            n = part.num_rows
            began = time.perf_counter()
            targets = pa.Table.from_batches([part]).append_column("idx", pa.array(np.arange(index, index + n)))
            user = _gather(stores.user, targets["u_start"].to_numpy(), targets["u_len"].to_numpy())
            item = _gather(stores.item, targets["i_start"].to_numpy(), targets["i_len"].to_numpy())
            target_item = candidates = profiles = None
            if ranking:
                candidates = _candidate_rows(stores, targets)
            elif record_budgets is not None:
                target_item, profiles = record_rows(targets, record_budgets)
            else:
                assert stores.target_item is not None
                target_item = _gather(stores.target_item, targets["t_row"].to_numpy(), np.ones(n, np.int64))
            read = time.perf_counter()
            table = render_chunk(
                targets,
                user,
                item,
                target_item,
                data_source=data_source,
                split=split,
                rating_min=rating_min,
                rating_max=rating_max,
                cleaner=cleaner,
                task=task,
                candidates=candidates,
                profiles=profiles,
            )
            times.store_reads += read - began
            times.render += time.perf_counter() - read
            yield table
            index += n
            progress.advance(n)


__all__ = [
    "CHUNK_ROWS",
    "ItemLoader",
    "Progress",
    "RenderTimes",
    "Stores",
    "build_stores",
    "candidate_item_rows",
    "item_texts",
    "shown_rows",
    "split_chunks",
    "sql_progress",
    "target_ranges",
    "targets_with_title",
]
