# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The DuckDB engine of ``reczero-verl prepare``: validation, dedup, histories, averages, splits, sampling, writing.

Protocol (the public RecZero / Reason4Rec scripts, made exact):

* A target's user history is the user's last ``K`` interactions with a timestamp STRICTLY before the target's, oldest
  first; the item history likewise (other users' ratings of the item). Interactions at the same timestamp as the
  target never enter its history, so nothing from the target's own moment leaks; the target itself never does.
* ``user_avg_rating`` / ``item_avg_rating`` are means over ALL strictly earlier interactions (not only the ``K``
  shown); ``None`` when there is none.
* Histories may contain interactions that are themselves targets of another split (a test target's history holds
  train interactions): that is the protocol, history is everything strictly earlier; never anything later.
* The task (:mod:`.tasks`) changes the ground truth (the rating, a like label) and, for ranking, replaces the target
  item and its history by candidates drawn by the same rules: only what is strictly earlier (:mod:`.ranking`).

Scale: the dump is scanned once by DuckDB (out of core: 45% of ``memory_limit``, see :func:`connect`, and a temp
directory to spill to); the review text is stored as read and trimmed only for the rows shown. The minimum-history
rules need only the ``m``-th earliest timestamp of each user and item (GROUP BY aggregates); targets are split and
sampled BEFORE any history is gathered. Then one sorted window per side (user, item), over the users and items of the
sampled targets only, gives each of their interactions its position in the timeline and the running sum of ratings:
a target's history is a range of timeline positions (``K`` rows, however popular the item), its mean a running-sum
lookup. The histories' texts are rendered once per interaction into row stores on disk and the targets are rendered
and written chunk by chunk (:mod:`.samples`): no stage holds all the samples, at any dataset size.
"""

from __future__ import annotations

import logging
import math
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from reczero_verl import __version__
from reczero_verl.contract import data_source
from reczero_verl.durable import write_json_atomic

from . import checks, publish, samples
from . import ranking as rk
from .render import TextBudgets, write_samples
from .sanitize import TextCleaner
from .schema import PrepareError, Relation, SourceData, position_labels
from .sql import drop_rejects, is_input_error, reject_lines, renumber_after_rejects, sql_ident, sql_str
from .tasks import TaskConfig

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val", "test")
SPLIT_METHODS: tuple[str, ...] = ("time", "random", "all-test", "all-train")
DEDUP_MODES: tuple[str, ...] = ("user-item", "exact", "none")

#: Reasons an input record is not written, in the order they are checked (each record counts under the first).
DROP_REASONS: tuple[str, ...] = (
    "malformed",  # the line is not a JSON object / the CSV row does not parse
    "invalid_utf8",  # the line (record) holds bytes that are not UTF-8
    "missing_field",  # user, item, rating or time absent or empty
    "invalid_rating",  # rating not a number
    "rating_out_of_scale",  # rating outside [rating_min, rating_max]
    "invalid_timestamp",  # time not parseable in the unit asked for
    "implausible_timestamp",  # time outside [1970, 2100) in its unit, or not of the magnitude of the unit asked for
    "invalid_label",  # --task like --label-col: the label is not 0 or 1 (true/false)
    "cross_item_duplicate",  # the same review (user, time, rating, text) under another item (Amazon merged listings)
    "duplicate",  # a later record of the same (user, item) (or same (user, item, time) under --dedup exact)
    "too_few_user_history",  # fewer than --min-user-history earlier interactions of the user
    "too_few_item_history",  # fewer than --min-item-history earlier interactions of the item
    "too_few_total_history",  # user + item earlier interactions below --min-total-history
    "too_few_negatives",  # --task ranking: fewer than --candidates - 1 items the user never interacted with, first
    # seen before the target (see ranking.py)
    "sampled_out",  # eligible but beyond --max-train / --max-val / --max-test
)
_RECORD_REASONS = DROP_REASONS[: DROP_REASONS.index("invalid_label") + 1]

#: What to do about each reason when it drops every record (the "nothing written" message).
_HINTS: dict[str, str] = {
    "malformed": "the lines are not JSON objects / CSV rows: check the file and --format / --delimiter",
    "invalid_utf8": "the file is not UTF-8: convert it (e.g. iconv -f latin1 -t utf-8)",
    "missing_field": "user, item, rating or time is absent or empty: check the field / column names",
    "invalid_rating": "ratings are not plain numbers: decimal commas ('4,5') must become dots ('4.5')",
    "rating_out_of_scale": "set --rating-min / --rating-max to the scale of the file",
    "invalid_timestamp": "times do not parse in the unit asked for: check --time-unit",
    "implausible_timestamp": "times fall outside 1970-2100 in their unit: check --time-unit (auto reads each record "
    "in its own unit)",
    "cross_item_duplicate": "every review repeats one under another item: pass --cross-item-dedup off to keep them",
    "duplicate": "every record repeats a (user, item) pair: check --dedup",
    "too_few_user_history": "no target has enough earlier interactions of its user: lower --min-user-history",
    "too_few_item_history": "no target has enough earlier interactions of its item: lower --min-item-history",
    "too_few_total_history": "lower --min-total-history",
    "invalid_label": "the --label-col values must be 0 or 1 (or true / false)",
    "too_few_negatives": "too few items to draw negatives from before each target: lower --candidates",
    "sampled_out": "--max-train / --max-val / --max-test are 0",
}

#: Interaction times must fall in [1970-01-01, 2100-01-01) (unix seconds).
MAX_PLAUSIBLE_TS = 4_102_444_800
#: Numeric time units by magnitude, smallest first: below 1e11 a number is seconds (1e11 s is the year 5138, 1e11 ms
#: the year 1973), below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds.
NUMERIC_UNITS: tuple[str, ...] = ("s", "ms", "us", "ns")
TIME_UNITS: tuple[str, ...] = ("auto", *NUMERIC_UNITS, "iso")
_ISO_CODE = len(NUMERIC_UNITS)  # unit code of ISO-8601 strings in the ``tu`` column; -1: wrong magnitude


@dataclass(frozen=True)
class SplitConfig:
    """How targets are split and sampled.

    ``time``: global chronological cut; the latest ``test_ratio`` of the eligible targets go to test, the
    ``val_ratio`` before them to val; a group of targets sharing the timestamp at a cut goes wholly to the later
    split, so every test target is strictly later than every val/train target. ``random``: each target's split
    from a seeded hash of (user, item, time). ``all-test`` / ``all-train``: one split. Sampling keeps, per split, the
    ``max_*`` targets with the smallest seeded hash (``None``: all).
    """

    method: str = "time"
    test_ratio: float = 0.1
    val_ratio: float = 0.0
    seed: int = 42
    max_train: int | None = None
    max_val: int | None = None
    max_test: int | None = None

    def __post_init__(self) -> None:
        if self.method not in SPLIT_METHODS:
            raise PrepareError(f"--split must be one of {SPLIT_METHODS}, got {self.method!r}")
        if not (0 <= self.test_ratio <= 1 and 0 <= self.val_ratio <= 1 and self.test_ratio + self.val_ratio <= 1):
            raise PrepareError(
                f"--test-ratio {self.test_ratio} and --val-ratio {self.val_ratio} must be in [0, 1] with sum <= 1"
            )
        for name in ("max_train", "max_val", "max_test"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise PrepareError(f"--{name.replace('_', '-')} must be >= 0, got {value}")

    def limit(self, split: str) -> int | None:
        return getattr(self, f"max_{split}")


@dataclass(frozen=True)
class PrepareConfig:
    """Everything the engine needs besides the input; see ``reczero-verl prepare --help`` for the meaning."""

    output_dir: Path
    name: str
    rating_min: float = 1.0
    rating_max: float = 5.0
    history_len: int = 10
    min_user_history: int = 1
    min_item_history: int = 1
    min_total_history: int = 0
    dedup: str = "user-item"
    cross_item_dedup: bool = False
    split: SplitConfig = field(default_factory=SplitConfig)
    budgets: TextBudgets = field(default_factory=TextBudgets)
    strict: bool = False
    report_positions: int = 5
    memory_limit: str = "3GB"
    threads: int | None = None
    temp_dir: Path | None = None
    #: Targets rendered at a time (memory per chunk; the output bytes do not depend on it).
    chunk_rows: int = samples.CHUNK_ROWS
    #: Add the wall time of each stage to stats.json (which then differs from run to run).
    timings: bool = False
    #: What the run was asked for (the command-line options that shape the output), recorded in stats.json.
    run_options: Mapping[str, Any] = field(default_factory=dict, compare=False)
    #: The task the samples are written for (``--task`` and its options).
    task: TaskConfig = field(default_factory=TaskConfig)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rating_min) and math.isfinite(self.rating_max)):
            raise PrepareError(
                f"--rating-min {self.rating_min} and --rating-max {self.rating_max} must be finite numbers"
            )
        if not self.rating_min < self.rating_max:
            raise PrepareError(f"--rating-min {self.rating_min} must be below --rating-max {self.rating_max}")
        if self.history_len < 0:
            raise PrepareError(f"--history-len must be >= 0, got {self.history_len}")
        if self.dedup not in DEDUP_MODES:
            raise PrepareError(f"--dedup must be one of {DEDUP_MODES}, got {self.dedup!r}")
        if not self.name or "/" in self.name:
            raise PrepareError(f"--name must be a non-empty name without '/', got {self.name!r}")
        if self.chunk_rows < 1:
            raise PrepareError(f"chunk_rows must be >= 1, got {self.chunk_rows}")
        self.task.check_scale(self.rating_min, self.rating_max)

    @property
    def data_source(self) -> str:
        """``reczero/<name>`` for rating, ``reczero/<name>/<task>`` for the other tasks."""
        return data_source(self.name, self.task.name)


# ----------------------------------------------------------------------------------------------------------------
# Connection and small helpers
# ----------------------------------------------------------------------------------------------------------------


#: Share of ``--memory-limit`` that DuckDB gets. The rest is for Python (the interpreter and its libraries, one chunk
#: of targets being rendered, one or two parquet row groups: a few hundred MB at the default budgets) and for what
#: DuckDB allocates beyond its limit (measured: 0.2-0.4 GB at 5M reviews). With 0.5, the 5M-review benchmark peaked
#: at 1.91 GB under the default 3GB; with 0.45, at 1.66 GB.
DUCKDB_MEMORY_SHARE = 0.45
#: DuckDB's share while the samples are rendered: it only sorts the targets of a split then (and spills beyond).
RENDER_DUCKDB_MEMORY_SHARE = 0.25
_SIZE = re.compile(r"^\s*([0-9.]+)\s*(bytes|KiB|MiB|GiB|TiB|PiB)\s*$")
_UNIT_BYTES = {"bytes": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4, "PiB": 1024**5}


def memory_limit_bytes(memory_limit: str) -> int | None:
    """``memory_limit`` (``3GB``, ``80%``: what DuckDB understands) in bytes, as DuckDB reads it (it answers
    ``'2.7 GiB'``), or ``None`` when its answer has another form or the limit is too small to ask. Asked on a
    throwaway connection."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET memory_limit={sql_str(memory_limit)}")
        text = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    except duckdb.OutOfMemoryException:  # a limit of a few bytes: the run will say it is too small
        return None
    finally:
        con.close()
    m = _SIZE.match(str(text))
    return None if m is None else int(float(m.group(1)) * _UNIT_BYTES[m.group(2)])


def set_memory_share(con: duckdb.DuckDBPyConnection, memory_limit: str, share: float) -> None:
    """Limit DuckDB to ``share`` of ``memory_limit``; beyond, it spills to disk."""
    total = memory_limit_bytes(memory_limit)
    if total is None:
        con.execute(f"SET memory_limit={sql_str(memory_limit)}")
    else:
        con.execute(f"SET memory_limit='{int(total * share)} bytes'")


def connect(config: PrepareConfig, temp_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB bounded by :data:`DUCKDB_MEMORY_SHARE` of ``memory_limit`` that spills to ``temp_dir``;
    timestamps parse in UTC."""
    checks.check_memory_limit(config.memory_limit)
    con = duckdb.connect(":memory:")
    set_memory_share(con, config.memory_limit, DUCKDB_MEMORY_SHARE)
    con.execute(f"SET temp_directory={sql_str(temp_dir)}")
    con.execute("SET TimeZone='UTC'")
    con.execute("SET enable_progress_bar=true")  # tracked for the progress lines (samples.sql_progress), not printed
    con.execute("SET enable_progress_bar_print=false")
    if config.threads:
        con.execute(f"SET threads={int(config.threads)}")
    return con


def ratio_count(n: int, ratio: float) -> int:
    """How many of ``n`` targets a ratio asks for: rounded, at least one when ``ratio > 0`` and ``n > 0``."""
    if ratio <= 0 or n == 0:
        return 0
    return min(n, max(1, round(n * ratio)))


def _hash_key(seed: int, purpose: str) -> str:
    """SQL: a seeded 64-bit hash of (user, item, time), DuckDB's ``hash`` (deterministic for a DuckDB version,
    recorded in ``stats.json``; MD5 was measured 25 times slower on a million rows)."""
    return f"hash({int(seed)}, {sql_str(purpose)}, user_id, item_id, ts)"


def _hash_unit(seed: int, purpose: str) -> str:
    """SQL: a uniform number in [0, 1) from :func:`_hash_key`."""
    return f"(CAST({_hash_key(seed, purpose)} AS DOUBLE) / 18446744073709551616.0)"


def time_sql(unit: str) -> tuple[str, str]:
    """SQL over the VARCHAR column ``time``: (seconds since the epoch as a DOUBLE, NULL when it does not parse in
    ``unit``; the record's unit code: an index of :data:`NUMERIC_UNITS`, ``_ISO_CODE``, or -1 for a number whose
    magnitude is not of the ``unit`` asked for).

    ``auto`` decides per record: a number by its magnitude (see :data:`NUMERIC_UNITS`), anything else as an ISO-8601
    date. Deciding once per file put the records of the other unit tens of thousands of years away. An explicit
    numeric unit still checks the magnitude, so a millisecond value read as seconds is refused, not misplaced; the
    caller refuses times outside [1970, 2100) too (``implausible_timestamp``)."""
    number = "TRY_CAST(trim(time) AS DOUBLE)"
    band = (
        f"CASE WHEN {number} IS NULL OR isnan({number}) OR isinf({number}) THEN NULL "
        f"WHEN abs({number}) < 1e11 THEN 0 WHEN abs({number}) < 1e14 THEN 1 WHEN abs({number}) < 1e17 THEN 2 ELSE 3 END"
    )
    iso = "epoch(TRY_CAST(trim(time) AS TIMESTAMPTZ))"
    if unit == "auto":
        return (
            f"CASE WHEN {band} IS NOT NULL THEN {number} / pow(1000, {band}) ELSE {iso} END",
            f"CASE WHEN {band} IS NOT NULL THEN {band} WHEN {iso} IS NOT NULL THEN {_ISO_CODE} END",
        )
    if unit in NUMERIC_UNITS:
        code = NUMERIC_UNITS.index(unit)
        return (
            f"CASE WHEN {band} IS NOT NULL THEN {number} / {1000**code}.0 END",
            f"CASE WHEN {band} = {code} THEN {code} WHEN {band} IS NOT NULL THEN -1 END",
        )
    if unit == "iso":
        return iso, f"CASE WHEN {iso} IS NOT NULL THEN {_ISO_CODE} END"
    raise PrepareError(f"unknown time unit {unit!r}; expected one of {', '.join(TIME_UNITS)}")


def unit_name(code: int) -> str:
    """The name of a unit code of :func:`time_sql`."""
    return "iso" if code == _ISO_CODE else NUMERIC_UNITS[code]


# ----------------------------------------------------------------------------------------------------------------
# Stage 1: read, validate, dedup, per-interaction history statistics
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Ingest:
    """What stage 1 found: record counts, the first positions of each reason, and the relation that was read."""

    read: int
    dropped: dict[str, int]
    first: dict[str, list[str]]
    time_unit: str | None
    time_units: dict[str, int]
    relation: Relation


def review_prefix(budgets: TextBudgets) -> int:
    """Raw characters of a review fetched for a history row: twice the budget plus slack, because ``clip_text``
    collapses whitespace before cutting."""
    return budgets.review * 2 + 256


#: SQL: the 0/1 value of the ``label`` column (``0``, ``1``, ``0.0``, ``true``, ``false``, ...), NULL for anything else.
LABEL_SQL = (
    "CASE WHEN TRY_CAST(trim(label) AS DOUBLE) IN (0, 1) THEN TRY_CAST(trim(label) AS DOUBLE) "
    "WHEN lower(trim(label)) = 'true' THEN 1.0 WHEN lower(trim(label)) = 'false' THEN 0.0 END"
)


#: The profile columns of a profile source (:attr:`~.schema.SourceData.profiles`), carried from the input to the rows.
PROFILE_COLUMNS = ("user_profile", "item_profile", "user_avg", "item_avg")


def _classify_sql(relation: Relation, config: PrepareConfig, source: SourceData) -> str:
    """SQL of every input record of ``relation`` with its typed fields, its raw review texts, its 0/1 ``label`` (NULL
    unless the source has a label column), its profile columns (a profile source) and its drop reason (NULL when
    valid); without ``line`` when the relation numbers its rows by scan order (``rowid_lines``). When the source's
    ratings are its labels (``rating_from_label``) a label that is not 0/1 counts as ``invalid_label``, never as a
    rating problem. A source without timestamps (:attr:`~.schema.SourceData.timed`) has no time to require or check.

    Text is stored as read: trimming and cutting it costs more than the parse itself, so it is done later, only for
    the history rows that are shown. ``tu`` is the unit each record's time was read in (:func:`time_sql`)."""
    timed, has_label, rating_from_label = source.timed, source.has_label, source.rating_from_label
    seconds, unit_code = time_sql(source.time_unit) if source.time_unit is not None else ("NULL::DOUBLE", "NULL")
    lo, hi = float(config.rating_min), float(config.rating_max)
    # a field is missing when NULL or blank after trim; a rating (time) that parsed is not blank, so its trim runs only
    # when it did not parse (DuckDB evaluates the operands of OR / AND only on the rows still undecided)
    blank = ["user_id IS NULL", "item_id IS NULL", "trim(user_id) = ''", "trim(item_id) = ''"]
    if timed:
        blank += ["time IS NULL", "(tsd IS NULL AND trim(time) = '')"]
    if not rating_from_label:  # a label read as the rating: a blank one is an invalid label, as beside a rating
        blank += ["rating IS NULL", "(r IS NULL AND trim(rating) = '')"]
    missing = " OR ".join(blank)
    extra_cols = "".join(f", {sql_ident('attr_' + a)}" for a in source.item_attrs)
    if source.profiles:
        extra_cols += "".join(f", {c}" for c in PROFILE_COLUMNS)
    line = "" if relation.rowid_lines else "line, "
    label = "lab" if has_label else "NULL::DOUBLE"
    # an implicit log's rating is its label; an invalid label reads as the scale's bottom, so that it is counted as
    # invalid_label below, not as a rating problem
    rating = f"coalesce({LABEL_SQL}, {lo!r})" if rating_from_label else "TRY_CAST(trim(rating) AS DOUBLE)"
    read_error = "read_error IS NOT NULL THEN read_error" if relation.read_errors else "malformed THEN 'malformed'"
    time_reasons = (
        f"""WHEN tsd IS NULL THEN 'invalid_timestamp'
                 WHEN tu < 0 OR tsd < 0 OR tsd >= {MAX_PLAUSIBLE_TS} THEN 'implausible_timestamp'"""
        if timed
        else ""
    )
    label_reason = "WHEN lab IS NULL THEN 'invalid_label'" if has_label else ""
    return f"""
        SELECT {line}user_id, item_id, r AS rating, TRY_CAST(floor(tsd) AS BIGINT) AS ts,
            CAST(tu AS TINYINT) AS tu, review, review_alt, review_key{extra_cols}, {label} AS label,
            CASE WHEN {read_error}
                 WHEN {missing} THEN 'missing_field'
                 WHEN r IS NULL OR isnan(r) THEN 'invalid_rating'
                 WHEN r < {lo!r} OR r > {hi!r} THEN 'rating_out_of_scale'
                 {time_reasons}
                 {label_reason}
            END AS reason
        FROM (SELECT *, {rating} AS r, {seconds} AS tsd, {unit_code} AS tu
              {", " + LABEL_SQL + " AS lab" if has_label else ""}
              FROM ({relation.sql}))
    """


def _cross_item_duplicates(con: duckdb.DuckDBPyConnection, enabled: bool) -> None:
    """Create ``xdup(line)``: valid records that repeat a review (same user, time, rating, review text, summary and
    ``review_key``: the verified flag and images; non-empty text) of an earlier line under another item.

    Why: the Amazon 2014/2018 dumps list one review under every sibling ASIN of a merged product page (in the
    Fashion 5-core file 3,117 of 3,176 reviews belong to such groups), so one opinion would become several training
    rows with the same prompt. The first line of a group is kept; the records of the same item as the kept one are
    left to the (user, item) dedup. Candidates come from a hash GROUP BY, the exact check from a window over them."""
    if not enabled:
        con.execute("CREATE OR REPLACE TEMP TABLE xdup AS SELECT line FROM ev_all WHERE false")
        return
    key = "user_id, ts, rating, review, review_alt, review_key"
    valid = "reason IS NULL AND nullif(trim(review), '') IS NOT NULL"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE xdup AS
        SELECT line FROM (
            SELECT line, item_id, first_value(item_id) OVER (PARTITION BY {key} ORDER BY line) AS kept
            FROM ev_all WHERE {valid} AND hash({key}) IN (
                SELECT hash({key}) AS h FROM ev_all WHERE {valid} GROUP BY h HAVING count(DISTINCT item_id) > 1))
        WHERE item_id <> kept
    """)


def _duplicates(con: duckdb.DuckDBPyConnection, partition: str | None) -> None:
    """Create ``dup(line)``: the valid records (not in ``xdup``) that repeat an earlier record's key (``partition``:
    the key columns; ``None``: no dedup). The earliest record of a key (by ``(ts, line)``) is kept.

    The exact window (partitioned by the key strings) runs only on the candidates: the records whose 64-bit key hash
    occurs more than once, found by an integer GROUP BY that costs a fraction of a window over every record. A hash
    collision only adds candidates, which the exact window then keeps, so the result is exact.
    """
    if partition is None:
        con.execute("CREATE OR REPLACE TEMP TABLE dup AS SELECT line FROM ev_all WHERE false")
        return
    valid = "reason IS NULL AND line NOT IN (SELECT line FROM xdup)"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE dup AS
        SELECT line FROM (
            SELECT line, row_number() OVER (PARTITION BY {partition} ORDER BY ts, line) AS k
            FROM ev_all WHERE {valid} AND hash({partition}) IN (
                SELECT hash({partition}) AS h FROM ev_all WHERE {valid} GROUP BY h HAVING count(*) > 1))
        WHERE k > 1
    """)


def _scan(con: duckdb.DuckDBPyConnection, source: SourceData, config: PrepareConfig) -> Relation:
    """Create ``ev_rows`` / ``ev_all`` from the first relation of ``source`` that DuckDB can read; returns it."""
    last_error: Exception | None = None
    for name, table in (source.tables or {}).items():
        con.register(name, table)
    for relation in source.relations:
        if relation.rejects:
            drop_rejects(con, relation.rejects)
        try:
            classified = _classify_sql(relation, config, source)
            con.execute("CREATE OR REPLACE TEMP TABLE ev_rows AS " + classified)
        except duckdb.Error as exc:
            if not is_input_error(exc):
                raise
            logger.info("%s: fast reader rejected the input (%s); rereading line by line", source.path, exc)
            last_error = exc
            continue
        if relation.renumber and relation.rejects and reject_lines(con, relation.rejects):
            renumber_after_rejects(con, "ev_rows", relation.rejects)
        line = "rowid + 1 AS line, " if relation.rowid_lines else ""
        con.execute(f"CREATE OR REPLACE TEMP VIEW ev_all AS SELECT {line}* FROM ev_rows")
        return relation
    if last_error is None:
        raise PrepareError(f"{source.path}: no reader for this file")
    raise last_error  # mapped to a PrepareError naming the file by :func:`_engine`


def ingest(con: duckdb.DuckDBPyConnection, source: SourceData, config: PrepareConfig) -> Ingest:
    """Create ``ev_all`` (every record with its drop reason and raw text: a view over table ``ev_rows``, numbering
    the rows in scan order when the relation has no ``line``) and ``ev(line, user_id, item_id, rating, ts)``: the
    valid, deduplicated interactions.

    Dedup keeps the earliest record of a (user, item) pair (a window ordered by (ts, line)), so a re-review never
    shadows the first opinion and ties resolve by file order; the later records count as ``duplicate``. With
    ``cross_item_dedup``, a review repeated under sibling items counts as ``cross_item_duplicate`` first. Lines that
    DuckDB could not read at all (not UTF-8, a CSV row that does not parse) are records too, counted by file line.
    """
    relation = _scan(con, source, config)
    _cross_item_duplicates(con, config.cross_item_dedup)
    partition = {"user-item": "user_id, item_id", "exact": "user_id, item_id, ts", "none": None}[config.dedup]
    _duplicates(con, partition)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ev AS SELECT line, user_id, item_id, rating, ts, label FROM ev_all "
        "WHERE reason IS NULL AND line NOT IN (SELECT line FROM xdup) AND line NOT IN (SELECT line FROM dup)"
    )

    report = int(config.report_positions)
    counts = dict(con.execute("SELECT coalesce(reason, ''), count(*) FROM ev_all GROUP BY ALL").fetchall())
    read = int(sum(counts.values()))
    dropped = {r: int(counts.get(r, 0)) for r in _RECORD_REASONS}
    first_lines: dict[str, list[int]] = defaultdict(list)
    for reason, line in con.execute(
        "SELECT reason, line FROM (SELECT reason, line, row_number() OVER (PARTITION BY reason ORDER BY line) AS k "
        f"FROM ev_all WHERE reason IS NOT NULL) WHERE k <= {report} ORDER BY reason, line"
    ).fetchall():
        first_lines[reason].append(line)
    for reason, table in (("cross_item_duplicate", "xdup"), ("duplicate", "dup")):
        dropped[reason] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if dropped[reason]:
            first_lines[reason] = [
                n for (n,) in con.execute(f"SELECT line FROM {table} ORDER BY line LIMIT {report}").fetchall()
            ]
        con.execute(f"DROP TABLE {table}")
    units = {
        unit_name(code): int(n)
        for code, n in con.execute(
            "SELECT tu, count(*) FROM ev_all WHERE reason IS NULL AND tu IS NOT NULL GROUP BY tu ORDER BY tu"
        ).fetchall()
    }
    rejected = reject_lines(con, relation.rejects) if relation.rejects else []
    read += len(rejected)
    first_rejected: dict[str, list[int]] = defaultdict(list)
    for line, reason in rejected:
        dropped[reason] += 1
        first_rejected[reason].append(line)
    if relation.renumber:  # rejected lines and records are both file lines: merge them
        for reason, lines in first_rejected.items():
            first_lines[reason] = sorted(first_lines.get(reason, []) + lines)[:report]
        first_rejected.clear()
    first = position_labels(source.path, relation.positions, first_lines)
    for reason, lines in first_rejected.items():  # CSV rows that do not parse: file lines before the data rows
        first[reason] = ([f"{source.path}:{n}" for n in lines] + first.get(reason, []))[:report]
    for reason in dropped:
        if dropped[reason]:
            logger.warning(
                "%s: %d records dropped as %s (first: %s)", source.path, dropped[reason], reason, first.get(reason)
            )
    if config.strict:
        bad = {r: dropped[r] for r in _RECORD_REASONS if dropped[r]}
        if bad:
            # the earliest invalid record of the file (CSV lines DuckDB could not parse come first: no row number)
            reason = min(bad, key=lambda r: (r not in first_rejected, first_lines.get(r, [0])[0]))
            raise PrepareError(
                f"{first[reason][0]}: {reason.replace('_', ' ')} (--strict; invalid records: "
                + ", ".join(f"{r} {n}" for r, n in bad.items())
                + ")"
            )
    if source.time_unit != "auto":
        unit = source.time_unit  # None: a source without timestamps
    else:
        unit = next(iter(units)) if len(units) == 1 else ("mixed" if units else "auto")
    return Ingest(read=read, dropped=dropped, first=first, time_unit=unit, time_units=units, relation=relation)


# ----------------------------------------------------------------------------------------------------------------
# Stage 2: eligibility, split, sampling
# ----------------------------------------------------------------------------------------------------------------


def _cut_sql(m: int) -> str:
    """SQL aggregate: the ``m``-th smallest ``ts`` of a group (ties counted), NULL when the group has fewer rows."""
    return "min(ts)" if m == 1 else f"min(ts, {int(m)})[{int(m)}]"


def select_eligible(
    con: duckdb.DuckDBPyConnection, config: PrepareConfig, timed: bool = True
) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Create table ``el`` of the interactions of ``ev`` that meet the minimum-history rules (the candidate
    targets); returns the drops per rule and the first lines of each. Without timestamps (``timed`` false) there is
    no "before", so no rule applies: every interaction is a candidate.

    "At least ``m`` interactions strictly before ``t``" holds exactly when ``t`` is later than the ``m``-th smallest
    timestamp of the user (item): a GROUP BY aggregate per user (item) joined back, far cheaper than a window over
    every interaction. The timelines themselves are built later, only for the users and items of the sampled
    targets (:func:`timeline_positions`).
    """
    mu, mi, mt = int(config.min_user_history), int(config.min_item_history), int(config.min_total_history)
    if not timed:
        mu = mi = mt = 0
    cases, joins = [], []
    if mu > 0:
        joins.append(f"LEFT JOIN (SELECT user_id, {_cut_sql(mu)} AS u_cut FROM ev GROUP BY user_id) USING (user_id)")
        cases.append("WHEN u_cut IS NULL OR ts <= u_cut THEN 'too_few_user_history'")
    if mi > 0:
        joins.append(f"LEFT JOIN (SELECT item_id, {_cut_sql(mi)} AS i_cut FROM ev GROUP BY item_id) USING (item_id)")
        cases.append("WHEN i_cut IS NULL OR ts <= i_cut THEN 'too_few_item_history'")
    source = "ev"
    if mt > mu + mi:  # not implied by the two rules above: count exactly
        source = (
            "(SELECT *, rank() OVER (PARTITION BY user_id ORDER BY ts) + rank() OVER (PARTITION BY item_id ORDER BY ts)"
            " - 2 AS n_prev FROM ev)"
        )
        cases.append(f"WHEN n_prev < {mt} THEN 'too_few_total_history'")
    reason = f"CASE {' '.join(cases)} END" if cases else "NULL::VARCHAR"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE el AS "
        f"SELECT line, user_id, item_id, rating, ts, label, {reason} AS reason FROM {source} {' '.join(joins)}"
    )
    if config.task.name == "ranking":
        rk.build_pool(con)
        rk.mark_too_few_negatives(con, config.task.negatives_needed)
    counts = dict(con.execute("SELECT reason, count(*) FROM el WHERE reason IS NOT NULL GROUP BY ALL").fetchall())
    first: dict[str, list[int]] = defaultdict(list)
    for reason, line in con.execute(
        "SELECT reason, line FROM (SELECT reason, line, row_number() OVER (PARTITION BY reason ORDER BY line) AS k "
        f"FROM el WHERE reason IS NOT NULL) WHERE k <= {int(config.report_positions)} ORDER BY reason, line"
    ).fetchall():
        first[reason].append(int(line))
    con.execute("DELETE FROM el WHERE reason IS NOT NULL")
    rules = ("too_few_user_history", "too_few_item_history", "too_few_total_history", "too_few_negatives")
    return {r: int(counts.get(r, 0)) for r in rules}, dict(first)


def assign_splits(con: duckdb.DuckDBPyConnection, split: SplitConfig) -> dict[str, Any]:
    """Create table ``tg(line, user_id, item_id, rating, ts, split)``: the sampled targets of ``el``.

    Returns the split facts for ``stats.json`` (eligible counts per split, the cut timestamps).
    """
    n = con.execute("SELECT count(*) FROM el").fetchone()[0]
    info: dict[str, Any] = {"method": split.method, "eligible": int(n)}
    if split.method == "time":
        if con.execute("SELECT count(*) FROM el WHERE ts IS NULL").fetchone()[0]:
            raise PrepareError("--split time needs timestamps; this input has none (use --split random|all-test)")
        n_test = ratio_count(n, split.test_ratio)
        n_val = min(ratio_count(n, split.val_ratio), n - n_test)

        def cut(count: int) -> int | None:
            """Timestamp of the ``count``-th latest target (ordered by ts, line): the start of a later split."""
            if count <= 0:
                return None
            return con.execute(f"SELECT ts FROM el ORDER BY ts DESC, line DESC LIMIT 1 OFFSET {count - 1}").fetchone()[
                0
            ]

        t_test, t_val = cut(n_test), cut(n_test + n_val) if n_val else None
        info.update(test_from_timestamp=t_test, val_from_timestamp=t_val)
        whens = [
            f"WHEN ts >= {int(t)} THEN {sql_str(s)}" for t, s in ((t_test, "test"), (t_val, "val")) if t is not None
        ]
        case = f"CASE {' '.join(whens)} ELSE 'train' END" if whens else "'train'"
    elif split.method == "random":
        u = _hash_unit(split.seed, "split")
        t, v = float(split.test_ratio), float(split.test_ratio + split.val_ratio)
        case = f"CASE WHEN {u} < {t!r} THEN 'test' WHEN {u} < {v!r} THEN 'val' ELSE 'train' END"
    else:
        case = sql_str(split.method.removeprefix("all-"))
    counts = dict(con.execute(f"SELECT {case} AS split, count(*) FROM el GROUP BY ALL").fetchall())
    info["eligible_per_split"] = {s: int(counts.get(s, 0)) for s in SPLITS}
    parts = []
    for s in SPLITS:
        limit = split.limit(s)
        body = (
            f"SELECT line, user_id, item_id, rating, ts, label, {sql_str(s)} AS split FROM el "
            f"WHERE {case} = {sql_str(s)}"
        )
        if limit is not None and limit < info["eligible_per_split"][s]:
            body += f" ORDER BY {_hash_key(split.seed, 'sample')}, line LIMIT {int(limit)}"
        parts.append(f"({body})")
    con.execute("CREATE OR REPLACE TEMP TABLE tg AS " + " UNION ALL ".join(parts))
    return info


def split_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    counts = dict(con.execute("SELECT split, count(*) FROM tg GROUP BY ALL").fetchall())
    return {s: int(counts.get(s, 0)) for s in SPLITS}


# ----------------------------------------------------------------------------------------------------------------
# Stage 3: histories of the sampled targets, items, rendering
# ----------------------------------------------------------------------------------------------------------------


def timeline_positions(con: duckdb.DuckDBPyConnection) -> None:
    """Replace ``ev`` by ``evu`` and ``evi``: the interactions of the users (items) of the sampled targets ``tg``, each
    with its 0-based position ``u_pos`` (``i_pos``) in its user's (item's) timeline, ordered by (ts, line), the
    running sum ``u_sum`` (``i_sum``) of the ratings up to it, and ``u_prev`` (``i_prev``): how many interactions of
    the user (item) are strictly earlier (its ``rank`` by ts, minus one).

    Windows over the rows of the users (items) that have a sampled target only (every row of such a user, so positions
    are those of the whole timeline). The first ``u_prev`` positions of a user's timeline are exactly the interactions
    strictly before ``t``, so the ``K`` latest of them are positions ``u_prev - K .. u_prev - 1`` (``K`` rows a target
    however popular the item) and their mean is ``running_sum[u_prev - 1] / u_prev``.
    """
    for s, key in (("u", "user_id"), ("i", "item_id")):
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE ev{s} AS
            SELECT line, user_id, item_id, rating, ts,
                   row_number() OVER w - 1 AS {s}_pos, sum(rating) OVER w AS {s}_sum,
                   rank() OVER (PARTITION BY {key} ORDER BY ts) - 1 AS {s}_prev
            FROM ev WHERE {key} IN (SELECT {key} FROM tg)
            WINDOW w AS (PARTITION BY {key} ORDER BY ts, line ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        """)
    con.execute("DROP TABLE ev")


def _target_positions(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``tgp``: per sampled target, how many interactions of its user (item) are strictly earlier."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE tgp AS
        SELECT t.line, t.user_id, t.item_id, u.u_prev, i.i_prev
        FROM tg t JOIN evu u USING (line) JOIN evi i USING (line)
    """)


@dataclass
class Gathered:
    """What :func:`gather_targets` built: the row stores, the metadata stats, how many targets have a title, for
    ranking the candidate draws' stats, and how the chunks are read (``timed``: output order by time, else file
    order; ``profiles``: the targets carry profile texts and averages)."""

    stores: samples.Stores
    meta_stats: dict[str, Any] | None
    with_title: int
    negative_draws: dict[str, Any] | None = None
    timed: bool = True
    profiles: bool = False


def gather_targets(
    con: duckdb.DuckDBPyConnection, config: PrepareConfig, source: SourceData, folder: Path, clock: _Clock
) -> Gathered:
    """Histories, averages and item texts of the sampled targets ``tg``, set-based in DuckDB, and their texts
    rendered once into row stores in ``folder`` (:mod:`.samples`); leaves ``tgo`` (the targets in output order with
    their history ranges and averages, for ranking their candidates, for a profile source its profile columns) for
    :func:`write_splits`. A source without timestamps gets empty histories: no interaction is strictly earlier."""
    k = int(config.history_len)
    task = config.task
    ranking = task.name == "ranking"
    drawn = None
    lists = None
    if ranking:
        with samples.sql_progress(con, "ranking candidates"):
            drawn = rk.draw_candidates(con, task.candidates, task.negatives, config.split.seed)
        clock.lap("candidates", f"drew {task.candidates} candidates for each of {drawn['targets']} targets")
        lists = "rk_lists"
    attrs = source.item_attrs
    if source.profiles:  # each target's own item texts and profiles, carried to its row
        own = [*PROFILE_COLUMNS, *(sql_ident(f"attr_{a}") for a in attrs)]
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE pf_lists AS SELECT line, {', '.join(own)} FROM ev_all "
            "WHERE line IN (SELECT line FROM tg)"
        )
        lists, attrs = "pf_lists", ()
    with samples.sql_progress(con, "history ranges and averages"):
        timeline_positions(con)
        _target_positions(con)
        samples.shown_rows(con, k, 0 if ranking else k)  # a ranking prompt shows no target item, no item history
        samples.target_ranges(con, k, 0 if ranking else k, lists)
    clock.lap("history_ranges", "history ranges and averages")
    with samples.sql_progress(con, "item texts"):
        meta_stats = samples.item_texts(
            con, source.items, attrs, config.report_positions, "rk_citems" if ranking else "tg"
        )
        with_title = samples.targets_with_title(con)
    clock.lap("item_texts", "item texts")
    stores = samples.build_stores(
        con, folder, config.budgets, review_prefix(config.budgets), ranking, target_items=not source.profiles
    )
    # what is left is tgo (and the small tg): the ingested records and their texts are no longer needed
    con.execute("DROP VIEW ev_all")
    for table in ("sh_u", "sh_i", "evu", "evi", "tgp", "titems", "itm", "needed", "ev_rows", "el"):
        con.execute(f"DROP TABLE {table}")
    if ranking:
        rk.drop_pool(con)
        con.execute("DROP TABLE rk_citems")
    if lists is not None:
        con.execute(f"DROP TABLE {lists}")
    clock.lap("text_stores", "texts rendered into the row stores")
    return Gathered(stores, meta_stats, with_title, drawn, source.timed, source.profiles)


def write_splits(
    con: duckdb.DuckDBPyConnection,
    gathered: Gathered,
    config: PrepareConfig,
    out_dir: Path,
    write_val: bool,
    cleaner: TextCleaner,
    times: samples.RenderTimes | None = None,
) -> dict[str, int]:
    """Render the targets of ``tgo`` chunk by chunk and write ``train.parquet``, ``test.parquet`` and (when asked
    for) ``val.parquet`` into ``out_dir`` (the staging folder of the run); returns the rows written per split.
    ``times`` collects where the time goes."""
    per_split = split_counts(con)
    progress = samples.Progress("rendered samples", sum(per_split.values()))
    set_memory_share(con, config.memory_limit, RENDER_DUCKDB_MEMORY_SHARE)
    written: dict[str, int] = {}
    for split in SPLITS:
        count = per_split[split]
        if split == "val" and not write_val:
            if count:
                raise RuntimeError("val targets exist although no val split was asked for")
            written[split] = 0
            continue
        chunks = samples.split_chunks(
            con,
            gathered.stores,
            split,
            data_source=config.data_source,
            rating_min=config.rating_min,
            rating_max=config.rating_max,
            cleaner=cleaner,
            progress=progress,
            chunk_rows=config.chunk_rows,
            times=times,
            task=config.task,
            timed=gathered.timed,
            record_budgets=config.budgets if gathered.profiles else None,
        )
        written[split] = write_samples(chunks, out_dir / f"{split}.parquet")
        if written[split] != count:
            raise RuntimeError(f"{split}: wrote {written[split]} samples of {count}")
        if not count:
            logger.warning("%s.parquet is empty", split)
        logger.info("wrote %d %s samples", written[split], split)
    return written


def nothing_written(stats: Mapping[str, Any]) -> dict[str, Any] | None:
    """Why a run wrote no sample (the reason that dropped most records, its first positions and what to do), or
    ``None`` when it wrote some."""
    if stats["written_total"]:
        return None
    if not stats["read"]:
        return {"reason": "empty_input", "records": 0, "first": [], "hint": "the input holds no record"}
    reason = max(DROP_REASONS, key=lambda r: stats["dropped"][r])
    first = (stats.get("first_positions") or {}).get(reason) or (
        stats.get("malformed", {}).get("first", []) if reason == "malformed" else []
    )
    return {"reason": reason, "records": stats["dropped"][reason], "first": first, "hint": _HINTS[reason]}


def finish_stats(
    stats: dict[str, Any], read: int, dropped: Mapping[str, int], written: Mapping[str, int], out_dir: Path
) -> dict[str, Any]:
    """Fill the accounting part of ``stats`` (checking read = written + dropped) and write ``stats.json`` into
    ``out_dir``. A run that writes nothing says so loudly, with the main reason and a hint (also in stats.json)."""

    dropped = {r: int(dropped.get(r, 0)) for r in DROP_REASONS}
    stats.update(
        read=int(read),
        written={s: int(written.get(s, 0)) for s in SPLITS},
        written_total=int(sum(written.values())),
        dropped=dropped,
        dropped_total=int(sum(dropped.values())),
    )
    if stats["read"] != stats["written_total"] + stats["dropped_total"]:
        raise RuntimeError(
            f"accounting error: read {stats['read']} != written {stats['written_total']} + dropped "
            f"{stats['dropped_total']} ({dropped})"
        )
    empty = nothing_written(stats)
    if empty is not None:
        stats["nothing_written"] = empty
        logger.warning(
            "NOTHING WRITTEN: all %d records were dropped, %d of them as %s (first: %s). Hint: %s",
            stats["read"],
            empty["records"],
            empty["reason"],
            ", ".join(empty["first"]) or "-",
            empty["hint"],
        )
    # the bytes of earlier releases (ASCII escapes; NaN as written by json.dumps)
    write_json_atomic(stats, out_dir / "stats.json", ensure_ascii=True, allow_nan=True)
    return stats


def peak_rss_bytes() -> int | None:
    """The peak resident memory of this process so far (``None`` where the platform does not say)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) * (1 if sys.platform == "darwin" else 1024)


class _Clock:
    """Logs the wall time (and the peak memory so far) of each pipeline stage, and keeps the times by stage name
    (``stats.json`` gets them with ``timings``: off by default, because stats.json is otherwise the same for the
    same input and options)."""

    def __init__(self) -> None:
        self.began = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, stage: str, what: str) -> None:
        now = time.perf_counter()
        peak = peak_rss_bytes()
        rss = "" if peak is None else f", peak RSS {peak / 1024**3:.2f} GiB"
        logger.info("%s (%.2f s%s)", what, now - self.last, rss)
        self.laps[stage] = round(self.laps.get(stage, 0.0) + now - self.last, 3)
        self.last = now

    def as_dict(self) -> dict[str, Any]:
        return {"stages_s": dict(self.laps), "total_s": round(time.perf_counter() - self.began, 3)}


def _input_files(inputs: Mapping[str, str | Path | None]) -> dict[str, Path]:
    """The input files by option name (``reviews`` -> ``--reviews``), for fingerprints and error messages."""
    return {f"--{name}": Path(p) for name, p in inputs.items() if p is not None}


def like_labels(con: duckdb.DuckDBPyConnection, task: TaskConfig) -> dict[str, dict[str, int]] | None:
    """For a like task, how many sampled targets of each split are liked (label 1) and not (label 0); else ``None``."""
    if task.name != "like":
        return None
    if task.label_column:
        label = "label = 1"
    else:
        assert task.like_threshold is not None
        label = f"rating >= {float(task.like_threshold)!r}"
    counts = dict(
        ((split, bool(liked)), int(n))
        for split, liked, n in con.execute(f"SELECT split, {label}, count(*) FROM tg GROUP BY ALL").fetchall()
    )
    return {s: {"liked": counts.get((s, True), 0), "not_liked": counts.get((s, False), 0)} for s in SPLITS}


def _base_stats(config: PrepareConfig, source: str, files: Mapping[str, Path]) -> dict[str, Any]:
    """The part of stats.json that identifies the run: inputs (fingerprints), options, the task, code and engine
    versions."""
    return {
        "data_source": config.data_source,
        "task": config.task.as_dict(),
        "source": source,
        "inputs": {option.removeprefix("--"): checks.fingerprint(path) for option, path in files.items()},
        "rating_scale": [float(config.rating_min), float(config.rating_max)],
        "engine": f"duckdb {duckdb.__version__}",
        "run": {
            "reczero_verl": __version__,
            "duckdb": duckdb.__version__,
            "seed": int(config.split.seed),
            "options": dict(config.run_options),
        },
    }


@contextmanager
def _engine(
    config: PrepareConfig, files: Mapping[str, Path], gz: checks.GzipCheck
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection for one run, spilling to a fresh temp folder; a DuckDB error caused by an input file or
    an option becomes a :class:`PrepareError` (a damaged gzip input is named first: it explains any read error)."""
    with tempfile.TemporaryDirectory(prefix="reczero-prepare-", dir=config.temp_dir) as tmp:
        con = connect(config, Path(tmp))
        try:
            yield con
        except duckdb.Error as exc:
            gz.raise_if_bad()
            mapped = checks.input_error(exc, files, config.memory_limit)
            if mapped is None:
                raise
            raise mapped from exc
        finally:
            con.close()


@contextmanager
def _staged_run(
    config: PrepareConfig, files: Mapping[str, Path]
) -> Iterator[tuple[Any, checks.GzipCheck, duckdb.DuckDBPyConnection]]:
    """The frame of every run: a staging folder published as one unit, the gzip check of the inputs, the engine."""
    with (
        publish.staged_output(config.output_dir) as stage,
        checks.GzipCheck(list(files.values())) as gz,
        _engine(config, files, gz) as con,
    ):
        yield stage, gz, con


def _sample(
    con: duckdb.DuckDBPyConnection, config: PrepareConfig, dropped: dict[str, int]
) -> tuple[dict[str, Any], dict[str, int]]:
    """Split and sample the candidate targets ``el`` into ``tg`` (:func:`assign_splits`); counts the targets beyond
    the ``--max-*`` limits as ``sampled_out`` in ``dropped``. Returns the split facts and the targets per split."""
    split_info = assign_splits(con, config.split)
    per_split = split_counts(con)
    dropped["sampled_out"] = split_info["eligible"] - sum(per_split.values())
    return split_info, per_split


def _run_stats(
    config: PrepareConfig,
    kind: str,
    files: Mapping[str, Path],
    *,
    dropped: Mapping[str, int],
    first: Mapping[str, list[str]],
    split_info: dict[str, Any],
    cleaner: TextCleaner,
    labels: dict[str, dict[str, int]] | None,
    lead: Mapping[str, Any],
    middle: Mapping[str, Any],
    tail: Mapping[str, Any],
) -> dict[str, Any]:
    """stats.json of a run before its accounting (:func:`finish_stats`): the run's identity, the malformed records
    and first positions of each drop, the split, the texts' budgets and rewrites, the like labels; ``lead``,
    ``middle`` and ``tail``: what one path adds, at its place in the file."""
    stats = _base_stats(config, kind, files)
    stats.update(lead)
    stats.update(
        malformed={"count": dropped.get("malformed", 0), "first": first.get("malformed", [])},
        first_positions={r: p for r, p in first.items() if r != "malformed"},
        split=split_info,
    )
    stats.update(middle)
    stats.update(text_budgets=config.budgets.as_dict(), neutralised=cleaner.as_dict())
    stats.update(tail)
    if labels is not None:
        stats["like_labels"] = labels
    return stats


def prepare_source(source: SourceData, config: PrepareConfig) -> dict[str, Any]:
    """Run the whole pipeline on one adapter's :class:`~.schema.SourceData`; writes the parquet files and
    ``stats.json`` as one unit (:mod:`.publish`), returns the stats.

    A source without timestamps (EXP3RT) takes the same path: its records are validated and deduplicated like any
    others, with no history rules (every valid record is a target, with its profiles instead of histories), the split
    ``all-test`` or ``random``, and file order within each split. It cannot make ranking samples: a ranking prompt
    needs the items the user saw before the target."""
    if not source.timed and config.task.name == "ranking":
        raise PrepareError(
            f"--task ranking needs timestamped interactions (the user's history and the items seen before the "
            f"target); {source.path} has no timestamps: use --task rating or like"
        )
    files = _input_files(source.inputs or {"input": source.path})
    clock = _Clock()
    with (
        _staged_run(config, files) as (stage, gz, con),
        tempfile.TemporaryDirectory(prefix="reczero-stores-", dir=config.temp_dir) as store_dir,
    ):
        logger.info("reading %s (%s)", source.path, source.kind)
        with samples.sql_progress(con, "reading and validating"):
            found = ingest(con, source, config)
        n_valid = con.execute("SELECT count(*) FROM ev").fetchone()[0]  # kept until the timelines are built
        clock.lap("read", f"read and validated {found.read} records, {n_valid} valid interactions")
        dropped = dict(found.dropped)
        with samples.sql_progress(con, "eligibility and split"):
            history_drops, history_first = select_eligible(con, config, source.timed)
            dropped.update(history_drops)
            split_info, per_split = _sample(con, config, dropped)
        found.first.update(position_labels(source.path, found.relation.positions, history_first))
        clock.lap("eligibility_and_split", f"{split_info['eligible']} eligible targets, sampled {per_split}")
        labels = like_labels(con, config.task)
        gathered = gather_targets(con, config, source, Path(store_dir), clock)
        gz.raise_if_bad()
        write_val = config.split.val_ratio > 0 and config.split.method in ("time", "random")
        cleaner, times = TextCleaner(), samples.RenderTimes()
        try:
            written = write_splits(con, gathered, config, stage.path, write_val, cleaner, times)
        finally:
            gathered.stores.close()
        clock.lap("render_and_write", "rendered and wrote the samples")
        logger.info(
            "rendering stage: DuckDB sort and fetch of the targets %.2f s, row-store reads %.2f s, column-wise "
            "rendering %.2f s, the rest parquet writing",
            times.duckdb_targets,
            times.store_reads,
            times.render,
        )
        stats = _run_stats(
            config,
            source.kind,
            files,
            dropped=dropped,
            first=found.first,
            split_info=split_info,
            cleaner=cleaner,
            labels=labels,
            **_source_stats(con, source, config, found, gathered),
        )
        if gathered.negative_draws is not None:
            stats["negative_draws"] = gathered.negative_draws
        if config.timings:
            stats["timings"] = {**clock.as_dict(), "render_and_write_s": times.as_dict()}
        finish_stats(stats, found.read, dropped, written, stage.path)
        stage.publish()
    return stats


def _source_stats(
    con: duckdb.DuckDBPyConnection, source: SourceData, config: PrepareConfig, found: Ingest, gathered: Gathered
) -> dict[str, dict[str, Any]]:
    """What a run's stats.json says about its kind of source (``lead``, ``middle``, ``tail`` of :func:`_run_stats`):
    the timestamp units, history rules, metadata and titles of a timed source; how many targets a profile source
    gave averages."""
    if source.profiles:
        with_user, with_item = con.execute("SELECT count(user_avg), count(item_avg) FROM tgo").fetchone()
        tail = {"targets_with_user_avg": int(with_user), "targets_with_item_avg": int(with_item)}
    else:
        tail = {"meta": gathered.meta_stats, "targets_with_item_title": gathered.with_title}
    if not source.timed:
        return {"lead": {}, "middle": {}, "tail": tail}
    history = {
        "max_len": config.history_len,
        "min_user_history": config.min_user_history,
        "min_item_history": config.min_item_history,
        "min_total_history": config.min_total_history,
        "dedup": config.dedup,
        "cross_item_dedup": config.cross_item_dedup,
    }
    return {
        "lead": {"timestamp_unit": found.time_unit, "timestamp_units": found.time_units},
        "middle": {"history": history},
        "tail": tail,
    }


__all__ = [
    "DROP_REASONS",
    "SPLITS",
    "SPLIT_METHODS",
    "DEDUP_MODES",
    "SplitConfig",
    "PrepareConfig",
    "prepare_source",
    "time_sql",
]
